/**
 * Comparison 2: when would Cloud Run send traffic, for startups measured in this run? The runner's
 * probe model (Cloud Run's semantics) runs each configuration on a virtual clock against the
 * same timelines, so the figures need no waiting and the configurations see identical startups.
 * Each configuration runs under both readings of Cloud Run (runner/src/revision-runner.ts): traffic
 * once every container's startup probe passed, or once the ingress container's passed.
 */
import { defaultTcpStartupProbe, type ProbeSpec, STARTUP_PROBE_PERIOD_SECONDS, startupHoldMs } from '../../common/probes';
import { APP_PATHS, APP_PORT, GATE_PORT } from '../../common/revision';
import { renderedContainers, toProbeSpec } from '../../runner/src/local-revision';
import { type Attempt, runStartupProbe, VirtualClock } from '../../runner/src/probe';
import { PROBE_MODELS, type ProbeModel } from '../../runner/src/probe-model';

/** Production's startup probes as infra deploys them (infra/rendered/production.yaml), read once. */
const PRODUCTION_STARTUP_PROBES = (() => {
  const containers = renderedContainers('production');
  const samePorts = new Map([APP_PORT, GATE_PORT].map((port) => [port, port]));
  const startupProbe = (name: string) => toProbeSpec(containers.find((container) => container.name === name)?.startupProbe, samePorts)!;
  return { app: startupProbe('app'), gate: startupProbe('gate') };
})();

/**
 * The probe of the service this project replaces: HTTP on the app's health endpoint after a 45 s
 * delay, and the endpoint answered as soon as the server listened, started or not.
 */
export const OLD_STARTUP_PROBE: ProbeSpec = {
  initialDelaySeconds: 45,
  periodSeconds: 10,
  timeoutSeconds: 10,
  failureThreshold: 5,
  httpGet: { path: APP_PATHS.healthz, port: APP_PORT },
};

/** One measured startup, ms from container start (both containers start together). */
export interface StartupTimeline {
  /** The app's port accepts connections: a TCP probe or the app's health endpoint passes. */
  listenMs: number;
  readyMs: number;
  /** The gate's /startup answers 200. */
  gateOpenMs: number;
}

/**
 * ours: this project as deployed (both startup probes on readiness, both held). previous: the
 * probes before they were held (the app's startup probe on /healthz, the gate's /startup answered
 * at once).
 */
export const CONFIGURATIONS = ['ours', 'previous', 'oldConfig', 'tcpDefault'] as const;
export type Configuration = (typeof CONFIGURATIONS)[number];

/** One startup probe of a configuration as its target answers it over one startup. */
export interface ModelledProbe {
  spec: ProbeSpec;
  /** Whether it is the ingress container's probe. */
  ingress: boolean;
  /** Attempts before this are refused (nothing listens). */
  listensFromMs: number;
  /** Attempts from this on pass at once. */
  passesFromMs: number;
  /** How long the endpoint holds an attempt that comes before it passes; 0 answers at once. */
  holdMs: number;
}

/**
 * Each probe of a configuration. The gate's listen time is not measured in comparison 1; it starts
 * with the app and listens sooner (comparison 3), so the app's listen time stands in for it.
 */
export function probesFor(configuration: Configuration, timeline: StartupTimeline): ModelledProbe[] {
  const { app, gate } = PRODUCTION_STARTUP_PROBES;
  const listen = { listensFromMs: timeline.listenMs };
  switch (configuration) {
    case 'ours':
      return [
        { spec: app, ingress: true, ...listen, passesFromMs: timeline.readyMs, holdMs: startupHoldMs(app) },
        { spec: gate, ingress: false, ...listen, passesFromMs: timeline.gateOpenMs, holdMs: startupHoldMs(gate) },
      ];
    case 'previous':
      return [
        { spec: { ...app, httpGet: { path: APP_PATHS.healthz, port: APP_PORT } }, ingress: true, ...listen, passesFromMs: timeline.listenMs, holdMs: 0 },
        { spec: gate, ingress: false, ...listen, passesFromMs: timeline.gateOpenMs, holdMs: 0 },
      ];
    case 'oldConfig':
      return [{ spec: OLD_STARTUP_PROBE, ingress: true, ...listen, passesFromMs: timeline.listenMs, holdMs: 0 }];
    case 'tcpDefault':
      return [{ spec: defaultTcpStartupProbe(APP_PORT), ingress: true, ...listen, passesFromMs: timeline.listenMs, holdMs: 0 }];
  }
}

/**
 * A modelled attempt. A TCP attempt keeps connecting until its timeout, so it passes the moment the
 * port opens. An HTTP attempt is refused before its target listens, passes once its target passes,
 * and in between fails at once (503), or is held and passes the moment its target does if that
 * comes within the hold, else fails at the end of the hold.
 */
