/**
 * Chat history and run records behind a session factory. The embedded store keeps them in
 * memory; the PostgreSQL store (pg-store.ts) implements the same interface and the same model:
 * every user message that starts a run is stored with the run's row (state `running`, leased),
 * the run's events carry a sequence number in emission order, and the run ends exactly once:
 * `completed` (the agent_completed event and the reply stored together), `failed`, or
 * `interrupted` (its lease ran out, or its instance stopped). With sign-in on, a thread belongs to
 * the person whose message created it, and lists among that person's threads.
 */
import type { AgentEvent, RunState } from '../../../common/chat-protocol';

/** Who a thread belongs to when sign-in is on: the issuer and subject that created it. */
export interface Owner {
  issuer: string;
  subject: string;
}

/** One line of a person's thread list. `cursor` is opaque: the place to page on from. */
export interface ThreadSummary {
  threadId: string;
  updatedAt: string;
  /** The start of the thread's first message. */
  preview: string;
  cursor: string;
}

/** Characters of a thread's first message shown in the thread list. */
export const PREVIEW_CHARS = 120;

export interface StoredMessage {
  threadId: string;
  role: 'user' | 'assistant';
  text: string;
  at: string;
}

/**
 * `position`: the message's place in its thread (embedded: its index; PostgreSQL: its row id).
 * A user message stored with its run carries the run's id and current state.
 */
export type PositionedMessage = StoredMessage & { position: number; runId?: string; runState?: RunState };

export interface NewRun {
  runId: string;
  threadId: string;
  /** The user message the run answers. */
  text: string;
  at: string;
  /** The client's id for the message, unique per thread: a second run with it starts nothing. */
  clientMessageId?: string;
  /** The signed-in person: recorded when the message creates its thread, never changed later. */
  owner?: Owner;
  /** How long the run counts as alive without a renewal (`renewLeases`). */
  leaseMs: number;
}

export interface RunRecord {
  runId: string;
  threadId: string;
  state: RunState;
  errorCode: string | null;
  /** The reply, once the run completed. */
  reply: string | null;
}

/** `started`: the message and the run were stored; otherwise the run that already holds the clientMessageId. */
export type StartedRun = { started: true } | { started: false; existing: RunRecord };

export interface Completion {
  runId: string;
  /** The run's agent_completed, stored with the reply. */
  event: AgentEvent;
  seq: number;
  reply: StoredMessage;
}

export interface StoredEvent {
  seq: number;
  event: AgentEvent;
}

/** Why a run ended without an answer: the error code stored with the `interrupted` state. */
export const INTERRUPTED_CODES = { leaseExpired: 'instance_lost', shutdown: 'shutdown' } as const;

export interface ChatSession {
  /** Appends a message that belongs to no run (imports, tests); `owner` as in `startRun`. */
  append(message: StoredMessage, owner?: Owner): Promise<void>;
  /** Stores the user message and its run (`running`, leased) together, or nothing when the clientMessageId is taken. */
  startRun(run: NewRun): Promise<StartedRun>;
  /** Records an event of a running run under its sequence number (1, 2, ... in emission order). */
  appendEvent(event: AgentEvent, seq: number): Promise<void>;
  /** Stores the terminal event, the reply and the state `completed` together; false (nothing stored) when the run was no longer running. */
  completeRun(completion: Completion): Promise<boolean>;
  /** Marks a running run `failed` with `errorCode`; false when it was no longer running. */
  failRun(runId: string, errorCode: string): Promise<boolean>;
  /** Marks running runs `interrupted` with `errorCode`, whatever their lease (this instance stops them). */
  interruptRuns(runIds: readonly string[], errorCode: string): Promise<void>;
  /** Extends the lease of those of `runIds` still running to `leaseMs` from now. */
  renewLeases(runIds: readonly string[], leaseMs: number): Promise<void>;
  /** Marks every running run whose lease ran out `interrupted`, and returns them. */
  sweepExpired(): Promise<{ runId: string; threadId: string }[]>;
  run(runId: string): Promise<RunRecord | undefined>;
  /** A run's events in emission order. */
  events(runId: string): Promise<StoredEvent[]>;
  /**
   * The newest `limit` messages of a thread, oldest first; with `before`, the newest of those at
   * a position below it. A position grows as messages are appended and never changes.
   */
  history(threadId: string, limit: number, before?: number): Promise<PositionedMessage[]>;
  /** The thread's owner; null for a thread started anonymously, undefined when there is no such thread. */
  owner(threadId: string): Promise<Owner | null | undefined>;
  /** The owner's threads, most recently updated first; with `before`, those after that cursor. */
  threads(owner: Owner, limit: number, before?: string): Promise<ThreadSummary[]>;
}

export interface SessionFactory {
  readonly kind: string;
  session(): ChatSession;
  ping(): Promise<void>;
  close(): Promise<void>;
}

interface EmbeddedRun {
  record: RunRecord;
  leaseUntil: number;
  events: StoredEvent[];
}

