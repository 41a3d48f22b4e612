/** Carries agent output to the connections that follow the run's thread. */
import type { AgentEvent, AgentResponse, ErrorMessage } from './protocol';
import type { WebSocketManager } from './websocket-manager';

export type ThreadMessage = AgentEvent | AgentResponse | (ErrorMessage & { threadId: string });

export class AgentWebSocketBridge {
  constructor(readonly manager: WebSocketManager) {}

  /** Returns how many connections received the message (0 when nobody follows the thread). */
  emit(message: ThreadMessage): number {
    return this.manager.deliver(message.threadId, message);
  }
}
