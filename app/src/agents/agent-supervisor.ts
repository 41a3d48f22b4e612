/**
 * Runs one agent per user message: stores the message, runs the agent with the model and tools,
 * stores and delivers the reply. Exists only once every dependency does (services phase).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../common/log';
import type { AgentRegistry } from './agent-registry';
import type { ExecutionTracker } from './execution-tracker';
import type { LlmClient } from './llm';
import type { AgentEvent } from '../../../common/chat-protocol';
import type { ChatSession, Owner, SessionFactory } from '../storage/store';
import type { ToolDispatcher } from './tools';
import type { AgentWebSocketBridge } from '../chat/websocket-bridge';

/** How many earlier messages of a thread the agent sees. */
const HISTORY_LIMIT = 20;

export interface SupervisorDeps {
  llmClient: LlmClient;
  sessionFactory: SessionFactory;
  toolDispatcher: ToolDispatcher;
  websocketBridge: AgentWebSocketBridge;
  agentRegistry: AgentRegistry;
  executionTracker: ExecutionTracker;
}

export interface RunRequest {
  threadId: string;
  text: string;
  /** The signed-in person; recorded as the owner when this run creates the thread. */
  owner?: Owner;
  /** Told the tokens of each model call (the person's daily budget). */
  onUsage?: (tokens: number) => void;
}

export interface RunOutcome {
  runId: string;
  ok: boolean;
}

export class AgentSupervisor {
  constructor(
    private readonly deps: SupervisorDeps,
    private readonly log: Logger,
    private readonly newRunId: () => string = randomUUID,
    private readonly now: () => Date = () => new Date(),
  ) {}

  get bridge(): AgentWebSocketBridge {
    return this.deps.websocketBridge;
  }

  async handle(request: RunRequest, agentName = 'chat'): Promise<RunOutcome> {
    const { sessionFactory, agentRegistry, llmClient, toolDispatcher, executionTracker, websocketBridge } = this.deps;
    const runId = this.newRunId();
    const { threadId, text } = request;
    const done = executionTracker.start(runId);
    try {
      const session = sessionFactory.session();
      const history = await session.history(threadId, HISTORY_LIMIT);
      // Stored before agent_started, which the client takes as the acknowledgement.
      await session.append({ threadId, role: 'user', text, at: this.now().toISOString() }, request.owner);
      const events = eventRecorder(session);
      const reply = await agentRegistry.get(agentName).run({
        runId,
        threadId,
        text,
        history,
        llm: metered(llmClient, request.onUsage),
        tools: toolDispatcher,
        emit: (event) => {
          agentRegistry.emit(event);
          events.record(event);
        },
      });
      await events.flush();
      await session.append({ threadId, role: 'assistant', text: reply, at: this.now().toISOString() });
      websocketBridge.emit({ type: 'agent_response', runId, threadId, text: reply });
      return { runId, ok: true };
    } catch (error) {
      // No threadId: ERROR lines reach more readers than the thread's owner.
      this.log.error({ runId, err: error }, 'agent run failed');
      websocketBridge.emit({ type: 'error', code: 'agent_failed', message: 'the agent could not answer; send the message again', runId, threadId });
      return { runId, ok: false };
    } finally {
      done();
    }
  }
}

/** The model, reporting each call's tokens to `onUsage`. */
function metered(llm: LlmClient, onUsage: ((tokens: number) => void) | undefined): LlmClient {
  if (onUsage === undefined) return llm;
  return {
    name: llm.name,
    complete: async (turns) => {
      const completion = await llm.complete(turns);
      onUsage(completion.totalTokens);
      return completion;
    },
  };
}

/**
 * Stores events as they are emitted without making the agent wait for each write; `flush` waits
 * for them all and throws the first failure. Failures are held as values until then, so a write
 * that fails while the run is still going is never an unhandled rejection.
 */
function eventRecorder(session: ChatSession) {
  const writes: Promise<unknown>[] = [];
  return {
    record(event: AgentEvent): void {
      writes.push(session.appendEvent(event).then(() => undefined, (error: unknown) => ({ failed: error })));
    },
    async flush(): Promise<void> {
      for (const result of await Promise.all(writes)) if (result !== undefined) throw (result as { failed: unknown }).failed;
    },
  };
}
