import { defaultTcpStartupProbe } from '../../common/probes';
import {
  earlyRoutedShare,
  type ModelledProbe,
  modelTimeToTraffic,
  OLD_STARTUP_PROBE,
  probePassesAt,
  spreadOverPeriod,
  type StartupTimeline,
  trafficAtMs,
} from '../src/time-to-traffic';

const timeline: StartupTimeline = { listenMs: 300, readyMs: 2_400, gateOpenMs: 2_405 };
const everySecond = { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 10, httpGet: { path: '/startup', port: 9091 } };
const http = (passesFromMs: number, holdMs = 0, listensFromMs = 0): ModelledProbe => ({ spec: everySecond, ingress: false, listensFromMs, passesFromMs, holdMs });

describe('probe model on a virtual clock', () => {
  test('a TCP probe passes the moment the port opens', async () => {
    expect(await probePassesAt({ spec: defaultTcpStartupProbe(8080), ingress: true, listensFromMs: 300, passesFromMs: 300, holdMs: 0 })).toBe(300);
  });

  test('an HTTP probe answered at once passes at the first attempt after its target passes', async () => {
    expect(await probePassesAt(http(2_405))).toBe(3_000);
  });

  test('a held HTTP probe passes the moment its target passes, within the hold', async () => {
    expect(await probePassesAt(http(2_405, 975))).toBe(2_405);
  });

  test('ready in the last 25 ms of a period waits for the next attempt, which passes at once', async () => {
    expect(await probePassesAt(http(2_990, 975))).toBe(3_000);
  });

  test('a held probe is refused at once before its target listens', async () => {
    // Refused at 0 (listens at 300), held from 1 000: passes at 400 only if attempts came then.
    expect(await probePassesAt(http(400, 975, 300))).toBe(1_000);
  });

  test('a probe whose window runs out never passes', async () => {
    expect(await probePassesAt({ ...http(5_000), spec: { ...everySecond, failureThreshold: 2 } })).toBeUndefined();
    expect(await probePassesAt({ ...http(5_000, 975), spec: { ...everySecond, failureThreshold: 2 } })).toBeUndefined();
  });

  test('the old probe waits its 45 s initial delay whatever the app does', async () => {
    expect(await probePassesAt({ spec: OLD_STARTUP_PROBE, ingress: true, listensFromMs: 300, passesFromMs: 300, holdMs: 0 })).toBe(45_000);
  });
});

describe('traffic time per configuration and probe model', () => {
  test('ours: within milliseconds of ready under both models, the gate counting only under all-containers', async () => {
    expect(await trafficAtMs('ours', timeline, 'all-containers')).toBe(2_405);
    expect(await trafficAtMs('ours', timeline, 'ingress-only')).toBe(2_400);
  });

  test('before held probes: the next period under all-containers, and at once after listening under ingress-only', async () => {
    expect(await trafficAtMs('previous', timeline, 'all-containers')).toBe(3_000);
    expect(await trafficAtMs('previous', timeline, 'ingress-only')).toBe(1_000);
  });

  test('the TCP default passes on listen and the old config after 45 s, under both models', async () => {
    for (const model of ['all-containers', 'ingress-only'] as const) {
      expect(await trafficAtMs('tcpDefault', timeline, model)).toBe(300);
      expect(await trafficAtMs('oldConfig', timeline, model)).toBe(45_000);
    }
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

test('spreadOverPeriod moves ready (and the gate) by k/n of a period and keeps the listen time', () => {
  const spread = spreadOverPeriod([timeline, timeline, timeline, timeline], 1_000);
  expect(spread.map((t) => t.readyMs)).toEqual([2_400, 2_650, 2_900, 3_150]);
  expect(spread.map((t) => t.gateOpenMs - t.readyMs)).toEqual([5, 5, 5, 5]);
  expect(spread.every((t) => t.listenMs === 300)).toBe(true);
});

test('modelTimeToTraffic runs every configuration under both models on the same timelines', async () => {
  const result = await modelTimeToTraffic([timeline, { ...timeline, readyMs: 600, gateOpenMs: 601 }]);
  // The second startup is ready before the gate's first held attempt (1 000): traffic at 1 000.
  expect(result['all-containers'].ours).toEqual({ trafficAtMs: [2_405, 1_000], afterReadyMs: [5, 400], failed: 0, earlyRoutedShare: 0 });
  expect(result['ingress-only'].ours.earlyRoutedShare).toBe(0);
  // Before held probes, ingress-only routed the 2.4 s startup at 1 s (early), the 0.6 s one at 1 s (not).
  expect(result['ingress-only'].previous.earlyRoutedShare).toBe(2_400 / 3_000);
  expect(result['all-containers'].previous.earlyRoutedShare).toBe(0);
  expect(result['all-containers'].tcpDefault.earlyRoutedShare).toBe(1);
  expect(result['ingress-only'].oldConfig.trafficAtMs).toEqual([45_000, 45_000]);
});
