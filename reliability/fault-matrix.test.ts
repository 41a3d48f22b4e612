/**
 * Startup faults through real processes: the compiled app and gate as the two containers of one
 * instance. For every fault the gate never opens early, the reason shows on /startup, in the
 * gate's logs and in its metrics, and each process ends as docs/gate.md and docs/phase-contract.md
 * say it does. Then dependency faults after ready, under load: PostgreSQL and Redis each locked,
 * stopped, stalled or black-holed (testkit/stall-proxy.ts) while 20 clients chat; no acknowledged
 * message lost, no message waiting past the deadline for a frame, no 1011, and chat recovers.
 */
import http from 'node:http';
import { WebSocket } from 'ws';
import type { StartupReason } from '../common/gate-contract';
import { PHASES } from '../app/src/startup/phases';
import { revisionProbes } from '../common/probes';
import { APP_ENV_VARS, GATE_ENV_VARS, GATE_PATHS, GATE_PORT } from '../common/revision';
import { FrontDoor } from '../runner/src/front-door';
import { localRevisionOf } from '../runner/src/local-images';
import { RevisionRunner } from '../runner/src/revision-runner';
import { waitFor } from '../testkit/wait-for';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../common/local-ports';
import { type AppProcess, startApp } from '../testkit/app-process';
import { closeEvent, messages } from '../testkit/chat-client';
import { type GateProcess, spawnGate } from '../testkit/gate-process';
import { slowModel } from '../testkit/model-stub';
import { startTarget } from '../testkit/phase-endpoint';
import { Client } from 'pg';
import { createDatabase, serverForFile, startPostgres, startRedis } from '../testkit/dependency-servers';
import { type StallProxy, startStallProxy } from '../testkit/stall-proxy';
import { type Fault, runOutage } from './outage';

/** /startup's 503 body (contract 2); a test reads only the fields it needs. */
type StartupBody = Partial<StartupReason>;

const running: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop()));
});

/** Reads /startup every 10 ms for as long as the test runs: any 200 is recorded. */
function watchStartup(base: string) {
  const seen = { opens: 0, stopped: false };
  running.push({ stop: async () => void (seen.stopped = true) });
  void (async () => {
    while (!seen.stopped) {
      try {
        const response = await fetch(`${base}${GATE_PATHS.startup}`);
        await response.body?.cancel();
        if (response.status === 200) seen.opens += 1;
      } catch {
        // not listening yet, or gone
      }
      await sleep(10);
    }
  })();
  return seen;
}

async function startup(base: string): Promise<{ status: number; body: StartupBody }> {
  const response = await fetch(`${base}${GATE_PATHS.startup}`);
  return { status: response.status, body: (await response.json()) as StartupBody };
}

async function metric(base: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}${GATE_PATHS.metrics}`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const warnings = (gate: GateProcess) => gate.logs.filter((log) => log.severity === 'WARNING').map((log) => String(log.message));
const errors = (gate: GateProcess) => gate.logs.filter((log) => log.severity === 'ERROR').map((log) => String(log.message));

async function gateFor(targetUrl: string, env: Record<string, string> = {}): Promise<GateProcess> {
  const gate = spawnGate({ [GATE_ENV_VARS.targetUrl]: targetUrl, ...env }, await freePort());
  await waitFor('the gate to listen', async () => (await fetch(`${gate.base}${GATE_PATHS.live}`).catch(() => undefined)) !== undefined);
  return gate;
}

const phaseUrl = (app: AppProcess) => `http://127.0.0.1:${app.phasePort}/phase`;

