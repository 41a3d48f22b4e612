/**
 * Upgrades per client (keyed by client-key.ts): a token bucket per key, `burst` upgrades at once
 * and `perSecond` after that. Cloud Run's front end is the first line of defence against a
 * connection storm; this is the second, so one machine cannot make an instance accept thousands of
 * sockets a second (each costs a handshake, and each protocol error a log entry). Pure: the caller
 * passes the clock.
 */

export interface UpgradeLimits {
  perSecond: number;
  burst: number;
}

/** Keys tracked at most; past it, buckets that are full again are dropped (they carry no state). */
const MAX_KEYS = 50_000;

export class UpgradeLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly limits: UpgradeLimits) {}

  get keys(): number {
    return this.buckets.size;
  }

  /** Takes one upgrade for `key` at `nowMs`: 0 when allowed, else the milliseconds until the next one is. */
  take(key: string, nowMs: number): number {
    const bucket = this.buckets.get(key) ?? { tokens: this.limits.burst, atMs: nowMs };
    bucket.tokens = this.refilled(bucket, nowMs);
    bucket.atMs = nowMs;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= MAX_KEYS) this.prune(nowMs);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.limits.perSecond) * 1000);
  }

  private refilled(bucket: { tokens: number; atMs: number }, nowMs: number): number {
    return Math.min(this.limits.burst, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * this.limits.perSecond);
  }

  private prune(nowMs: number): void {
    for (const [key, bucket] of this.buckets) if (this.refilled(bucket, nowMs) >= this.limits.burst) this.buckets.delete(key);
    // Everyone still mid-burst: forget the oldest rather than grow without bound.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < MAX_KEYS) break;
      this.buckets.delete(key);
    }
  }
}
