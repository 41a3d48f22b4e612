import type { DetectionTrial } from '../src/detection';
import { buildJson, checkAims, formatReport, formatTable, type LatestJson, type Results } from '../src/report';

/** Every leaf path of an object, dotted, as docs/bench.md names the keys. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

const LATEST_JSON_KEYS = [
  'detection.longPoll.p50Ms', 'detection.longPoll.p99Ms', 'detection.polling.p50Ms', 'detection.polling.p99Ms', 'detection.waitOn.p50Ms', 'detection.waitOn.p99Ms',
  'timeToTraffic.ours.p50Ms', 'timeToTraffic.ours.earlyRoutedShare', 'timeToTraffic.oldConfig.p50Ms', 'timeToTraffic.tcpDefault.earlyRoutedShare',
  // traffic after ready, and early routing under the ingress-only reading
  'timeToTraffic.ours.afterReadyP50Ms', 'timeToTraffic.ours.afterReadyP99Ms', 'timeToTraffic.ours.ingressOnly.earlyRoutedShare',
  'footprint.gate.rssMb', 'footprint.gate.cpuSeconds30s', 'footprint.gate.listenMs', 'footprint.bareNode.rssMb', 'footprint.bareNode.listenMs',
  'endpoints.startup.rps', 'endpoints.startup.p99Ms', 'endpoints.metrics.rps', 'endpoints.metrics.p99Ms', 'endpoints.metrics.scrapeKb', 'endpoints.metrics.scrapeSamples',
  'ws.clients', 'ws.eventP50Ms', 'ws.eventP99Ms', 'ws.kbPerConnection', 'ws.refuseP99Ms',
  'ws.authenticated.clients', 'ws.authenticated.authenticateP50Ms', 'ws.authenticated.authenticateP99Ms', 'ws.authenticated.eventP99Ms',
  'hostile.slowReaderMaxGrowthMb', 'hostile.slowReaderNotClosed', 'hostile.floodAccepted', 'hostile.floodLimitPerMinute',
  'outage.clients', 'outage.outageSeconds', 'outage.none.rssGrowthMb',
  ...['postgresBlackhole', 'redisBlackhole'].flatMap((fault) => ['recoveryMs', 'rssGrowthMb', 'lost', 'silences'].map((figure) => `outage.${fault}.${figure}`)),
  'hostile.invalidFrameQuietP50Ms', 'hostile.invalidFrameAttackedP50Ms', 'hostile.logFloodLinesPerSecond', 'hostile.logFloodPeakLinesPerSecond',
  'hostile.gateComponentSeries', 'hostile.gateRssHalfwayMb', 'hostile.gateRssMb',
].sort();

/** One outage run as reliability/outage.ts reports it. */
const outageRun = (fault: string, figures: { unavailable?: number; recoveryMs: number | null; rssGrowthMb: number; lost?: number; silences?: number }) => ({
  fault,
  clients: 50,
  outageMs: 60_000,
  sent: 1000,
  acknowledged: 900,
  completed: 900,
  unavailable: 0,
  agentFailed: 0,
  lost: 0,
  silences: 0,
  slowestFirstFrameMs: 2500,
  closes1011: 0,
  rssAtFaultMb: 130,
  rssPeakMb: 130 + figures.rssGrowthMb,
  ...figures,
});

const trial = (variant: DetectionTrial['variant'], latency: number): DetectionTrial => ({ variant, listenMs: 200, readyMs: 600, detectedMs: 600 + latency });

