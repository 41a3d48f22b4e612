/**
 * Which startup probes Cloud Run waits for before it routes traffic to an instance. Its contract
 * says every container must be healthy (`all-containers`); one public guide says the instance takes
 * requests once the ingress container passes (`ingress-only`). The design must be safe under both.
 */
export const PROBE_MODELS = ['all-containers', 'ingress-only'] as const;
export type ProbeModel = (typeof PROBE_MODELS)[number];
