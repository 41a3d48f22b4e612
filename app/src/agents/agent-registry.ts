/**
 * The agents this backend runs, and the one path their events take to clients. The registry must
 * be connected to the WebSocket bridge before any agent runs: the websocket phase does that and
 * verifies it, because an unwired registry once meant runs that emitted nothing.
 */
import type { LlmClient } from './llm';
import type { AgentEvent } from '../../../common/chat-protocol';
import type { ToolDispatcher } from './tools';
import type { AgentWebSocketBridge } from '../chat/websocket-bridge';
import type { WebSocketManager } from '../chat/websocket-manager';
import type { StoredMessage } from '../storage/store';

export interface AgentRun {
  runId: string;
  threadId: string;
  text: string;
  history: readonly StoredMessage[];
  llm: LlmClient;
  tools: ToolDispatcher;
  emit(event: AgentEvent): void;
}

export interface Agent {
  readonly name: string;
  /** Emits the five agent events through `run.emit`, in order, and returns the reply text. */
  run(run: AgentRun): Promise<string>;
}

export class AgentRegistry {
  private readonly agents = new Map<string, Agent>();
  private bridge: AgentWebSocketBridge | undefined;

  register(agent: Agent): this {
    if (this.agents.has(agent.name)) throw new Error(`agent ${agent.name} is registered twice`);
    this.agents.set(agent.name, agent);
    return this;
  }

  get(name: string): Agent {
    const agent = this.agents.get(name);
    if (agent === undefined) throw new Error(`unknown agent ${name}; registered: ${[...this.agents.keys()].join(', ') || 'none'}`);
    return agent;
  }

  connect(bridge: AgentWebSocketBridge): void {
    this.bridge = bridge;
  }

  /** True when events emitted here reach `manager` through `bridge`. */
  deliversThrough(bridge: AgentWebSocketBridge, manager: WebSocketManager): boolean {
    return this.bridge === bridge && bridge.manager === manager;
  }

  emit(event: AgentEvent): number {
    if (this.bridge === undefined) throw new Error('AgentRegistry is not connected to the AgentWebSocketBridge');
    return this.bridge.emit(event);
  }
}
