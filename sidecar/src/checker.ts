/**
 * Checking the target: one check is one GET of the phase endpoint that either yields a body that
 * validates against contract 1 or fails with a kind (its `result` label). The loop runs checks
 * forever: p-retry backoff with jitter between failed checks, long-poll while the target honours
 * it, a fixed poll interval when it answers at once.
 */
import http from 'node:http';
import pRetry from 'p-retry';
import { type PhaseBody, phaseBodySchema, phaseStatusCode } from '../../common/phase-contract';
import type { CheckFailure, CheckResult } from '../../common/gate-contract';
import { CheckPacer } from './bounds';
import type { CheckTimings } from './config';
import type { CheckOutcome } from './decision';

export class CheckError extends Error implements CheckFailure {
  constructor(
    readonly result: Exclude<CheckResult, 'ok'>,
    message: string,
  ) {
    super(message);
    this.name = 'CheckError';
  }
}

export interface LongPoll {
  afterSeq: number;
  waitMs: number;
}

/** What one GET brought back: the status, and the body for the statuses contract 1 allows. */
export interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * One GET. Reads the body only for 200 and 503, and rejects with a too_large CheckError as soon as
 * it passes `maxBytes`; other failures reject with the socket's error (its `code` names it).
 */
export type HttpGet = (url: URL, options: { signal: AbortSignal; maxBytes: number }) => Promise<HttpAnswer>;

export interface CheckDeps {
  get: HttpGet;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Resolves after ms, or early when the signal aborts. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

const CONTRACT_STATUSES = [200, 503];

/** One GET of the target; resolves with a trusted body or rejects with a CheckError. */
export async function checkOnce(url: URL, longPoll: LongPoll | null, timings: CheckTimings, deps: CheckDeps, stop: AbortSignal): Promise<PhaseBody> {
  const target = new URL(url);
  if (longPoll !== null) {
    target.searchParams.set('afterSeq', String(longPoll.afterSeq));
    target.searchParams.set('waitMs', String(longPoll.waitMs));
  }
  // The timeout covers connect, headers and body; a long-poll may legitimately be held for waitMs.
  const timeout = AbortSignal.timeout(timings.checkTimeoutMs + (longPoll?.waitMs ?? 0));
  try {
    const { status, text } = await deps.get(target, { signal: AbortSignal.any([stop, timeout]), maxBytes: timings.maxBodyBytes });
    if (!CONTRACT_STATUSES.includes(status)) throw new CheckError('http_status', `target answered HTTP ${status}; contract 1 allows 200 and 503`);
    return parseBody(status, text);
  } catch (error) {
    if (stop.aborted) throw error;
    throw classify(error, timeout);
  }
}

/**
 * GET over node:http rather than fetch: loading Node's fetch (undici) adds about 14 MB to the
 * gate's resident memory, a quarter of all it uses. node:https (with tls and crypto) adds about
 * 4 MB, so it is loaded only for an https target; the app's phase endpoint is plain http.
 */
export const httpGet: HttpGet = (url, { signal, maxBytes }) =>
  new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? process.getBuiltinModule('node:https') : http;
    const request = client.get(url, { signal, headers: { accept: 'application/json' } }, (response) => {
      const status = response.statusCode ?? 0;
      if (!CONTRACT_STATUSES.includes(status)) {
        response.destroy();
        return resolve({ status, text: '' });
      }
      const declared = Number(response.headers['content-length'] ?? 0);
      if (declared > maxBytes) {
        response.destroy();
        return reject(new CheckError('too_large', `body of ${declared} bytes exceeds the ${maxBytes}-byte cap`));
      }
      const chunks: Buffer[] = [];
      let total = 0;
      response.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          response.destroy();
          reject(new CheckError('too_large', `body exceeds the ${maxBytes}-byte cap`));
        } else chunks.push(chunk);
      });
      response.on('end', () => resolve({ status, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
      response.on('close', () => {
        if (!response.complete) reject(Object.assign(new Error('the connection closed before the body ended'), { code: 'ECONNRESET' }));
      });
    });
    request.on('error', reject);
  });

