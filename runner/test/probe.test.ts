import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultTcpStartupProbe, type ProbeSpec, revisionProbes } from '../../common/probes';
import { type ProbeResult, probeAttempt, runLivenessProbe, runStartupProbe, VirtualClock } from '../src/probe';
import { formatEvent } from '../src/timeline';

const gateProbe: ProbeSpec = { initialDelaySeconds: 2, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 5, httpGet: { path: '/startup', port: 9091 } };

/** A modelled target: fails until `readyAtMs`, each attempt taking `latencyMs`. */
function modelled(clock: VirtualClock, readyAtMs: number, latencyMs = 5) {
  return async (): Promise<ProbeResult> => {
    clock.advance(latencyMs);
    return clock.now() >= readyAtMs ? { ok: true, detail: 'HTTP 200' } : { ok: false, detail: 'HTTP 503' };
  };
}

describe('startup probe schedule', () => {
  it('waits initialDelaySeconds, then tries once a period until it passes', async () => {
    const clock = new VirtualClock();
    const outcome = await runStartupProbe(gateProbe, modelled(clock, 4500), clock, 0);
    expect(outcome.passed).toBe(true);
    expect(outcome.attempts.map((a) => a.startedAtMs)).toEqual([2000, 3000, 4000, 5000]);
    expect(outcome.attempts.map((a) => a.ok)).toEqual([false, false, false, true]);
    expect(outcome.atMs).toBe(5005);
  });

  it('gives up after failureThreshold attempts', async () => {
    const clock = new VirtualClock();
    const outcome = await runStartupProbe(gateProbe, modelled(clock, Infinity), clock, 0);
    expect(outcome.passed).toBe(false);
    expect(outcome.attempts).toHaveLength(5);
    expect(outcome.attempts.at(-1)?.startedAtMs).toBe(6000);
  });

  it('counts from the container start, not from when the probe code runs', async () => {
    const clock = new VirtualClock(10_000);
    const outcome = await runStartupProbe({ ...gateProbe, initialDelaySeconds: 0 }, modelled(clock, 0), clock, 9_500);
    expect(outcome.attempts[0]?.startedAtMs).toBe(10_000);
  });
});

describe('a 400 s startup budget (the gate probe of a revision rendered with startupBudgetSeconds 400)', () => {
  const probe = revisionProbes(400).gate.startup;

  it('is a 160 s initial delay, then 240 attempts a second apart', () => {
    expect(probe).toMatchObject({ initialDelaySeconds: 160, periodSeconds: 1, failureThreshold: 240 });
  });

  it('holds a boot that is ready at 100 s until the initial delay ends: traffic at 160 s, not 100 s', async () => {
    const clock = new VirtualClock();
    const outcome = await runStartupProbe(probe, modelled(clock, 100_000), clock, 0);
    expect(outcome).toMatchObject({ passed: true, atMs: 160_005 });
    expect(outcome.attempts).toHaveLength(1);
  });

  it('passes a boot that is ready at 390.5 s on the next one-second attempt', async () => {
    const clock = new VirtualClock();
    const outcome = await runStartupProbe(probe, modelled(clock, 390_500), clock, 0);
    expect(outcome).toMatchObject({ passed: true, atMs: 391_005 });
    expect(outcome.attempts).toHaveLength(391 - 160 + 1);
  });

  it('gives up on a boot that is not ready by 400 s, after the 240th attempt', async () => {
    const clock = new VirtualClock();
    const outcome = await runStartupProbe(probe, modelled(clock, 400_500), clock, 0);
    expect(outcome.passed).toBe(false);
    expect(outcome.attempts).toHaveLength(240);
    expect(outcome.attempts.at(-1)?.startedAtMs).toBe(399_000);
  });

  it('shows the trade-off in the npm start timeline', () => {
    const { initialDelaySeconds, periodSeconds, failureThreshold } = probe;
    expect(formatEvent({ kind: 'startup-schedule', container: 'gate', initialDelaySeconds, periodSeconds, failureThreshold, atMs: 15 })).toBe(
      '   +0.015s  gate    startup probe: first attempt after a 160 s initial delay, then up to 240 attempts 1 s apart, 400 s to pass; a boot ready sooner still waits the 160 s',
    );
    const staging = revisionProbes(150).gate.startup;
    expect(formatEvent({ kind: 'startup-schedule', container: 'gate', ...staging, atMs: 15 })).toBe('   +0.015s  gate    startup probe: up to 150 attempts 1 s apart, 150 s to pass');
  });
});

describe('liveness probe schedule', () => {
  it('reports failureThreshold consecutive failures, resetting on success', async () => {
    const clock = new VirtualClock();
    const answers = [false, false, true, false, false, false, true];
    let i = 0;
    const failures = await runLivenessProbe({ ...gateProbe, initialDelaySeconds: 0, failureThreshold: 3 }, async () => ({ ok: answers[i++] ?? true, detail: '' }), clock);
    expect(failures?.map((a) => a.attempt)).toEqual([4, 5, 6]);
  });
});

describe('real probe attempts', () => {
  let server: http.Server;
  let port: number;
  let status = 503;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000).unref();
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads the HTTP status, times out, and reports refused connections', async () => {
    const spec = (path: string, onPort = port): ProbeSpec => ({ ...gateProbe, httpGet: { path, port: onPort } });
    expect(await probeAttempt(spec('/startup'))(1000)).toEqual({ ok: false, detail: 'HTTP 503' });
    status = 204;
    expect(await probeAttempt(spec('/startup'))(1000)).toEqual({ ok: true, detail: 'HTTP 204' });
    expect(await probeAttempt(spec('/slow'))(100)).toEqual({ ok: false, detail: 'timed out' });
    const closed = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const free = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(free));
      });
    });
    expect(await probeAttempt(spec('/startup', closed))(500)).toEqual({ ok: false, detail: 'connection refused' });
    expect(await probeAttempt(defaultTcpStartupProbe(port))(500)).toEqual({ ok: true, detail: 'connected' });
    expect(await probeAttempt(defaultTcpStartupProbe(closed))(100)).toEqual({ ok: false, detail: 'connection refused' });
  });
});
