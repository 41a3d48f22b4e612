/**
 * The probes of one revision, defined once: infra deploys them, the local runner runs them with
 * Cloud Run's semantics, the benchmarks model them and the tests check them. Also Cloud Run's own
 * limits and defaults for probes (GoogleCloudRunV2Probe in the Admin API v2 schema).
 */
import { APP_PATHS, APP_PORT, GATE_PATHS, GATE_PORT } from './revision';

/** When a probe runs and how often it may fail. */
export interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface ProbeSpec extends ProbeTiming {
  httpGet?: { path: string; port: number };
  tcpSocket?: { port: number };
}

/** Cloud Run: a startup probe's window, failureThreshold x periodSeconds, is at most 240 s. */
export const MAX_STARTUP_WINDOW_SECONDS = 240;
/** Cloud Run caps a startup probe's initialDelaySeconds at 240 s, separately from its window. */
export const MAX_INITIAL_DELAY_SECONDS = 240;
/**
 * The longest startup a probe can cover: the initial delay plus the window. Beyond 240 s the only
 * way is the initial delay, and no attempt runs during it, so a boot that finishes inside the
 * delay still waits for the delay to end.
 */
export const MAX_STARTUP_BUDGET_SECONDS = MAX_INITIAL_DELAY_SECONDS + MAX_STARTUP_WINDOW_SECONDS;

/**
 * Direct VPC egress: Cloud Run documents connection delays of a minute or more at instance start,
 * so each dependency phase (database, cache) retries for at least this long.
 */
export const MIN_DEPENDENCY_BUDGET_SECONDS = 60;
/** The identity provider's key fetch (one HTTPS GET over the internet, not the VPC) retries for at least this long. */
export const MIN_KEY_FETCH_BUDGET_SECONDS = 1;
/** The app's budget for a dependency when none is set (APP_DATABASE_BUDGET_MS, APP_CACHE_BUDGET_MS, APP_AUTH_BUDGET_MS). */
export const DEFAULT_DEPENDENCY_BUDGET_MS = 30_000;
/**
 * The database and cache phases run one after the other inside the startup budget; this much of
 * it stays for process start, the other phases and the gate's last one-second probe.
 */
export const STARTUP_HEADROOM_SECONDS = 10;

/** Cloud Run's values for probe fields left out. */
export const CLOUD_RUN_PROBE_DEFAULTS: Readonly<ProbeTiming> = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 };

/** Cloud Run's default startup probe for the ingress container when none is configured. */
export function defaultTcpStartupProbe(port: number): ProbeSpec {
  return { initialDelaySeconds: 0, periodSeconds: 240, timeoutSeconds: 240, failureThreshold: 1, tcpSocket: { port } };
}

/** HTTP probes pass on any status from 200 to 399. */
export function httpStatusPasses(status: number): boolean {
  return status >= 200 && status <= 399;
}

export function startupWindowSeconds(spec: Pick<ProbeTiming, 'periodSeconds' | 'failureThreshold'>): number {
  return spec.failureThreshold * spec.periodSeconds;
}

/** How long after the container's start a startup probe gives up: its initial delay plus its window. */
export function startupCoverSeconds(spec: Pick<ProbeTiming, 'initialDelaySeconds' | 'periodSeconds' | 'failureThreshold'>): number {
  return spec.initialDelaySeconds + startupWindowSeconds(spec);
}

/**
 * The initial delay a startup budget needs: none up to 240 s, beyond it exactly the part the
 * window cannot hold. Every second of it is a second no ready instance can get traffic sooner.
 */
export function initialDelayForBudget(startupBudgetSeconds: number): number {
  return Math.max(0, startupBudgetSeconds - MAX_STARTUP_WINDOW_SECONDS);
}

/** The limits of the Cloud Run API for a startup probe; returns the problems, empty when valid. */
export function startupProbeProblems(spec: ProbeTiming & { httpGet?: object; tcpSocket?: object }): string[] {
  const problems: string[] = [];
  if (spec.initialDelaySeconds < 0 || spec.initialDelaySeconds > MAX_INITIAL_DELAY_SECONDS) problems.push(`initialDelaySeconds must be 0..${MAX_INITIAL_DELAY_SECONDS}`);
  if (spec.periodSeconds < 1 || spec.periodSeconds > 240) problems.push('periodSeconds must be 1..240');
  if (spec.timeoutSeconds < 1 || spec.timeoutSeconds > spec.periodSeconds) problems.push('timeoutSeconds must be 1..periodSeconds');
  if (spec.failureThreshold < 1) problems.push('failureThreshold must be at least 1');
  if (startupWindowSeconds(spec) > MAX_STARTUP_WINDOW_SECONDS) {
    problems.push(`failureThreshold x periodSeconds must be at most ${MAX_STARTUP_WINDOW_SECONDS} s`);
  }
  if ((spec.httpGet === undefined) === (spec.tcpSocket === undefined)) problems.push('exactly one of httpGet and tcpSocket');
  return problems;
}

