/**
 * Hostile-client attacks against the real app process on loopback, each bounded and
 * self-stopping. The figures they print are quoted in docs/protocol.md.
 */
import { SLOW_READER_CLOSE } from '../app/src/chat/chat-service';
import { DEFAULT_FAULT_LOG_LIMITS } from '../app/src/chat/client-faults';
import { ERROR_BUDGET_CLOSE } from '../app/src/chat/error-budget';
import { readServerConfig } from '../app/src/config';
import { MAX_EXTRA_COMPONENT_SERIES } from '../sidecar/src/bounds';
import { APP_ENV_VARS, APP_PATHS, DEFAULT_REQUIRED_COMPONENTS } from '../common/revision';
import { MAX_HELD_PROBES } from '../common/startup-hold';
import { FrontDoor } from '../runner/src/front-door';
import { closeEvent, openSocket } from '../testkit/chat-client';
import { type GateCost, gateUnderHostileBackend, heldProbeFlood, type Misbehaviour } from '../testkit/hostile-backend';
import {
  buildThread,
  chatRoundTrips,
  forgedHeaderFlood,
  invalidFrameSockets,
  linesPerSecond,
  protocolErrorStorm,
  rssBytes,
  sameSlash64,
  slowReader,
} from '../testkit/hostile-clients';
import { appLauncher } from '../testkit/app-process';

const { launch, stopAll } = appLauncher();
afterEach(stopAll);

const MiB = 2 ** 20;
const report = (name: string, figures: object) => process.stdout.write(`${name}: ${JSON.stringify(figures)}\n`);

it('a socket that stops reading grows the app by a small fixed amount, then is closed once', async () => {
  // The rate limit out of the way: the buffer limit alone must hold.
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: '100000', [APP_ENV_VARS.logLevel]: 'info' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const thread = await buildThread(url, 100, 8000);
  const cut = () => app.logs.filter((line) => line.includes(SLOW_READER_CLOSE.reason));
  const { baselineBytes, peakGrowthBytes } = await slowReader({ url, pid: app.child.pid!, thread, resumes: 1000, windowMs: 15_000, until: () => cut().length > 0 });
  report('slow reader', { baselineMiB: Math.round(baselineBytes / MiB), peakGrowthMiB: Math.round(peakGrowthBytes / MiB) });
  expect(cut()).toHaveLength(1);
  // The chat logger's line names its component once (pino writes a re-bound key twice).
  expect(cut()[0]!.match(/"component":/g)).toHaveLength(1);
  expect(peakGrowthBytes).toBeLessThan(64 * MiB);
}, 120_000);

