/**
 * Chat history storage behind a session factory. The embedded store keeps threads in memory; the
 * PostgreSQL store (pg-store.ts) implements the same interface.
 */
import type { AgentEvent } from '../../../common/chat-protocol';

export interface StoredMessage {
  threadId: string;
  role: 'user' | 'assistant';
  text: string;
  at: string;
}

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

/** `position`: the message's place in its thread (embedded: its index; PostgreSQL: its row id). */
export type PositionedMessage = StoredMessage & { position: number };

export interface ChatSession {
  /** `owner` is recorded when the message creates its thread, never changed later. */
  append(message: StoredMessage, owner?: Owner): Promise<void>;
  /** Records an agent event of a run whose user message was appended. */
  appendEvent(event: AgentEvent): Promise<void>;
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

interface EmbeddedThread {
  messages: StoredMessage[];
  owner: Owner | null;
  updatedAt: string;
  /** Order of the latest append across threads: the thread list's order and cursor. */
  updateSeq: number;
}

export class EmbeddedStore implements SessionFactory {
  readonly kind = 'embedded';
  private readonly threads = new Map<string, EmbeddedThread>();
  private seq = 0;

  session(): ChatSession {
    return {
      append: async (message, owner) => {
        const thread = this.threads.get(message.threadId) ?? { messages: [], owner: owner ?? null, updatedAt: '', updateSeq: 0 };
        thread.messages.push({ ...message });
        thread.updatedAt = new Date().toISOString();
        thread.updateSeq = ++this.seq;
        this.threads.set(message.threadId, thread);
      },
      // Events are kept where they outlive the process (PostgreSQL); in memory nothing reads them.
      appendEvent: async () => {},
      history: async (threadId, limit, before) => {
        const thread = this.threads.get(threadId)?.messages ?? [];
        const end = Math.min(before ?? thread.length, thread.length);
        const start = Math.max(0, end - limit);
        return thread.slice(start, end).map((message, index) => ({ ...message, position: start + index }));
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
  }
}