const results: Results = {
  detection: [trial('longPoll', 2), trial('longPoll', 4), trial('polling', 120), trial('waitOn', 130), trial('waitOn', 90)],
  timeToTraffic: {
    'all-containers': {
      ours: { trafficAtMs: [1000, 1200], afterReadyMs: [4, 30], failed: 0, earlyRoutedShare: 0 },
      previous: { trafficAtMs: [2000], afterReadyMs: [800], failed: 0, earlyRoutedShare: 0 },
      oldConfig: { trafficAtMs: [45_000], afterReadyMs: [44_000], failed: 0, earlyRoutedShare: 0 },
      tcpDefault: { trafficAtMs: [200], afterReadyMs: [-800], failed: 0, earlyRoutedShare: 1 },
    },
    'ingress-only': {
      ours: { trafficAtMs: [996, 1170], afterReadyMs: [0, 0], failed: 0, earlyRoutedShare: 0 },
      previous: { trafficAtMs: [1000], afterReadyMs: [-200], failed: 0, earlyRoutedShare: 1 },
      oldConfig: { trafficAtMs: [45_000], afterReadyMs: [44_000], failed: 0, earlyRoutedShare: 0 },
      tcpDefault: { trafficAtMs: [200], afterReadyMs: [-800], failed: 0, earlyRoutedShare: 1 },
    },
  },
  footprint: {
    windowMs: 10_000,
    subjects: {
      gate: { listenMs: [40, 50], rssAfterStartMb: 50, rssAfterWindowMb: 52, cpuSecondsInWindow: 0.1 },
      bareNode: { listenMs: [30], rssAfterStartMb: 40, rssAfterWindowMb: 41, cpuSecondsInWindow: 0 },
    },
  },
  endpoints: { startup: { rps: 9000.4, p99Ms: 3, non2xx: 0, errors: 0 }, metrics: { rps: 4000, p99Ms: 6, non2xx: 0, errors: 0 }, scrape: { bytes: 20_992, samples: 240 } },
  ws: {
    clients: 1000,
    eventLatenciesMs: [1, 2, 30],
    messagesSent: 10,
    messagesCompleted: 10,
    kbPerConnection: 11.26,
    refuseMs: [1, 2],
    acceptedBeforeReady: 0,
    authenticated: { clients: 1000, authenticateMs: [0.5, 0.7, 3], eventLatenciesMs: [1, 2, 40], messagesSent: 10, messagesCompleted: 10 },
  },
  hostile: {
    threadMessages: 100,
    messageChars: 8000,
    slowReader: [
      { resumes: 100, baselineMb: 90, peakGrowthMb: 7.84, closed: true },
      { resumes: 10_000, baselineMb: 91, peakGrowthMb: 10.93, closed: true },
    ],
    flood: { sockets: 200, seconds: 3, limitPerMinute: 60, accepted: 60, limited: 20_000 },
    invalidFrames: { sockets: 10, seconds: 10, roundTrips: 100, quietP50Ms: 4.04, attackedP50Ms: 6.5, tally: { connections: 300, framesSent: 30_000, errorsReceived: 3300, closed1008: 300, refused429: 12 } },
    logFlood: { seconds: 10, concurrency: 20, connections: 20_000, lines: 12, linesPerSecond: 1.2, peakLinesPerSecond: 5 },
    gateNames: { seconds: 20, componentSeries: 18, series: 122, metricsBytes: 8880, rssHalfwayMb: 63.04, rssMb: 64.18, checksPerSecond: 21.7 },
  },
  outage: {
    none: outageRun('no fault', { recoveryMs: 5, rssGrowthMb: 40 }),
    postgresBlackhole: outageRun('postgres black hole', { unavailable: 120, recoveryMs: 50, rssGrowthMb: 12 }),
    redisBlackhole: outageRun('redis black hole', { recoveryMs: 9, rssGrowthMb: 45 }),
  },
};

test('latest.json has exactly the documented keys', () => {
  expect(leafPaths(buildJson(results)).sort()).toEqual(LATEST_JSON_KEYS);
  expect(leafPaths(buildJson({})).sort()).toEqual(LATEST_JSON_KEYS);
});

