/**
 * `npm start -- --exit-after-ready` for each stack and each scenario, with the real app and gate
 * and the probe settings of infra/rendered/STACK.yaml: the exit code, the reason, and a probe
 * timeline that keeps to the configured settings; and bad flags or a taken port, in one line.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { STACKS } from '../../common/cloud-run-service';
import { startupCoverSeconds } from '../../common/probes';
import { renderedContainers, toProbeSpec } from '../src/local-revision';
import { PROBE_MODELS } from '../src/probe-model';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioName } from '../src/scenarios';

const RUNNER = path.resolve(__dirname, '../../dist/runner/src/main.js');

interface Line {
  kind: string;
  atMs: number;
  container?: string;
  probe?: string;
  durationMs?: number;
  ok?: boolean;
  attempt?: number;
  reason?: string;
  trafficAtMs?: number;
  phase?: string;
  probeModel?: string;
  budgetSeconds?: number;
  budgetWarning?: boolean;
  slowestPhase?: { phase: string; durationMs: number };
}

function runScenario(stack: string, scenario: ScenarioName, extra: string[] = []): Promise<{ code: number | null; lines: Line[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, '--stack', stack, '--scenario', scenario, '--exit-after-ready', '--json', '--port', '0', ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('exit', (code) => resolve({ code, lines: out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line) }));
  });
}

function gateStartupProbe(stack: string) {
  const gate = renderedContainers(stack).find((container) => container.name === 'gate');
  return toProbeSpec(gate?.startupProbe, new Map([[9091, 9091]]))!;
}

/**
 * Attempts of each container's startup probe keep to its period and never exceed its threshold.
 * An attempt is logged when it ends and a held one lasts up to its timeout, so compare starts.
 */
function expectProbeTimeline(lines: Line[], stack: string): void {
  const probe = gateStartupProbe(stack);
  // The schedule is announced as the gate starts, with the rendered delay, period and threshold.
  expect(lines.find((line) => line.kind === 'startup-schedule' && line.container === 'gate')).toMatchObject({
    initialDelaySeconds: probe.initialDelaySeconds,
    periodSeconds: probe.periodSeconds,
    failureThreshold: probe.failureThreshold,
  });
  for (const container of ['app', 'gate']) {
    const attempts = lines.filter((line) => line.kind === 'probe' && line.container === container && line.probe === 'startup');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.length).toBeLessThanOrEqual(probe.failureThreshold);
    expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
    // Attempts start one period apart (each event is stamped when its attempt ends, and a held
    // attempt lasts up to its timeout); a busy machine makes them later, never sooner.
    const starts = attempts.map((a) => a.atMs - (a.durationMs ?? 0));
    for (let i = 1; i < starts.length; i += 1) expect(starts[i]! - starts[i - 1]!).toBeGreaterThan(probe.periodSeconds * 1000 - 100);
  }
}

const fastScenarios = SCENARIO_NAMES.filter((name) => name !== 'finalize-hangs');

describe.each(STACKS)('npm start --stack %s', (stack) => {
  it.each(fastScenarios)('scenario %s', async (scenario) => {
    const { code, lines } = await runScenario(stack, scenario);
    const result = lines.at(-1)!;
    expect(result.kind).toBe('result');
    if (SCENARIOS[scenario].expect === 'traffic') {
      expect(code).toBe(0);
      expect(result.ok).toBe(true);
      const traffic = lines.find((line) => line.kind === 'traffic')!;
      const passed = lines.filter((line) => line.kind === 'startup-passed').map((line) => line.container);
      expect(passed.sort()).toEqual(['app', 'gate']);
      // Traffic flows only after every startup probe passed, and after the app's last phase.
      const lastPhase = lines.filter((line) => line.kind === 'phase').at(-1)!;
      expect(traffic.atMs).toBeGreaterThanOrEqual(lastPhase.atMs);
      if (scenario === 'slow-services') expect(result.trafficAtMs).toBeGreaterThanOrEqual(5000);
      // The boot against the budget the startup probes cover, which is the one the gate exports.
      expect(result).toMatchObject({ budgetSeconds: startupCoverSeconds(gateStartupProbe(stack)), budgetWarning: false });
      if (scenario === 'slow-services') {
        expect(result.slowestPhase?.phase).toBe('services');
        expect(result.slowestPhase?.durationMs).toBeGreaterThanOrEqual(5000);
      }
      expectProbeTimeline(lines, stack);
    } else {
      expect(code).toBe(1);
      expect(result.ok).toBe(false);
      expect(lines.some((line) => line.kind === 'traffic')).toBe(false);
      if (scenario === 'database-fails') expect(result.reason).toMatch(/container gate exited during startup \(code 1\).*database/);
      if (scenario === 'crash-mid-startup') expect(result.reason).toMatch(/container app exited during startup \(code 1\).*APP_CRASH_PHASE=services/);
    }
  }, 60_000);
});

describe.each(PROBE_MODELS)('npm start --probe-model %s', (model) => {
  it("sends traffic only after the app's finalize phase", async () => {
    const { code, lines } = await runScenario('staging', 'slow-services', ['--probe-model', model]);
    expect(code).toBe(0);
    const finalize = lines.findIndex((line) => line.kind === 'phase' && line.phase === 'finalize');
    const traffic = lines.findIndex((line) => line.kind === 'traffic');
    expect(finalize).toBeGreaterThan(-1);
    expect(traffic).toBeGreaterThan(finalize);
    expect(lines[traffic]?.probeModel).toBe(model);
    expect(lines.at(-1)).toMatchObject({ kind: 'result', ok: true, probeModel: model });
  }, 60_000);
});

// The hang lasts the whole startup window of each stack (150 s and 180 s): both run at once.
it('scenario finalize-hangs fails each stack when its startup window runs out', async () => {
  const runs = await Promise.all(STACKS.map((stack) => runScenario(stack, 'finalize-hangs')));
  runs.forEach(({ code, lines }, index) => {
    const stack = STACKS[index]!;
    const probe = gateStartupProbe(stack);
    expect(code).toBe(1);
    // Both startup probes wait for ready; whichever window runs out first fails the revision.
    expect(lines.at(-1)?.reason).toMatch(
      new RegExp(`^container (app|gate) failed its startup probe ${probe.failureThreshold} times in its ${probe.failureThreshold * probe.periodSeconds} s window \\(last: HTTP 503\\)$`),
    );
    expectProbeTimeline(lines, stack);
  });
}, 260_000);

describe('bad input', () => {
  function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('exit', (code) => resolve({ code, stderr }));
    });
  }

  it.each([
    [['--stack', 'moon'], '--stack must be one of staging, production, python-fastapi, got "moon"'],
    [['--scenario', 'nope'], '--scenario must be one of'],
    [['--port', '70000'], '--port must be 0..65535'],
    [['--hold-timeout-ms', '0'], '--hold-timeout-ms must be a positive integer'],
    [['--probe-model', 'sidecars-first'], '--probe-model must be one of all-containers, ingress-only, got "sidecars-first"'],
  ])('%j exits 2 naming the flag, then the usage', async (args, message) => {
    const { code, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toContain(message);
    expect(stderr).toContain('usage: npm start --');
  });

  it('exits 2 with one line when the front door port is taken, before starting any container', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const { code, stderr } = await run(['--port', String(port)]);
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toEqual([expect.stringContaining(`--port ${port} cannot be used for the front door: listen EADDRINUSE`)]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
