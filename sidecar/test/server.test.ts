/** Contract 2's endpoints over HTTP, from an in-process gate whose checks the test feeds by hand. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log';
import { readGateConfig } from '../src/config';
import { Gate } from '../src/gate';
import { GateMetrics } from '../src/metrics';
import { createGateServer } from '../src/server';
import { REQUIRED, TEST_TIMINGS } from './support';
import { phaseBody, READY_BODY } from '../../testkit/phase-endpoint';

describe('gate endpoints', () => {
  let server: http.Server;
  let base: string;
  let gate: Gate;
  let nowMs: number;

  beforeEach(async () => {
    nowMs = 0;
    const registry = new Registry();
    gate = new Gate({
      required: REQUIRED,
      timings: TEST_TIMINGS,
      log: createLogger('gate', 'silent'),
      metrics: new GateMetrics(registry, REQUIRED, 0),
      now: () => nowMs,
      onAppFailed: () => {},
    });
    server = createGateServer(gate, registry);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise((resolve) => server.close(resolve)));

  const get = async (path: string, method = 'GET') => {
    const response = await fetch(`${base}${path}`, { method });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : text };
  };

  it('/startup: 503 with the reason until open, then 200 for good', async () => {
    expect(await get('/startup')).toMatchObject({ status: 503, body: { state: null, reason: 'no_observation', missing: REQUIRED, lastCheckError: null } });
    gate.recordCheck({ ok: true, body: phaseBody({ phase: 'services', components: { agentSupervisor: true, websocketBridge: false } }) }, 1);
    expect(await get('/startup')).toMatchObject({ status: 503, body: { state: 'starting', phase: 'services', missing: ['websocketBridge'], error: null } });
    nowMs = 1500;
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect(await get('/startup')).toEqual({ status: 200, type: 'application/json', body: { state: 'open', openedAfterMs: 1500 } });
    gate.recordCheck({ ok: false, failure: { result: 'refused', message: 'gone' } }, 1);
    expect((await get('/startup')).status).toBe(200);
    expect(await get('/ready')).toMatchObject({ status: 503, body: { ready: false, lastCheckOk: false } });
  });

  it("/startup names the failure's kind and phase but not its message; /ready asked from loopback has the messages", async () => {
    gate.recordCheck({ ok: true, body: phaseBody({ state: 'failed', phase: 'database', error: { phase: 'database', message: 'PostgreSQL at internal-db.corp.example:5432 refused' } }) }, 1);
    // The failed check comes last: a check that succeeds clears it.
    gate.recordCheck({ ok: false, failure: { result: 'network', message: 'getaddrinfo ENOTFOUND internal-db.corp.example' } }, 1);
    const startup = await get('/startup');
    expect(startup).toMatchObject({ status: 503, body: { state: 'failed', phase: 'database', error: { phase: 'database' }, lastCheckError: { result: 'network' } } });
    expect(JSON.stringify(startup.body)).not.toContain('internal-db');
    expect(await get('/ready')).toMatchObject({
      status: 503,
      body: { detail: { error: { message: expect.stringContaining('internal-db') }, lastCheckError: { message: expect.stringContaining('internal-db') } } },
    });
  });

  it('/ready asked from outside the instance has no messages', async () => {
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && !address.internal && address.family === 'IPv4');
    // Every machine this runs on (and Cloud Run) has one: the container's own address.
    expect(outside).toBeDefined();
    const open = createGateServer(gate, new Registry());
    await new Promise<void>((resolve) => open.listen(0, '0.0.0.0', resolve));
    try {
      gate.recordCheck({ ok: false, failure: { result: 'network', message: 'getaddrinfo ENOTFOUND internal-db.corp.example' } }, 1);
      const response = await fetch(`http://${outside!.address}:${(open.address() as AddressInfo).port}/ready`);
      const body = (await response.json()) as Record<string, unknown>;
      expect({ status: response.status, detail: body.detail }).toEqual({ status: 503, detail: undefined });
    } finally {
      await new Promise((resolve) => open.close(resolve));
    }
  });

  it('/ready: 200 while the condition holds, 503 at once when shutting down', async () => {
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect((await get('/ready')).status).toBe(200);
    gate.beginShutdown();
    expect(await get('/ready')).toMatchObject({ status: 503, body: { stopping: true } });
    expect((await get('/startup')).status).toBe(200);
  });

  it('/live: 200 while checks finish, 503 when the loop stalls or crashes', async () => {
    expect((await get('/live')).status).toBe(200);
    nowMs = 60_000;
    expect((await get('/live')).status).toBe(503);
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect((await get('/live')).status).toBe(200);
    gate.loopFailed(new Error('bug'));
    expect((await get('/live')).status).toBe(503);
  });

  it('/metrics: the Prometheus text format', async () => {
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    const metrics = await get('/metrics');
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toContain('startup_gate_open 1');
    expect(metrics.body).toContain('startup_gate_checks_total{result="ok"} 1');
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    expect((await get('/phase')).status).toBe(404);
    expect((await get('/startup', 'POST')).status).toBe(405);
    expect((await get('/startup', 'HEAD')).status).toBe(503);
  });
});

describe('configuration defaults', () => {
  it('matches contract 2', () => {
    const config = readGateConfig({});
    expect(config).toMatchObject({ port: 9091, require: REQUIRED, longPollMs: 10_000, failedLingerMs: 1000 });
    expect(config.targetUrl.href).toBe('http://127.0.0.1:8081/phase');
  });
});