/**
 * One attempt a second, each with a timeout of the whole period: the startup endpoints hold an
 * attempt until startup completes or the timeout nears (`startupHoldMs`), so the attempts cover
 * every second but its last 25 ms, and traffic flows within milliseconds of ready. Without the
 * hold it would wait up to a period.
 */
export const STARTUP_PROBE_PERIOD_SECONDS = 1;

/**
 * Time kept back from a startup probe's timeout when an endpoint holds the probe, so a closed
 * endpoint answers 503 with its reason rather than letting the attempt time out. It assumes a probe
 * request reaches the container within 25 ms of the prober starting its clock (Cloud Run does not
 * document where the prober runs). Erring late costs little (the attempt fails as a timeout
 * instead of a 503, as it would have failed anyway), while every ms of margin is a ms of each period
 * in which ready waits for the next attempt, so the margin stays small.
 */
export const PROBE_NETWORK_MARGIN_MS = 25;

/** How long an endpoint may hold one attempt of this probe: its timeout minus the network margin. */
export function startupHoldMs(spec: ProbeSpec): number {
  return Math.max(0, spec.timeoutSeconds * 1000 - PROBE_NETWORK_MARGIN_MS);
}

/** Liveness: three missed checks 10 s apart restart a container; a slow GC pause is not a miss. */
const LIVENESS = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 } as const;

/** Readiness (Cloud Run Preview): a short period so an instance leaves rotation quickly on SIGTERM. */
const READINESS = { initialDelaySeconds: 0, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 } as const;

/** Where the ingress container answers its probes: its port, and its liveness path (its startup path is contract 2's, /startup). */
export interface IngressEndpoints {
  port: number;
  livenessPath: string;
}

/** The chat app's: port 8080, liveness on /healthz. */
export const CHAT_APP_ENDPOINTS: Readonly<IngressEndpoints> = { port: APP_PORT, livenessPath: APP_PATHS.healthz };

export interface RevisionProbes {
  app: { startup: ProbeSpec; liveness: ProbeSpec };
  gate: { startup: ProbeSpec; liveness: ProbeSpec; readiness: ProbeSpec };
}

/**
 * Every probe of the revision from one number: the app's startup budget in seconds (1..480), the
 * longest the app may take from container start to ready. Both startup probes (the app's /startup
 * and the gate's) pass only once the app is ready with its required components, and give up exactly
 * at the budget: a window of up to 240 attempts a second apart, after an initial delay only for the
 * part of the budget beyond 240 s. `ingress` places the ingress container's probes (the chat app's by default).
 */
export function revisionProbes(startupBudgetSeconds: number, ingress: IngressEndpoints = CHAT_APP_ENDPOINTS): RevisionProbes {
  if (!Number.isInteger(startupBudgetSeconds) || startupBudgetSeconds < 1 || startupBudgetSeconds > MAX_STARTUP_BUDGET_SECONDS) {
    throw new RangeError(`the startup budget must be a whole number of seconds from 1 to ${MAX_STARTUP_BUDGET_SECONDS}, got ${startupBudgetSeconds}`);
  }
  const startup = {
    initialDelaySeconds: initialDelayForBudget(startupBudgetSeconds),
    periodSeconds: STARTUP_PROBE_PERIOD_SECONDS,
    timeoutSeconds: STARTUP_PROBE_PERIOD_SECONDS,
    failureThreshold: Math.min(startupBudgetSeconds, MAX_STARTUP_WINDOW_SECONDS) / STARTUP_PROBE_PERIOD_SECONDS,
  };
  return {
    app: {
      // The app's own /startup applies the gate's condition to its own state and holds like the
      // gate's, so traffic waits for ready even if Cloud Run routes once the ingress container passes.
      startup: { ...startup, httpGet: { path: APP_PATHS.startup, port: ingress.port } },
      liveness: { ...LIVENESS, httpGet: { path: ingress.livenessPath, port: ingress.port } },
    },
    gate: {
      startup: { ...startup, httpGet: { path: GATE_PATHS.startup, port: GATE_PORT } },
      liveness: { ...LIVENESS, httpGet: { path: GATE_PATHS.live, port: GATE_PORT } },
      readiness: { ...READINESS, httpGet: { path: GATE_PATHS.ready, port: GATE_PORT } },
    },
  };
}

/** The hold for the startup probes infra deploys (any budget: the app's and the gate's share period and timeout). */
export const DEFAULT_STARTUP_HOLD_MS = startupHoldMs(revisionProbes(MAX_STARTUP_WINDOW_SECONDS).gate.startup);

/** A probe's timeout is at most its period, at most 240 s. */
export const MAX_STARTUP_HOLD_MS = MAX_STARTUP_WINDOW_SECONDS * 1000;