it('200 sockets forging X-Forwarded-For through the front door share one rate limit', async () => {
  const limit = 60;
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: String(limit), [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const frontDoor = new FrontDoor({ targetPort: app.port, holdTimeoutMs: 1000 });
  frontDoor.open();
  try {
    const url = `ws://127.0.0.1:${await frontDoor.listen()}${APP_PATHS.websocket}`;
    const { accepted, limited } = await forgedHeaderFlood(url, 200, 3000);
    report('forged-header flood', { sockets: 200, seconds: 3, limitPerMinute: limit, accepted, limited });
    // One minute window, possibly two if the run straddles a window boundary.
    expect(accepted).toBeLessThanOrEqual(2 * limit);
    expect(limited).toBeGreaterThan(0);
  } finally {
    await frontDoor.close();
  }
}, 60_000);

it('a flood of made-up resumes from one socket is closed by its error budget, follows nothing, and leaves memory flat', async () => {
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: '60', [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const baseline = rssBytes(app.child.pid!);
  const ws = await openSocket(`ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`);
  const FRAMES = 20_000;
  const codes: Record<string, number> = {};
  ws.on('message', (data) => {
    const { code } = JSON.parse(String(data)) as { code?: string };
    codes[String(code)] = (codes[String(code)] ?? 0) + 1;
  });
  const closed = closeEvent(ws);
  for (let i = 0; i < FRAMES; i += 1) ws.send(JSON.stringify({ type: 'resume', threadId: `guess-${i}` }));
  const { code } = await closed;
  const growthMiB = Math.round((rssBytes(app.child.pid!) - baseline) / MiB);
  report('resume flood', { frames: FRAMES, codes, closeCode: code, growthMiB });
  // APP_WS_MAX_ERRORS (10): the eleventh refusal closes the socket.
  expect({ code, codes }).toEqual({ code: ERROR_BUDGET_CLOSE.code, codes: { forbidden: 11 } });
  expect(growthMiB).toBeLessThan(64);
}, 60_000);

it('idle sockets past APP_MAX_CONNECTIONS are refused with 503 while /healthz and /phase keep answering', async () => {
  const app = await launch({ [APP_ENV_VARS.maxConnections]: '200', [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const results = await Promise.allSettled(Array.from({ length: 300 }, () => openSocket(url)));
  const opened = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const refused = results.filter((result) => result.status === 'rejected' && String(result.reason).includes('503')).length;
  report('idle-socket flood', { attempted: 300, opened: opened.length, refused });
  expect(opened).toHaveLength(200);
  expect(refused).toBe(100);
  expect((await fetch(`http://127.0.0.1:${app.port}${APP_PATHS.healthz}`)).status).toBe(200);
  expect((await app.phase()).status).toBe(200);
  expect(app.logs.filter((line) => line.includes(`${APP_ENV_VARS.maxConnections} reached`))).toHaveLength(1);
  for (const ws of opened) ws.terminate();
}, 60_000);

it('ten sockets of over-long invalid frames are each closed by their error budget, reconnects count against the upgrade limit, and a user keeps chatting', async () => {
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: '100000', [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const attack = invalidFrameSockets({ url, sockets: 10, durationMs: 5000, headers: { 'x-forwarded-for': '203.0.113.66' } });
  const roundTrips = await chatRoundTrips(url, 20, { 'x-forwarded-for': '198.51.100.7' });
  const tally = await attack;
  report('invalid-frame sockets', { ...tally, roundTripP50Ms: roundTrips.sort((a, b) => a - b)[10] });
  expect(roundTrips).toHaveLength(20);
  // Each socket got at most its budget of answers (10) and was closed with 1008; a few more frames may be in flight.
  expect(tally.closed1008).toBeGreaterThan(0);
  expect(tally.errorsReceived).toBeLessThanOrEqual(tally.connections * 11);
  // Reconnects count against the upgrade limit: the default burst, then the default rate, over the 5 s run and a second's slack.
  const { wsUpgradeBurst, wsUpgradesPerSecond } = readServerConfig({});
  expect(tally.connections).toBeLessThanOrEqual(wsUpgradeBurst + wsUpgradesPerSecond * 6);
}, 60_000);

it('a connection storm of protocol errors from many addresses writes no more than the fixed lines a second, without stacks', async () => {
  const app = await launch({ [APP_ENV_VARS.logLevel]: 'info' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const from = Date.now();
  // A spread of addresses, so the upgrade limit does not hold it back: the log bound alone must.
  const storm = await protocolErrorStorm({ url, concurrency: 20, durationMs: 4000, addressOf: (n) => `10.9.${(n >> 8) & 255}.${n & 255}` });
  const to = Date.now();
  const lines = app.logs.filter((line) => line.includes('"cause"'));
  const rate = linesPerSecond(lines, from, to + 1);
  report('protocol-error storm', { ...storm, logLines: rate.total, peakLinesPerSecond: rate.peak });
  expect(storm.connections).toBeGreaterThan(100);
  expect(rate.peak).toBeLessThanOrEqual(DEFAULT_FAULT_LOG_LIMITS.maxLinesPerSecond);
  expect(lines.filter((line) => line.includes('"cause":"invalid_utf8"'))).toHaveLength(1);
  expect(app.logs.filter((line) => line.includes('    at '))).toEqual([]);
}, 60_000);

it('a connection storm from one address gets 429 past its burst', async () => {
  const app = await launch({ [APP_ENV_VARS.logLevel]: 'warn', [APP_ENV_VARS.wsUpgradeBurst]: '50', [APP_ENV_VARS.wsUpgradesPerSecond]: '10' });
  await app.waitForState('ready');
  const storm = await protocolErrorStorm({ url: `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`, concurrency: 10, durationMs: 3000, addressOf: () => '203.0.113.9' });
  report('one-address storm', storm);
  // 50 at once, then 10 a second for about 3 s.
  expect(storm.connections).toBeLessThanOrEqual(50 + 10 * 4);
  expect(storm.refused).toBeGreaterThan(storm.connections);
  expect((await fetch(`http://127.0.0.1:${app.port}${APP_PATHS.healthz}`)).status).toBe(200);
}, 60_000);

it('twenty addresses of one IPv6 /64 share one rate limit', async () => {
  const limit = 60;
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: String(limit), [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  // As Cloud Run's front end reports them (APP_TRUST_PROXY_HOPS=1): this machine has only ::1 on loopback.
  const { accepted, limited } = await forgedHeaderFlood(`ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`, 20, 3000, sameSlash64);
  report('IPv6 /64 spread', { addresses: 20, seconds: 3, limitPerMinute: limit, accepted, limited });
  expect(accepted).toBeLessThanOrEqual(2 * limit);
  expect(limited).toBeGreaterThan(0);
}, 60_000);

describe('a backend that misbehaves towards the real gate, for 5 s', () => {
  const MAX_SERIES = DEFAULT_REQUIRED_COMPONENTS.length + MAX_EXTRA_COMPONENT_SERIES;
  // The seq storm: GATE_MIN_CHECK_INTERVAL_MS (50) allows 20 checks a second after a burst of 10.
  const cases: { misbehaviour: Misbehaviour; what: string; holds: (cost: GateCost) => boolean }[] = [
    { misbehaviour: 'changing-names', what: 'series bounded, vanished names unlabelled', holds: (c) => c.componentSeries === MAX_SERIES && c.metricsBytes < 64 * 1024 && c.rssMb < 128 },
    { misbehaviour: 'seq-storm', what: 'checks paced', holds: (c) => c.checksPerSecond <= 25 && c.logLinesPerSecond < 5 },
    { misbehaviour: 'flapping', what: 'one WARNING, and few lines', holds: (c) => c.flappingWarnings === 1 && c.logLinesPerSecond < 10 },
  ];

  it.each(cases)('$misbehaviour: $what', async ({ misbehaviour, holds }) => {
    const cost = await gateUnderHostileBackend(misbehaviour, 5000);
    report(`gate, ${misbehaviour}`, cost);
    expect({ cost, holds: holds(cost) }).toEqual({ cost, holds: true });
  }, 60_000);
});

it('5,000 held /startup probes: the gate holds a fixed number, answers or drops the rest at once, and stays small', async () => {
  const flood = await heldProbeFlood(5000);
  report('held probes', flood);
  expect(flood.held).toBeLessThanOrEqual(MAX_HELD_PROBES);
  // Past the held cap 503 at once; past the gate's connection cap the connection is dropped.
  expect(flood.answeredAtOnce + flood.dropped).toBeGreaterThanOrEqual(5000 - MAX_HELD_PROBES);
  expect(flood.answeredAtOnce).toBeGreaterThan(0);
  expect(flood.baselineMb + flood.peakGrowthMb).toBeLessThan(96);
}, 120_000);
