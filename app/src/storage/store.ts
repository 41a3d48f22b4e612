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

/** `position`: the message's place in its thread (embedded: its index; PostgreSQL: its row id). */
export type PositionedMessage = StoredMessage & { position: number };

export interface ChatSession {
  append(message: StoredMessage): Promise<void>;
  /** Records an agent event of a run whose user message was appended. */
  appendEvent(event: AgentEvent): Promise<void>;
  /**
   * The newest `limit` messages of a thread, oldest first; with `before`, the newest of those at
   * a position below it. A position grows as messages are appended and never changes.
   */
  history(threadId: string, limit: number, before?: number): Promise<PositionedMessage[]>;
}

export interface SessionFactory {
  readonly kind: string;
  session(): ChatSession;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class EmbeddedStore implements SessionFactory {
  readonly kind = 'embedded';
  private readonly threads = new Map<string, StoredMessage[]>();

  session(): ChatSession {
    return {
      append: async (message) => {
        const thread = this.threads.get(message.threadId) ?? [];
        thread.push({ ...message });
        this.threads.set(message.threadId, thread);
      },
      // Events are kept where they outlive the process (PostgreSQL); in memory nothing reads them.
      appendEvent: async () => {},
      history: async (threadId, limit, before) => {
        const thread = this.threads.get(threadId) ?? [];
        const end = Math.min(before ?? thread.length, thread.length);
        const start = Math.max(0, end - limit);
        return thread.slice(start, end).map((message, index) => ({ ...message, position: start + index }));
      },
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.threads.clear();
  }
}
