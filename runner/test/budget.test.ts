/**
 * The budget advisor: its statistics and recommendation rule as pure functions, and `npm run
 * budget` as a process (the compiled CLI, as npm runs it) on samples files and on a real
 * Prometheus scraping real gates through several boots of the real app.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../common/local-ports';
import { ENTRY_POINTS } from '../../common/paths';
import { MAX_STARTUP_BUDGET_SECONDS, revisionProbes } from '../../common/probes';
import { type BootSample, budgetShare, neededBudgetSeconds, profile, recommend, spread } from '../src/budget';
import { bootQueries, joinBoots, vectorOf } from '../src/budget-prometheus';
import { parseSamples } from '../src/budget-samples';
import { GATE_ENV_VARS as V } from '../../common/revision';
import { type AppProcess, startApp } from '../../testkit/app-process';
import { type GateProcess, spawnGate } from '../../testkit/gate-process';
import { type PrometheusServer, startPrometheus } from '../../testkit/prometheus';
import { waitFor } from '../../testkit/wait-for';

const boot = (bootSeconds: number, phases: Record<string, number> = {}): BootSample => ({ bootSeconds, phases });

describe('spread and recommend', () => {
  it('gives p50/p95/p99/max by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(spread(values)).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('recommends the larger of the worst boot and p99 x 1.2, rounded up to 10 s', () => {
    // 200 boots: p99 is 150 s (x 1.2 = 180), one outlier at 170 s: p99 x 1.2 wins.
    const many = [...Array.from({ length: 197 }, () => boot(100)), boot(150), boot(150), boot(170)];
    expect(recommend(profile(many)).recommendedBudgetSeconds).toBe(180);
    // Few boots: p99 is the worst, 201.3 x 1.2 = 241.56 -> 250.
    expect(neededBudgetSeconds(spread([120, 201.3]))).toBe(250);
    // An outlier above p99 x 1.2 wins: 1000 boots at 10 s and 10 at 100 s; p99 10 s, max 100 s.
    expect(neededBudgetSeconds(spread([...Array.from({ length: 1000 }, () => 10), ...Array.from({ length: 10 }, () => 100)]))).toBe(100);
    // Exact multiples stay: 100 x 1.2 is 120, not 130.
    expect(neededBudgetSeconds(spread([100]))).toBe(120);
    // Never below 10 s.
    expect(neededBudgetSeconds(spread([0.4]))).toBe(10);
  });

  it('gives the schedule of common/probes.ts and the line to paste', () => {
    const within = recommend(profile([boot(100, { database: 60, services: 30 })]));
    expect(within).toMatchObject({
      recommendedBudgetSeconds: 120,
      fits: true,
      shortenPhase: null,
      slowestPhase: { phase: 'database', p99: 60 },
      schedule: { initialDelaySeconds: 0, periodSeconds: 1, attempts: 120, coverSeconds: 120, fastBootWaitsSeconds: 0 },
      configLine: 'cloud-run-startup-gate:startupBudgetSeconds: 120',
    });
    const beyond = recommend(profile([boot(300)]));
    const probe = revisionProbes(360).gate.startup;
    expect(beyond.schedule).toEqual({ initialDelaySeconds: probe.initialDelaySeconds, periodSeconds: 1, attempts: probe.failureThreshold, coverSeconds: 360, fastBootWaitsSeconds: 120 });
  });

  it('says when the boots cannot fit in 480 s and names the phase with the largest p99', () => {
    const r = recommend(profile([boot(420, { database: 100, cache: 250, services: 60 }), boot(390, { database: 260, cache: 90 })]));
    expect(r).toMatchObject({ fits: false, neededBudgetSeconds: 510, recommendedBudgetSeconds: MAX_STARTUP_BUDGET_SECONDS, shortenPhase: { phase: 'database', p99: 260 } });
  });

  it('notes the smallest budget this project stacks accept', () => {
    expect(recommend(profile([boot(5)])).notes).toEqual([expect.stringContaining('at least 131 s')]);
    expect(recommend(profile([boot(150)])).notes).toEqual([]);
  });

  it('warns past 80% of the budget', () => {
    expect(budgetShare(120, 150)).toEqual({ share: 0.8, warn: false });
    expect(budgetShare(121, 150).warn).toBe(true);
  });
});

describe('parseSamples', () => {
  it('keeps the boots and names every entry that is not one', () => {
    const { samples, rejected } = parseSamples(
      JSON.stringify([{ bootSeconds: 1, phases: { a: 1 } }, { bootSeconds: -1 }, 'boot', { bootSeconds: 2, phases: { a: 'slow' } }, { bootSeconds: 3 }, { bootSeconds: 4, phases: [] }]),
    );
    expect(samples).toEqual([boot(1, { a: 1 }), boot(3)]);
    expect(rejected.map((r) => r.where)).toEqual(['#1', '#2', '#3', '#5']);
    expect(rejected[2]!.reason).toBe('phases.a must be a number of seconds (>= 0), got "slow"');
  });

  it('throws one line for a file that is not a JSON array', () => {
    expect(() => parseSamples('{"bootSeconds": 1}')).toThrow('must be a JSON array');
    expect(() => parseSamples('[1,')).toThrow('is not JSON');
  });
});

describe('reading Prometheus answers', () => {
  it('selects the service by job, per series', () => {
    expect(bootQueries('chat', '7d').boots).toBe('max_over_time(startup_gate_boot_seconds_sum{job="chat"}[7d]) / (max_over_time(startup_gate_boot_seconds_count{job="chat"}[7d]) > 0)');
  });

  it('joins each boot with the phases of the same series and counts what is not a number', () => {
    const boots = vectorOf({ status: 'success', data: { resultType: 'vector', result: [{ metric: { instance: 'a' }, value: [0, '12.5'] }, { metric: { instance: 'b' }, value: [0, 'NaN'] }] } });
    expect(boots.rejected).toEqual([{ where: '{instance="b"}', reason: 'not a number of seconds: [0,"NaN"]' }]);
    const phases = vectorOf({ status: 'success', data: { resultType: 'vector', result: [{ metric: { instance: 'a', phase: 'db' }, value: [0, '10'] }, { metric: { instance: 'c', phase: 'db' }, value: [0, '3'] }] } });
    expect(joinBoots(boots.samples, phases.samples)).toEqual([boot(12.5, { db: 10 })]);
    expect(() => vectorOf({ status: 'error', error: 'parse error' })).toThrow('the query failed: parse error');
    expect(() => vectorOf({ status: 'success', data: { resultType: 'matrix', result: [] } })).toThrow('not an instant vector');
  });
});

/** `npm run budget -- ARGS` as npm runs it: the compiled CLI. */
function runBudget(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ENTRY_POINTS.budget, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run budget -- --samples FILE', () => {
  let dir: string;
  const file = (name: string, content: unknown) => {
    const where = path.join(dir, name);
    fs.writeFileSync(where, typeof content === 'string' ? content : JSON.stringify(content));
    return where;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'budget-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // The public record's example: p50 201 s, p95 417 s.
  const observed = [...Array.from({ length: 10 }, () => ({ bootSeconds: 201, phases: { database: 40.2, services: 120 } })), ...Array.from({ length: 10 }, (_, i) => ({ bootSeconds: 380 + i * 4, phases: { database: 200 + i, services: 130 } }))];

  it('prints the figures, the budget, its schedule and the line to paste', async () => {
    const { code, stdout } = await runBudget(['--samples', file('fits.json', observed.slice(0, 12))]);
    expect(code).toBe(0);
    // 10 boots at 201 s and 2 at 380 and 384: max 384, p99 x 1.2 = 460.8 -> 470.
    expect(stdout).toContain('12 boots from');
    expect(stdout).toMatch(/^ {2}boot +201\.0 s +384\.0 s +384\.0 s +384\.0 s$/m);
    expect(stdout).toMatch(/^ {2}database +40\.2 s +201\.0 s +201\.0 s +201\.0 s$/m);
    expect(stdout).toContain('Recommended startupBudgetSeconds: 470');
    expect(stdout).toContain('startup probe: first attempt after a 230 s initial delay, then up to 240 attempts 1 s apart, 470 s to pass; a boot ready sooner still waits the 230 s');
    expect(stdout).toContain('Slowest phase: database (p99 201.0 s)');
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('  cloud-run-startup-gate:startupBudgetSeconds: 470');
  });

  it('--json gives the same figures, and names the phase to shorten when the boots cannot fit', async () => {
    const { code, stdout } = await runBudget(['--samples', file('too-slow.json', observed), '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      boots: 20,
      boot: { count: 20, p50: 201, p95: 412, p99: 416, max: 416 },
      phases: { database: { p50: 40.2, max: 209 }, services: { p99: 130 } },
      neededBudgetSeconds: 500,
      recommendedBudgetSeconds: 480,
      fits: false,
      shortenPhase: { phase: 'database', p99: 209 },
      schedule: { initialDelaySeconds: 240, attempts: 240, fastBootWaitsSeconds: 240 },
      configLine: 'cloud-run-startup-gate:startupBudgetSeconds: 480',
    });
    const text = await runBudget(['--samples', path.join(dir, 'too-slow.json')]);
    expect(text.stdout).toContain('These boots cannot fit: they need 500 s');
    expect(text.stdout).toContain('Shorten database (p99 209.0 s), the phase with the largest p99');
  });

  it('counts and names entries that are not boots, and exits 2 with one line when there is nothing to use', async () => {
    const mixed = await runBudget(['--samples', file('mixed.json', [{ bootSeconds: 30 }, { bootSeconds: 'slow' }]), '--json']);
    expect(JSON.parse(mixed.stdout)).toMatchObject({ boots: 1, rejected: [{ where: '#1', reason: expect.stringContaining('bootSeconds') }] });
    for (const [args, message] of [
      [['--samples', file('none.json', [{ boot: 3 }])], /^no boots in .*none\.json \(skipped 1 that are not boots; the first: #0: bootSeconds/],
      [['--samples', file('object.json', { bootSeconds: 3 })], /object\.json must be a JSON array/],
      [['--samples', path.join(dir, 'missing.json')], /missing\.json: ENOENT/],
      [[], /^give exactly one of --samples FILE and --prometheus URL/],
      [['--prometheus', 'localhost:9090'], /^--prometheus must be an http\(s\) URL/],
      [['--prometheus', 'http://127.0.0.1:9', '--window', 'a week'], /^--window must be a Prometheus duration/],
    ] as const) {
      const { code, stdout, stderr } = await runBudget([...args]);
      expect({ code, stdout, line: stderr.split('\n')[0] }).toEqual({ code: 2, stdout: '', line: expect.stringMatching(message) });
    }
  });
});

/** A sample's value from a gate's own scrape. */
async function scraped(gate: GateProcess, sample: string): Promise<number> {
  const text = await (await fetch(`${gate.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  if (line === undefined) throw new Error(`${sample} is not in the gate's scrape`);
  return Number(line.slice(sample.length + 1));
}

describe('npm run budget -- --prometheus URL', () => {
  const processes: (AppProcess | GateProcess)[] = [];
  let prometheus: PrometheusServer | undefined;
  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(processes.map((p) => p.stop()));
  });

  it('reads every boot the gates observed, exactly, per service', async () => {
    const gatePorts = await Promise.all([0, 1, 2].map(() => freePort()));
    const targets = gatePorts.map((port) => `127.0.0.1:${port}`);
    // As on Cloud Run: job is the service; the first gate is also scraped as another service.
    prometheus = await startPrometheus([
      { job: 'chat', targets, labels: { revision_name: 'chat-00001-abc' } },
      { job: 'other', targets: targets.slice(0, 1) },
    ]);
    // Three boots one after the other, each slower in database and services than the last.
    const gates: GateProcess[] = [];
    for (const [i, gatePort] of gatePorts.entries()) {
      const phasePort = await freePort();
      const gate = spawnGate({ [V.targetUrl]: `http://127.0.0.1:${phasePort}/phase`, [V.backoffMaxMs]: '100', [V.startupBudgetSeconds]: '150' }, gatePort);
      processes.push(gate);
      gates.push(gate);
      // The dependencies delay lets the gate, which retries every 100 ms at most, reach the app before database starts.
      processes.push(await startApp({ APP_PHASE_DELAY_MS: `dependencies=300,database=${300 * (i + 1)},services=${200 * (i + 1)}` }, { phasePort }));
      await waitFor(`boot ${i + 1} to open its gate`, async () => (await fetch(`${gate.base}/startup`).catch(() => undefined))?.status === 200, { detail: () => gate.lines.join('\n') });
    }
    await waitFor('Prometheus to scrape the three opened gates', async () => (await prometheus!.query('count(startup_gate_boot_seconds_count{job="chat"} == 1)')) === '3', {
      timeoutMs: 40_000,
      detail: () => prometheus!.logs.join(''),
    });

    const { code, stdout, stderr } = await runBudget(['--prometheus', prometheus.api, '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout) as { boots: number; boot: { max: number; p50: number }; phases: Record<string, { count: number; max: number }>; recommendedBudgetSeconds: number; rejected: unknown[] };
    const bootSeconds = await Promise.all(gates.map((gate) => scraped(gate, 'startup_gate_boot_seconds_sum')));
    const database = await Promise.all(gates.map((gate) => scraped(gate, 'startup_gate_phase_seconds_sum{phase="database"}')));
    expect(report.boots).toBe(3);
    expect(report.rejected).toEqual([]);
    expect(report.boot.max).toBeCloseTo(Math.max(...bootSeconds), 3);
    expect(report.boot.p50).toBeCloseTo([...bootSeconds].sort((a, b) => a - b)[1]!, 3);
    expect(report.phases.database).toMatchObject({ count: 3, max: expect.closeTo(Math.max(...database), 3) });
    expect(Math.max(...database)).toBeGreaterThanOrEqual(0.85);
    expect(Object.keys(report.phases)).toEqual(expect.arrayContaining(['init', 'dependencies', 'database', 'cache', 'services', 'websocket', 'finalize']));
    // Boots of a few seconds: the 10 s floor.
    expect(report.recommendedBudgetSeconds).toBe(10);

    const other = JSON.parse((await runBudget(['--prometheus', prometheus.api, '--service', 'other', '--json'])).stdout) as { boots: number; boot: { max: number } };
    expect(other.boots).toBe(1);
    expect(other.boot.max).toBeCloseTo(bootSeconds[0]!, 3);
  }, 120_000);

  it('exits 1 with one line when the query API does not answer', async () => {
    const { code, stdout, stderr } = await runBudget(['--prometheus', `http://127.0.0.1:${await freePort()}`]);
    expect({ code, stdout, lines: stderr.trimEnd().split('\n') }).toEqual({ code: 1, stdout: '', lines: [expect.stringMatching(/^--prometheus http:\/\/127\.0\.0\.1:\d+\/: fetch failed \(.*ECONNREFUSED/)] });
  });
});
