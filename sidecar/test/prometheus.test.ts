/**
 * The gate with real Prometheus tools (Debian's `prometheus` package; CI installs it): the alert
 * rules pass `promtool check rules` and their unit tests, a real scrape passes `promtool check
 * metrics`, and a real Prometheus server scraping a running gate sees startup_gate_open go 0 -> 1.
 * Missing tools fail these tests with the fix, never skip them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ALERT_RULES_DIRS, REPO_ROOT } from '../../common/paths';
import { GATE_ENV_VARS as V } from '../../common/revision';
import { requirePrometheusTool } from '../../testkit/prometheus';
import { waitFor } from '../../testkit/wait-for';
import { startGate } from './support';
import { freePort } from '../../common/local-ports';
import { spawnGate } from '../../testkit/gate-process';
import { phaseBody, READY_BODY, sendPhase, startTarget, type Target } from '../../testkit/phase-endpoint';

const ALERTS = path.join(REPO_ROOT, ALERT_RULES_DIRS.gate);

function run(command: 'prometheus' | 'promtool', args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(requirePrometheusTool(command), args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stdin.end(options.input ?? '');
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('promtool', () => {
  it('accepts the alert rules', async () => {
    const result = await run('promtool', ['check', 'rules', 'startup-gate.rules.yml'], { cwd: ALERTS });
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS: 5 rules found') });
  });

  it('passes the alert rules unit tests', async () => {
    const result = await run('promtool', ['test', 'rules', 'startup-gate.test.yml'], { cwd: ALERTS });
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('finds nothing to complain about in a real scrape of an opened gate', async () => {
    let n = 0;
    const target = await startTarget((_req, res) => sendPhase(res, (n += 1) < 3 ? phaseBody({ seq: n }) : READY_BODY));
    const gate = await startGate(target.url, { longPollMs: 0, pollIntervalMs: 10 });
    try {
      await waitFor('open', () => gate.gate.current.openedAtMs !== null);
      const scrape = await (await fetch(`${gate.base}/metrics`)).text();
      for (const name of ['startup_gate_open 1', 'startup_gate_time_to_open_seconds', 'startup_gate_check_duration_seconds_bucket', 'startup_gate_component_ready{component="websocketBridge"} 1', 'startup_gate_app_state{state="ready"} 1', 'startup_gate_app_phase{phase="finalize"} 1']) {
        expect(scrape).toContain(name);
      }
      expect(await run('promtool', ['check', 'metrics'], { input: scrape })).toEqual({ code: 0, output: '' });
    } finally {
      await gate.stop();
      await target.close();
    }
  });
});

async function query(base: string, expr: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
    return body.data?.result?.[0]?.value[1];
  } catch {
    return undefined; // Prometheus not up yet
  }
}

describe('a real Prometheus server scraping the gate', () => {
  let target: Target | undefined;
  let prometheus: ChildProcess | undefined;
  let dir: string | undefined;
  const gates: { stop(): Promise<void> }[] = [];

  afterEach(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGKILL');
      await exited;
    }
    await Promise.all(gates.splice(0).map((g) => g.stop()));
    await target?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sees startup_gate_open go from 0 to 1', async () => {
    let body = phaseBody({ phase: 'services', seq: 2 });
    target = await startTarget((_req, res) => sendPhase(res, body));
    const gatePort = await freePort();
    const gate = spawnGate({ [V.targetUrl]: target.url.href, [V.longPollMs]: '0', [V.pollIntervalMs]: '50' }, gatePort);
    gates.push(gate);

    dir = mkdtempSync(path.join(os.tmpdir(), 'gate-prometheus-'));
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 250ms, scrape_timeout: 200ms }',
        'scrape_configs:',
        '  - job_name: gate',
        `    static_configs: [{ targets: ['127.0.0.1:${gatePort}'] }]`,
        '',
      ].join('\n'),
    );
    const promPort = await freePort();
    const logs: string[] = [];
    prometheus = spawn(
      requirePrometheusTool('prometheus'),
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [prometheus.stdout, prometheus.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
    const api = `http://127.0.0.1:${promPort}`;

    const sees = (value: string) => async () => (await query(api, 'startup_gate_open{job="gate"}')) === value;
    await waitFor('Prometheus to scrape startup_gate_open 0', sees('0'), { timeoutMs: 40_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\nprometheus said:\n${logs.join('')}`);
    });
    body = READY_BODY;
    await waitFor('Prometheus to scrape startup_gate_open 1', sees('1'));
    expect(Number(await query(api, 'startup_gate_time_to_open_seconds{job="gate"}'))).toBeGreaterThan(0);
  }, 90_000);
});
