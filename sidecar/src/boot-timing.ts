/**
 * How long each phase of a boot took, as the gate sees it: from the first trusted body that shows
 * a phase under way to the first that lists it as completed, on the gate's own clock (the body's
 * timestamps are the backend's word and are not trusted for arithmetic). A phase that starts and
 * completes between two answers counts as 0 s: with long-poll the gate hears of every change
 * within milliseconds, with plain polling the resolution is the poll interval. Pure, no I/O.
 */
import type { PhaseBody } from '../../common/phase-contract';
import { MAX_TIMED_PHASES } from './bounds';

/** What the gate remembers of the boot under way. */
export interface PhaseClock {
  /** The boot's `startedAt`; a new one is a new boot (the backend restarted) and starts afresh. */
  bootStartedAt: string | null;
  /** Phases seen under way and not yet completed, with the gate's time it first saw each. */
  running: ReadonlyMap<string, number>;
  /** Phases already timed in this boot: each is timed once. With `running`, at most MAX_TIMED_PHASES names. */
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

/**
 * Takes one trusted body seen at `nowMs` (monotonic); returns the new clock and the phases it
 * completes. Once MAX_TIMED_PHASES names are tracked, a phase not tracked yet is not timed.
 */
export function observePhases(clock: PhaseClock, body: PhaseBody, nowMs: number, maxTracked = MAX_TIMED_PHASES): { clock: PhaseClock; completed: PhaseDuration[] } {
  const sameBoot = clock.bootStartedAt === null || clock.bootStartedAt === body.startedAt;
  const running = new Map(sameBoot ? clock.running : []);
  const timed = new Set(sameBoot ? clock.timed : []);
  const full = () => running.size + timed.size >= maxTracked;
  const completed: PhaseDuration[] = [];
  for (const phase of completedIn(body)) {
    if (timed.has(phase) || (!running.has(phase) && full())) continue;
    completed.push({ phase, seconds: Math.max(0, nowMs - (running.get(phase) ?? nowMs)) / 1000 });
    timed.add(phase);
    running.delete(phase);
  }
  if (body.state === 'starting' && !timed.has(body.phase) && !running.has(body.phase) && !full()) running.set(body.phase, nowMs);
  return { clock: { bootStartedAt: body.startedAt, running, timed }, completed };
}
