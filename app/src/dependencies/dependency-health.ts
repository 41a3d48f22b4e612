/**
 * Which dependencies the app is serving without, right now. A dependency enters degraded mode
 * with one WARNING line and leaves it with one INFO line carrying how long it lasted, so an outage
 * is two log lines however many calls failed; /healthz shows the current set. The line's message
 * and fields are in common/app-log.ts, where the alert reads them.
 */
import { degradedLog, recoveredLog } from '../../../common/app-log';
import type { Logger } from '../../../common/log';

export interface DegradedDependency {
  dependency: string;
  since: string;
  reason: string;
}

/** What a wrapper that puts a dependency into degraded mode (fallback-cache.ts, guarded-store.ts) is given. */
export interface DegradableOptions {
  /** The name health and errors use: "redis", "postgresql". */
  dependency: string;
  health: DependencyHealth;
  /** One line, no secrets: the reason the degraded log line gives. */
  describe: (error: unknown) => string;
}

export class DependencyHealth {
  private readonly degraded = new Map<string, { since: number; reason: string }>();
  private readonly known = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Names a dependency the app uses, so its state is reported while healthy too (metrics). */
  track(dependency: string): void {
    this.known.add(dependency);
  }

  /** Every tracked dependency: true while degraded. */
  states(): Map<string, boolean> {
    return new Map([...this.known, ...this.degraded.keys()].map((dependency) => [dependency, this.degraded.has(dependency)]));
  }

  /** Enters degraded mode for `dependency`; logs only when it was not degraded already. */
  markDegraded(dependency: string, reason: string): void {
    if (this.degraded.has(dependency)) return;
    this.degraded.set(dependency, { since: this.now(), reason });
    const { fields, message } = degradedLog(dependency, reason);
    this.log.warn(fields, message);
  }

  /** Leaves degraded mode; logs only when it was degraded. */
  markHealthy(dependency: string): void {
    const entry = this.degraded.get(dependency);
    if (entry === undefined) return;
    this.degraded.delete(dependency);
    const { fields, message } = recoveredLog(dependency, this.now() - entry.since);
    this.log.info(fields, message);
  }

  isDegraded(dependency: string): boolean {
    return this.degraded.has(dependency);
  }

  snapshot(): DegradedDependency[] {
    return [...this.degraded].map(([dependency, { since, reason }]) => ({ dependency, since: new Date(since).toISOString(), reason }));
  }
}
