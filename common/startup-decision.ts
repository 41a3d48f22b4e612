/**
 * Contract 2's condition as one pure function, shared by the gate (over the bodies it fetches) and
 * the app's own startup endpoint (over its own phase state), so the two can never disagree.
 */
import type { PhaseBody, StartupState } from './phase-contract';

/** Why startup is (not) complete; `ready` is the only reason that lets traffic in. */
export type Reason = 'no_observation' | StartupState | 'missing_components';

export interface Decision {
  open: boolean;
  reason: Reason;
  /** Required components the app does not report as true (absent counts as missing). */
  missing: string[];
}

/** Contract 2: open iff the app reports `ready` and every required component is true. */
export function decide(observation: Pick<PhaseBody, 'state' | 'components'> | undefined, required: readonly string[]): Decision {
  if (observation === undefined) return { open: false, reason: 'no_observation', missing: [...required] };
  const missing = required.filter((name) => observation.components[name] !== true);
  if (observation.state !== 'ready') return { open: false, reason: observation.state, missing };
  if (missing.length > 0) return { open: false, reason: 'missing_components', missing };
  return { open: true, reason: 'ready', missing };
}

/**
 * Whether a startup probe that finds this decision should be held for a change: only while startup
 * is still under way. Open, failed and stopping are final for the probe, so it is answered at once.
 */
export function worthHolding(decision: Decision): boolean {
  return decision.reason === 'no_observation' || decision.reason === 'starting' || decision.reason === 'missing_components';
}
