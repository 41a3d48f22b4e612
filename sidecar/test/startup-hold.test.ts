/**
 * /startup holds a probe while the gate is closed: over real sockets against an in-process gate
 * whose checks the test feeds by hand. Every wait is on a condition, never on the clock.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log';
import { MAX_HELD_PROBES } from '../../common/startup-hold';
import { Gate } from '../src/gate';
import { GateMetrics } from '../src/metrics';
import { createGateServer } from '../src/server';
import { waitFor } from '../../testkit/wait-for';
import { REQUIRED, TEST_TIMINGS } from './support';
import { phaseBody, READY_BODY } from '../../testkit/phase-endpoint';

/** Long enough that a test which passes never sees a hold expire unless it asks for it. */
const LONG_HOLD_MS = 60_000;

interface Answer {
  status: number;
  connection: string | undefined;
  body: Record<string, unknown>;
}

describe('/startup holds probes while the gate is closed', () => {
  let server: http.Server;
  let gate: Gate;
  let registry: Registry;
  let port: number;
  const agents: http.Agent[] = [];

  async function start(startupHoldMs: number): Promise<void> {
    registry = new Registry();
    const metrics = new GateMetrics(registry, REQUIRED, 0);
    gate = new Gate({ required: REQUIRED, timings: TEST_TIMINGS, log: createLogger('gate', 'silent'), metrics, now: () => performance.now(), onAppFailed: () => {} });
    server = createGateServer(gate, registry, { startupHoldMs, metrics });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** One GET of /startup on its own connection; `abort` lets the test walk away from it. */
  function probe(abort?: AbortSignal): Promise<Answer> {
    const agent = new http.Agent({ keepAlive: false });
    agents.push(agent);
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/startup', agent, signal: abort }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
    });
  }

  const heldHistogram = async (outcome: string) =>
    (await registry.getSingleMetric('startup_gate_probe_hold_seconds')?.get())?.values.find((v) => v.labels.outcome === outcome && (v as { metricName?: string }).metricName?.endsWith('_count'))?.value ?? 0;
  const scrape = async () => registry.metrics();

  it('answers 200 the moment the gate opens during a hold', async () => {
    await start(LONG_HOLD_MS);
    gate.recordCheck({ ok: true, body: phaseBody({ phase: 'services' }) }, 1);
    const answer = probe();
    await waitFor('the probe held', () => gate.holds.count === 1);
    expect(await scrape()).toContain('startup_gate_probes_held 1');
    gate.recordCheck({ ok: true, body: phaseBody({ phase: 'websocket', seq: 2 }) }, 1);
    expect(gate.holds.count).toBe(1);
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect(await answer).toMatchObject({ status: 200, body: { state: 'open' } });
    expect(gate.holds.count).toBe(0);
    expect(await heldHistogram('settled')).toBe(1);
    expect(await scrape()).toContain('startup_gate_probes_held 0');
  });

  it('answers 503 with the usual reason when the hold runs out', async () => {
    await start(20);
    gate.recordCheck({ ok: true, body: phaseBody({ phase: 'database' }) }, 1);
    expect(await probe()).toMatchObject({ status: 503, body: { state: 'starting', phase: 'database', reason: 'starting', missing: REQUIRED } });
    expect(await heldHistogram('expired')).toBe(1);
    expect(gate.holds.count).toBe(0);
  });

  it('answers at once, without holding, once the app has failed', async () => {
    await start(LONG_HOLD_MS);
    gate.recordCheck({ ok: true, body: phaseBody({ state: 'failed', phase: 'database', error: { phase: 'database', message: 'refused' } }) }, 1);
    expect(await probe()).toMatchObject({ status: 503, body: { reason: 'failed', error: { phase: 'database' } } });
    expect(await heldHistogram('settled')).toBe(0);
  });

  it('answers a held probe with 503 and the reason at once when the app fails', async () => {
    await start(LONG_HOLD_MS);
    const answer = probe();
    await waitFor('the probe held', () => gate.holds.count === 1);
    gate.recordCheck({ ok: true, body: phaseBody({ state: 'failed', phase: 'cache', error: { phase: 'cache', message: 'no redis' } }) }, 1);
    const { status, body } = await answer;
    // The phase, not the message: it may name internal hosts, and this port is probed.
    expect({ status, state: body.state, error: body.error }).toEqual({ status: 503, state: 'failed', error: { phase: 'cache' } });
  });

  it('lets go of a client that disconnects: nothing stays held', async () => {
    await start(LONG_HOLD_MS);
    const leave = new AbortController();
    const answer = probe(leave.signal);
    await waitFor('the probe held', () => gate.holds.count === 1);
    leave.abort();
    await expect(answer).rejects.toThrow();
    await waitFor('the hold released', () => gate.holds.count === 0);
    await waitFor('the hold counted as gone', async () => (await heldHistogram('gone')) === 1);
    // Opening later writes to no one and throws nothing.
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect((await probe()).status).toBe(200);
  });

  it('holds up to MAX_HELD_PROBES at once, answers the rest with 503 at once, and every held one when the gate opens', async () => {
    await start(LONG_HOLD_MS);
    const held = Array.from({ length: MAX_HELD_PROBES }, () => probe());
    await waitFor('every probe held', () => gate.holds.count === MAX_HELD_PROBES);
    const past = await Promise.all(Array.from({ length: 20 }, () => probe()));
    expect(past.map((a) => a.status)).toEqual(Array(20).fill(503));
    expect(await heldHistogram('full')).toBe(20);
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    const statuses = (await Promise.all(held)).map((a) => a.status);
    expect(statuses).toEqual(Array(MAX_HELD_PROBES).fill(200));
    expect(gate.holds.count).toBe(0);
    expect(await heldHistogram('settled')).toBe(MAX_HELD_PROBES);
  });

  it('answers held probes with 503 and connection: close when shutting down', async () => {
    await start(LONG_HOLD_MS);
    const answer = probe();
    await waitFor('the probe held', () => gate.holds.count === 1);
    gate.beginShutdown();
    expect(await answer).toMatchObject({ status: 503, connection: 'close', body: { reason: 'no_observation' } });
    expect(gate.holds.count).toBe(0);
  });

  it('passes promtool check metrics while probes are held', async () => {
    await start(LONG_HOLD_MS);
    const answer = probe();
    await waitFor('the probe held', () => gate.holds.count === 1);
    const text = await scrape();
    expect(text).toContain('startup_gate_probe_hold_seconds_count{outcome="gone"} 0');
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
    gate.recordCheck({ ok: true, body: READY_BODY }, 1);
    expect((await answer).status).toBe(200);
  });
});
