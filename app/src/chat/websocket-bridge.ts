/**
 * Carries agent output to the connections that follow the run's thread: this instance's directly,
 * other instances' through the relay (thread-relay.ts).
 */
import type { AgentEvent, AgentResponse, ErrorMessage } from '../../../common/chat-protocol';
import type { WebSocketManager } from './websocket-manager';

export type ThreadMessage = AgentEvent | AgentResponse | (ErrorMessage & { threadId: string });

export interface ThreadPublisher {
  publish(message: ThreadMessage): void;
}

export class AgentWebSocketBridge {
  constructor(
    readonly manager: WebSocketManager,
    private readonly relay: ThreadPublisher,
  ) {}

  /** Returns how many connections of this instance received the message (0 when none follows the thread). */
  emit(message: ThreadMessage): number {
    this.relay.publish(message);
    return this.manager.deliver(message.threadId, message);
  }
}
