/**
 * Shared counters with expiry (per-client rate limits) and publish/subscribe (delivering a
 * thread's events to whichever instance holds its socket). The embedded cache lives in this
 * process; the Redis client (redis-cache.ts) implements the same interface across instances.
 */

export type MessageHandler = (channel: string, payload: string) => void;

export interface CacheClient {
  readonly kind: string;
  /** Adds one to `key` and returns the new count; the key expires `ttlMs` after its first increment. */
  increment(key: string, ttlMs: number): Promise<number>;
  /** Adds `amount` (may be negative or 0) to `key` and returns the new value; the key expires `ttlMs` after this change. */
  add(key: string, amount: number, ttlMs: number): Promise<number>;
  /** Sends `payload` to every subscriber of `channel`. At most once: a subscriber that is away misses it. */
  publish(channel: string, payload: string): Promise<void>;
  /** Resolves once messages on `channel` reach the handlers. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  onMessage(handler: MessageHandler): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class EmbeddedCache implements CacheClient {
  readonly kind = 'embedded';
  private readonly counters = new Map<string, { count: number; expiresAt: number }>();
  private readonly channels = new Set<string>();
  private readonly handlers: MessageHandler[] = [];

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

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    const at = this.now();
    const current = this.counters.get(key);
    const live = current !== undefined && current.expiresAt > at;
    // As in increment: a sweep only when a key starts, not on every change of a live one.
    if (!live) this.sweep(at);
    const count = (live ? current.count : 0) + amount;
    this.counters.set(key, { count, expiresAt: at + ttlMs });
    return count;
  }

  async publish(channel: string, payload: string): Promise<void> {
    if (!this.channels.has(channel)) return;
    for (const handler of this.handlers) handler(channel, payload);
  }

  async subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
  }

  onMessage(handler: MessageHandler): void {
    this.handlers.push(handler);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.counters.clear();
    this.channels.clear();
  }

  /** Drops expired keys so memory tracks active clients, not every client ever seen. */
  private sweep(at: number): void {
    for (const [key, value] of this.counters) if (value.expiresAt <= at) this.counters.delete(key);
  }
}
