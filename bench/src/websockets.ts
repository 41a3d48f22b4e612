/**
 * Comparison 5: the app's chat at Cloud Run's per-instance maximum concurrency. Every client holds
 * a WebSocket and sends messages; the figures are the latency of each agent event from the send,
 * the memory each idle connection adds, and how fast an upgrade is refused before ready. Then the
 * same with sign-in on (an OpenID issuer on loopback, one subject per client): what `authenticate`
 * costs, from the frame to `authenticated`, and the agent events of signed-in clients.
 */
import { WebSocket } from 'ws';
import { AGENT_EVENT_TYPES, type ServerMessage } from '../../common/chat-protocol';
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { type BenchApp, observeStartup, startApp } from './app-process';
import { rssMb, sleep, waitListening } from './processes';
import { EmbeddedIssuer } from '../../runner/src/embedded-issuer';

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
  /** The same clients with sign-in on. */
  authenticated: AuthenticatedResult;
}

export interface AuthenticatedResult {
  clients: number;
  /** Ms from each `authenticate` frame to its `authenticated` answer. */
  authenticateMs: number[];
  eventLatenciesMs: number[];
  messagesSent: number;
  messagesCompleted: number;
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
    for (const ws of sockets.splice(0)) ws.terminate();
    await app.proc.stop();
    return {
      clients: plan.clients,
      eventLatenciesMs,
      messagesSent: plan.clients * plan.messagesPerClient,
      messagesCompleted: completed.reduce((sum, n) => sum + n, 0),
      kbPerConnection,
      refuseMs,
      acceptedBeforeReady,
      authenticated: await runAuthenticated(plan),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await app.proc.stop();
  }
}

/** The clients again, each signing in as its own person first; the per-person limits out of the way. */
async function runAuthenticated(plan: WebSocketPlan): Promise<AuthenticatedResult> {
  const issuer = await EmbeddedIssuer.start({ audience: 'bench' });
  const app = await startApp({
    [APP_ENV_VARS.maxConnections]: String(plan.clients),
    [APP_ENV_VARS.authIssuer]: issuer.url,
    [APP_ENV_VARS.authAudience]: 'bench',
    [APP_ENV_VARS.userMessagesPerMinute]: '1000',
  });
  const sockets: WebSocket[] = [];
  try {
    await observeStartup(app);
    const tokens = await Promise.all(Array.from({ length: plan.clients }, (_, i) => issuer.sign({ sub: `bench-user-${i}` })));
    for (let first = 0; first < plan.clients; first += CONNECT_BATCH) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH, plan.clients - first) }, (_, i) => connect(app, first + i));
      sockets.push(...(await Promise.all(batch)));
    }
    // Ten at a time, as refusals are: the figure is what one sign-in costs, not a burst's queue.
    const authenticateMs: number[] = [];
    for (let first = 0; first < sockets.length; first += REFUSAL_CONCURRENCY) {
      const batch = sockets.slice(first, first + REFUSAL_CONCURRENCY).map((ws, i) => authenticate(ws, tokens[first + i]!));
      authenticateMs.push(...(await Promise.all(batch)));
    }
    const eventLatenciesMs: number[] = [];
    const completed = await Promise.all(sockets.map((ws, i) => converse(ws, i, plan, (ms) => eventLatenciesMs.push(ms))));
    return {
      clients: sockets.length,
      authenticateMs,
      eventLatenciesMs,
      messagesSent: plan.clients * plan.messagesPerClient,
      messagesCompleted: completed.reduce((sum, n) => sum + n, 0),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await app.proc.stop();
    await issuer.stop();
  }
}

/** Ms from the authenticate frame to `authenticated`; throws on anything else. */
function authenticate(ws: WebSocket, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    ws.once('message', (data: Buffer) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      if (message.type === 'authenticated') resolve(performance.now() - sentAt);
      else reject(new Error(`authenticate answered ${JSON.stringify(message)}`));
    });
    ws.send(JSON.stringify({ type: 'authenticate', token }));
  });
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
