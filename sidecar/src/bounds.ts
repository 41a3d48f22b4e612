/**
 * What keeps the gate's own cost bounded whatever its backend sends: which components and phases
 * get a metric series, how often it checks, and how many change lines it logs. A buggy backend
 * that renamed its components on every answer once made millions of series; one that grew `seq` on
 * every answer made a busy loop; one that flapped made thousands of log lines a second. Pure: the
 * callers pass the clock.
 */

/** Components besides the required ones that get a startup_gate_component_ready series, at most. */
export const MAX_EXTRA_COMPONENT_SERIES = 16;
/** Phase names that get a series of their own (startup_gate_app_phase, startup_gate_phase_seconds), at most (the app has seven). */
export const MAX_PHASE_SERIES = 16;
/** Longer names are not labelled either: a label value is not the place for a backend's essay. */
export const MAX_PHASE_LABEL_LENGTH = 64;
/**
 * Phase names the gate times in one boot, under way and completed together, at most. A backend
 * that names a new phase on every answer would otherwise grow the phase clock, copied on every
 * check, for as long as the boot lasts. Later names are not timed.
 */
export const MAX_TIMED_PHASES = 64;
/** The label value that phase names past the cap share in startup_gate_phase_seconds. */
export const OTHER_PHASE = '_other';

/**
 * The component series to set: every required component (0 when missing), then the first
 * `maxExtra` others the body lists. Names past the cap are not labelled at all.
 */
export function componentSeries(components: Readonly<Record<string, boolean>>, required: readonly string[], maxExtra = MAX_EXTRA_COMPONENT_SERIES): Map<string, number> {
  const series = new Map(required.map((name) => [name, components[name] === true ? 1 : 0]));
  let extra = 0;
  for (const [name, built] of Object.entries(components)) {
    if (series.has(name)) continue;
    if (extra === maxExtra) break;
    series.set(name, built ? 1 : 0);
    extra += 1;
  }
  return series;
}

/** The phase series to set: 1 for the current phase, 0 for completed ones, at most `max` in all. */
export function phaseSeries(phase: string, completedPhases: readonly string[], max = MAX_PHASE_SERIES): Map<string, number> {
  const series = new Map([[phase, 1]]);
  for (const name of completedPhases) {
    if (series.size >= max) break;
    if (!series.has(name)) series.set(name, 0);
  }
  return series;
}

/**
 * The `phase` label of startup_gate_phase_seconds, whose series stay once observed: the first
 * MAX_PHASE_SERIES names the backend reports keep their own, any later or overlong name is folded
 * into OTHER_PHASE.
 */
export class PhaseLabels {
  private readonly known = new Set<string>();

  label(phase: string): string {
    if (this.known.has(phase)) return phase;
    if (this.known.size >= MAX_PHASE_SERIES || phase.length > MAX_PHASE_LABEL_LENGTH) return OTHER_PHASE;
    this.known.add(phase);
    return phase;
  }
}

/** Back-to-back checks allowed at once before checks are spaced by the minimum interval. */
export const CHECK_BURST = 10;

/**
 * Paces checks: up to CHECK_BURST at once (a normal startup's few quick changes pass without
 * delay), then one per `minIntervalMs`, even when the backend's seq grows on every answer.
 */
export class CheckPacer {
  private tokens = CHECK_BURST;
  private atMs: number | null = null;

  constructor(private readonly minIntervalMs: number) {}

  /** 0 when a check may start at `nowMs` (and counts it), else how long to wait first. */
  take(nowMs: number): number {
    if (this.minIntervalMs <= 0) return 0;
    if (this.atMs !== null) this.tokens = Math.min(CHECK_BURST, this.tokens + (nowMs - this.atMs) / this.minIntervalMs);
    this.atMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * this.minIntervalMs);
  }
}

export interface ChangeLogLimits {
  /** Change lines logged within `windowMs` at most; the next one is the flapping WARNING instead. */
  maxLines: number;
  windowMs: number;
}

export const DEFAULT_CHANGE_LOG_LIMITS: ChangeLogLimits = { maxLines: 20, windowMs: 10_000 };

/** What to do with one change line: write it or not, and a line to write before it. */
export interface ChangeLogVerdict {
  write: boolean;
  before?: { level: 'info' | 'warn'; message: string; fields: Record<string, unknown> };
}

/**
 * Bounds the gate's change lines (state, phase, readiness, check failures): at most `maxLines` in a
 * window. Past it, one WARNING says the backend is flapping and the rest are only counted; once a
 * whole window passes without a change, the next line is preceded by how many were left out.
 */
export class ChangeLogBound {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private lines = 0;
  private flapping = false;
  private suppressed = 0;
  private lastChangeMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly limits: ChangeLogLimits = DEFAULT_CHANGE_LOG_LIMITS) {}

  admit(nowMs: number): ChangeLogVerdict {
    const quiet = nowMs - this.lastChangeMs >= this.limits.windowMs;
    this.lastChangeMs = nowMs;
    let before: ChangeLogVerdict['before'];
    if (this.flapping) {
      if (!quiet) {
        this.suppressed += 1;
        return { write: false };
      }
      before = { level: 'info', message: `the backend settled: ${this.suppressed} changes were not logged while it flapped`, fields: { suppressed: this.suppressed } };
      this.flapping = false;
      this.suppressed = 0;
    }
    if (nowMs - this.windowStartMs >= this.limits.windowMs) {
      this.windowStartMs = nowMs;
      this.lines = 0;
    }
    if (this.lines < this.limits.maxLines) {
      this.lines += 1;
      return { write: true, before };
    }
    this.flapping = true;
    this.suppressed = 1;
    const seconds = this.limits.windowMs / 1000;
    return {
      write: false,
      before: {
        level: 'warn',
        message: `the backend is flapping: more than ${this.limits.maxLines} changes of state, phase or check result in ${seconds} s; further changes are counted, not logged, until it is quiet for ${seconds} s`,
        fields: { maxLines: this.limits.maxLines, windowSeconds: seconds },
      },
    };
  }
}
