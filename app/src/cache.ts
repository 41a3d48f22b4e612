/**
 * Shared counters with expiry, used for per-client rate limits. The embedded cache lives in this
 * process; a Redis-backed client implements the same interface.
 */

export interface CacheClient {
  readonly kind: string;
  /** Adds one to `key` and returns the new count; the key expires `ttlMs` after its first increment. */
  increment(key: string, ttlMs: number): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class EmbeddedCache implements CacheClient {
  readonly kind = 'embedded';
  private readonly counters = new Map<string, { count: number; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async increment(key: string, ttlMs: number): Promise<number> {
    const at = this.now();
    const current = this.counters.get(key);
    if (current === undefined || current.expiresAt <= at) {
      this.sweep(at);
      this.counters.set(key, { count: 1, expiresAt: at + ttlMs });
      return 1;
    }
    current.count += 1;
    return current.count;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.counters.clear();
  }

  /** Drops expired keys so memory tracks active clients, not every client ever seen. */
  private sweep(at: number): void {
    for (const [key, value] of this.counters) if (value.expiresAt <= at) this.counters.delete(key);
  }
}
