/**
 * Chat clients that behave as the protocol asks (docs/protocol.md): retry a refused upgrade
 * after Retry-After, keep one message in flight, and after a close resend any message that has
 * no agent_response, with its clientMessageId. They count what happened to every acknowledged message.
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
}

export function emptyTally(): ClientTally {
  return { connects: 0, refusedUpgrades: 0, sent: 0, acknowledged: 0, completed: 0, toldToResend: 0, lost: 0, closeCodes: {}, events: {} };
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
}

/** Runs one client until `stopped()`; resolves once its last connection closed. */
export async function runClient(options: ClientOptions): Promise<void> {
  const thread: Thread = {};
  let n = 0;
  let unanswered: Unanswered | undefined;
  const nextText = () => {
    unanswered ??= { text: `message ${(n += 1)}`, clientMessageId: randomUUID() };
    return unanswered;
  };
  const answered = () => (unanswered = undefined);
  while (!options.stopped()) {
    const retryAfterMs = await session(options, thread, nextText, answered);
    if (retryAfterMs > 0) await sleep(retryAfterMs);
  }
}

/** One connection: resolves with how long to wait before the next attempt. */
interface Unanswered {
  text: string;
  clientMessageId: string;
}

function session(options: ClientOptions, thread: Thread, nextText: () => Unanswered, answered: () => void): Promise<number> {
  const { tally } = options;
  return new Promise((resolve) => {
    const ws = new WebSocket(options.url);
    let pending: { acknowledged: boolean } | undefined;
    const send = () => {
      if (options.stopped()) return void ws.close(1000);
      const { text, clientMessageId } = nextText();
      pending = { acknowledged: false };
      tally.sent += 1;
      ws.send(JSON.stringify({ type: 'user_message', text, clientMessageId, ...thread }));
    };
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
      const event = JSON.parse(String(data)) as { type: string; code?: string; state?: string; threadId?: string; threadToken?: string };
      tally.events[event.type] = (tally.events[event.type] ?? 0) + 1;
      if (event.threadToken !== undefined) Object.assign(thread, { threadId: event.threadId, threadToken: event.threadToken });
      if (event.type === 'agent_started' && pending) {
        pending.acknowledged = true;
        tally.acknowledged += 1;
      } else if (event.type === 'agent_response' && pending?.acknowledged) {
        tally.completed += 1;
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
      }
    });
    ws.on('close', (code, reasonBuffer) => {
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
    for (const key of ['connects', 'refusedUpgrades', 'sent', 'acknowledged', 'completed', 'toldToResend', 'lost'] as const) total[key] += tally[key];
    for (const [code, count] of Object.entries(tally.closeCodes)) total.closeCodes[Number(code)] = (total.closeCodes[Number(code)] ?? 0) + count;
    for (const [type, count] of Object.entries(tally.events)) total.events[type] = (total.events[type] ?? 0) + count;
  }
  return total;
}
