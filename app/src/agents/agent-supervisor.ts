/**
 * Runs one agent per user message: stores the message with its run, runs the agent with the
 * model and tools, stores and delivers the reply. Exists only once every dependency does
 * (services phase).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../common/log';
import type { AgentRegistry } from './agent-registry';
import { runFailure } from './run-failure';
import type { ExecutionTracker } from './execution-tracker';
import type { LlmClient } from './llm';
import type { AgentEvent } from '../../../common/chat-protocol';
import type { ChatSession, Owner, RunRecord, SessionFactory, StoredMessage } from '../storage/store';
import { describeError } from '../errors';
import { type ThreadRun, RunLeases } from './run-leases';
import type { ToolDispatcher } from './tools';
import type { AgentWebSocketBridge } from '../chat/websocket-bridge';

/** How many earlier messages of a thread the agent sees. */
const HISTORY_LIMIT = 20;

/** The run's error code when the agent, the model or the store failed mid-run. */
const AGENT_FAILED = 'agent_failed';

export interface SupervisorDeps {
  llmClient: LlmClient;
  sessionFactory: SessionFactory;
  toolDispatcher: ToolDispatcher;
  websocketBridge: AgentWebSocketBridge;
  agentRegistry: AgentRegistry;
  executionTracker: ExecutionTracker;
}

export interface SupervisorOptions {
  /** How long a run counts as alive without its instance renewing it (run-leases.ts). */
  leaseMs: number;
  newRunId?: () => string;
  now?: () => Date;
}

export interface RunRequest {
  threadId: string;
  text: string;
  /** The client's id for the message: a second request with it in the thread starts nothing. */
  clientMessageId?: string;
  /** The signed-in person; recorded as the owner when this run creates the thread. */
  owner?: Owner;
  /** Told the tokens of each model call (the person's daily budget). */
  onUsage?: (tokens: number) => void;
}

export interface RunOutcome {
  runId: string;
  ok: boolean;
  /** Set when the thread already had the clientMessageId: the run that holds it; nothing was stored or sent. */
  existing?: RunRecord;
}

/**
 * One run per user message, with one ordered record and one ending. The user message and the
 * run's row are stored together before agent_started (the acknowledgement); the events are
 * numbered and stored in emission order; the run ends once, on the wire and in the store: either
 * agent_completed then agent_response, sent only once the reply, the agent_completed event and
 * the state `completed` are stored together, or agent_failed (or, when the instance stops or
 * dies, `interrupted`). Leases (run-leases.ts) close the runs of instances that died.
 */
export class AgentSupervisor {
  private readonly leases: RunLeases;
  private readonly newRunId: () => string;
  private readonly now: () => Date;

  constructor(
    private readonly deps: SupervisorDeps,
    private readonly log: Logger,
    private readonly options: SupervisorOptions,
  ) {
    this.newRunId = options.newRunId ?? randomUUID;
    this.now = options.now ?? (() => new Date());
    this.leases = new RunLeases(deps.sessionFactory, { leaseMs: options.leaseMs, log, onInterrupted: (runs) => this.tellInterrupted(runs) });
  }

  get bridge(): AgentWebSocketBridge {
    return this.deps.websocketBridge;
  }

  /** Closes the runs that died with their instances, then keeps doing so and renewing this instance's leases. */
  startLeases(): Promise<void> {
    return this.leases.start();
  }

  /** One renewal and sweep now, as the timer does. */
  sweep(): Promise<void> {
    return this.leases.tick();
  }

  /** Stops the leases and marks the runs still in flight interrupted (the instance stops). */
  stopLeases(): Promise<void> {
    return this.leases.stop();
  }