test('figures come from the measurements; CPU is scaled to the 30 s window', () => {
  const json = buildJson(results);
  expect(json.detection.longPoll).toEqual({ p50Ms: 2, p99Ms: 4 });
  expect(json.detection.waitOn.p50Ms).toBe(90);
  expect(json.timeToTraffic).toEqual({
    ours: { p50Ms: 1000, earlyRoutedShare: 0, afterReadyP50Ms: 4, afterReadyP99Ms: 30, ingressOnly: { earlyRoutedShare: 0 } },
    oldConfig: { p50Ms: 45_000 },
    tcpDefault: { earlyRoutedShare: 1 },
  });
  expect(json.footprint.gate).toEqual({ rssMb: 52, cpuSeconds30s: 0.3, listenMs: 40 });
  expect(json.endpoints.startup).toEqual({ rps: 9000, p99Ms: 3 });
  expect(json.endpoints.metrics).toEqual({ rps: 4000, p99Ms: 6, scrapeKb: 20.5, scrapeSamples: 240 });
  expect(json.ws).toEqual({
    clients: 1000,
    eventP50Ms: 2,
    eventP99Ms: 30,
    kbPerConnection: 11.3,
    refuseP99Ms: 2,
    authenticated: { clients: 1000, authenticateP50Ms: 0.7, authenticateP99Ms: 3, eventP99Ms: 40 },
  });
  expect(json.hostile).toEqual({
    slowReaderMaxGrowthMb: 10.9,
    slowReaderNotClosed: 0,
    floodAccepted: 60,
    floodLimitPerMinute: 60,
    invalidFrameQuietP50Ms: 4.04,
    invalidFrameAttackedP50Ms: 6.5,
    logFloodLinesPerSecond: 1.2,
    logFloodPeakLinesPerSecond: 5,
    gateComponentSeries: 18,
    gateRssHalfwayMb: 63,
    gateRssMb: 64.2,
  });
  expect(json.outage).toEqual({
    clients: 50,
    outageSeconds: 60,
    none: { rssGrowthMb: 40 },
    postgresBlackhole: { recoveryMs: 50, rssGrowthMb: 12, lost: 0, silences: 0 },
    redisBlackhole: { recoveryMs: 9, rssGrowthMb: 45, lost: 0, silences: 0 },
  });
});

test('a comparison that did not run leaves nulls', () => {
  expect(buildJson({}).detection.longPoll).toEqual({ p50Ms: null, p99Ms: null });
});

describe('aims', () => {
  test('are read from the JSON, met or not', () => {
    const met = Object.fromEntries(checkAims(buildJson(results)).map((a) => [a.aim, a.met]));
    expect(met).toEqual({
      'long-poll detection p99 under 10 ms': true,
      'long-poll at least 20x faster than wait-on at p50': true,
      'zero early routing for ours under both probe models': true,
      'traffic after ready p99 at most 50 ms for ours': true,
      'gate RSS within 1.3x the bare Node floor': true,
      'gate RSS within 1.15x the bare Node floor': false,
      'gate listens within 2x the bare Node time': true,
      '/startup above 5,000 requests per second': true,
      '1000 WebSocket clients with event p99 under 50 ms': true,
      'a socket that never reads grows the app at most 32 MB and is closed': true,
      'forged X-Forwarded-For: agent runs accepted within the limit': true,
      'black-holed PostgreSQL and Redis: nothing acknowledged lost, every message heard within 8 s': true,
      "chat recovers within 3 s of the dependency's return": true,
      'an outage grows the app at most 32 MB more than the same load without one': true,
      'chat round-trip p50 with 10 invalid-frame sockets within 2x of quiet': true,
      'protocol-error storm: at most 5 log lines a second': true,
      'changing component names: gate series bounded, RSS within 128 MB': true,
    });
  });

  test('fail on figures outside them and are not measured without figures', () => {
    const json: LatestJson = buildJson(results);
    json.detection.longPoll.p99Ms = 10;
    json.footprint.gate.rssMb = 60;
    json.timeToTraffic.ours.ingressOnly.earlyRoutedShare = 0.5;
    json.timeToTraffic.ours.afterReadyP99Ms = 51;
    json.hostile.slowReaderNotClosed = 1;
    json.hostile.floodAccepted = 121;
    json.outage.redisBlackhole.lost = 1;
    json.outage.postgresBlackhole.recoveryMs = 3001;
    json.outage.postgresBlackhole.rssGrowthMb = 73;
    json.hostile.invalidFrameAttackedP50Ms = 9;
    json.hostile.gateComponentSeries = 19;
    const byAim = Object.fromEntries(checkAims(json).map((a) => [a.aim, a]));
    expect(byAim['long-poll detection p99 under 10 ms']!.met).toBe(false);
    expect(byAim['zero early routing for ours under both probe models']).toMatchObject({ value: 'all-containers 0, ingress-only 0.5', met: false });
    expect(byAim['traffic after ready p99 at most 50 ms for ours']!.met).toBe(false);
    expect(byAim['a socket that never reads grows the app at most 32 MB and is closed']).toMatchObject({ value: '+10.9 MB at most, 1 not closed', met: false });
    expect(byAim['forged X-Forwarded-For: agent runs accepted within the limit']).toMatchObject({ value: '121 (limit 60 a minute)', met: false });
    expect(byAim['black-holed PostgreSQL and Redis: nothing acknowledged lost, every message heard within 8 s']).toMatchObject({ value: 'lost 1, silences 0', met: false });
    expect(byAim["chat recovers within 3 s of the dependency's return"]).toMatchObject({ value: 'PostgreSQL 3001 ms, Redis 9 ms', met: false });
    expect(byAim['an outage grows the app at most 32 MB more than the same load without one']).toMatchObject({ value: 'PostgreSQL +73 MB, Redis +45 MB, no fault +40 MB', met: false });
    expect(byAim['chat round-trip p50 with 10 invalid-frame sockets within 2x of quiet']).toMatchObject({ value: '2.2x (9 / 4.04 ms)', met: false });
    expect(byAim['changing component names: gate series bounded, RSS within 128 MB']).toMatchObject({ value: '19 component series, 63 MB halfway, 64.2 MB at the end', met: false });
    expect(byAim['gate RSS within 1.3x the bare Node floor']).toEqual({ aim: 'gate RSS within 1.3x the bare Node floor', value: '1.46x (60 / 41 MB)', met: false });
    expect(checkAims(buildJson({})).every((a) => a.met === null && a.value === 'not measured')).toBe(true);
  });
});

