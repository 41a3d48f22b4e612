/**
 * The finalize-phase self-test: the five agent events go through the registry, the bridge and
 * the WebSocket manager into a loopback connection, exactly the path a real run's events take.
 */
import { randomUUID } from 'node:crypto';
import type { AgentRegistry } from '../agents/agent-registry';
import { AGENT_EVENT_TYPES, type AgentEvent, type ServerMessage } from '../../../common/chat-protocol';
import type { WebSocketManager } from '../chat/websocket-manager';

export function sampleEvents(runId: string, threadId: string): AgentEvent[] {
  const ids = { runId, threadId };
  return [
    { type: 'agent_started', ...ids, agent: 'self-test' },
    { type: 'agent_thinking', ...ids, text: 'self-test' },
    { type: 'tool_executing', ...ids, tool: 'self-test', input: {} },
    { type: 'tool_completed', ...ids, tool: 'self-test', output: {} },
    { type: 'agent_completed', ...ids, durationMs: 0 },
  ];
}

export function runEventSelfTest(registry: AgentRegistry, manager: WebSocketManager): void {
  const runId = `self-test-${randomUUID()}`;
  const threadId = runId;
  const received: ServerMessage[] = [];
  const sink = { id: `loopback-${runId}`, send: (message: ServerMessage) => received.push(message), close: () => {} };
  manager.add(sink);
  try {
    manager.follow(sink.id, threadId);
    for (const event of sampleEvents(runId, threadId)) registry.emit(event);
  } finally {
    manager.remove(sink.id);
  }
  const got = received.filter((message) => 'runId' in message && message.runId === runId).map((message) => message.type);
  if (got.join() !== AGENT_EVENT_TYPES.join()) {
    throw new Error(`event self-test expected ${AGENT_EVENT_TYPES.join(', ')} at the loopback connection, received ${got.join(', ') || 'nothing'}`);
  }
}
