import { defaultTcpStartupProbe, httpStatusPasses, type ProbeSpec, revisionProbes, startupCoverSeconds, startupProbeProblems, startupWindowSeconds } from '../probes';
import { GATE_PATHS, GATE_PORT } from '../revision';

const gateProbe: ProbeSpec = { initialDelaySeconds: 2, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 5, httpGet: { path: '/startup', port: 9091 } };

describe('Cloud Run probe limits', () => {
  it('accepts valid probes and names each broken limit', () => {
    expect(startupProbeProblems(gateProbe)).toEqual([]);
    expect(startupProbeProblems(defaultTcpStartupProbe(8080))).toEqual([]);
    expect(startupProbeProblems({ ...gateProbe, failureThreshold: 241 })).toContain('failureThreshold x periodSeconds must be at most 240 s');
    expect(startupProbeProblems({ ...gateProbe, timeoutSeconds: 2 })).toContain('timeoutSeconds must be 1..periodSeconds');
    expect(startupProbeProblems({ ...gateProbe, initialDelaySeconds: 241 })).toContain('initialDelaySeconds must be 0..240');
    expect(startupProbeProblems({ ...gateProbe, tcpSocket: { port: 1 } })).toContain('exactly one of httpGet and tcpSocket');
  });

  it('passes HTTP statuses 200 to 399 only', () => {
    expect([199, 200, 302, 399, 400, 503].map(httpStatusPasses)).toEqual([false, true, true, true, false, false]);
  });
});

describe('revisionProbes', () => {
  it.each([1, 90, 120, 240, 241, 400, 480])('covers exactly a %i s budget with the gate startup probe, one attempt a second', (budget) => {
    const probes = revisionProbes(budget);
    expect(startupCoverSeconds(probes.gate.startup)).toBe(budget);
    expect(probes.gate.startup.periodSeconds).toBe(1);
    expect(probes.gate.startup.httpGet).toEqual({ path: GATE_PATHS.startup, port: GATE_PORT });
    for (const probe of [probes.app.startup, probes.gate.startup]) expect(startupProbeProblems(probe)).toEqual([]);
    for (const probe of [probes.app.liveness, probes.gate.liveness, probes.gate.readiness]) {
      expect(probe.timeoutSeconds).toBeLessThanOrEqual(probe.periodSeconds);
      expect(probe.httpGet).toBeDefined();
    }
  });

  it.each([
    [150, 0, 150],
    [240, 0, 240],
    [241, 1, 240],
    [400, 160, 240],
    [480, 240, 240],
  ])('uses an initial delay only for the part of a %i s budget beyond 240 s: %i s, then %i attempts', (budget, delay, attempts) => {
    const { gate, app } = revisionProbes(budget);
    expect([gate.startup.initialDelaySeconds, gate.startup.failureThreshold]).toEqual([delay, attempts]);
    expect(startupWindowSeconds(gate.startup)).toBeLessThanOrEqual(240);
    // The app's /startup waits for ready too, so it needs the same delay, or its window would end
    // before a slow boot could pass it.
    expect([app.startup.initialDelaySeconds, app.startup.failureThreshold]).toEqual([delay, attempts]);
  });

  it.each([0, 481, 1.5, Number.NaN])('refuses a budget of %p seconds', (budget) => {
    expect(() => revisionProbes(budget)).toThrow(/startup budget must be a whole number of seconds from 1 to 480/);
  });
});