describe.each(PHASES)('the app fails in phase %s', (phase) => {
  it('the gate never opens, names the phase on /startup, in one ERROR line and in its metrics, then exits 1', async () => {
    const app = await startApp({ [APP_ENV_VARS.failPhase]: phase, [APP_ENV_VARS.phaseDelayMs]: '20' });
    running.push(app);
    // A longer linger than the default 1 s, so this test can read the metrics before the exit.
    const gate = await gateFor(phaseUrl(app), { [GATE_ENV_VARS.failedLingerMs]: '3000' });
    running.push(gate);
    const watch = watchStartup(gate.base);

    await waitFor('the gate to see the failure', () => errors(gate).length > 0);
    const { status, body } = await startup(gate.base);
    expect(status).toBe(503);
    expect(body.reason).toBe('failed');
    expect(body.error?.phase).toBe(phase);
    expect(errors(gate)).toEqual([expect.stringContaining(`app startup failed in phase ${phase}: `)]);
    expect(await metric(gate.base, 'startup_gate_app_state{state="failed"}')).toBe(1);
    expect(await metric(gate.base, 'startup_gate_open')).toBe(0);

    expect((await gate.exited).code).toBe(1);
    watch.stopped = true;
    expect(watch.opens).toBe(0);
    // The app keeps running and reports the failure; its liveness answers 503.
    expect((await app.phase()).body).toMatchObject({ state: 'failed', error: { phase } });
    expect((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status).toBe(503);
  });
});

it('an app that crashes mid-startup: the gate stays closed and reports refused checks; the app exits 1', async () => {
  const app = await startApp({ [APP_ENV_VARS.crashPhase]: 'services', [APP_ENV_VARS.phaseDelayMs]: 'cache=1500' });
  running.push(app);
  const gate = await gateFor(phaseUrl(app));
  running.push(gate);
  const watch = watchStartup(gate.base);

  // The app crashes as the services phase begins; the gate has seen it starting before that.
  await waitFor('the gate to see the cache phase', async () => (await metric(gate.base, 'startup_gate_app_phase{phase="cache"}')) === 1);
  expect((await app.exited).code).toBe(1);
  expect(app.logs.some((line) => line.includes('APP_CRASH_PHASE=services'))).toBe(true);
  await waitFor('a refused check', async () => ((await metric(gate.base, 'startup_gate_checks_total{result="refused"}')) ?? 0) > 0);
  const { status, body } = await startup(gate.base);
  expect(status).toBe(503);
  expect(body).toMatchObject({ state: 'starting', reason: 'starting' });
  expect(['cache', 'services']).toContain(body.phase);
  expect(body.lastCheckError?.result).toBe('refused');
  expect(warnings(gate).some((message) => message.startsWith('check failed (refused)'))).toBe(true);
  // The gate keeps answering: the app's exit is what fails the instance.
  expect(gate.child.exitCode).toBeNull();
  watch.stopped = true;
  expect(watch.opens).toBe(0);
});

it('an app that hangs in finalize: the startup window runs out with the gate closed at that phase', async () => {
  const { revision, ports } = await localRevisionOf('staging', { [APP_ENV_VARS.phaseDelayMs]: 'finalize=600000' });
  // The hang is the same at any window length; a 3 s window keeps the test short.
  const shortWindow = revisionProbes(3).gate.startup;
  const containers = revision.containers.map((c) => (c.name === 'gate' ? { ...c, startupProbe: { ...shortWindow, httpGet: c.startupProbe!.httpGet } } : c));
  const frontDoor = new FrontDoor({ targetPort: await freePort(), holdTimeoutMs: 10_000 });
  const runner = new RevisionRunner({ ...revision, containers }, frontDoor, () => {});
  const base = `http://127.0.0.1:${ports.get(GATE_PORT)}`;
  const watch = watchStartup(base);
  try {
    const result = await runner.start();
    expect(result).toMatchObject({ ok: false, reason: 'container gate failed its startup probe 3 times in its 3 s window (last: HTTP 503)' });
    const { body } = await startup(base);
    expect(body).toMatchObject({ state: 'starting', phase: 'finalize', reason: 'starting' });
    expect(await metric(base, 'startup_gate_app_phase{phase="finalize"}')).toBe(1);
    expect(await metric(base, 'startup_gate_open')).toBe(0);
  } finally {
    watch.stopped = true;
    await runner.stop();
    await frontDoor.close();
  }
  expect(watch.opens).toBe(0);
});

it('a gate restarted while the app serves opens again at once, and chat goes on', async () => {
  const app = await startApp();
  running.push(app);
  await app.waitForState('ready');
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/ws`);
  const inbox = messages(ws);
  await new Promise((resolve) => ws.once('open', resolve));

  const port = await freePort();
  const first = spawnGate({ [GATE_ENV_VARS.targetUrl]: phaseUrl(app) }, port);
  running.push(first);
  await waitFor('the first gate to open', async () => (await startup(first.base).catch(() => undefined))?.status === 200);
  first.child.kill('SIGTERM');
  expect((await first.exited).code).toBe(0);

  const second = spawnGate({ [GATE_ENV_VARS.targetUrl]: phaseUrl(app) }, port);
  running.push(second);
  await waitFor('the second gate to open', async () => (await startup(second.base).catch(() => undefined))?.status === 200);
  expect(await metric(second.base, 'startup_gate_open')).toBe(1);
  expect(second.logs.some((log) => log.message === 'gate open')).toBe(true);

  ws.send(JSON.stringify({ type: 'user_message', text: 'still there?' }));
  expect((await inbox.take(6)).map((m) => m.type)).toEqual(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed', 'agent_response']);
  ws.close();
});

describe.each([
  ['finish within the shutdown deadline', 300, '8000'],
  ['outlast the shutdown deadline', 5000, '200'],
])('SIGTERM in the middle of agent runs that %s', (_, modelDelayMs, deadlineMs) => {
  it('no 1011; every acknowledged run gets its reply or a close that says to resend; the gate leaves rotation', async () => {
    // A model endpoint that takes its time, so the runs are in flight when SIGTERM comes.
    const model = await slowModel(modelDelayMs);
    running.push({ stop: async () => void (await model.close()) });
    const app = await startApp({ [APP_ENV_VARS.llmBaseUrl]: model.url, [APP_ENV_VARS.shutdownDeadlineMs]: deadlineMs });
    running.push(app);
    await app.waitForState('ready');
    const gate = await gateFor(phaseUrl(app));
    running.push(gate);
    await waitFor('the gate to open', async () => (await startup(gate.base)).status === 200);

    const clients = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const ws = new WebSocket(`ws://127.0.0.1:${app.port}/ws`, { headers: { 'x-forwarded-for': `10.1.0.${i}` } });
        await new Promise((resolve) => ws.once('open', resolve));
        const seen: string[] = [];
        ws.on('message', (data) => seen.push((JSON.parse(String(data)) as { type: string }).type));
        return { ws, seen, closed: closeEvent(ws) };
      }),
    );
    for (const { ws } of clients) ws.send(JSON.stringify({ type: 'user_message', text: 'a run cut by SIGTERM' }));
    await waitFor('every run to start', () => clients.every((c) => c.seen.includes('tool_completed')));
    app.child.kill('SIGTERM');

    const closes = await Promise.all(clients.map((c) => c.closed));
    const finished = clients.filter((c) => c.seen.includes('agent_response')).length;
    for (const [i, { seen }] of clients.entries()) {
      expect(seen[0]).toBe('agent_started');
      if (seen.includes('agent_response')) continue;
      expect(closes[i]).toEqual({ code: 1012, reason: expect.stringContaining('resend') });
    }
    expect(finished).toBe(modelDelayMs < Number(deadlineMs) ? clients.length : 0);
    expect(closes.filter((close) => close.code === 1011)).toEqual([]);
    expect((await app.exited).code).toBe(0);
    // The gate stays open (latched) but leaves rotation: /ready answers 503 once the app stops.
    await waitFor('/ready to answer 503', async () => (await fetch(`${gate.base}${GATE_PATHS.ready}`)).status === 503);
    expect((await startup(gate.base)).status).toBe(200);
  });
});