interface EmbeddedThread {
  messages: (StoredMessage & { runId?: string })[];
  owner: Owner | null;
  updatedAt: string;
  /** Order of the latest append across threads: the thread list's order and cursor. */
  updateSeq: number;
}

export class EmbeddedStore implements SessionFactory {
  readonly kind = 'embedded';
  private readonly threads = new Map<string, EmbeddedThread>();
  private seq = 0;
  private readonly runs = new Map<string, EmbeddedRun>();
  /** Run ids by `threadId clientMessageId`. */
  private readonly byClientMessageId = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  session(): ChatSession {
    const running = (runId: string) => {
      const run = this.runs.get(runId);
      return run?.record.state === 'running' ? run : undefined;
    };
    const end = (run: EmbeddedRun, state: RunState, errorCode: string | null) => Object.assign(run.record, { state, errorCode });
    return {
      append: async (message, owner) => this.push({ ...message }, owner),
      startRun: async ({ runId, threadId, text, at, clientMessageId, owner, leaseMs }) => {
        const key = clientMessageId === undefined ? undefined : `${threadId} ${clientMessageId}`;
        const existing = key === undefined ? undefined : this.runs.get(this.byClientMessageId.get(key) ?? '');
        if (existing !== undefined) return { started: false, existing: { ...existing.record } };
        this.runs.set(runId, { record: { runId, threadId, state: 'running', errorCode: null, reply: null }, leaseUntil: this.now() + leaseMs, events: [] });
        if (key !== undefined) this.byClientMessageId.set(key, runId);
        this.push({ threadId, role: 'user', text, at, runId }, owner);
        return { started: true };
      },
      appendEvent: async (event, seq) => {
        running(event.runId)?.events.push({ seq, event });
      },
      completeRun: async ({ runId, event, seq, reply }) => {
        const run = running(runId);
        if (run === undefined) return false;
        run.events.push({ seq, event });
        end(run, 'completed', null).reply = reply.text;
        this.push({ ...reply, runId });
        return true;
      },
      failRun: async (runId, errorCode) => {
        const run = running(runId);
        if (run !== undefined) end(run, 'failed', errorCode);
        return run !== undefined;
      },
      interruptRuns: async (runIds, errorCode) => {
        for (const runId of runIds) {
          const run = running(runId);
          if (run !== undefined) end(run, 'interrupted', errorCode);
        }
      },
      renewLeases: async (runIds, leaseMs) => {
        for (const runId of runIds) {
          const run = running(runId);
          if (run !== undefined) run.leaseUntil = this.now() + leaseMs;
        }
      },
      sweepExpired: async () => {
        const expired = [...this.runs.values()].filter((run) => run.record.state === 'running' && run.leaseUntil < this.now());
        for (const run of expired) end(run, 'interrupted', INTERRUPTED_CODES.leaseExpired);
        return expired.map(({ record }) => ({ runId: record.runId, threadId: record.threadId }));
      },
      run: async (runId) => {
        const run = this.runs.get(runId);
        return run === undefined ? undefined : { ...run.record };
      },
      events: async (runId) => [...(this.runs.get(runId)?.events ?? [])].sort((a, b) => a.seq - b.seq),
      history: async (threadId, limit, before) => {
        const thread = this.threads.get(threadId)?.messages ?? [];
        const last = Math.min(before ?? thread.length, thread.length);
        const first = Math.max(0, last - limit);
        return thread.slice(first, last).map(({ runId, ...message }, index) => {
          const run = message.role === 'user' && runId !== undefined ? this.runs.get(runId) : undefined;
          return { ...message, position: first + index, ...(run === undefined ? {} : { runId, runState: run.record.state }) };
        });
      },
      owner: async (threadId) => this.threads.get(threadId)?.owner,
      threads: async (owner, limit, before) => {
        const after = before === undefined ? Infinity : Number(before);
        return [...this.threads.entries()]
          .filter(([, thread]) => thread.owner?.issuer === owner.issuer && thread.owner.subject === owner.subject && thread.updateSeq < after)
          .sort(([, a], [, b]) => b.updateSeq - a.updateSeq)
          .slice(0, limit)
          .map(([threadId, thread]) => ({ threadId, updatedAt: thread.updatedAt, preview: thread.messages[0]?.text.slice(0, PREVIEW_CHARS) ?? '', cursor: String(thread.updateSeq) }));
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.threads.clear();
    this.runs.clear();
    this.byClientMessageId.clear();
  }

  private push(message: StoredMessage & { runId?: string }, owner?: Owner): void {
    const thread = this.threads.get(message.threadId) ?? { messages: [], owner: owner ?? null, updatedAt: '', updateSeq: 0 };
    thread.messages.push(message);
    thread.updatedAt = new Date(this.now()).toISOString();
    thread.updateSeq = ++this.seq;
    this.threads.set(message.threadId, thread);
  }
}