  async handle(request: RunRequest, agentName = 'chat'): Promise<RunOutcome> {
    const { sessionFactory, executionTracker } = this.deps;
    const runId = this.newRunId();
    const { threadId, text, clientMessageId, owner, onUsage } = request;
    const done = executionTracker.start(runId);
    try {
      const session = sessionFactory.session();
      let history: StoredMessage[];
      try {
        history = await session.history(threadId, HISTORY_LIMIT);
        // Stored before agent_started, which the client takes as the acknowledgement.
        const started = await session.startRun({ runId, threadId, text, at: this.now().toISOString(), clientMessageId, owner, leaseMs: this.options.leaseMs });
        if (!started.started) return { runId: started.existing.runId, ok: true, existing: started.existing };
      } catch (error) {
        // Nothing was stored: there is no run to end, and the client hears `unavailable`. A
        // WARNING: the outage itself has its own line.
        this.log.warn({ runId, err: error }, 'message refused: not stored');
        this.deps.websocketBridge.emit(runFailure({ runId, threadId }, false, error));
        return { runId, ok: false };
      }
      this.leases.hold({ runId, threadId });
      try {
        return await this.run(session, { runId, threadId, text, history, clientMessageId, onUsage }, agentName);
      } finally {
        this.leases.release(runId);
      }
    } finally {
      done();
    }
  }

  private async run(
    session: ChatSession,
    { runId, threadId, text, history, clientMessageId, onUsage }: Omit<RunRequest, 'owner'> & { runId: string; history: StoredMessage[] },
    agentName: string,
  ): Promise<RunOutcome> {
    const { agentRegistry, llmClient, toolDispatcher, websocketBridge } = this.deps;
    try {
      const recorder = runRecorder(session, (event) => agentRegistry.emit(event));
      const reply = await agentRegistry.get(agentName).run({
        runId,
        threadId,
        text,
        history,
        llm: metered(llmClient, onUsage),
        tools: toolDispatcher,
        emit: (event) => recorder.emit(event.type === 'agent_started' && clientMessageId !== undefined ? { ...event, clientMessageId } : event),
      });
      const completed = await recorder.settle();
      const stored = await session.completeRun({ runId, ...completed, reply: { threadId, role: 'assistant', text: reply, at: this.now().toISOString() } });
      // Another instance found the lease expired and ended the run as interrupted, and told the thread.
      if (!stored) return { runId, ok: false };
      agentRegistry.emit(completed.event);
      websocketBridge.emit({ type: 'agent_response', runId, threadId, text: reply });
      return { runId, ok: true };
    } catch (error) {
      // No threadId: ERROR lines reach more readers than the thread's owner.
      this.log.error({ runId, err: error }, 'agent run failed');
      // The instance is stopping: the run was ended as interrupted, and its sockets are closing.
      if (this.leases.stopped) return { runId, ok: false };
      const ended = await session.failRun(runId, AGENT_FAILED).catch((failure: unknown) => {
        this.log.warn({ runId }, `storing the failure failed, retried with the leases: ${describeError(failure)}`);
        this.leases.failLater(runId, AGENT_FAILED);
        return true;
      });
      // Not ended here: it was already interrupted, and the thread was told.
      if (ended) websocketBridge.emit(runFailure({ runId, threadId }, true, error));
      return { runId, ok: false };
    }
  }

  private tellInterrupted(runs: ThreadRun[]): void {
    for (const { runId, threadId } of runs) {
      this.deps.websocketBridge.emit({ type: 'error', code: 'interrupted', runId, threadId, message: 'the run was interrupted before it answered; send the message again' });
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
 * One run's events: numbered in emission order and stored one after another (so the row ids
 * follow the numbers too) without making the agent wait. After the first failed write nothing
 * more is written, so the stored events are always a gap-free prefix. The agent_completed event
 * is held back from the wire: `settle` waits for the writes and returns it with its number, to be
 * stored with the reply and sent after it is.
 */
function runRecorder(session: ChatSession, deliver: (event: AgentEvent) => void) {
  let seq = 0;
  let writes: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  let completed: { event: AgentEvent; seq: number } | undefined;
  return {
    emit(event: AgentEvent): void {
      seq += 1;
      if (event.type === 'agent_completed') {
        completed = { event, seq };
        return;
      }
      deliver(event);
      const number = seq;
      writes = writes.then(async () => {
        if (failure !== undefined) return;
        await session.appendEvent(event, number).catch((error: unknown) => void (failure = { error }));
      });
    },
    async settle(): Promise<{ event: AgentEvent; seq: number }> {
      await writes;
      if (failure !== undefined) throw failure.error;
      if (completed === undefined) throw new Error('the agent returned without emitting agent_completed');
      return completed;
    },
  };
}
