/**
 * How long each phase of a boot took, as the gate sees it: from the first trusted body that shows
 * a phase under way to the first that lists it as completed, on the gate's own clock (the body's
 * timestamps are the backend's word and are not trusted for arithmetic). A phase that starts and
 * completes between two answers counts as 0 s: with long-poll the gate hears of every change
 * within milliseconds, with plain polling the resolution is the poll interval. Pure, no I/O.
 */
import type { PhaseBody } from '../../common/phase-contract';

/** What the gate remembers of the boot under way. */
export interface PhaseClock {
  /** The boot's `startedAt`; a new one is a new boot (the backend restarted) and starts afresh. */
  bootStartedAt: string | null;
  /** Phases seen under way and not yet completed, with the gate's time it first saw each. */
  running: ReadonlyMap<string, number>;
  /** Phases already timed in this boot: each is timed once. */
  timed: ReadonlySet<string>;
}

export const EMPTY_PHASE_CLOCK: PhaseClock = { bootStartedAt: null, running: new Map(), timed: new Set() };

export interface PhaseDuration {
  phase: string;
  seconds: number;
}

/** The phases a body says are done: its completed list, and on `ready` its last phase too. */
function completedIn(body: PhaseBody): string[] {
  return body.state === 'ready' && !body.completedPhases.includes(body.phase) ? [...body.completedPhases, body.phase] : body.completedPhases;
}

/** Takes one trusted body seen at `nowMs` (monotonic); returns the new clock and the phases it completes. */
export function observePhases(clock: PhaseClock, body: PhaseBody, nowMs: number): { clock: PhaseClock; completed: PhaseDuration[] } {
  const sameBoot = clock.bootStartedAt === null || clock.bootStartedAt === body.startedAt;
  const running = new Map(sameBoot ? clock.running : []);
  const timed = new Set(sameBoot ? clock.timed : []);
  const completed: PhaseDuration[] = [];
  for (const phase of completedIn(body)) {
    if (timed.has(phase)) continue;
    completed.push({ phase, seconds: Math.max(0, nowMs - (running.get(phase) ?? nowMs)) / 1000 });
    timed.add(phase);
    running.delete(phase);
  }
  if (body.state === 'starting' && !timed.has(body.phase) && !running.has(body.phase)) running.set(body.phase, nowMs);
  return { clock: { bootStartedAt: body.startedAt, running, timed }, completed };
}

/** Distinct phase label values the gate exports; later names share OTHER_PHASE. */
export const MAX_PHASE_LABELS = 16;
/** Longer names share OTHER_PHASE too: a label value is not the place for a backend's essay. */
export const MAX_PHASE_LABEL_LENGTH = 64;
export const OTHER_PHASE = '_other';

/**
 * Bounds the `phase` label's cardinality: the first MAX_PHASE_LABELS names the backend reports
 * keep their own series (the chat app has seven), any later or overlong name is folded into
 * OTHER_PHASE, so a backend that makes up names cannot grow the scrape without bound.
 */
export class PhaseLabels {
  private readonly known = new Set<string>();

  label(phase: string): string {
    if (this.known.has(phase)) return phase;
    if (this.known.size >= MAX_PHASE_LABELS || phase.length > MAX_PHASE_LABEL_LENGTH) return OTHER_PHASE;
    this.known.add(phase);
    return phase;
  }
}
