/**
 * What one socket's user messages may start: at most `max` agent runs in flight (anything beyond
 * is refused with `busy` before anything is rate-counted or stored), and the answer to a message
 * the thread already has (the same clientMessageId, resent after a reconnect or a crash).
 */
import type { ErrorMessage, RunStatus, ServerMessage } from '../../../common/chat-protocol';
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

/** Runs remembered per socket: more than it can follow in flight at once (its own and its threads'). */
const ENDED_RUNS_KEPT = 256;

/**
 * One ending per run on each socket. A run's ending is agent_completed (its reply follows), or
 * agent_failed, or interrupted. Two can be sent for one run when the instance that ran it told the
 * thread agent_failed but could not store it before its lease ran out, and another instance's
 * sweep then ended it interrupted: the socket hears the first and no other.
 */
export class RunEndings {
  private readonly ended = new Set<string>();

  /** False for a second ending of a run this socket already heard end. */
  admit(message: ServerMessage): boolean {
    const runId = endingRun(message);
    if (runId === undefined) return true;
    if (this.ended.has(runId)) return false;
    this.ended.add(runId);
    // Oldest first: a Set iterates in insertion order.
    if (this.ended.size > ENDED_RUNS_KEPT) this.ended.delete(this.ended.values().next().value!);
    return true;
  }
}

/** The run a message ends, if it is an ending. */
function endingRun(message: ServerMessage): string | undefined {
  if (message.type === 'agent_completed') return message.runId;
  if (message.type === 'error' && (message.code === 'agent_failed' || message.code === 'interrupted')) return message.runId;
  return undefined;
}
