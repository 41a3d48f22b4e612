/**
 * The chat store behind a circuit breaker (circuit-breaker.ts). While the database fails, calls are
 * refused at once with DependencyUnavailableError instead of each one waiting out its deadline;
 * a probe (the store's ping) every `probeIntervalMs` closes the breaker once the database answers.
 * Open means degraded: one log line when it opens, one when it closes (dependency-health.ts).
 */
import type { ChatSession, SessionFactory } from '../storage/store';
import { afterFailure, afterSuccess, admits, type BreakerPolicy, type BreakerState, CLOSED, retryAfterSeconds } from './circuit-breaker';
import type { DegradableOptions } from './dependency-health';
import { DependencyUnavailableError } from './unavailable';

export interface GuardOptions extends DegradableOptions {
  policy: BreakerPolicy;
}

export const DATABASE_BREAKER: BreakerPolicy = { failuresToOpen: 2, probeIntervalMs: 1000 };
const MAX_PROBES_IN_FLIGHT = 3;

export class GuardedStore implements SessionFactory {
  readonly kind: string;
  private state: BreakerState = CLOSED;
  private probe: NodeJS.Timeout | undefined;
  private probing = false;
  private probesInFlight = 0;
  private closed = false;

  constructor(
    private readonly inner: SessionFactory,
    private readonly options: GuardOptions,
  ) {
    this.kind = inner.kind;
    options.health.track(options.dependency);
  }

  /** Every method of the inner session, each call through the breaker. */
  session(): ChatSession {
    const inner = this.inner.session();
    const guarded = Object.entries(inner).map(([key, value]) => [
      key,
      typeof value === 'function' ? (...args: unknown[]) => this.call(() => (value as (...a: unknown[]) => Promise<unknown>).apply(inner, args)) : value,
    ]);
    return Object.fromEntries(guarded) as ChatSession;
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probe);
    await this.inner.close();
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    const { dependency, policy } = this.options;
    if (!admits(this.state)) throw new DependencyUnavailableError(dependency, retryAfterSeconds(policy));
    try {
      const result = await operation();
      this.succeeded();
      return result;
    } catch (error) {
      this.failed(error);
      throw new DependencyUnavailableError(dependency, retryAfterSeconds(policy), error);
    }
  }

  private succeeded(): void {
    const wasOpen = this.state.kind === 'open';
    this.state = afterSuccess();
    if (wasOpen) this.options.health.markHealthy(this.options.dependency);
  }

  private failed(error: unknown): void {
    const wasOpen = this.state.kind === 'open';
    this.state = afterFailure(this.state, this.options.policy);
    if (wasOpen || this.state.kind !== 'open') return;
    this.options.health.markDegraded(this.options.dependency, this.options.describe(error));
    if (!this.probing) this.scheduleProbe();
  }

  /**
   * A probe every `probeIntervalMs` while the breaker is open, without waiting for the last one:
   * a probe stuck on a silent connection must not delay noticing the database is back. At most
   * MAX_PROBES_IN_FLIGHT at once, each bounded by the store's own deadlines.
   */
  private scheduleProbe(): void {
    this.probing = !this.closed && this.state.kind === 'open';
    if (!this.probing) return;
    this.probe = setTimeout(() => {
      if (this.probesInFlight < MAX_PROBES_IN_FLIGHT && this.state.kind === 'open') {
        this.probesInFlight += 1;
        this.inner.ping().then(
          () => this.succeeded(),
          () => undefined,
        ).finally(() => (this.probesInFlight -= 1));
      }
      this.scheduleProbe();
    }, this.options.policy.probeIntervalMs);
    this.probe.unref();
  }
}
