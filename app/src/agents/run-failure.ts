/**
 * What the user hears when a run ends in an error. Before the message was stored there was no
 * acknowledgement (agent_started) and no run: `unavailable` with when to try again, naming the
 * thread (its sockets get it) but no run. Once stored, the run had begun: `agent_failed`, and the
 * thread's history holds the message without a reply.
 */
import type { ThreadMessage } from '../chat/websocket-bridge';
import { retryAfterOf } from '../dependencies/unavailable';

export function runFailure({ runId, threadId }: { runId: string; threadId: string }, stored: boolean, error: unknown): ThreadMessage {
  if (stored) return { type: 'error', code: 'agent_failed', message: 'the agent could not answer; send the message again', runId, threadId };
  const retryAfterSeconds = retryAfterOf(error);
  return { type: 'error', code: 'unavailable', message: `the message could not be stored; send it again in ${retryAfterSeconds} s`, retryAfterSeconds, threadId };
}
