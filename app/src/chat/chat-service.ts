/**
 * Chat over WebSocket once the app is ready: one client sink per socket, frames parsed and
 * validated, per-client rate limit, one agent run per user message, the thread's history on
 * resume (a client that reconnected, perhaps to another instance), heartbeat pings.
 *
 * What one socket can make the app hold is bounded: frames are read one at a time (the socket is
 * paused while one is admitted), at most `maxRunsPerSocket` agent runs are in flight (beyond it
 * `busy`, socket-runs.ts), sends stop once `maxBufferedBytes` wait for a client that does not
 * read, a socket follows at most `maxThreadsPerSocket` threads, and a history answer is one page
 * capped in count and bytes (older pages on request, each a rate-limited resume).
 *
 * With sign-in on, a socket signs in first (auth/socket-auth.ts), a thread belongs to the person
 * who started it and every other person is refused with `forbidden` (thread-access.ts), and a
 * person's messages count against their own limits (user-limits.ts) after the socket's `busy` cap.
 * Without sign-in (development) a thread belongs to whoever holds its token: the server mints
 * every thread id and sends the token on the thread's first agent_started to the socket that
 * started it; a resume, or a message to an existing thread, without the matching token is refused
 * with `forbidden`.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from '../../../common/log';
import type { Components } from '../startup/components';
import type { ServerConfig } from '../config';
import { retryAfterOf } from '../dependencies/unavailable';
import { type ErrorMessage, historyPage, parseClientFrame, type Resume, RESUME_HISTORY_LIMIT, RESUME_HISTORY_MAX_BYTES, type ServerMessage } from '../../../common/chat-protocol';
import { describeError } from '../errors';
import { type UpgradeVerdict, verifyUpgrade } from '../auth/bearer';
import { SocketAuth } from '../auth/socket-auth';
import type { Identity } from '../auth/token-verifier';
import { ownerOf, ThreadAccess } from './thread-access';
import { type Admission, UserLimits, type UserLimitSettings } from './user-limits';
import { type ClientFaultLog, protocolFault } from './client-faults';
import { ERROR_BUDGET_CLOSE, ErrorBudget, type ErrorBudgetLimits } from './error-budget';
import { ThreadTokens } from './thread-tokens';
import { busy, RunEndings, RunSlots, runStatus } from './socket-runs';
import type { RunRequest } from '../agents/agent-supervisor';

const RATE_WINDOW_MS = 60_000;

export const RECONNECT_CLOSE = {
  code: 1012,
  reason: 'server restarting: reconnect and resend any message that has no agent_response',
} as const;

/** 1008 (policy violation): the client let too much pile up unread. */
export const SLOW_READER_CLOSE = { code: 1008, reason: 'client is not reading: too many bytes waiting to be sent' } as const;

export interface ChatOptions {
  components: Pick<Components, 'settings' | 'authentication' | 'websocketManager' | 'agentSupervisor' | 'cacheClient' | 'executionTracker' | 'sessionFactory' | 'threadRelay'>;
  rateLimitPerMinute: number;
  maxBufferedBytes: number;
  maxThreadsPerSocket: number;
  maxRunsPerSocket: number;
  pingIntervalMs: number;
  userLimits: UserLimitSettings;
  /** Invalid or refused frames a socket may send in a window before it is closed with 1008. */
  errorBudget: ErrorBudgetLimits;
  log: Logger;
  /** Where faults a client causes are logged, bounded (shared with the public listener). */
  faults: ClientFaultLog;
  now?: () => number;
}

/** How long a socket closed for its error budget keeps its connection, unread, so the close frame can reach the client. */
const BUDGET_CLOSE_GRACE_MS = 1000;

/** Answers that say the client sent something wrong or too much: each spends one of its socket's error budget. */
const CLIENT_ERRORS: ReadonlySet<ErrorMessage['code']> = new Set(['invalid_json', 'invalid_message', 'unknown_type', 'rate_limited', 'forbidden', 'too_many_threads', 'busy', 'quota_exceeded']);

/** The chat service's options from the app's settings, over the components startup built. */
export function chatOptions(config: ServerConfig, components: ChatOptions['components'], log: Logger, faults: ClientFaultLog): ChatOptions {
  return {
    components,
    rateLimitPerMinute: config.rateLimitPerMinute,
    maxBufferedBytes: config.wsMaxBufferedBytes,
    maxThreadsPerSocket: config.wsMaxThreadsPerSocket,
    maxRunsPerSocket: config.wsMaxRunsPerSocket,
    pingIntervalMs: config.wsPingIntervalMs,
    userLimits: { messagesPerMinute: config.userMessagesPerMinute, maxConcurrentRuns: config.userMaxConcurrentRuns, dailyLlmTokens: config.userDailyLlmTokens },
    errorBudget: { maxErrors: config.wsMaxErrors, windowMs: config.wsErrorWindowMs },
    log,
    faults,
  };
}