describe.each([
  ['not_json', '<html>502 Bad Gateway</html>'],
  ['invalid', JSON.stringify({ contract: 1, state: 'ready', components: { agentSupervisor: 'yes' } })],
])('a phase endpoint that answers garbage (%s)', (result, garbage) => {
  it('never opens; the result shows on /startup, in a WARNING and in the metrics; the gate keeps running', async () => {
    const target = await startTarget((_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(garbage);
    });
    running.push({ stop: () => target.close() });
    const gate = await gateFor(target.url.href);
    running.push(gate);
    const watch = watchStartup(gate.base);

    await waitFor(`checks counted as ${result}`, async () => ((await metric(gate.base, `startup_gate_checks_total{result="${result}"}`)) ?? 0) >= 3);
    const { status, body } = await startup(gate.base);
    expect(status).toBe(503);
    expect(body).toMatchObject({ reason: 'no_observation', lastCheckError: { result } });
    expect(warnings(gate).filter((message) => message.startsWith(`check failed (${result})`))).toHaveLength(1);
    expect(await metric(gate.base, 'startup_gate_checks_total{result="ok"}')).toBe(0);
    expect(gate.child.exitCode).toBeNull();
    watch.stopped = true;
    expect(watch.opens).toBe(0);
  });
});

describe('dependency faults after ready, under load (20 clients)', () => {
  const postgres = serverForFile(startPostgres);
  const redis = serverForFile(startRedis);
  /** What a user may wait for a first frame: the bound; the defaults answer within about 3 s. */
  const DEADLINE_MS = 8000;

  interface Rig {
    app: AppProcess;
    databaseUrl: string;
    pgProxy: StallProxy;
    redisProxy: StallProxy;
  }

  const proxyFault = (name: string, proxy: (rig: Rig) => StallProxy, mode: 'stall' | 'blackhole') => (rig: Rig): Fault => ({
    name,
    apply: () => proxy(rig).setMode(mode),
    mend: () => proxy(rig).setMode('forward'),
  });

  const faults: [string, (rig: Rig) => Fault][] = [
    [
      'PostgreSQL table lock',
      (rig) => {
        const locker = new Client({ connectionString: rig.databaseUrl });
        return {
          name: 'pg-lock',
          apply: async () => {
            await locker.connect();
            await locker.query('BEGIN');
            await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
          },
          mend: async () => {
            await locker.query('ROLLBACK');
            await locker.end();
          },
        };
      },
    ],
    ['PostgreSQL stalled', proxyFault('pg-stall', (rig) => rig.pgProxy, 'stall')],
    ['PostgreSQL black-holed', proxyFault('pg-blackhole', (rig) => rig.pgProxy, 'blackhole')],
    ['Redis stopped', () => ({ name: 'redis-stopped', apply: () => redis().stop(), mend: () => redis().start() })],
    ['Redis stalled', proxyFault('redis-stall', (rig) => rig.redisProxy, 'stall')],
    ['Redis black-holed', proxyFault('redis-blackhole', (rig) => rig.redisProxy, 'blackhole')],
  ];

  it.each(faults)('%s: nothing acknowledged lost, no silence past the deadline, no 1011, chat recovers; liveness 200', async (_, makeFault) => {
    const databaseUrl = await createDatabase(postgres());
    const [pgProxy, redisProxy] = await Promise.all([startStallProxy(postgres().port), startStallProxy(redis().port)]);
    running.push({ stop: () => pgProxy.close() }, { stop: () => redisProxy.close() });
    const app = await startApp({
      [APP_ENV_VARS.databaseUrl]: pgProxy.proxied(databaseUrl),
      [APP_ENV_VARS.redisUrl]: redisProxy.proxied(redis().url),
      // Every client shares 127.0.0.1: the rate limit is not what this measures.
      [APP_ENV_VARS.rateLimitPerMinute]: '1000000',
      [APP_ENV_VARS.logLevel]: 'info',
    });
    running.push(app);
    await app.waitForState('ready');
    const liveness: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        liveness.push(await fetch(`http://127.0.0.1:${app.port}/healthz`).then((r) => r.status, () => 0));
        await sleep(100);
      }
    })();

    const result = await runOutage(
      { url: `ws://127.0.0.1:${app.port}/ws`, pid: app.child.pid!, databaseUrl, clients: 20, warmupMs: 1000, outageMs: 6000, afterMs: 4000, deadlineMs: DEADLINE_MS },
      makeFault({ app, databaseUrl, pgProxy, redisProxy }),
    );
    watching = false;
    await watcher;
    process.stdout.write(`dependency fault: ${JSON.stringify(result)}\n`);

    expect({ lost: result.lost, silences: result.silences, closes1011: result.closes1011 }).toEqual({ lost: 0, silences: 0, closes1011: 0 });
    expect(result.acknowledged).toBeGreaterThan(20);
    expect(result.recoveryMs).not.toBeNull();
    expect(liveness.filter((status) => status !== 200)).toEqual([]);
    expect(liveness.length).toBeGreaterThan(50);
  });
});
