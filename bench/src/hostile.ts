/**
 * Comparison 6: what a hostile client can make one instance hold, against the real app.
 * A socket that never reads asks for a large thread's history ever more times: if the buffer
 * limit works, the app grows by the same small amount whatever the number of asks. Then sockets
 * that each forge their own X-Forwarded-For through the front door (which appends the address it
 * saw, as Cloud Run's does): the agent runs the app accepts, against its per-client limit.
 */
import { SLOW_READER_CLOSE } from '../../app/src/chat/chat-service';
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { FrontDoor } from '../../runner/src/front-door';
import { buildThread, forgedHeaderFlood, slowReader } from '../../testkit/hostile-clients';
import { type BenchApp, observeStartup, startApp } from './app-process';

export interface HostilePlan {
  /** The attack sizes, each against a fresh app: resume frames sent by the socket that never reads. */
  resumes: readonly number[];
  /** The thread it resumes: this many user messages of `messageChars` characters. */
  threadMessages: number;
  messageChars: number;
  floodSockets: number;
  floodMs: number;
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
}

const MiB = 2 ** 20;
/** The limit the flood runs against: low, so a working limit and a spoofed one differ by orders of magnitude. */
const FLOOD_LIMIT_PER_MINUTE = 60;
/** Long enough for the buffer limit to act and the RSS to settle; the run ends sooner once the app closes the socket. */
const SLOW_READER_WINDOW_MS = 15_000;

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
  return { threadMessages: plan.threadMessages, messageChars: plan.messageChars, slowReader: slowReaderRuns, flood };
}
