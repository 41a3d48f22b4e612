/**
 * Chat history storage behind a session factory. The embedded store keeps threads in memory; a
 * PostgreSQL-backed factory implements the same interface.
 */

export interface StoredMessage {
  threadId: string;
  role: 'user' | 'assistant';
  text: string;
  at: string;
}

export interface ChatSession {
  append(message: StoredMessage): Promise<void>;
  /** The newest `limit` messages of a thread, oldest first. */
  history(threadId: string, limit: number): Promise<StoredMessage[]>;
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
      history: async (threadId, limit) => (this.threads.get(threadId) ?? []).slice(-limit).map((message) => ({ ...message })),
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.threads.clear();
  }
}
