/**
 * What one socket's user messages may start: at most `max` agent runs in flight (anything beyond
 * is refused with `busy` before anything is rate-counted or stored), and the answer to a message
 * the thread already has (the same clientMessageId, resent after a reconnect or a crash).
 */
import type { ErrorMessage, RunStatus } from '../../../common/chat-protocol';
import type { RunRecord } from '../storage/store';

export class RunSlots {
  private inFlight = 0;

  constructor(readonly max: number) {}

  get full(): boolean {
    return this.inFlight >= this.max;
  }

  /** Counts a run in flight; call the returned function once it ends (later calls do nothing). */
  take(): () => void {
    this.inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
    };
  }
}

export function busy(max: number): ErrorMessage {
  return { type: 'error', code: 'busy', message: `one connection runs at most ${max} messages at a time; send this one again after a reply` };
}

/** The answer to a resent message: the run its first copy started, and its reply once completed. */
export function runStatus(existing: RunRecord, clientMessageId: string): RunStatus {
  const { runId, threadId, state, reply } = existing;
  return { type: 'run_status', runId, threadId, clientMessageId, state, ...(state === 'completed' && reply !== null ? { text: reply } : {}) };
}
