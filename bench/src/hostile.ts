/**
 * Comparison 6: what a hostile client can make one instance hold, against the real app.
 * A socket that never reads asks for a large thread's history ever more times: if the buffer
 * limit works, the app grows by the same small amount whatever the number of asks. Then sockets
 * that each forge their own X-Forwarded-For through the front door (which appends the address it
 * saw, as Cloud Run's does): the agent runs the app accepts, against its per-client limit.
 * Then what abuse costs in CPU, logs and metrics: chat round trips with sockets of invalid frames
 * running, log lines under a storm of protocol errors, and the gate's series and memory under a
 * backend that renames its components on every answer.
 */
import path from 'node:path';
import { SLOW_READER_CLOSE } from '../../app/src/chat/chat-service';
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { FrontDoor } from '../../runner/src/front-door';
import { gateUnderHostileBackend } from '../../testkit/hostile-backend';
import { buildThread, chatRoundTrips, forgedHeaderFlood, type InvalidFrameTally, protocolErrorStorm, slowReader } from '../../testkit/hostile-clients';
import { sleep, startNode } from './processes';
import { percentile } from '../../common/percentile';
import { type BenchApp, observeStartup, startApp } from './app-process';

export interface HostilePlan {
  /** The attack sizes, each against a fresh app: resume frames sent by the socket that never reads. */
  resumes: readonly number[];
  /** The thread it resumes: this many user messages of `messageChars` characters. */
  threadMessages: number;
  messageChars: number;
  floodSockets: number;
  floodMs: number;
  /** Round trips timed quiet, then again with `invalidFrameSockets` attacking. */
  roundTrips: number;
  invalidFrameSockets: number;
  /** At least this long under the invalid-frame attack, timing round trips all along. */
  invalidFrameMs: number;
  logFloodMs: number;
  gateNamesMs: number;
}

export interface SlowReaderRun {
  resumes: number;
  baselineMb: number;
  peakGrowthMb: number;
  /** The app closed the socket with 1008 and logged it. */
  closed: boolean;
}

export interface HostileResult {
  /** The thread the socket that never reads resumes, as planned. */
  threadMessages: number;
  messageChars: number;
  slowReader: SlowReaderRun[];
  flood: { sockets: number; seconds: number; limitPerMinute: number; accepted: number; limited: number };
  invalidFrames: { sockets: number; seconds: number; roundTrips: number; quietP50Ms: number; attackedP50Ms: number; tally: InvalidFrameTally };
  logFlood: { seconds: number; concurrency: number; connections: number; lines: number; linesPerSecond: number; peakLinesPerSecond: number };
  gateNames: { seconds: number; componentSeries: number; series: number; metricsBytes: number; rssHalfwayMb: number; rssMb: number; checksPerSecond: number };
}

const MiB = 2 ** 20;
/** The limit the flood runs against: low, so a working limit and a spoofed one differ by orders of magnitude. */
const FLOOD_LIMIT_PER_MINUTE = 60;
/** Long enough for the buffer limit to act and the RSS to settle; the run ends sooner once the app closes the socket. */
const SLOW_READER_WINDOW_MS = 15_000;

/** The invalid-frame attackers' own process (invalid-frame-attack.ts, compiled next to this file). */
const INVALID_FRAME_ATTACK = path.resolve(__dirname, 'invalid-frame-attack.js');

const wsUrl = (port: number) => `ws://127.0.0.1:${port}${APP_PATHS.websocket}`;

async function withApp<T>(env: Record<string, string>, run: (app: BenchApp) => Promise<T>): Promise<T> {
  const app = await startApp(env);
  try {
    await observeStartup(app);
    return await run(app);
  } finally {
    await app.proc.stop();
  }
}

