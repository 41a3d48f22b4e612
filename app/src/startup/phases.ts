/**
 * This app's startup phases, in the order they run. Contract 1 (common/phase-contract.ts) names
 * no phases: another backend may have other ones; the phase endpoint publishes whatever these are.
 */
export const PHASES = ['init', 'dependencies', 'database', 'cache', 'services', 'websocket', 'finalize'] as const;
export type PhaseName = (typeof PHASES)[number];
