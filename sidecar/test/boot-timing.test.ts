/**
 * Boot and phase durations: the pure phase clock and label cap, the budget setting, and the
 * gate's bundle in front of the app's bundle with phase delays, scraped for real and linted by
 * promtool.
 */
import { spawnSync } from 'node:child_process';
import { freePort } from '../../common/local-ports';
import { MAX_STARTUP_BUDGET_SECONDS } from '../../common/probes';
import { GATE_ENV_VARS as V } from '../../common/revision';
import { startApp } from '../../testkit/app-process';
import { type GateProcess, spawnGate } from '../../testkit/gate-process';
import { phaseBody } from '../../testkit/phase-endpoint';
import { requirePrometheusTool } from '../../testkit/prometheus';
import { waitFor } from '../../testkit/wait-for';
import { EMPTY_PHASE_CLOCK, type PhaseClock, type PhaseDuration, observePhases } from '../src/boot-timing';
import { MAX_PHASE_SERIES, MAX_TIMED_PHASES, OTHER_PHASE, PhaseLabels } from '../src/bounds';
import { DEFAULT_STARTUP_BUDGET_SECONDS, readGateConfig } from '../src/config';

/** Feeds bodies at the given gate times; returns every phase timed. */
function feed(steps: [number, Parameters<typeof phaseBody>[0]][], start: PhaseClock = EMPTY_PHASE_CLOCK): PhaseDuration[] {
  let clock = start;
  const timed: PhaseDuration[] = [];
  for (const [atMs, overrides] of steps) {
    const result = observePhases(clock, phaseBody({ startedAt: '2026-12-01T00:00:00Z', ...overrides }), atMs);
    clock = result.clock;
    timed.push(...result.completed);
  }
  return timed;
}

describe('observePhases', () => {
  it('times each phase from first seen under way to first seen completed, the last one on ready', () => {
    expect(
      feed([
        [1000, { phase: 'init' }],
        [1500, { phase: 'database', completedPhases: ['init'] }],
        [41_500, { phase: 'services', completedPhases: ['init', 'database'] }],
        [44_000, { phase: 'finalize', completedPhases: ['init', 'database', 'services'] }],
        [44_100, { phase: 'finalize', completedPhases: ['init', 'database', 'services'] }],
        [45_000, { state: 'ready', phase: 'finalize', completedPhases: ['init', 'database', 'services'] }],
      ]),
    ).toEqual([
      { phase: 'init', seconds: 0.5 },
      { phase: 'database', seconds: 40 },
      { phase: 'services', seconds: 2.5 },
      { phase: 'finalize', seconds: 1 },
    ]);
  });

  it('counts a phase that started and completed between two answers as 0 s, and times each phase once', () => {
    expect(
      feed([
        [0, { phase: 'a' }],
        [2000, { phase: 'c', completedPhases: ['a', 'b'] }],
        [3000, { state: 'ready', phase: 'c', completedPhases: ['a', 'b', 'c'] }],
        [9000, { state: 'ready', phase: 'c', completedPhases: ['a', 'b', 'c'] }],
      ]),
    ).toEqual([
      { phase: 'a', seconds: 2 },
      { phase: 'b', seconds: 0 },
      { phase: 'c', seconds: 1 },
    ]);
  });

  it('does not time a failed phase, and starts afresh when the backend restarts (a new startedAt)', () => {
    const failed = feed([
      [0, { phase: 'a' }],
      [1000, { state: 'failed', phase: 'a', error: { phase: 'a', message: 'no' } }],
    ]);
    expect(failed).toEqual([]);
    let clock = observePhases(EMPTY_PHASE_CLOCK, phaseBody({ startedAt: '2026-12-01T00:00:00Z', phase: 'b', completedPhases: ['a'] }), 0).clock;
    clock = observePhases(clock, phaseBody({ startedAt: '2026-12-01T00:01:00Z', phase: 'a' }), 5000).clock;
    expect(observePhases(clock, phaseBody({ startedAt: '2026-12-01T00:01:00Z', phase: 'b', completedPhases: ['a'] }), 8000).completed).toEqual([{ phase: 'a', seconds: 3 }]);
  });

  it('tracks at most MAX_TIMED_PHASES names in a boot, however many new ones the backend reports, and still times those', () => {
    const names = Array.from({ length: 10 * MAX_TIMED_PHASES }, (_, i) => `phase_${i}`);
    let clock = EMPTY_PHASE_CLOCK;
    const timed: PhaseDuration[] = [];
    // A new phase under way on every answer, none completed; then one answer that completes them all.
    for (const [i, phase] of names.entries()) clock = observePhases(clock, phaseBody({ startedAt: '2026-12-01T00:00:00Z', phase }), i * 1000).clock;
    expect(clock.running.size).toBe(MAX_TIMED_PHASES);
    for (const completedPhases of [names, [...names].reverse()]) {
      const result = observePhases(clock, phaseBody({ startedAt: '2026-12-01T00:00:00Z', phase: 'last', completedPhases }), names.length * 1000);
      clock = result.clock;
      timed.push(...result.completed);
    }
    expect(clock.running.size + clock.timed.size).toBe(MAX_TIMED_PHASES);
    expect(timed).toEqual(names.slice(0, MAX_TIMED_PHASES).map((phase, i) => ({ phase, seconds: names.length - i })));
  });
});

