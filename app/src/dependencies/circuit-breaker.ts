/**
 * The decision whether to call a dependency at all. After `failuresToOpen` failures in a row the
 * breaker opens: calls are refused at once (the caller answers `unavailable`) instead of each one
 * waiting out its deadline, so an outage costs neither time nor memory per message. A probe, run
 * every `probeIntervalMs` while open, closes it again. Pure: the shell (guarded-store.ts) owns the
 * probe and its timer.
 */

export type BreakerState = { kind: 'closed'; failures: number } | { kind: 'open' };

export interface BreakerPolicy {
  failuresToOpen: number;
  probeIntervalMs: number;
}

export const CLOSED: BreakerState = { kind: 'closed', failures: 0 };

export function admits(state: BreakerState): boolean {
  return state.kind === 'closed';
}

export function afterSuccess(): BreakerState {
  return CLOSED;
}

export function afterFailure(state: BreakerState, policy: BreakerPolicy): BreakerState {
  if (state.kind === 'open') return state;
  const failures = state.failures + 1;
  return failures >= policy.failuresToOpen ? { kind: 'open' } : { kind: 'closed', failures };
}

/** What a refused caller is told: the next probe's time, in whole seconds, at least 1. */
export function retryAfterSeconds(policy: BreakerPolicy): number {
  return Math.max(1, Math.ceil(policy.probeIntervalMs / 1000));
}
