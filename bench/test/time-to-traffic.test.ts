import { defaultTcpStartupProbe } from '../../common/probes';
import { earlyRoutedShare, modelTimeToTraffic, OLD_STARTUP_PROBE, probePassesAt, type StartupTimeline, trafficAtMs } from '../src/time-to-traffic';

const timeline: StartupTimeline = { listenMs: 300, readyMs: 2_400, gateOpenMs: 2_405 };

describe('probe model on a virtual clock', () => {
  test('a TCP probe passes the moment the port opens', async () => {
    expect(await probePassesAt(defaultTcpStartupProbe(8080), 300)).toBe(300);
  });

  test('an HTTP probe passes at the first attempt after its target passes', async () => {
    const spec = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 10, httpGet: { path: '/startup', port: 9091 } };
    expect(await probePassesAt(spec, 2_405)).toBe(3_000);
  });

  test('a probe whose window runs out never passes', async () => {
    const spec = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, httpGet: { path: '/startup', port: 9091 } };
    expect(await probePassesAt(spec, 5_000)).toBeUndefined();
  });

  test('the old probe waits its 45 s initial delay whatever the app does', async () => {
    expect(await probePassesAt(OLD_STARTUP_PROBE, 300)).toBe(45_000);
  });
});

describe('traffic time per configuration', () => {
  test('ours waits for the gate, the TCP default only for the port, the old config for 45 s', async () => {
    expect(await trafficAtMs('ours', timeline)).toBe(3_000);
    expect(await trafficAtMs('tcpDefault', timeline)).toBe(300);
    expect(await trafficAtMs('oldConfig', timeline)).toBe(45_000);
  });

  test('the old config routes early when the app takes longer than its delay', async () => {
    expect(await trafficAtMs('oldConfig', { listenMs: 300, readyMs: 50_000, gateOpenMs: 50_001 })).toBe(45_000);
  });
});

describe('early routed share', () => {
  test('weighs each early startup by its length', () => {
    expect(earlyRoutedShare([
      { readyMs: 1_000, trafficAtMs: 300 },
      { readyMs: 3_000, trafficAtMs: 3_500 },
    ])).toBe(0.25);
  });

  test('is zero when traffic never starts before ready, and for no startups', () => {
    expect(earlyRoutedShare([{ readyMs: 1_000, trafficAtMs: 1_000 }])).toBe(0);
    expect(earlyRoutedShare([{ readyMs: 1_000, trafficAtMs: undefined }])).toBe(0);
    expect(earlyRoutedShare([])).toBe(0);
  });
});

test('modelTimeToTraffic runs every configuration on the same timelines', async () => {
  const result = await modelTimeToTraffic([timeline, { ...timeline, readyMs: 600, gateOpenMs: 601 }]);
  expect(result.ours).toEqual({ trafficAtMs: [3_000, 1_000], failed: 0, earlyRoutedShare: 0 });
  expect(result.tcpDefault.earlyRoutedShare).toBe(1);
  expect(result.oldConfig.trafficAtMs).toEqual([45_000, 45_000]);
});