test('formatTable pads the label column left and the figures right', () => {
  expect(formatTable(['', 'a', 'bb'], [['p50', '1', '22'], ['count', '10', '3']])).toBe(
    ['        a  bb', '-----  --  --', 'p50     1  22', 'count  10   3'].join('\n'),
  );
});

test('the report shows both probe models, the configuration before held probes, and the tsc-compiled gate when measured', () => {
  const withBundle: Results = {
    ...results,
    footprint: { ...results.footprint!, subjects: { ...results.footprint!.subjects, gateTsc: { listenMs: [135], rssAfterStartMb: 55, rssAfterWindowMb: 56, cpuSecondsInWindow: 0.1 } } },
  };
  const report = formatReport(withBundle, buildJson(withBundle));
  expect(report).toContain('before held probes');
  expect(report).toMatch(/ingress-only: early routed share\s+0\s+1\s/);
  expect(report).toMatch(/all-containers: after ready p50 \/ p99 ms\s+4 \/ 30\s/);
  expect(report).toContain('gate (tsc)');
  expect(formatReport(results, buildJson(results))).not.toContain('gate (tsc)');
});

test('the hostile-client table shows each attack size side by side, and the flood against its limit', () => {
  const report = formatReport(results, buildJson(results));
  expect(report).toContain('resumes a thread of 100 messages of 8 KB');
  expect(report).toMatch(/100 resumes\s+10,000 resumes/);
  expect(report).toMatch(/peak growth MB\s+7\.8\s+10\.9/);
  expect(report).toContain('60 agent runs accepted (limit 60 a minute), 20000 refused with rate_limited');
  expect(report).toMatch(/quiet \/ with 10 invalid-frame sockets \(10 s, 100 round trips\)\s+4\.04 \/ 6\.5/);
  expect(report).toMatch(/component \/ all series\s+18 \/ 122/);
});

test('the outage table shows the three runs side by side', () => {
  const report = formatReport(results, buildJson(results));
  expect(report).toContain('7. A dependency black-holed after ready: 50 clients chatting, 60 s of outage');
  expect(report).toMatch(/refused with unavailable\s+0\s+120\s+0/);
  expect(report).toMatch(/recovery after return ms\s+5\s+50\s+9/);
  expect(report).toMatch(/RSS growth to peak MB\s+40\s+12\s+45/);
});
