import { Registry } from 'prom-client';
import { CHECK_BURST, ChangeLogBound, CheckPacer, componentSeries, MAX_EXTRA_COMPONENT_SERIES, phaseSeries } from '../src/bounds';
import { GateMetrics } from '../src/metrics';
import { INITIAL_STATE } from '../src/decision';
import { phaseBody } from '../../testkit/phase-endpoint';
import { REQUIRED } from './support';

describe('componentSeries', () => {
  it('labels every required component, then at most the cap of others, in the order listed', () => {
    const components = Object.fromEntries([...Array.from({ length: 40 }, (_, i) => [`extra${i}`, true]), ['websocketBridge', true]]);
    const series = componentSeries(components, REQUIRED);
    expect(series.get('agentSupervisor')).toBe(0);
    expect(series.get('websocketBridge')).toBe(1);
    expect(series.size).toBe(REQUIRED.length + MAX_EXTRA_COMPONENT_SERIES);
    expect(series.has('extra0')).toBe(true);
    expect(series.has(`extra${MAX_EXTRA_COMPONENT_SERIES}`)).toBe(false);
  });
});

describe('phaseSeries', () => {
  it('the current phase at 1 and completed ones at 0, at most the cap', () => {
    expect([...phaseSeries('cache', ['init', 'database'])]).toEqual([
      ['cache', 1],
      ['init', 0],
      ['database', 0],
    ]);
    expect(phaseSeries('x', Array.from({ length: 1000 }, (_, i) => `p${i}`), 5).size).toBe(5);
  });
});

describe('the component series in the metrics', () => {
  it('stays bounded when the names change on every answer, and drops names that vanish', async () => {
    const registry = new Registry();
    const metrics = new GateMetrics(registry, REQUIRED, 0);
    for (let seq = 1; seq <= 500; seq += 1) {
      const components = { agentSupervisor: false, websocketBridge: false, ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`c${seq}-${i}`, true])) };
      metrics.update({ ...INITIAL_STATE, observation: phaseBody({ seq, components, phase: `phase-${seq}`, completedPhases: [`phase-${seq - 1}`] }) }, 0);
    }
    const labels = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.map((v) => Object.values(v.labels)[0]);
    expect((await labels('startup_gate_component_ready'))?.sort()).toEqual([...REQUIRED, ...Array.from({ length: MAX_EXTRA_COMPONENT_SERIES }, (_, i) => `c500-${i}`)].sort());
    expect((await labels('startup_gate_app_phase'))?.sort()).toEqual(['phase-499', 'phase-500']);
  });
});

describe('CheckPacer', () => {
  it('lets a burst through, then spaces checks by the minimum interval', () => {
    const pacer = new CheckPacer(50);
    expect(Array.from({ length: CHECK_BURST }, () => pacer.take(0))).toEqual(Array(CHECK_BURST).fill(0));
    expect(pacer.take(0)).toBe(50);
    expect(pacer.take(20)).toBe(30);
    expect(pacer.take(50)).toBe(0);
    expect(pacer.take(50)).toBe(50);
  });

  it('a seq storm gets at most one check per interval after the burst', () => {
    const pacer = new CheckPacer(50);
    let now = 0;
    let checks = 0;
    while (now < 10_000) {
      const wait = pacer.take(now);
      if (wait === 0) checks += 1;
      now += wait === 0 ? 1 : wait;
    }
    expect(checks).toBeLessThanOrEqual(CHECK_BURST + 10_000 / 50 + 1);
  });

  it('0 turns it off', () => {
    const pacer = new CheckPacer(0);
    expect(Array.from({ length: 100 }, () => pacer.take(0))).toEqual(Array(100).fill(0));
  });
});

describe('ChangeLogBound', () => {
  const limits = { maxLines: 3, windowMs: 1000 };

  it('writes up to maxLines a window, then one flapping WARNING, then nothing until a quiet window; then says how many were left out', () => {
    const bound = new ChangeLogBound(limits);
    const verdicts = Array.from({ length: 100 }, (_, i) => bound.admit(i * 5));
    expect(verdicts.filter((v) => v.write)).toHaveLength(3);
    expect(verdicts.filter((v) => v.before !== undefined).map((v) => v.before!.level)).toEqual(['warn']);
    expect(verdicts[3]!.before!.message).toContain('flapping');
    // Flapping on and on for minutes: still that one WARNING.
    const more = Array.from({ length: 10_000 }, (_, i) => bound.admit(500 + i * 50));
    expect(more.filter((v) => v.write || v.before !== undefined)).toHaveLength(0);
    const after = bound.admit(500 + 10_000 * 50 + 1000);
    expect(after).toEqual({ write: true, before: { level: 'info', message: expect.stringContaining('settled'), fields: { suppressed: 97 + 10_000 } } });
  });

  it('changes spread out are all written', () => {
    const bound = new ChangeLogBound(limits);
    expect(Array.from({ length: 20 }, (_, i) => bound.admit(i * 400).write)).toEqual(Array(20).fill(true));
  });
});
