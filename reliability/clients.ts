/**
 * Chat clients that behave as the protocol asks (docs/protocol.md): retry a refused upgrade
 * after Retry-After, keep one message in flight, resend a message refused with `unavailable` (or
 * `rate_limited`) after the wait the server asks for, resend one that ended in `agent_failed` as a
 * new message (a new clientMessageId), and after a close resend any message that has no
 * agent_response, with its clientMessageId. They count what happened to every acknowledged
 * message and how long each message waited for its first frame.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Thread } from '../testkit/chat-client';

export interface ClientTally {
  connects: number;
  refusedUpgrades: number;
  sent: number;
  /** Messages the server acknowledged (agent_started). */
  acknowledged: number;
  /** Acknowledged messages that got agent_completed and agent_response. */
  completed: number;
  /** Acknowledged messages cut off by a close whose code and reason say to resend. */
  toldToResend: number;
  /** Acknowledged messages cut off any other way: the failure this suite exists to catch. */
  lost: number;
  closeCodes: Record<number, number>;
  /** Events received for runs, by type. */
  events: Record<string, number>;
  /** Messages refused before acknowledgement with `unavailable`. */
  unavailable: number;
  /** Acknowledged messages whose run ended in `agent_failed`. */
  failed: number;
  /** For each message, ms from sending to its first frame (whatever it was). */
  firstFrameMs: number[];
  /** Messages still without a first frame when the client stopped: ms they had waited. */
  unansweredAtStopMs: number[];
  /** Texts of acknowledged messages: each must be in the store. */
  acknowledgedTexts: string[];
  /** When each reply arrived and when its message was sent (performance.now()). */
  replies: { sentAt: number; at: number }[];
}

export function emptyTally(): ClientTally {
  return {
    connects: 0,
    refusedUpgrades: 0,
    sent: 0,
    acknowledged: 0,
    completed: 0,
    toldToResend: 0,
    lost: 0,
    closeCodes: {},
    events: {},
    unavailable: 0,
    failed: 0,
    firstFrameMs: [],
    unansweredAtStopMs: [],
    acknowledgedTexts: [],
    replies: [],
  };
}

/** The app's close on SIGTERM: 1012 with a reason that tells the client to resend. */
export function closeTellsToResend(code: number, reason: string): boolean {
  return code === 1012 && /resend/.test(reason);
}

export interface ClientOptions {
  /** The front door's address: it appends X-Forwarded-For, so every client here shares one rate-limit bucket. */
  url: string;
  tally: ClientTally;
  stopped: () => boolean;
  /** Pause between a reply and the next message. */
  thinkMs: number;
  /** Prefix of every text, so texts are unique across clients. */
  name?: string;
  /** Upper bound on a wait the server asks for (unavailable, rate_limited), to keep runs short. */
  maxWaitMs?: number;
  /** Aborting closes the connection at once, whatever is pending (a client that gives up). */
  signal?: AbortSignal;
}

/** Runs one client until `stopped()`; resolves once its last connection closed. */
export async function runClient(options: ClientOptions): Promise<void> {
  const thread: Thread = {};
  let n = 0;
  let unanswered: Unanswered | undefined;
  const nextText = () => {
    unanswered ??= { text: `${options.name ?? 'message'} ${(n += 1)}`, clientMessageId: randomUUID() };
    return unanswered;
  };
  const answered = () => (unanswered = undefined);
  // A run that failed ended: the same text again is a new message, with an id of its own.
  const renew = () => unanswered && (unanswered = { text: unanswered.text, clientMessageId: randomUUID() });
  while (!options.stopped()) {
    const retryAfterMs = await session(options, thread, { nextText, answered, renew });
    if (retryAfterMs > 0) await sleep(retryAfterMs);
  }
}

/** One connection: resolves with how long to wait before the next attempt. */
interface Unanswered {
  text: string;
  clientMessageId: string;
}