function parseBody(status: number, text: string): PhaseBody {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CheckError('not_json', `body is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const parsed = phaseBodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CheckError('invalid', `body does not match contract 1: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  // A status that contradicts the body means the target does not implement the contract.
  if (phaseStatusCode(parsed.data.state) !== status) {
    throw new CheckError('invalid', `HTTP ${status} contradicts state ${parsed.data.state}`);
  }
  return parsed.data;
}

/** Maps what a GET rejects with (socket errors carry a `code`) to a result label. */
export function classify(error: unknown, timeout: AbortSignal): CheckError {
  if (error instanceof CheckError) return error;
  const err = error as Error & { code?: string };
  if (timeout.aborted || err.name === 'TimeoutError') return new CheckError('timeout', 'no complete answer within the check timeout');
  if (err.code === 'ECONNREFUSED') return new CheckError('refused', `connection refused (${err.message})`);
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return new CheckError('reset', `connection reset (${err.message})`);
  return new CheckError('network', err.message);
}

/**
 * How long to wait before the next check after a trusted body. No wait when something changed or
 * the target held the request (it honours long-poll, so the next request parks there); the poll
 * interval when it answered at once with nothing new, so a plain endpoint is not hammered.
 */
export function delayAfter(sent: LongPoll | null, body: PhaseBody, elapsedMs: number, timings: CheckTimings): number {
  if (sent === null) return timings.longPollMs > 0 ? 0 : timings.pollIntervalMs;
  return body.seq > sent.afterSeq || honoursLongPoll(sent, body, elapsedMs) ? 0 : timings.pollIntervalMs;
}

/** An answer with nothing new that still took half the wait means the target held the request. */
export function honoursLongPoll(sent: LongPoll, body: PhaseBody, elapsedMs: number): boolean | undefined {
  if (body.seq > sent.afterSeq) return undefined;
  return elapsedMs >= sent.waitMs / 2;
}

export interface CheckEvents {
  /** Every finished check, trusted or not, with its duration. */
  onCheck(outcome: CheckOutcome, durationMs: number): void;
  /** Whether the target honours long-poll, each time what the gate learns changes. */
  onLongPoll(honoured: boolean): void;
}

/** A trusted body, the long-poll query that fetched it (null: a plain GET), and how long it took. */
interface Checked {
  sent: LongPoll | null;
  body: PhaseBody;
  elapsedMs: number;
}

/** Runs checks until `stop` aborts. Rejects only on a bug; resolves when stopped. */
export async function runCheckLoop(url: URL, timings: CheckTimings, deps: CheckDeps, events: CheckEvents, stop: AbortSignal): Promise<void> {
  let lastSeq: number | null = null;
  let honoured: boolean | undefined;
  const pacer = new CheckPacer(timings.minCheckIntervalMs);
  while (!stop.aborted) {
    for (let wait = pacer.take(deps.now()); wait > 0 && !stop.aborted; wait = pacer.take(deps.now())) await deps.sleep(wait, stop);
    if (stop.aborted) return;
    const longPoll: LongPoll | null = timings.longPollMs > 0 && lastSeq !== null ? { afterSeq: lastSeq, waitMs: timings.longPollMs } : null;
    const attempt = async (attemptNumber: number): Promise<Checked> => {
      // A retry asks plainly: the target may have restarted with a lower seq, and should answer now.
      const sent = attemptNumber === 1 ? longPoll : null;
      const startedAt = deps.now();
      let body: PhaseBody;
      try {
        body = await checkOnce(url, sent, timings, deps, stop);
      } catch (error) {
        if (!stop.aborted) {
          const { result, message } = error as CheckError;
          events.onCheck({ ok: false, failure: { result, message } }, deps.now() - startedAt);
        }
        throw error;
      }
      const elapsedMs = deps.now() - startedAt;
      events.onCheck({ ok: true, body }, elapsedMs);
      return { sent, body, elapsedMs };
    };
    let checked: Checked;
    try {
      checked = await pRetry(attempt, {
        retries: Number.POSITIVE_INFINITY,
        factor: timings.backoffFactor,
        minTimeout: timings.backoffMinMs,
        maxTimeout: timings.backoffMaxMs,
        randomize: true,
        signal: stop,
        // Only failed checks are retried; anything else is a bug and ends the loop (/live fails).
        shouldRetry: ({ error }) => error instanceof CheckError,
      });
    } catch (error) {
      if (stop.aborted) return;
      throw error;
    }
    const { sent, body, elapsedMs } = checked;
    if (sent !== null) {
      const learned = honoursLongPoll(sent, body, elapsedMs);
      if (learned !== undefined && learned !== honoured) events.onLongPoll((honoured = learned));
    }
    lastSeq = body.seq;
    const delay = delayAfter(sent, body, elapsedMs, timings);
    if (delay > 0) await deps.sleep(delay, stop);
  }
}

/** The real clock and network. */
export const realCheckDeps: CheckDeps = {
  get: httpGet,
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};
