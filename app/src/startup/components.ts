/**
 * Every component the startup phases build, by name. Startup ends with all of them built; the
 * phase endpoint reports each one's presence under `components`.
 */
import type { AgentRegistry } from '../agents/agent-registry';
import type { AgentSupervisor } from '../agents/agent-supervisor';
import type { CacheClient } from '../storage/cache';
import type { Authentication } from '../auth/authentication';
import type { AuthConfig, CacheConfig, DatabaseConfig, LlmConfig } from '../config';
import type { ExecutionTracker } from '../agents/execution-tracker';
import type { LlmClient } from '../agents/llm';
import type { SessionFactory } from '../storage/store';
import type { ToolDispatcher } from '../agents/tools';
import type { ThreadRelay } from '../chat/thread-relay';
import type { AgentWebSocketBridge } from '../chat/websocket-bridge';
import type { WebSocketManager } from '../chat/websocket-manager';

/** Settings of the external dependencies, validated in the dependencies phase. */
export interface DependencySettings {
  llm: LlmConfig;
  database: DatabaseConfig;
  cache: CacheConfig;
  /** Signs thread tokens; shared by every instance of the service. */
  threadTokenKey: Buffer;
  auth: AuthConfig;
}

export interface Components {
  settings: DependencySettings;
  authentication: Authentication;
  llmClient: LlmClient;
  sessionFactory: SessionFactory;
  cacheClient: CacheClient;
  toolDispatcher: ToolDispatcher;
  executionTracker: ExecutionTracker;
  websocketManager: WebSocketManager;
  threadRelay: ThreadRelay;
  agentRegistry: AgentRegistry;
  websocketBridge: AgentWebSocketBridge;
  agentSupervisor: AgentSupervisor;
}

export type ComponentName = keyof Components;

export const COMPONENT_NAMES = [
  'settings',
  'authentication',
  'llmClient',
  'sessionFactory',
  'cacheClient',
  'toolDispatcher',
  'executionTracker',
  'websocketManager',
  'threadRelay',
  'agentRegistry',
  'websocketBridge',
  'agentSupervisor',
] as const satisfies readonly ComponentName[];

// Compile-time check that COMPONENT_NAMES lists every component.
const everyComponentListed: Record<Exclude<ComponentName, (typeof COMPONENT_NAMES)[number]>, never> = {};
void everyComponentListed;
