/**
 * Held startup probes. A probe passes on any answer within its timeout, so while startup is under
 * way a startup endpoint keeps the request open and answers the moment the outcome is known (or
 * with 503 just before the prober would give up): traffic within milliseconds of ready instead of
 * at the next probe period. Shared by the gate's /startup and the app's own /startup.
 */
import type http from 'node:http';

/**
 * `settled`: the outcome is known (open, failed, stopping); `expired`: the hold ran out; `gone`: the
 * client left; `full`: answered at once because MAX_HELD_PROBES were already held.
 */
export const HOLD_OUTCOMES = ['settled', 'expired', 'gone', 'full'] as const;
export type HoldOutcome = (typeof HOLD_OUTCOMES)[number];

/**
 * Requests held at once, at most. Cloud Run holds one probe per container at a time; each held
 * request costs a socket and some memory (5,000 of them took the gate from 57 to 172 MB).
 */
export const MAX_HELD_PROBES = 64;

/** The requests held now; `wake()` after every change of state lets each one look again. */
export class ProbeHolds {
  private readonly wakers = new Set<() => void>();

  get count(): number {
    return this.wakers.size;
  }

  /** No room for another held request: the next one is answered at once. */
  get full(): boolean {
    return this.wakers.size >= MAX_HELD_PROBES;
  }

  wake(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Resolves when `settled()` holds (now or after a wake), after `holdMs`, or when `signal` aborts. */
  hold(settled: () => boolean, holdMs: number, signal: AbortSignal): Promise<HoldOutcome> {
    if (signal.aborted) return Promise.resolve('gone');
    if (settled()) return Promise.resolve('settled');
    if (holdMs <= 0) return Promise.resolve('expired');
    return new Promise((resolve) => {
      const finish = (outcome: HoldOutcome) => {
        clearTimeout(timer);
        this.wakers.delete(check);
        signal.removeEventListener('abort', gone);
        resolve(outcome);
      };
      const check = () => {
        if (settled()) finish('settled');
      };
      const gone = () => finish('gone');
      const timer = setTimeout(() => finish('expired'), holdMs);
      this.wakers.add(check);
      signal.addEventListener('abort', gone, { once: true });
    });
  }
}

/** What a startup endpoint answers now, and whether that answer is final (no point holding). */
export interface StartupAnswer {
  status: 200 | 503;
  body: unknown;
  final: boolean;
  /** Ask the client to close the connection (the server is shutting down). */
  close?: boolean;
}

export interface HeldProbeOptions {
  holds: ProbeHolds;
  holdMs: number;
  answer: () => StartupAnswer;
  /**
   * Whether the answer is still not final, read on every wake of a held probe; cheaper than
   * `answer()` when that builds a body. Without it, `!answer().final`.
   */
  pending?: () => boolean;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Called for every request that had to wait: how it ended and how long it waited. */
  onHeld?: (outcome: HoldOutcome, heldMs: number) => void;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, close = false): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(json),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(json);
}

/** Answers a startup probe, holding it while startup is under way (unless MAX_HELD_PROBES are held); a client that leaves is let go. */
export async function serveStartupProbe(res: http.ServerResponse, options: HeldProbeOptions): Promise<void> {
  const first = options.answer();
  if (first.final || options.holdMs <= 0) return sendJson(res, first.status, first.body, first.close);
  if (options.holds.full) {
    options.onHeld?.('full', 0);
    return sendJson(res, first.status, first.body, first.close);
  }
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once('close', onClose);
  const startedAt = options.now();
  const { pending = () => !options.answer().final } = options;
  const outcome = await options.holds.hold(() => !pending(), options.holdMs, gone.signal);
  res.off('close', onClose);
  options.onHeld?.(outcome, options.now() - startedAt);
  if (outcome === 'gone' || res.destroyed) return;
  const answer = options.answer();
  sendJson(res, answer.status, answer.body, answer.close);
}
