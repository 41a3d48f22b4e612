/**
 * Contract 2: what the gate answers on its endpoints and labels in its metrics. The condition
 * itself (when the gate opens) is `decide` in startup-decision.ts; the paths are GATE_PATHS in
 * revision.ts; docs/gate.md is the prose. Types only and constants: no I/O, so the gate's pure
 * decision module, its metrics, the runner and the tests can all import it.
 */
import type { PhaseError, StartupState } from './phase-contract';
import type { Reason } from './startup-decision';

/**
 * Every kind of check of the phase endpoint: the `result` label of startup_gate_checks_total and
 * of `lastCheckError`. Listed here so each series exists from the first scrape.
 */
export const CHECK_RESULTS = ['ok', 'refused', 'timeout', 'reset', 'network', 'http_status', 'not_json', 'invalid', 'too_large'] as const;
export type CheckResult = (typeof CHECK_RESULTS)[number];

/** A check that did not produce a trusted body, by kind. */
export interface CheckFailure {
  result: Exclude<CheckResult, 'ok'>;
  message: string;
}

/** `GET /startup`, 200: the gate has opened (latched for the life of the process). */
export interface StartupOpenBody {
  state: 'open';
  openedAfterMs: number;
}

/** `GET /startup`, 503: why the gate is still closed. */
export interface StartupReason {
  /** The app's last trusted state and phase; null before any trusted body. */
  state: StartupState | null;
  phase: string | null;
  reason: Reason;
  /** Required components the app does not report as true. */
  missing: string[];
  /**
   * The phase the app failed in, and the kind of the failed check the gate is in now (null once a
   * check succeeds again; the gate logs the recovery). Not their messages: they can name internal
   * hosts, and this port is probed. The messages are in the log and in /ready asked from loopback.
   */
  error: Pick<PhaseError, 'phase'> | null;
  lastCheckError: Pick<CheckFailure, 'result'> | null;
}

/** `GET /ready`, 503: shutting down, the latest check failed, or the app is not ready now. 200 answers `{ready: true}`. */
export interface NotReadyBody {
  ready: false;
  stopping: boolean;
  lastCheckOk: boolean;
  reason: Reason;
  /** Only to a client on loopback (the collector, an operator): the app's error and the last failed check, with their messages. */
  detail?: { error: PhaseError | null; lastCheckError: CheckFailure | null };
}

/** `GET /live`: 200 with `{live: true}`, 503 with `{live: false}`. */
export interface LiveBody {
  live: boolean;
}
