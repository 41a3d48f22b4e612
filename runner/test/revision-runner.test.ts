/**
 * The runner against the real app process: probes on Cloud Run's schedule, the front door holding
 * early clients, and the failure reasons. A probe on the app's own phase endpoint stands in for
 * the gate here, so these tests need nothing but the app.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { waitFor } from '../../testkit/wait-for';
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { FrontDoor } from '../src/front-door';
import { PROBE_MODELS, type ProbeModel } from '../src/probe-model';
import { type LocalRevision, RevisionRunner, startOrder } from '../src/revision-runner';
import type { Stamped, TimelineEvent } from '../src/timeline';
import { freePort } from '../../common/local-ports';
import { appContainer, gateContainer } from '../../testkit/local-containers';

async function setup(appEnv: Record<string, string>, failureThreshold = 10, startupProbePort?: number) {
  const [port, phasePort] = [await freePort(), await freePort()];
  const revision: LocalRevision = {
    stack: 'test',
    containers: [
      appContainer({ port, phasePort }, appEnv, {
        startupProbe: { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold, httpGet: { path: '/phase', port: startupProbePort ?? phasePort } },
        livenessProbe: { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3, httpGet: { path: '/healthz', port } },
      }),
    ],
  };
  const frontDoor = new FrontDoor({ targetPort: port, holdTimeoutMs: 20_000 });
  await new Promise<void>((resolve) => frontDoor.server.listen(0, '127.0.0.1', resolve));
  const doorPort = (frontDoor.server.address() as { port: number }).port;
  const events: Stamped[] = [];
  const started = performance.now();
  const runner = new RevisionRunner(revision, frontDoor, (event: TimelineEvent) => events.push({ ...event, atMs: performance.now() - started } as Stamped));
  return { runner, frontDoor, doorPort, events, started };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.map((step) => step()));
  cleanup = [];
});

describe('revision runner', () => {
  it('holds early WebSocket clients and opens the door when the startup probe passes', async () => {
    const { runner, frontDoor, doorPort, events, started } = await setup({ [APP_ENV_VARS.phaseDelayMs]: '250' });
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    const result = runner.start();
    const early = new WebSocket(`ws://127.0.0.1:${doorPort}/ws`);
    const opened = new Promise<number>((resolve, reject) => {
      early.once('open', () => resolve(performance.now()));
      early.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    const outcome = await result;
    expect(outcome.ok).toBe(true);
    const openedAt = await opened;
    const probes = events.filter((e) => e.kind === 'probe' && e.probe === 'startup');
    // 7 phases x 250 ms: the probe fails at 0 s and 1 s, passes on a later 1 s tick.
    expect(probes.length).toBeGreaterThanOrEqual(2);
    expect(probes.slice(0, -1).every((p) => p.kind === 'probe' && !p.ok)).toBe(true);
    expect(probes.at(-1)).toMatchObject({ ok: true, detail: 'HTTP 200' });
    // Attempts start a period apart; each event is stamped when its attempt ends.
    const startOf = (probe: Stamped) => probe.atMs - (probe.kind === 'probe' ? probe.durationMs : 0);
    for (let i = 1; i < probes.length; i += 1) expect(startOf(probes[i]!) - startOf(probes[i - 1]!)).toBeGreaterThan(900);
    const traffic = events.find((e) => e.kind === 'traffic');
    expect(events.filter((e) => e.kind === 'phase')).toHaveLength(7);
    // The early client was held, never refused, and got through only once traffic flowed.
    expect(openedAt - started).toBeGreaterThanOrEqual(traffic!.atMs);
    early.close();
  });

  it('fails when the startup probe never passes, naming the window and the last answer', async () => {
    // The probe asks a server that always answers 503, so the last answer is known however slowly
    // the app boots on a busy machine.
    const closed = http.createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => closed.close(() => resolve())));
    const { runner, frontDoor, events } = await setup({}, 3, (closed.address() as AddressInfo).port);
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    const outcome = await runner.start();
    expect(outcome).toMatchObject({ ok: false, reason: 'container app failed its startup probe 3 times in its 3 s window (last: HTTP 503)' });
    expect(events.filter((e) => e.kind === 'probe' && e.probe === 'startup')).toHaveLength(3);
  });

  it('fails at once when a container exits during startup', async () => {
    const { runner, frontDoor } = await setup({ [APP_ENV_VARS.crashPhase]: 'services' });
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    expect(await runner.start()).toMatchObject({
      ok: false,
      reason: 'container app exited during startup (code 1): rehearsed crash in phase services (APP_CRASH_PHASE=services)',
    });
  });

  it('restarts a container whose liveness probe fails; traffic flows again once it passes its startup probe', async () => {
    const { runner, frontDoor, doorPort, events } = await setup({});
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    expect((await runner.start()).ok).toBe(true);
    const first = events.find((e) => e.kind === 'container-started');
    const pid = first?.kind === 'container-started' ? first.pid! : 0;
    // A hung process: it keeps its port but answers nothing, so each liveness attempt times out.
    process.kill(pid, 'SIGSTOP');
    const restarted = () => events.filter((e) => e.kind === 'traffic').length === 2;
    // 3 failed attempts 1 s apart, then SIGTERM (pending while stopped) and SIGKILL after 10 s.
    await waitFor('traffic after the restart', restarted, { timeoutMs: 40_000 });
    const restart = events.find((e) => e.kind === 'restart');
    expect(restart).toMatchObject({ container: 'app', reason: 'liveness probe failed 3 times in a row (last: timed out)' });
    expect(events.find((e) => e.kind === 'container-exited')).toMatchObject({ container: 'app', signal: 'SIGKILL' });
    expect(events.filter((e) => e.kind === 'container-started')).toHaveLength(2);
    expect(restarted()).toBe(true);
    // The new process serves through the same front door.
    const response = await fetch(`http://127.0.0.1:${doorPort}/healthz`);
    expect(response.status).toBe(200);
  });

  it('orders containers by dependsOn and rejects cycles and probe-less dependencies', () => {
    const base = { command: [], env: {}, dependsOn: [] as string[] };
    const probe = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1, httpGet: { path: '/', port: 1 } };
    const waves = startOrder([
      { ...base, name: 'gate', dependsOn: ['app'], startupProbe: probe },
      { ...base, name: 'app', ingressPort: 1 },
    ]);
    expect(waves.map((wave) => wave.map((c) => c.name))).toEqual([['app'], ['gate']]);
    expect(() => startOrder([{ ...base, name: 'a', dependsOn: ['b'], startupProbe: probe }, { ...base, name: 'b', dependsOn: ['a'], startupProbe: probe }])).toThrow('cycle');
    expect(() => startOrder([{ ...base, name: 'a', dependsOn: ['b'] }, { ...base, name: 'b' }])).toThrow('b, which has no startup probe');
  });
});

describe('probe models: which startup probes let traffic in', () => {
  const schedule = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 };

  /** The app and the real gate, with the app's startup probe on `appProbePath` (the old /healthz, or /startup). */
  async function twoContainers(appProbePath: string, model: ProbeModel) {
    const [port, phasePort, gatePort] = [await freePort(), await freePort(), await freePort()];
    const revision: LocalRevision = {
      stack: 'test',
      containers: [
        // Long enough that the app's /healthz passes its probe well before finalize ends.
        appContainer({ port, phasePort }, { [APP_ENV_VARS.phaseDelayMs]: 'finalize=2500' }, { startupProbe: { ...schedule, httpGet: { path: appProbePath, port } } }),
        gateContainer(gatePort, phasePort, schedule),
      ],
    };
    const frontDoor = new FrontDoor({ targetPort: port, holdTimeoutMs: 20_000 });
    const events: TimelineEvent[] = [];
    const runner = new RevisionRunner(revision, frontDoor, (event) => events.push(event), undefined, model);
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    expect((await runner.start()).ok).toBe(true);
    const at = (predicate: (e: TimelineEvent) => boolean) => events.findIndex(predicate);
    return {
      traffic: at((e) => e.kind === 'traffic'),
      finalize: at((e) => e.kind === 'phase' && e.phase === 'finalize'),
      gatePassed: at((e) => e.kind === 'startup-passed' && e.container === 'gate'),
    };
  }

  it.each(PROBE_MODELS)('%s: with the app probing its own /startup, traffic comes after the finalize phase', async (model) => {
    const { traffic, finalize } = await twoContainers(APP_PATHS.startup, model);
    expect(finalize).toBeGreaterThanOrEqual(0);
    expect(traffic).toBeGreaterThan(finalize);
  });

  it('ingress-only: a sidecar that fails its startup probe after traffic began fails the instance, and the revision stops', async () => {
    const [port, phasePort, gatePort] = [await freePort(), await freePort(), await freePort()];
    const revision: LocalRevision = {
      stack: 'test',
      containers: [
        // The app's /healthz lets traffic in at once; the gate never opens on an app stuck in finalize.
        appContainer({ port, phasePort }, { [APP_ENV_VARS.phaseDelayMs]: 'finalize=600000' }, { startupProbe: { ...schedule, httpGet: { path: APP_PATHS.healthz, port } } }),
        gateContainer(gatePort, phasePort, { ...schedule, failureThreshold: 2 }),
      ],
    };
    const frontDoor = new FrontDoor({ targetPort: port, holdTimeoutMs: 20_000 });
    const events: TimelineEvent[] = [];
    const runner = new RevisionRunner(revision, frontDoor, (event) => events.push(event), undefined, 'ingress-only');
    cleanup.push(() => runner.stop(), () => frontDoor.close());
    expect((await runner.start()).ok).toBe(true);
    await waitFor('the revision to stop', () => events.some((e) => e.kind === 'stopped'), { timeoutMs: 30_000 });
    const kinds = events.map((e) => e.kind);
    expect(kinds.indexOf('traffic')).toBeLessThan(kinds.indexOf('failed'));
    expect(kinds.indexOf('failed')).toBeLessThan(kinds.indexOf('stopping'));
    expect(events.find((e) => e.kind === 'failed')).toMatchObject({ reason: expect.stringContaining('container gate failed its startup probe 2 times') });
    expect(events.filter((e) => e.kind === 'container-exited').map((e) => e.kind === 'container-exited' && e.container).sort()).toEqual(['app', 'gate']);
  });

  it('ingress-only with the old /healthz startup probe routes before the app is ready; all-containers waits for the gate', async () => {
    const early = await twoContainers(APP_PATHS.healthz, 'ingress-only');
    expect(early.traffic).toBeLessThan(early.finalize === -1 ? Number.POSITIVE_INFINITY : early.finalize);
    const waited = await twoContainers(APP_PATHS.healthz, 'all-containers');
    expect(waited.traffic).toBeGreaterThan(waited.finalize);
    expect(waited.traffic).toBeGreaterThan(waited.gatePassed);
  });
});
