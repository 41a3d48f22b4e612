/**
 * Log lines for faults a client causes (broken WebSocket frames, a spent error budget, upgrades too
 * fast), bounded whatever the clients do: the first fault of each cause in a window is logged as
 * one line without a stack, the rest are counted and reported as one line per cause when the window
 * ends, and all of it stays under a fixed number of lines a second. A stack says nothing about a
 * client's garbage, and one WARNING with a stack per bad socket made 10 GB of log an hour.
 * `FaultTally` is the pure decision; `ClientFaultLog` writes its lines and flushes on a timer.
 */
import type { Logger } from '../../../common/log';

/** Each cause, as it ends the sentence "a client ...". */
export const CLIENT_FAULTS = {
  invalid_utf8: 'sent invalid UTF-8',
  too_big: 'sent a message larger than APP_WS_MAX_MESSAGE_BYTES or in too many fragments',
  protocol_error: 'broke the WebSocket protocol',
  error_budget: 'sent too many invalid or refused frames and was closed with 1008',
  upgrade_rate: 'opened connections faster than APP_WS_UPGRADES_PER_SECOND and got 429',
} as const;
export type ClientFault = keyof typeof CLIENT_FAULTS;

/** The cause of a ws 'error' event: ws names each protocol error in `code`. */
export function protocolFault(error: Error & { code?: string }): ClientFault {
  if (error.code === 'WS_ERR_INVALID_UTF8') return 'invalid_utf8';
  if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || error.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return 'too_big';
  return 'protocol_error';
}

export interface FaultLine {
  message: string;
  fields: Record<string, unknown>;
}

export interface FaultLogLimits {
  /** Faults of one cause after the first are reported once per window, as a count. */
  windowMs: number;
  /** Lines a second at most, over every cause. */
  maxLinesPerSecond: number;
}

export const DEFAULT_FAULT_LOG_LIMITS: FaultLogLimits = { windowMs: 60_000, maxLinesPerSecond: 5 };

interface Window {
  startMs: number;
  count: number;
  /** How many of `count` were logged one by one. */
  logged: number;
}

export class FaultTally {
  private readonly windows = new Map<ClientFault, Window>();
  private second = { startMs: Number.NEGATIVE_INFINITY, lines: 0 };

  constructor(private readonly limits: FaultLogLimits = DEFAULT_FAULT_LOG_LIMITS) {}

  /** Counts one fault; returns the lines to write now (the windows that ended, then this fault if it is the first of its window). */
  note(cause: ClientFault, nowMs: number, fields: Record<string, unknown> = {}): FaultLine[] {
    const lines = this.flush(nowMs);
    let window = this.windows.get(cause);
    if (window === undefined) this.windows.set(cause, (window = { startMs: nowMs, count: 0, logged: 0 }));
    window.count += 1;
    if (window.count === 1 && this.allow(nowMs)) {
      window.logged = 1;
      lines.push({ message: `a client ${CLIENT_FAULTS[cause]}; more of these are counted and reported once a minute`, fields: { cause, ...fields } });
    }
    return lines;
  }

  /** The count lines of windows that ended by `nowMs`; a line held back by the cap waits for the next flush. */
  flush(nowMs: number): FaultLine[] {
    const lines: FaultLine[] = [];
    for (const [cause, window] of this.windows) {
      if (nowMs - window.startMs < this.limits.windowMs) continue;
      if (window.count > window.logged) {
        if (!this.allow(nowMs)) continue;
        const seconds = Math.round((nowMs - window.startMs) / 1000);
        lines.push({ message: `${window.count.toLocaleString('en-US')} times in the last ${seconds} s a client ${CLIENT_FAULTS[cause]}`, fields: { cause, count: window.count, seconds } });
      }
      this.windows.delete(cause);
    }
    return lines;
  }

  private allow(nowMs: number): boolean {
    if (nowMs - this.second.startMs >= 1000) this.second = { startMs: nowMs, lines: 0 };
    if (this.second.lines >= this.limits.maxLinesPerSecond) return false;
    this.second.lines += 1;
    return true;
  }
}

/** Writes a FaultTally's lines as WARNINGs; flushes every few seconds so counts appear without a new fault. */
export class ClientFaultLog {
  private readonly tally: FaultTally;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
    limits: FaultLogLimits = DEFAULT_FAULT_LOG_LIMITS,
  ) {
    this.tally = new FaultTally(limits);
    this.timer = setInterval(() => this.write(this.tally.flush(this.now())), Math.min(5000, limits.windowMs));
    this.timer.unref();
  }

  report(cause: ClientFault, fields: Record<string, unknown> = {}): void {
    this.write(this.tally.note(cause, this.now(), fields));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private write(lines: FaultLine[]): void {
    for (const line of lines) this.log.warn(line.fields, line.message);
  }
}
