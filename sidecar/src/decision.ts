/**
 * The gate's decisions as pure functions of what it has seen: no I/O, no clock, so each state has
 * a one-line test and the property tests can run thousands of sequences.
 */
import type { CheckFailure, StartupReason } from '../../common/gate-contract';
import type { PhaseBody, PhaseError } from '../../common/phase-contract';
import { decide, worthHolding } from '../../common/startup-decision';

/** The app's reason for a failed startup; a body without one still names the phase it stopped in. */
export function appError(observation: PhaseBody): PhaseError {
  return observation.error ?? { phase: observation.phase, message: 'no error message given' };
}

/** Everything the gate knows, updated by one check at a time. */
export interface GateState {
  /** The last body that validated against contract 1; failed checks leave it as it was. */
  observation: PhaseBody | undefined;
  /**
   * The failed check the gate is in now: set by a failed check, cleared by the next trusted body,
   * so /startup never shows a fault that has passed (the recovery is logged, naming it).
   */
  lastCheckError: CheckFailure | null;
  /** Whether the most recent check produced a trusted body. */
  lastCheckOk: boolean;
  /** Latched: once set, /startup answers 200 for the rest of the process. */
  openedAtMs: number | null;
  stopping: boolean;
}

export const INITIAL_STATE: GateState = { observation: undefined, lastCheckError: null, lastCheckOk: false, openedAtMs: null, stopping: false };

export type CheckOutcome = { ok: true; body: PhaseBody } | { ok: false; failure: CheckFailure };

export function afterCheck(state: GateState, outcome: CheckOutcome, nowMs: number, required: readonly string[]): GateState {
  if (!outcome.ok) return { ...state, lastCheckOk: false, lastCheckError: outcome.failure };
  const opens = state.openedAtMs === null && decide(outcome.body, required).open;
  return { ...state, observation: outcome.body, lastCheckOk: true, lastCheckError: null, openedAtMs: opens ? nowMs : state.openedAtMs };
}

/**
 * /ready: the condition holds now. A failed latest check means the gate cannot tell, so it says
 * no; Cloud Run's readiness probe has its own failure threshold to ride out a blip.
 */
export function isReady(state: GateState, required: readonly string[]): boolean {
  return !state.stopping && state.lastCheckOk && decide(state.observation, required).open;
}

/**
 * Whether /startup should hold a probe: the gate is still closed and waiting makes sense (not
 * shutting down, and the app has neither failed nor stopped).
 */
export function startupPending(state: GateState, required: readonly string[]): boolean {
  return state.openedAtMs === null && !state.stopping && worthHolding(decide(state.observation, required));
}

/** The JSON reason /startup answers with while closed (contract 2): kinds and phases, no messages. */
export function startupReason(state: GateState, required: readonly string[]): StartupReason {
  const { reason, missing } = decide(state.observation, required);
  return {
    state: state.observation?.state ?? null,
    phase: state.observation?.phase ?? null,
    reason,
    missing,
    error: state.observation?.error ? { phase: state.observation.error.phase } : null,
    lastCheckError: state.lastCheckError && { result: state.lastCheckError.result },
  };
}

/**
 * /live: the check loop has made progress recently. The target being down is not the gate's
 * fault (restarting the gate would not help), so only a stalled or crashed loop fails it.
 */
export function isLive(nowMs: number, lastProgressMs: number, maxSilenceMs: number, loopCrashed: boolean): boolean {
  return !loopCrashed && nowMs - lastProgressMs <= maxSilenceMs;
}