export async function runHostile(plan: HostilePlan): Promise<HostileResult> {
  const slowReaderRuns: SlowReaderRun[] = [];
  for (const resumes of plan.resumes) {
    // The rate limit out of the way: the buffer limit alone must hold.
    const run = await withApp({ [APP_ENV_VARS.rateLimitPerMinute]: '1000000' }, async (app) => {
      const thread = await buildThread(wsUrl(app.port), plan.threadMessages, plan.messageChars);
      const closed = () => app.proc.output().includes(SLOW_READER_CLOSE.reason);
      const { baselineBytes, peakGrowthBytes } = await slowReader({ url: wsUrl(app.port), pid: app.proc.pid, thread, resumes, windowMs: SLOW_READER_WINDOW_MS, until: closed });
      return { resumes, baselineMb: baselineBytes / MiB, peakGrowthMb: peakGrowthBytes / MiB, closed: closed() };
    });
    slowReaderRuns.push(run);
  }
  const flood = await withApp({ [APP_ENV_VARS.rateLimitPerMinute]: String(FLOOD_LIMIT_PER_MINUTE) }, async (app) => {
    const frontDoor = new FrontDoor({ targetPort: app.port, holdTimeoutMs: 1000 });
    frontDoor.open();
    try {
      const { accepted, limited } = await forgedHeaderFlood(wsUrl(await frontDoor.listen()), plan.floodSockets, plan.floodMs);
      return { sockets: plan.floodSockets, seconds: plan.floodMs / 1000, limitPerMinute: FLOOD_LIMIT_PER_MINUTE, accepted, limited };
    } finally {
      await frontDoor.close();
    }
  });
  const invalidFrames = await withApp({ [APP_ENV_VARS.rateLimitPerMinute]: '1000000' }, async (app) => {
    const url = wsUrl(app.port);
    const user = { 'x-forwarded-for': '198.51.100.7' };
    // Both timed the same way and as long, so the JIT has warmed up alike.
    const quiet = await chatRoundTrips(url, plan.roundTrips, user, plan.invalidFrameMs);
    const attackers = startNode(INVALID_FRAME_ATTACK, { ATTACK: JSON.stringify({ url, sockets: plan.invalidFrameSockets, address: '203.0.113.66' }) });
    const exited = new Promise((resolve) => attackers.child.once('exit', resolve));
    // Let the attack reach its pace before timing.
    await sleep(1000);
    const attacked = await chatRoundTrips(url, plan.roundTrips, user, plan.invalidFrameMs);
    attackers.child.kill('SIGTERM');
    await exited;
    const tally = JSON.parse(attackers.output().trim().split('\n').pop() ?? '{}') as InvalidFrameTally;
    return { sockets: plan.invalidFrameSockets, seconds: plan.invalidFrameMs / 1000, roundTrips: attacked.length, quietP50Ms: percentile(quiet, 50), attackedP50Ms: percentile(attacked, 50), tally };
  });
  const logFlood = await withApp({}, async (app) => {
    const concurrency = 20;
    const before = app.proc.lines();
    let last = before;
    let peak = 0;
    const sampler = setInterval(() => {
      const now = app.proc.lines();
      peak = Math.max(peak, now - last);
      last = now;
    }, 1000);
    const started = performance.now();
    // A spread of addresses (a botnet, as the front end would report it): the upgrade limit does not hold it back, the log bound must.
    const storm = await protocolErrorStorm({ url: wsUrl(app.port), concurrency, durationMs: plan.logFloodMs, addressOf: (n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` });
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const lines = app.proc.lines() - before;
    return { seconds, concurrency, connections: storm.connections, lines, linesPerSecond: lines / seconds, peakLinesPerSecond: peak };
  });
  const { seconds, componentSeries, series, metricsBytes, rssHalfwayMb, rssMb, checksPerSecond } = await gateUnderHostileBackend('changing-names', plan.gateNamesMs);
  const gateNames = { seconds, componentSeries, series, metricsBytes, rssHalfwayMb, rssMb, checksPerSecond };
  return { threadMessages: plan.threadMessages, messageChars: plan.messageChars, slowReader: slowReaderRuns, flood, invalidFrames, logFlood, gateNames };
}