describe('PhaseLabels', () => {
  it('keeps the first names and folds later or overlong ones into one label value', () => {
    const labels = new PhaseLabels();
    const names = Array.from({ length: MAX_PHASE_SERIES + 5 }, (_, i) => `phase${i}`);
    expect(new Set(names.map((name) => labels.label(name)))).toEqual(new Set([...names.slice(0, MAX_PHASE_SERIES), OTHER_PHASE]));
    expect(labels.label('phase0')).toBe('phase0');
    expect(new PhaseLabels().label('x'.repeat(65))).toBe(OTHER_PHASE);
  });
});

describe('GATE_STARTUP_BUDGET_SECONDS', () => {
  it('defaults to 240 and takes 1..480', () => {
    expect(readGateConfig({}).startupBudgetSeconds).toBe(DEFAULT_STARTUP_BUDGET_SECONDS);
    expect(readGateConfig({ [V.startupBudgetSeconds]: '150' }).startupBudgetSeconds).toBe(150);
    expect(readGateConfig({ [V.startupBudgetSeconds]: String(MAX_STARTUP_BUDGET_SECONDS) }).startupBudgetSeconds).toBe(480);
  });

  it.each(['0', '481', '150.5', 'soon'])('exits 2 naming the setting for %j', async (value) => {
    const gate = spawnGate({ [V.startupBudgetSeconds]: value });
    expect((await gate.exited).code).toBe(2);
    expect(gate.lines).toHaveLength(1);
    expect(gate.logs[0]).toMatchObject({ setting: V.startupBudgetSeconds, message: expect.stringContaining('must be an integer from 1 to 480') });
  });
});

/** Every sample of a metric family in a text scrape, as `name{labels}` -> value. */
function samples(scrape: string, family: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of scrape.split('\n')) {
    if (!line.startsWith(family)) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

describe('the gate in front of the app with phase delays', () => {
  let gate: GateProcess | undefined;
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });

  it('exports the boot, every phase and the budget, and promtool finds nothing to complain about', async () => {
    const phasePort = await freePort();
    gate = spawnGate({ [V.targetUrl]: `http://127.0.0.1:${phasePort}/phase`, [V.backoffMaxMs]: '100', [V.startupBudgetSeconds]: '150' }, await freePort());
    stops.push(gate.stop);
    // The dependencies delay lets the gate, which retries every 100 ms at most, reach the app before database starts.
    const app = await startApp({ APP_PHASE_DELAY_MS: 'dependencies=300,database=600,services=1200' }, { phasePort });
    stops.push(app.stop);
    const base = gate.base;
    await waitFor('the gate to open', async () => (await fetch(`${base}/startup`).catch(() => undefined))?.status === 200, { detail: () => gate!.lines.join('\n') });

    const scrape = await (await fetch(`${base}/metrics`)).text();
    expect(samples(scrape, 'startup_gate_budget_seconds').get('startup_gate_budget_seconds')).toBe(150);
    const boot = samples(scrape, 'startup_gate_boot_seconds');
    expect(boot.get('startup_gate_boot_seconds_count')).toBe(1);
    // Gate start to open covers both delays.
    expect(boot.get('startup_gate_boot_seconds_sum')).toBeGreaterThan(2.1);
    const phases = samples(scrape, 'startup_gate_phase_seconds');
    const phaseNames = ['init', 'dependencies', 'database', 'cache', 'services', 'websocket', 'finalize'];
    for (const phase of phaseNames) expect(phases.get(`startup_gate_phase_seconds_count{phase="${phase}"}`)).toBe(1);
    // Each delay lands in its own phase: the gate saw every change over the long-poll.
    expect(phases.get('startup_gate_phase_seconds_sum{phase="database"}')).toBeGreaterThanOrEqual(0.55);
    expect(phases.get('startup_gate_phase_seconds_sum{phase="database"}')).toBeLessThan(1.2);
    expect(phases.get('startup_gate_phase_seconds_sum{phase="services"}')).toBeGreaterThanOrEqual(1.15);
    expect(phases.get('startup_gate_phase_seconds_sum{phase="cache"}')).toBeLessThan(0.5);

    const promtool = spawnSync(requirePrometheusTool('promtool'), ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    expect({ code: promtool.status, output: promtool.stdout + promtool.stderr }).toEqual({ code: 0, output: '' });
  }, 60_000);
});
