/**
 * What the user hears when a run ends in an error. Before the message was stored there was no
 * acknowledgement (agent_started): `unavailable` with when to try again, and nothing kept to
 * resume. Once stored, the run had begun: `agent_failed`, and the thread's history holds the
 * message without a reply.
 */
import type { ThreadMessage } from '../chat/websocket-bridge';
import { retryAfterOf } from '../dependencies/unavailable';

export function runFailure(ids: { runId: string; threadId: string }, stored: boolean, error: unknown): ThreadMessage {
  if (stored) return { type: 'error', code: 'agent_failed', message: 'the agent could not answer; send the message again', ...ids };
  const retryAfterSeconds = retryAfterOf(error);
  return { type: 'error', code: 'unavailable', message: `the message could not be stored; send it again in ${retryAfterSeconds} s`, retryAfterSeconds, ...ids };
}
