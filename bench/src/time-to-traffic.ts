/**
 * Comparison 2: when would Cloud Run send traffic, for startups measured in this run? The runner's
 * probe model (Cloud Run's semantics) runs each configuration on a virtual clock against the
 * same timelines, so the figures need no waiting and the configurations see identical startups.
 */
import { defaultTcpStartupProbe, type ProbeSpec } from '../../common/probes';
import { APP_PATHS, APP_PORT, GATE_PORT } from '../../common/revision';
import { renderedContainers, toProbeSpec } from '../../runner/src/local-revision';
import { type Attempt, runStartupProbe, VirtualClock } from '../../runner/src/probe';

/** Production's startup probes as infra deploys them (infra/rendered/production.yaml), read once. */
const PRODUCTION_STARTUP_PROBES = (() => {
  const containers = renderedContainers('production');
  const samePorts = new Map([APP_PORT, GATE_PORT].map((port) => [port, port]));
  const startupProbe = (name: string) => toProbeSpec(containers.find((container) => container.name === name)?.startupProbe, samePorts)!;
  return { app: startupProbe('app'), gate: startupProbe('gate') };
})();

/**
 * The old service's probe (background/incident-503-health-task-cloud-run-config.md): HTTP on the
 * app's health endpoint, which answered as soon as the server listened, started or not.
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

export const CONFIGURATIONS = ['ours', 'oldConfig', 'tcpDefault'] as const;
export type Configuration = (typeof CONFIGURATIONS)[number];

/** Each probe of a configuration, with the time its target starts to pass it. */
export function probesFor(configuration: Configuration, timeline: StartupTimeline): { spec: ProbeSpec; passesFromMs: number }[] {
  switch (configuration) {
    case 'ours':
      return [
        { spec: PRODUCTION_STARTUP_PROBES.app, passesFromMs: timeline.listenMs },
        { spec: PRODUCTION_STARTUP_PROBES.gate, passesFromMs: timeline.gateOpenMs },
      ];
    case 'oldConfig':
      return [{ spec: OLD_STARTUP_PROBE, passesFromMs: timeline.listenMs }];
    case 'tcpDefault':
      return [{ spec: defaultTcpStartupProbe(APP_PORT), passesFromMs: timeline.listenMs }];
  }
}

/**
 * A modelled attempt. An HTTP attempt before its target passes fails at once (connection refused
 * or 503); a TCP attempt keeps connecting until its timeout, so it passes the moment the port opens.
 */
function modelAttempt(spec: ProbeSpec, passesFromMs: number, clock: VirtualClock): Attempt {
  return async (timeoutMs) => {
    const wait = passesFromMs - clock.now();
    if (wait <= 0) return { ok: true, detail: 'passed' };
    if (spec.tcpSocket === undefined) return { ok: false, detail: 'not yet' };
    clock.advance(Math.min(wait, timeoutMs));
    return wait <= timeoutMs ? { ok: true, detail: 'connected' } : { ok: false, detail: 'connection refused' };
  };
}

/** When the probe passes, or undefined when its window runs out first (the revision fails). */
export async function probePassesAt(spec: ProbeSpec, passesFromMs: number): Promise<number | undefined> {
  const clock = new VirtualClock();
  const outcome = await runStartupProbe(spec, modelAttempt(spec, passesFromMs, clock), clock, 0);
  return outcome.passed ? outcome.atMs : undefined;
}

/** Cloud Run routes traffic once every container's startup probe has passed. */
export async function trafficAtMs(configuration: Configuration, timeline: StartupTimeline): Promise<number | undefined> {
  const passes = await Promise.all(probesFor(configuration, timeline).map(({ spec, passesFromMs }) => probePassesAt(spec, passesFromMs)));
  return passes.some((at) => at === undefined) ? undefined : Math.max(...(passes as number[]));
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

export interface ConfigurationResult {
  /** Traffic times of the startups that passed. */
  trafficAtMs: number[];
  /** Startups whose probe window ran out: the revision would have failed. */
  failed: number;
  earlyRoutedShare: number;
}

export async function modelTimeToTraffic(timelines: readonly StartupTimeline[]): Promise<Record<Configuration, ConfigurationResult>> {
  const entries = await Promise.all(
    CONFIGURATIONS.map(async (configuration) => {
      const startups = await Promise.all(timelines.map(async (t) => ({ readyMs: t.readyMs, trafficAtMs: await trafficAtMs(configuration, t) })));
      const passed = startups.flatMap((s) => (s.trafficAtMs === undefined ? [] : [s.trafficAtMs]));
      return [configuration, { trafficAtMs: passed, failed: startups.length - passed.length, earlyRoutedShare: earlyRoutedShare(startups) }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Configuration, ConfigurationResult>;
}
