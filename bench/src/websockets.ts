/**
 * Comparison 5: the app's chat at Cloud Run's per-instance maximum concurrency. Every client holds
 * a WebSocket and sends messages; the figures are the latency of each agent event from the send,
 * the memory each idle connection adds, and how fast an upgrade is refused before ready.
 */
import { WebSocket } from 'ws';
import { AGENT_EVENT_TYPES, type ServerMessage } from '../../common/chat-protocol';
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { type BenchApp, observeStartup, startApp } from './app-process';
import { rssMb, sleep, waitListening } from './processes';

/** Cloud Run's maximum concurrency per instance. */
export const CLOUD_RUN_MAX_CONCURRENCY = 1000;

export interface WebSocketPlan {
  clients: number;
  messagesPerClient: number;
  /** Each client sends one message per interval, its first at a random point of the first one. */
  messageIntervalMs: number;
  refusals: number;
}

export interface WebSocketResult {
  clients: number;
  /** Latency of every agent event, ms from the send of its message. */
  eventLatenciesMs: number[];
  messagesSent: number;
  /** Messages that got all five agent events and a reply within the timeout. */
  messagesCompleted: number;
  kbPerConnection: number;
  refuseMs: number[];
  /** Upgrades accepted before ready: the app's contract says there are none. */
  acceptedBeforeReady: number;
}

/** Connections opened at once: below the listen backlog, so a burst of SYNs is not dropped. */
const CONNECT_BATCH = 100;
/**
 * Refusals are measured ten at a time: the figure is what one refused client waits, not how long
 * the bench takes to open a burst of sockets.
 */
const REFUSAL_CONCURRENCY = 10;
/** A message without its reply after this long counts as not completed. */
const REPLY_TIMEOUT_MS = 10_000;

export async function runWebSockets(plan: WebSocketPlan): Promise<WebSocketResult> {
  const { refuseMs, acceptedBeforeReady } = await measureRefusals(plan.refusals);
  // Cloud Run's largest concurrency, above the app's default cap: the bench measures that many.
  const app = await startApp({ [APP_ENV_VARS.maxConnections]: String(plan.clients) });
  const sockets: WebSocket[] = [];
  try {
    await observeStartup(app);
    await sleep(500);
    const rssIdle = rssMb(app.proc.pid);
    for (let first = 0; first < plan.clients; first += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, plan.clients - first) }, (_, i) => connect(app, first + i));
      sockets.push(...(await Promise.all(batch)));
    }
    await sleep(1000);
    const kbPerConnection = ((rssMb(app.proc.pid) - rssIdle) * 1024) / plan.clients;
    const eventLatenciesMs: number[] = [];
    const completed = await Promise.all(sockets.map((ws, i) => converse(ws, i, plan, (ms) => eventLatenciesMs.push(ms))));
    return {
      clients: sockets.length,
      eventLatenciesMs,
      messagesSent: plan.clients * plan.messagesPerClient,
      messagesCompleted: completed.reduce((sum, n) => sum + n, 0),
      kbPerConnection,
      refuseMs,
      acceptedBeforeReady,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await app.proc.stop();
  }
}

function wsUrl(app: BenchApp): string {
  return `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
}

/**
 * Each client comes from its own address as Cloud Run's front end reports it, so the app's
 * per-client rate limit sees a thousand users, not one.
 */
function connect(app: BenchApp, index: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(app), { headers: { 'x-forwarded-for': `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}` } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`client ${index}: upgrade refused with HTTP ${res.statusCode}`)));
  });
}

/** Sends the plan's messages one interval apart; resolves with how many completed. */
async function converse(ws: WebSocket, index: number, plan: WebSocketPlan, onEvent: (latencyMs: number) => void): Promise<number> {
  let completed = 0;
  await sleep(Math.random() * plan.messageIntervalMs);
  for (let n = 0; n < plan.messagesPerClient; n += 1) {
    const sentAt = performance.now();
    if (await exchange(ws, `client ${index} message ${n}`, sentAt, onEvent)) completed += 1;
    await sleep(Math.max(0, sentAt + plan.messageIntervalMs - performance.now()));
  }
  return completed;
}

/** One message: true once all five agent events and the reply arrived in time. */
function exchange(ws: WebSocket, text: string, sentAt: number, onEvent: (latencyMs: number) => void): Promise<boolean> {
  return new Promise((resolve) => {
    let events = 0;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(ok);
    };
    const onMessage = (data: Buffer) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      if ((AGENT_EVENT_TYPES as readonly string[]).includes(message.type)) {
        events += 1;
        onEvent(performance.now() - sentAt);
      } else if (message.type === 'agent_response') {
        done(events === AGENT_EVENT_TYPES.length);
      } else {
        done(false);
      }
    };
    const timer = setTimeout(() => done(false), REPLY_TIMEOUT_MS);
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ type: 'user_message', text }));
  });
}

/** Upgrades against an app held in its finalize phase. */
async function measureRefusals(count: number): Promise<{ refuseMs: number[]; acceptedBeforeReady: number }> {
  const app = await startApp({ [APP_ENV_VARS.phaseDelayMs]: 'finalize=600000' });
  try {
    await waitListening(app.port, app.proc);
    const outcomes: (number | 'accepted')[] = [];
    for (let first = 0; first < count; first += REFUSAL_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(REFUSAL_CONCURRENCY, count - first) }, () => refusal(app));
      outcomes.push(...(await Promise.all(batch)));
    }
    return {
      refuseMs: outcomes.filter((o): o is number => o !== 'accepted'),
      acceptedBeforeReady: outcomes.filter((o) => o === 'accepted').length,
    };
  } finally {
    await app.proc.stop();
  }
}

/** Ms from the upgrade request to the end of the 503 answer, or 'accepted' if the app let it in. */
function refusal(app: BenchApp): Promise<number | 'accepted'> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const ws = new WebSocket(wsUrl(app));
    ws.once('open', () => {
      ws.terminate();
      resolve('accepted');
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      res.once('end', () => resolve(performance.now() - startedAt));
    });
    ws.once('error', reject);
  });
}