function session(
  options: ClientOptions,
  thread: Thread,
  { nextText, answered, renew }: { nextText: () => Unanswered; answered: () => void; renew: () => void },
): Promise<number> {
  const { tally } = options;
  const maxWaitMs = options.maxWaitMs ?? 100;
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url);
    let pending: { text: string; acknowledged: boolean; sentAt: number; heard: boolean } | undefined;
    const send = () => {
      if (options.stopped()) return void ws.close(1000);
      if (ws.readyState !== WebSocket.OPEN) return;
      const { text, clientMessageId } = nextText();
      pending = { text, acknowledged: false, sentAt: performance.now(), heard: false };
      tally.sent += 1;
      ws.send(JSON.stringify({ type: 'user_message', text, clientMessageId, ...thread }));
    };
    const giveUp = () => {
      if (pending !== undefined && !pending.heard) tally.unansweredAtStopMs.push(performance.now() - pending.sentAt);
      pending = undefined;
      ws.close(1000);
    };
    options.signal?.addEventListener('abort', giveUp, { once: true });
    ws.on('unexpected-response', (_req, res) => {
      tally.refusedUpgrades += 1;
      const retryAfter = Number(res.headers['retry-after'] ?? '1');
      res.resume();
      ws.terminate();
      // Retry-After is in seconds; the suite retries sooner to keep the run short.
      resolve(Math.min(retryAfter * 1000, 100));
    });
    ws.on('error', () => {});
    ws.on('open', () => {
      tally.connects += 1;
      send();
    });
    ws.on('message', (data) => {
      const event = JSON.parse(String(data)) as { type: string; code?: string; state?: string; threadId?: string; threadToken?: string; retryAfterSeconds?: number; retryAfterMs?: number };
      tally.events[event.type] = (tally.events[event.type] ?? 0) + 1;
      if (pending !== undefined && !pending.heard) {
        pending.heard = true;
        tally.firstFrameMs.push(performance.now() - pending.sentAt);
      }
      if (event.threadToken !== undefined) Object.assign(thread, { threadId: event.threadId, threadToken: event.threadToken });
      if (event.type === 'agent_started' && pending) {
        pending.acknowledged = true;
        tally.acknowledged += 1;
        tally.acknowledgedTexts.push(pending.text);
      } else if (event.type === 'agent_response' && pending?.acknowledged) {
        tally.completed += 1;
        tally.replies.push({ sentAt: pending.sentAt, at: performance.now() });
        pending = undefined;
        answered();
        setTimeout(send, options.thinkMs);
      } else if (event.type === 'run_status' && event.state !== 'running') {
        // A resend the server already had, whose first copy ended (counted when it was cut off).
        pending = undefined;
        answered();
        setTimeout(send, options.thinkMs);
      } else if (event.type === 'error' && event.code === 'shutting_down') {
        // Not acknowledged: it is sent again on the next connection.
        pending = undefined;
      } else if (event.type === 'error' && (event.code === 'unavailable' || event.code === 'rate_limited') && pending && !pending.acknowledged) {
        // Not acknowledged: the same text again after the wait the server asked for.
        if (event.code === 'unavailable') tally.unavailable += 1;
        pending = undefined;
        const waitMs = event.retryAfterMs ?? (event.retryAfterSeconds ?? 1) * 1000;
        setTimeout(send, Math.min(waitMs, maxWaitMs));
      } else if (event.type === 'error' && event.code === 'agent_failed' && pending?.acknowledged) {
        // Stored without a reply: send it again.
        tally.failed += 1;
        pending = undefined;
        renew();
        setTimeout(send, options.thinkMs);
      }
    });
    ws.on('close', (code, reasonBuffer) => {
      options.signal?.removeEventListener('abort', giveUp);
      tally.closeCodes[code] = (tally.closeCodes[code] ?? 0) + 1;
      if (pending?.acknowledged) {
        if (closeTellsToResend(code, reasonBuffer.toString())) tally.toldToResend += 1;
        else tally.lost += 1;
      }
      resolve(0);
    });
  });
}

export function sumTallies(tallies: readonly ClientTally[]): ClientTally {
  const total = emptyTally();
  for (const tally of tallies) {
    for (const key of ['connects', 'refusedUpgrades', 'sent', 'acknowledged', 'completed', 'toldToResend', 'lost', 'unavailable', 'failed'] as const) total[key] += tally[key];
    for (const key of ['firstFrameMs', 'unansweredAtStopMs', 'acknowledgedTexts', 'replies'] as const) (total[key] as unknown[]).push(...tally[key]);
    for (const [code, count] of Object.entries(tally.closeCodes)) total.closeCodes[Number(code)] = (total.closeCodes[Number(code)] ?? 0) + count;
    for (const [type, count] of Object.entries(tally.events)) total.events[type] = (total.events[type] ?? 0) + count;
  }
  return total;
}

/** A tally's counts without its per-message lists: what a report line prints. */
export function counts(tally: ClientTally): Omit<ClientTally, 'firstFrameMs' | 'unansweredAtStopMs' | 'acknowledgedTexts' | 'replies'> {
  const { firstFrameMs: _f, unansweredAtStopMs: _u, acknowledgedTexts: _a, replies: _r, ...rest } = tally;
  return rest;
}
