/**
 * The compiled gate as its own process, in front of the real app (also compiled), as the two
 * containers of one Cloud Run instance run: startup through every phase, a failed app, SIGTERM,
 * bad configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GATE_ENV_VARS as V } from '../../common/revision';
import { FrontDoor } from '../../runner/src/front-door';
import { type LocalRevision, RevisionRunner } from '../../runner/src/revision-runner';
import { waitFor } from '../../testkit/wait-for';
import { freePort } from '../../common/local-ports';
import { appContainer, gateContainer } from '../../testkit/local-containers';
import { type AppProcess, startApp } from '../../testkit/app-process';
import { type GateProcess, spawnGate } from '../../testkit/gate-process';
import { READY_BODY, sendPhase } from '../../testkit/phase-endpoint';

interface StartupAnswer {
  status: number;
  body: { state?: string | null; phase?: string | null; error?: { phase: string; message: string } | null };
}

async function startupOf(gate: GateProcess): Promise<StartupAnswer | undefined> {
  try {
    const response = await fetch(`${gate.base}/startup`);
    return { status: response.status, body: (await response.json()) as StartupAnswer['body'] };
  } catch {
    return undefined; // not listening yet, or gone
  }
}

async function gateInFrontOf(app: AppProcess, env: Record<string, string> = {}): Promise<GateProcess> {
  return spawnGate({ [V.targetUrl]: `http://127.0.0.1:${app.phasePort}/phase`, ...env }, await freePort());
}

describe('the gate in front of the app', () => {
  const running: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  it('answers 503 through every phase and opens once the app is ready (long-poll)', async () => {
    // The gate first, up and checking a port where the app is not yet, so it sees the phases however
    // slowly it boots; short backoffs so it finds the app soon after the app starts listening.
    const phasePort = await freePort();
    // No hold, so each poll shows the phase the gate knows now.
    const gate = spawnGate({ [V.targetUrl]: `http://127.0.0.1:${phasePort}/phase`, [V.startupHoldMs]: '0', [V.backoffMaxMs]: '100' }, await freePort());
    running.push(gate);
    await waitFor('gate /live 200', async () => (await fetch(`${gate.base}/live`).catch(() => undefined))?.status === 200);
    // finalize a little longer, so this test's own polling sees it on a busy machine.
    const app = await startApp({ APP_PHASE_DELAY_MS: 'database=150,cache=150,services=150,websocket=150,finalize=1000' }, { phasePort });
    running.push(app);
    const answers: StartupAnswer[] = [];
    await waitFor('/startup 200', async () => {
      const answer = await startupOf(gate);
      if (answer) answers.push(answer);
      return answer?.status === 200;
    });
    const closed = answers.slice(0, -1);
    expect(closed.every((a) => a.status === 503)).toBe(true);
    // How many phases the gate sees depends on how soon its checks find the app (slower on a busy CI
    // machine); the last one it always sees.
    expect(closed.at(-1)?.body.phase).toBe('finalize');
    // Opened on a body that said ready, after the app's change (both share one clock); how soon
    // after is the bench's figure.
    expect(gate.logs.find((l) => l.message === 'gate open')?.sinceAppUpdateMs).toBeGreaterThanOrEqual(0);
  });

  it('opens by polling when long-poll is off', async () => {
    const app = await startApp({ APP_PHASE_DELAY_MS: '50' });
    const gate = await gateInFrontOf(app, { [V.longPollMs]: '0', [V.pollIntervalMs]: '100' });
    running.push(app, gate);
    await waitFor('gate open', () => gate.logs.some((l) => l.message === 'gate open'));
    expect(gate.logs.map((l) => l.message)).not.toContain('target honours long-poll');
    expect(gate.logs.find((l) => l.message === 'gate open')?.sinceAppUpdateMs).toBeGreaterThanOrEqual(0);
  });

  it('exits 1 when the app fails, after answering with its phase; the ERROR line is the last line', async () => {
    const app = await startApp({ APP_FAIL_PHASE: 'database' });
    const gate = await gateInFrontOf(app);
    running.push(app, gate);
    let failed: StartupAnswer | undefined;
    await waitFor('/startup naming the failure', async () => {
      failed = await startupOf(gate);
      return failed?.body.state === 'failed';
    });
    expect(failed?.status).toBe(503);
    expect(failed?.body.phase).toBe('database');
    expect(failed?.body.error?.phase).toBe('database');
    const { code } = await gate.exited;
    expect(code).toBe(1);
    const last = JSON.parse(gate.lines.at(-1) ?? '{}') as Record<string, unknown>;
    expect(last.severity).toBe('ERROR');
    expect(last.message).toMatch(/^app startup failed in phase database: /);
    expect(gate.logs.filter((l) => l.severity === 'ERROR')).toHaveLength(1);
  });

  it('exits 0 on SIGTERM, open or in a long backoff', async () => {
    const app = await startApp();
    const open = await gateInFrontOf(app);
    // Nothing listens here: after its first refused check this one waits a minute before the next.
    const waiting = spawnGate({ [V.targetUrl]: `http://127.0.0.1:${await freePort()}/phase`, [V.backoffMinMs]: '60000', [V.backoffMaxMs]: '60000' }, await freePort());
    running.push(app, open, waiting);
    await waitFor('gate open', async () => (await startupOf(open))?.status === 200);
    await waitFor('second gate in backoff after a refused check', async () => {
      const answer = await startupOf(waiting);
      return (answer?.body as { lastCheckError?: { result: string } | null } | undefined)?.lastCheckError?.result === 'refused';
    });
    for (const gate of [open, waiting]) {
      const sent = performance.now();
      gate.child.kill('SIGTERM');
      expect((await gate.exited).code).toBe(0);
      // Far less than the minute of backoff: the signal ends the wait.
      expect(performance.now() - sent).toBeLessThan(30_000);
    }
  });
});

describe('credentials in the target URL', () => {
  it('never logs them', async () => {
    const gate = spawnGate({ [V.targetUrl]: `http://gate:s3cret-pass@127.0.0.1:${await freePort()}/phase` }, await freePort());
    try {
      await waitFor('listening line', () => gate.lines.some((line) => line.includes('listening')));
      expect(gate.lines.join('\n')).toContain('http://***@127.0.0.1:');
      expect(gate.lines.join('\n')).not.toContain('s3cret-pass');
    } finally {
      await gate.stop();
    }
  });
});

describe('an https target', () => {
  it('is checked over TLS, trusting the CA the container adds (NODE_EXTRA_CA_CERTS)', async () => {
    // The gate loads node:https only for an https target (it costs memory), so this path needs its own test.
    const dir = mkdtempSync(path.join(tmpdir(), 'gate-tls-'));
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => sendPhase(res, READY_BODY));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const gate = spawnGate({ [V.targetUrl]: `https://127.0.0.1:${(server.address() as AddressInfo).port}/phase`, NODE_EXTRA_CA_CERTS: cert }, await freePort());
    try {
      await waitFor('gate open', () => gate.logs.some((l) => l.message === 'gate open'), { detail: () => gate.lines.join('\n') });
      expect((await startupOf(gate))?.status).toBe(200);
    } finally {
      await gate.stop();
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a held startup probe and SIGTERM', () => {
  it('answers the held probe with 503 and exits 0', async () => {
    // Nothing listens at the target: the gate stays closed and holds the probe.
    const gate = spawnGate({ [V.targetUrl]: `http://127.0.0.1:${await freePort()}/phase`, [V.startupHoldMs]: '60000' }, await freePort());
    try {
      await waitFor('gate listening', async () => (await fetch(`${gate.base}/live`).catch(() => undefined))?.status === 200);
      const held = fetch(`${gate.base}/startup`).then(async (r) => ({ status: r.status, body: (await r.json()) as { reason?: string } }));
      await waitFor('the probe held', async () => (await (await fetch(`${gate.base}/metrics`)).text()).includes('startup_gate_probes_held 1'));
      gate.child.kill('SIGTERM');
      expect(await held).toEqual({ status: 503, body: expect.objectContaining({ reason: 'no_observation' }) });
      expect((await gate.exited).code).toBe(0);
      expect(gate.logs.find((l) => l.message === 'shutting down')?.probesHeld).toBe(1);
    } finally {
      await gate.stop();
    }
  });
});

describe('bad configuration', () => {
  it.each([
    [V.port, 'abc'],
    [V.targetUrl, 'ftp://example.com/phase'],
    [V.require, 'agentSupervisor,,websocketBridge'],
    [V.require, ''],
    [V.longPollMs, '-1'],
    [V.backoffFactor, 'fast'],
    [V.maxBodyBytes, '10'],
    [V.logLevel, 'loud'],
    [V.startupHoldMs, '240001'],
    [V.minCheckIntervalMs, '-1'],
  ])('%s=%s exits 2 with one line naming it', async (name, value) => {
    const gate = spawnGate({ [name]: value });
    expect((await gate.exited).code).toBe(2);
    expect(gate.lines).toHaveLength(1);
    expect(gate.logs[0]?.message).toMatch(new RegExp(`^invalid configuration: ${name} `));
  });

  it('names the maximum when the backoff maximum is below the minimum', async () => {
    const gate = spawnGate({ [V.backoffMinMs]: '500', [V.backoffMaxMs]: '100' });
    expect((await gate.exited).code).toBe(2);
    expect(gate.logs[0]?.setting).toBe(V.backoffMaxMs);
  });
});

describe('the gate under the local runner (app + gate containers, dependsOn, probes)', () => {
  async function runRevision(appEnv: Record<string, string>) {
    const [port, phasePort, gatePort] = [await freePort(), await freePort(), await freePort()];
    // A window far longer than any startup here, busy CPUs included: a failure must end it early.
    const schedule = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 };
    const revision: LocalRevision = {
      stack: 'test',
      containers: [
        // TCP, so the app's own probe passes whatever it reports (its /healthz answers 503 once
        // failed, which would keep the gate from ever starting: see docs/gate.md).
        appContainer({ port, phasePort }, appEnv, { startupProbe: { ...schedule, tcpSocket: { port } } }),
        gateContainer(gatePort, phasePort, schedule, ['app']),
      ],
    };
    const frontDoor = new FrontDoor({ targetPort: port, holdTimeoutMs: 5000 });
    const runner = new RevisionRunner(revision, frontDoor, () => {});
    try {
      return await runner.start();
    } finally {
      await runner.stop();
      await frontDoor.close();
    }
  }

  it('serves once the gate opens', async () => {
    expect(await runRevision({ APP_PHASE_DELAY_MS: '50' })).toMatchObject({ ok: true });
  });

  it('fails the revision at once, naming the phase, when the app reports failed', async () => {
    const result = await runRevision({ APP_FAIL_PHASE: 'database' });
    // Ended by the gate's exit, not by the 120 s probe window running out.
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/^container gate exited during startup \(code 1\): app startup failed in phase database: /) });
  });
});