export class ChatService {
  private readonly alive = new Map<WebSocket, boolean>();
  private readonly heartbeat: NodeJS.Timeout;
  private stopping = false;
  private readonly tokens: ThreadTokens;
  private readonly access: ThreadAccess;
  private readonly limits: UserLimits;

  constructor(private readonly options: ChatOptions) {
    this.tokens = new ThreadTokens(options.components.settings.threadTokenKey);
    this.access = new ThreadAccess(this.tokens, options.components.sessionFactory);
    this.limits = new UserLimits(options.components.cacheClient, options.userLimits, options.now, (error) =>
      options.log.warn({}, `per-person counter not updated: ${describeError(error)}`),
    );
    this.heartbeat = setInterval(() => this.ping(), options.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Verifies an upgrade's `Authorization: Bearer`, counted against `client`'s sign-ins. */
  authenticateUpgrade(client: string, authorization: string | undefined): Promise<UpgradeVerdict> {
    return verifyUpgrade(this.options.components.authentication, authorization, () => this.rateLimit(client, 'authenticate'));
  }

  get connections(): number {
    return this.alive.size;
  }

  /** `client` is the key the rate limit counts under (client-key.ts, from public-server.ts); `identity` a verified `Authorization: Bearer`. */
  accept(ws: WebSocket, client: string, identity?: Identity): void {
    const { websocketManager } = this.options.components;
    const id = randomUUID();
    // Threads this socket started whose token it has not been sent yet. A run that fails before
    // agent_started drops it: nothing was stored, and the client starts a new thread.
    const unsentTokens = new Map<string, string>();
    const takeToken = (threadId: string | undefined) => {
      if (threadId === undefined) return undefined;
      const token = unsentTokens.get(threadId);
      unsentTokens.delete(threadId);
      return token;
    };
    const endings = new RunEndings();
    const send = (message: ServerMessage) => {
      if (ws.readyState !== WebSocket.OPEN || !endings.admit(message)) return;
      const token = takeToken('threadId' in message ? message.threadId : undefined);
      const frame = JSON.stringify(token === undefined || message.type !== 'agent_started' ? message : { ...message, threadToken: token });
      if (ws.bufferedAmount + Buffer.byteLength(frame) <= this.options.maxBufferedBytes) return ws.send(frame);
      // Logged once: the socket is CLOSING from here on, so no later send reaches this line.
      this.options.log.warn({ connectionId: id, bufferedBytes: ws.bufferedAmount, limitBytes: this.options.maxBufferedBytes }, SLOW_READER_CLOSE.reason);
      ws.close(SLOW_READER_CLOSE.code, SLOW_READER_CLOSE.reason);
    };
    websocketManager.add({ id, send, close: (code, reason) => ws.close(code, reason) });
    // False once the error budget closed the socket: from then on nothing more is read from it.
    let reading = true;
    const answer = this.budgeted(ws, id, send, () => (reading = false));
    const auth = new SocketAuth({
      authentication: this.options.components.authentication,
      send,
      close: (code, reason) => ws.close(code, reason),
      // A count of its own: signing in does not eat into the messages an address may send.
      rateLimit: () => this.rateLimit(client, 'authenticate'),
      log: this.options.log.child({ connectionId: id }),
    });
    auth.start(identity);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    // One frame at a time, and no reading while frames wait: a client that floods frames waits in
    // its own TCP buffers, not in ours (a chunk already read may still hold a few frames).
    let queued = 0;
    let frames = Promise.resolve();
    const runs = new RunSlots(this.options.maxRunsPerSocket);
    ws.on('message', (data, isBinary) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      queued += 1;
      ws.pause();
      frames = frames
        // A frame read before the socket was closed (over its budget, say) is not worth parsing.
        .then(() => (ws.readyState === WebSocket.OPEN ? this.onFrame({ id, client, send: answer, unsentTokens, runs, auth }, data, isBinary) : undefined))
        .catch((error: unknown) => this.options.log.warn({ connectionId: id }, `frame failed: ${describeError(error)}`))
        .finally(() => {
          queued -= 1;
          // Resumed while closing too (a 4401, a slow reader): the client's close frame must be read
          // for the close handshake to end; only a socket over its error budget stays deaf.
          if (queued === 0 && reading) ws.resume();
        });
    });
    // A protocol error (bad UTF-8, an oversized message) is the client's: ws closes the socket, and
    // the line is bounded per cause, without a stack.
    ws.on('error', (error: Error & { code?: string }) => this.options.faults.report(protocolFault(error), { connectionId: id, code: error.code ?? null }));
    ws.on('close', (code) => {
      auth.dispose();
      for (const threadId of websocketManager.remove(id)) this.options.components.threadRelay.unwatch(threadId);
      this.alive.delete(ws);
      this.options.log.debug({ connectionId: id, code }, 'websocket closed');
    });
  }

  /** `send` that spends the socket's error budget on every client error, and closes it with 1008 once spent. */
  private budgeted(ws: WebSocket, id: string, send: (message: ServerMessage) => void, stopReading: () => void): (message: ServerMessage) => void {
    const budget = new ErrorBudget(this.options.errorBudget);
    const now = this.options.now ?? Date.now;
    return (message) => {
      send(message);
      if (message.type !== 'error' || !CLIENT_ERRORS.has(message.code) || ws.readyState !== WebSocket.OPEN) return;
      if (!budget.spend(now())) return;
      this.options.faults.report('error_budget', { connectionId: id, lastCode: message.code });
      ws.close(ERROR_BUDGET_CLOSE.code, ERROR_BUDGET_CLOSE.reason);
      // Read nothing more: a client that floods would otherwise make the app unmask and check every
      // byte it still sends until its close frame arrives (megabytes on loopback). The close frame
      // goes out; the connection ends after a short grace without waiting for the client's.
      stopReading();
      ws.pause();
      setTimeout(() => ws.terminate(), BUDGET_CLOSE_GRACE_MS).unref();
    };
  }

  /**
   * Refuses new messages, waits for runs in flight up to `deadlineMs`, then closes every socket
   * with a reason that tells the client to reconnect, allowing `closeWaitMs` for the handshakes.
   */
  async stop(deadlineMs: number, closeWaitMs: number): Promise<{ drained: boolean; closed: number }> {
    this.stopping = true;
    clearInterval(this.heartbeat);
    const drained = await this.options.components.executionTracker.drain(deadlineMs);
    await this.options.components.agentSupervisor.stopLeases();
    const closed = this.alive.size;
    this.options.components.websocketManager.closeAll(RECONNECT_CLOSE.code, RECONNECT_CLOSE.reason);
    await this.allClosed(closeWaitMs);
    for (const ws of this.alive.keys()) ws.terminate();
    return { drained, closed };
  }

  private allClosed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const started = Date.now();
      const check = () => {
        if (this.alive.size === 0 || Date.now() - started >= timeoutMs) return resolve();
        setTimeout(check, 10);
      };
      check();
    });
  }

  private async onFrame(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    const { id, client, send } = connection;
    const parsed = isBinary ? undefined : parseClientFrame(rawToString(data));
    if (await connection.auth.intercept(parsed)) return;
    if (parsed === undefined) return send({ type: 'error', code: 'invalid_json', message: 'send JSON in text frames' });
    if (!parsed.ok) return send(parsed.error);
    if (this.stopping) {
      return send({ type: 'error', code: 'shutting_down', message: 'the server is restarting; reconnect and send the message again' });
    }
    const message = parsed.message;
    if (message.type === 'authenticate') return; // SocketAuth's
    // Before anything is counted: a busy socket costs neither its address's nor its person's limits.
    if (message.type === 'user_message' && connection.runs.full) return send(busy(connection.runs.max));
    // Counted for a run until startRun takes it over; released here when no run starts.
    let admission: Admission | undefined;
    try {
      const limited = await this.rateLimit(client);
      if (limited !== undefined) return send(limited);
      const { identity } = connection.auth;
      if (message.type === 'list_threads') return send(identity === undefined ? signInFirst() : await this.access.list(identity, message));
      if (message.threadId !== undefined && !(await this.access.allowed(message.threadId, message.threadToken, identity))) return send(forbidden(message.threadId, identity !== undefined));
      if (message.type === 'resume') return await this.resume(id, message, send);
      const threadId = message.threadId ?? randomUUID();
      if (identity !== undefined) {
        const admitted = await this.limits.admit(identity);
        if (!admitted.ok) return send(admitted.error);
        admission = admitted.admission;
      }
      // This instance delivers its own run's events directly; the subscription is for other instances' runs.
      const following = this.follow(id, threadId);
      if (following === undefined) return send(this.tooManyThreads());
      if (message.threadId === undefined && identity === undefined) connection.unsentTokens.set(threadId, this.tokens.mint(threadId));
      following.catch((error: unknown) => this.options.log.warn({ connectionId: id }, `following thread failed: ${describeError(error)}`));
      // Not awaited: the next frame of this socket is read while the agent runs, in one of its slots.
      this.startRun(connection, { threadId, text: message.text, clientMessageId: message.clientMessageId, owner: identity && ownerOf(identity), onUsage: admission?.spent }, admission);
      admission = undefined;
    } catch (error) {
      this.options.log.warn({ connectionId: id, err: error }, `cannot serve ${message.type}: ${describeError(error)}`);
      send(unavailable(error));
    } finally {
      admission?.release();
    }
  }

  /**
   * Runs the agent in one of the socket's slots; a resend the thread already has gets its run's
   * state instead. The slot and the person's run count (`admission`) are given back once it ends,
   * whether or not it started anything; an expiring sign-in waits for it.
   */
  private startRun(connection: Connection, request: RunRequest, admission: Admission | undefined): void {
    const release = connection.runs.take();
    const { clientMessageId } = request;
    const run = this.options.components.agentSupervisor
      .handle(request)
      .then((outcome) => {
        if (outcome.existing !== undefined && clientMessageId !== undefined) connection.send(runStatus(outcome.existing, clientMessageId));
      })
      .catch((error: unknown) => this.options.log.warn({ connectionId: connection.id }, `run failed: ${describeError(error)}`))
      .finally(() => {
        release();
        admission?.release();
      });
    connection.auth.track(run);
  }

  /**
   * Follows the thread once other instances' events for it arrive here, then sends one page of its
   * history: the newest, or the one before `before`. The token was checked for `threadId`, and the
   * store reads only that thread, so no cursor reaches another thread.
   */
  private async resume(id: string, { threadId, before }: Resume, send: (message: ServerMessage) => void): Promise<void> {
    const following = this.follow(id, threadId);
    if (following === undefined) return send(this.tooManyThreads());
    await following;
    // One more than a page, to tell whether anything older is left.
    const stored = await this.options.components.sessionFactory.session().history(threadId, RESUME_HISTORY_LIMIT + 1, before);
    send({ type: 'history', threadId, ...historyPage(stored, RESUME_HISTORY_LIMIT, RESUME_HISTORY_MAX_BYTES), before: before ?? null });
  }

  /** Undefined when the socket already follows as many threads as it may. */
  private follow(id: string, threadId: string): Promise<void> | undefined {
    if (!this.options.components.websocketManager.follow(id, threadId, this.options.maxThreadsPerSocket)) return undefined;
    return this.options.components.threadRelay.watch(threadId);
  }

  private tooManyThreads(): ErrorMessage {
    const max = this.options.maxThreadsPerSocket;
    return { type: 'error', code: 'too_many_threads', message: `one connection follows at most ${max} threads; open another connection` };
  }

  private async rateLimit(client: string, counter: 'rate' | 'authenticate' = 'rate'): Promise<ErrorMessage | undefined> {
    const now = (this.options.now ?? Date.now)();
    const window = Math.floor(now / RATE_WINDOW_MS);
    const count = await this.options.components.cacheClient.increment(`${counter}:${client}:${window}`, RATE_WINDOW_MS);
    if (count <= this.options.rateLimitPerMinute) return undefined;
    const retryAfterMs = (window + 1) * RATE_WINDOW_MS - now;
    const what = counter === 'rate' ? 'messages' : 'authenticate frames';
    return { type: 'error', code: 'rate_limited', message: `more than ${this.options.rateLimitPerMinute} ${what} a minute`, retryAfterMs };
  }

  /** Terminates sockets that did not answer the previous ping: a dead peer never sends close. */
  private ping(): void {
    for (const [ws, alive] of this.alive) {
      if (!alive) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
  }
}

interface Connection {
  id: string;
  client: string;
  send: (message: ServerMessage) => void;
  unsentTokens: Map<string, string>;
  runs: RunSlots;
  auth: SocketAuth;
}

/** A frame the database could not serve in time (a resume, or a message refused before its run). */
function unavailable(error: unknown): ErrorMessage {
  const retryAfterSeconds = retryAfterOf(error);
  return { type: 'error', code: 'unavailable', message: `the server could not reach its database in time; try again in ${retryAfterSeconds} s`, retryAfterSeconds };
}

function forbidden(threadId: string, signedIn: boolean): ErrorMessage {
  const message = signedIn ? 'you have no thread with this id' : 'this thread needs the threadToken sent with its first agent_started';
  return { type: 'error', code: 'forbidden', threadId, message };
}

function signInFirst(): ErrorMessage {
  return { type: 'error', code: 'unauthenticated', message: 'list_threads lists a signed-in person\'s threads; sign-in is off on this server' };
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}