function modelAttempt(probe: ModelledProbe, clock: VirtualClock): Attempt {
  return async (timeoutMs) => {
    const wait = probe.passesFromMs - clock.now();
    if (wait <= 0) return { ok: true, detail: 'passed' };
    if (probe.spec.tcpSocket !== undefined) {
      clock.advance(Math.min(wait, timeoutMs));
      return wait <= timeoutMs ? { ok: true, detail: 'connected' } : { ok: false, detail: 'connection refused' };
    }
    if (clock.now() < probe.listensFromMs) return { ok: false, detail: 'connection refused' };
    const hold = Math.min(probe.holdMs, timeoutMs);
    if (wait <= hold) {
      clock.advance(wait);
      return { ok: true, detail: 'held, then passed' };
    }
    clock.advance(hold);
    return { ok: false, detail: 'HTTP 503' };
  };
}

/** When the probe passes, or undefined when its window runs out first (the revision fails). */
export async function probePassesAt(probe: ModelledProbe): Promise<number | undefined> {
  const clock = new VirtualClock();
  const outcome = await runStartupProbe(probe.spec, modelAttempt(probe, clock), clock, 0);
  return outcome.passed ? outcome.atMs : undefined;
}

/**
 * When Cloud Run routes traffic under a probe model: once every container's startup probe passed,
 * or once the ingress container's did. A probe that never passes fails the instance either way.
 */
export async function trafficAtMs(configuration: Configuration, timeline: StartupTimeline, model: ProbeModel = 'all-containers'): Promise<number | undefined> {
  const probes = probesFor(configuration, timeline);
  const passes = await Promise.all(probes.map(probePassesAt));
  if (passes.some((at) => at === undefined)) return undefined;
  return Math.max(...probes.flatMap((probe, i) => (model === 'all-containers' || probe.ingress ? [passes[i]!] : [])));
}

/**
 * Of the requests arriving at a steady rate from container start until the app is ready, the
 * share Cloud Run hands to the app before it is ready. A startup whose traffic starts early sends
 * all of them there (the ones that queued before are released at that moment), so each startup
 * weighs by its length.
 */
export function earlyRoutedShare(startups: readonly { readyMs: number; trafficAtMs: number | undefined }[]): number {
  const total = startups.reduce((sum, s) => sum + s.readyMs, 0);
  const early = startups.reduce((sum, s) => sum + (s.trafficAtMs !== undefined && s.trafficAtMs < s.readyMs ? s.readyMs : 0), 0);
  return total === 0 ? 0 : early / total;
}

/**
 * The measured startups with their phases lengthened so that `ready` falls evenly over one probe
 * period: startup k of n by k/n of a period. Local startups take 1.2-1.5 s, so their `ready` would
 * fall in one narrow part of the probe schedule; production startups take seconds and vary, so
 * their `ready` falls anywhere in it. The listen time stays as measured.
 */
export function spreadOverPeriod(timelines: readonly StartupTimeline[], periodMs = STARTUP_PROBE_PERIOD_SECONDS * 1000): StartupTimeline[] {
  return timelines.map((t, k) => {
    const shift = (k / timelines.length) * periodMs;
    return { listenMs: t.listenMs, readyMs: t.readyMs + shift, gateOpenMs: t.gateOpenMs + shift };
  });
}

export interface ConfigurationResult {
  /** Traffic times of the startups that passed. */
  trafficAtMs: number[];
  /** Traffic time minus ready, for the startups that passed (negative: routed before ready). */
  afterReadyMs: number[];
  /** Startups whose probe window ran out: the revision would have failed. */
  failed: number;
  earlyRoutedShare: number;
}

export type TimeToTraffic = Record<ProbeModel, Record<Configuration, ConfigurationResult>>;

async function modelOne(configuration: Configuration, model: ProbeModel, timelines: readonly StartupTimeline[]): Promise<ConfigurationResult> {
  const startups = await Promise.all(timelines.map(async (t) => ({ readyMs: t.readyMs, trafficAtMs: await trafficAtMs(configuration, t, model) })));
  const passed = startups.filter((s): s is { readyMs: number; trafficAtMs: number } => s.trafficAtMs !== undefined);
  return {
    trafficAtMs: passed.map((s) => s.trafficAtMs),
    afterReadyMs: passed.map((s) => s.trafficAtMs - s.readyMs),
    failed: startups.length - passed.length,
    earlyRoutedShare: earlyRoutedShare(startups),
  };
}

export async function modelTimeToTraffic(timelines: readonly StartupTimeline[]): Promise<TimeToTraffic> {
  const byModel = await Promise.all(
    PROBE_MODELS.map(async (model) => {
      const results = await Promise.all(CONFIGURATIONS.map(async (c) => [c, await modelOne(c, model, timelines)] as const));
      return [model, Object.fromEntries(results)] as const;
    }),
  );
  return Object.fromEntries(byModel) as TimeToTraffic;
}
