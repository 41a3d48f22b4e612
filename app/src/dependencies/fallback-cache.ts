/**
 * The shared cache (Redis) with a degraded mode instead of a stall. While Redis fails:
 * - rate limits and per-person counters count in this process (an EmbeddedCache), so each
 *   instance limits on its own;
 * - publications are skipped: the instance running the agent delivers to its own sockets anyway,
 *   and a socket on another instance finds the stored reply in the thread's history on resume;
 * - subscriptions are remembered and made once Redis is back, so cross-instance delivery resumes.
 * A check pings Redis every `checkIntervalMs` whatever the traffic, so a connection that stalls
 * without any command waiting (the subscriber) is found too. Entering and leaving degraded mode
 * is one log line each (dependency-health.ts).
 */
import { type CacheClient, EmbeddedCache, type MessageHandler } from '../storage/cache';
import type { DegradableOptions } from './dependency-health';

export interface FallbackOptions extends DegradableOptions {
  checkIntervalMs: number;
  /** The in-process counters' clock. */
  now?: () => number;
}

export const CACHE_CHECK_INTERVAL_MS = 1000;

export class FallbackCache implements CacheClient {
  readonly kind: string;
  private readonly local: EmbeddedCache;
  /** Channels the app follows, whether or not Redis has the subscription right now. */
  private readonly wanted = new Set<string>();
  /** Channels given up while Redis was away, still to unsubscribe once it is back. */
  private readonly stale = new Set<string>();
  private check: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly shared: CacheClient,
    private readonly options: FallbackOptions,
  ) {
    this.kind = shared.kind;
    options.health.track(options.dependency);
    this.local = new EmbeddedCache(options.now);
    this.scheduleCheck();
  }

  get degraded(): boolean {
    return this.options.health.isDegraded(this.options.dependency);
  }

  async increment(key: string, ttlMs: number): Promise<number> {
    if (this.degraded) return this.local.increment(key, ttlMs);
    try {
      return await this.shared.increment(key, ttlMs);
    } catch (error) {
      this.degrade(error);
      return this.local.increment(key, ttlMs);
    }
  }

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    if (this.degraded) return this.local.add(key, amount, ttlMs);
    try {
      return await this.shared.add(key, amount, ttlMs);
    } catch (error) {
      this.degrade(error);
      return this.local.add(key, amount, ttlMs);
    }
  }

  async publish(channel: string, payload: string): Promise<void> {
    if (this.degraded) return;
    await this.shared.publish(channel, payload).catch((error: unknown) => this.degrade(error));
  }

  async subscribe(channel: string): Promise<void> {
    this.wanted.add(channel);
    this.stale.delete(channel);
    if (this.degraded) return;
    await this.shared.subscribe(channel).catch((error: unknown) => this.degrade(error));
  }

  async unsubscribe(channel: string): Promise<void> {
    this.wanted.delete(channel);
    if (this.degraded) return void this.stale.add(channel);
    await this.shared.unsubscribe(channel).catch((error: unknown) => {
      this.stale.add(channel);
      this.degrade(error);
    });
  }

  onMessage(handler: MessageHandler): void {
    this.shared.onMessage(handler);
  }

  ping(): Promise<void> {
    return this.shared.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.check);
    await Promise.all([this.shared.close(), this.local.close()]);
  }

  private degrade(error: unknown): void {
    this.options.health.markDegraded(this.options.dependency, this.options.describe(error));
  }

  /** Pings Redis; when it answers after an outage, restores the subscriptions, then leaves degraded mode. */
  private async runCheck(): Promise<void> {
    try {
      await this.shared.ping();
      if (!this.degraded) return;
      await Promise.all([...this.wanted].map((channel) => this.shared.subscribe(channel)));
      await Promise.all([...this.stale].map((channel) => this.shared.unsubscribe(channel).then(() => this.stale.delete(channel))));
      this.options.health.markHealthy(this.options.dependency);
    } catch (error) {
      this.degrade(error);
    }
  }

  private scheduleCheck(): void {
    if (this.closed) return;
    this.check = setTimeout(() => void this.runCheck().finally(() => this.scheduleCheck()), this.options.checkIntervalMs);
    this.check.unref();
  }
}
