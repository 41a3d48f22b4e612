/**
 * Chat history in PostgreSQL (Cloud SQL in production), so a client that reconnects to another
 * instance finds its thread. The database phase opens it with `openPostgres`: connect, migrate,
 * ping, retried with backoff inside the phase's budget.
 */
import { Pool, type PoolConfig } from 'pg';
import type { Logger } from '../../../common/log';
import { connectWithin, urlSecrets, urlTarget } from '../startup/dependency-retry';
import { describeError } from '../errors';
import { migrate } from './migrations';
import type { AgentEvent } from '../../../common/chat-protocol';
import { type ChatSession, PREVIEW_CHARS, type SessionFactory, type StoredMessage } from './store';

/** Connections per instance: Cloud SQL's limit is shared by every instance of every revision. */
const POOL_SIZE = 5;

interface MessageRow {
  /** bigint: pg returns it as a string. */
  id: string;
  thread_id: string;
  role: StoredMessage['role'];
  text: string;
  at: Date;
}

// One statement, so a message never lands without its thread; the owner is set when the thread is created.
const APPEND_MESSAGE = `
  WITH thread AS (
    INSERT INTO threads (id, owner_issuer, owner_subject) VALUES ($1, $5, $6)
    ON CONFLICT (id) DO UPDATE SET updated_at = now()
    RETURNING id
  )
  INSERT INTO messages (thread_id, role, text, at) SELECT id, $2, $3, $4 FROM thread`;

const APPEND_EVENT = 'INSERT INTO events (thread_id, run_id, type, payload) VALUES ($1, $2, $3, $4)';

// A backward range scan of messages_thread_id_id, however deep the page.
export const HISTORY_QUERY = `
  SELECT id, thread_id, role, text, at FROM (
    SELECT id, thread_id, role, text, at FROM messages
    WHERE thread_id = $1 AND id < COALESCE($3::bigint, 9223372036854775807)
    ORDER BY id DESC LIMIT $2
  ) newest ORDER BY id`;

const THREAD_OWNER = 'SELECT owner_issuer, owner_subject FROM threads WHERE id = $1';

/**
 * A person's threads, newest first, from threads_owner_updated. The cursor is the last row's
 * updated_at in microseconds since the epoch (timestamptz's own precision) and its id, so rows
 * that share a timestamp are neither skipped nor repeated.
 */
export const THREADS_QUERY = `
  SELECT t.id, t.updated_at, (EXTRACT(EPOCH FROM t.updated_at) * 1000000)::bigint AS micros,
    (SELECT left(m.text, $4) FROM messages m WHERE m.thread_id = t.id ORDER BY m.id LIMIT 1) AS preview
  FROM threads t
  WHERE t.owner_issuer = $1 AND t.owner_subject = $2
    AND ($5::bigint IS NULL OR ((EXTRACT(EPOCH FROM t.updated_at) * 1000000)::bigint, t.id) < ($5::bigint, $6::text))
  ORDER BY t.updated_at DESC, t.id DESC LIMIT $3`;

interface ThreadRow {
  id: string;
  updated_at: Date;
  micros: string;
  preview: string | null;
}

/** `micros.threadId`; anything else reads as no cursor at all, which the protocol's schema prevents. */
function parseCursor(cursor: string | undefined): [string | null, string | null] {
  const match = cursor === undefined ? null : /^(\d{1,20})\.(.+)$/.exec(cursor);
  return match === null ? [null, null] : [match[1]!, match[2]!];
}

export class PgStore implements SessionFactory {
  readonly kind = 'postgres';

  constructor(private readonly pool: Pool) {}

  session(): ChatSession {
    return {
      append: async ({ threadId, role, text, at }, owner) => {
        await this.pool.query(APPEND_MESSAGE, [threadId, role, text, at, owner?.issuer ?? null, owner?.subject ?? null]);
      },
      appendEvent: async (event: AgentEvent) => {
        await this.pool.query(APPEND_EVENT, [event.threadId, event.runId, event.type, JSON.stringify(event)]);
      },
      history: async (threadId, limit, before) => {
        const { rows } = await this.pool.query<MessageRow>(HISTORY_QUERY, [threadId, limit, before ?? null]);
        return rows.map((row) => ({ threadId: row.thread_id, role: row.role, text: row.text, at: row.at.toISOString(), position: Number(row.id) }));
      },
      owner: async (threadId) => {
        const { rows } = await this.pool.query<{ owner_issuer: string | null; owner_subject: string | null }>(THREAD_OWNER, [threadId]);
        const row = rows[0];
        if (row === undefined) return undefined;
        return row.owner_issuer === null || row.owner_subject === null ? null : { issuer: row.owner_issuer, subject: row.owner_subject };
      },
      threads: async (owner, limit, before) => {
        const { rows } = await this.pool.query<ThreadRow>(THREADS_QUERY, [owner.issuer, owner.subject, limit, PREVIEW_CHARS, ...parseCursor(before)]);
        return rows.map((row) => ({ threadId: row.id, updatedAt: row.updated_at.toISOString(), preview: row.preview ?? '', cursor: `${row.micros}.${row.id}` }));
      },
    };
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Waits for checked-out clients (in-flight queries) to be released, then closes every connection. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}

export interface OpenPostgresOptions {
  url: string;
  budgetMs: number;
  log: Logger;
  signal?: AbortSignal;
  createPool?: (config: PoolConfig) => Pool;
}

/** The name a failure or a log line uses for the database: where it is, never the password. */
export function postgresName(url: string): string {
  return `PostgreSQL at ${urlTarget(url)}`;
}

export async function openPostgres({ url, budgetMs, log, signal, createPool = (config) => new Pool(config) }: OpenPostgresOptions): Promise<PgStore> {
  const name = postgresName(url);
  const secrets = urlSecrets(url);
  return connectWithin(
    async (timeoutMs) => {
      const pool = createPool({ connectionString: url, connectionTimeoutMillis: timeoutMs, max: POOL_SIZE });
      // An idle connection that the server drops (restart, failover) is reported here; without a
      // listener the process would crash. The pool replaces it on the next query.
      pool.on('error', (error) => log.warn({ dependency: name }, `${name}: idle connection lost: ${describeError(error, secrets)}`));
      try {
        const client = await pool.connect();
        try {
          const applied = await migrate(client);
          if (applied.length > 0) log.info({ dependency: name, applied }, `${name}: applied migrations ${applied.join(', ')}`);
        } finally {
          client.release();
        }
        const store = new PgStore(pool);
        await store.ping();
        return store;
      } catch (error) {
        await pool.end().catch(() => undefined);
        throw error;
      }
    },
    {
      name,
      budgetMs,
      secrets,
      signal,
      onRetry: (attempt, reason, delayMs) => log.warn({ dependency: name, attempt, delayMs }, `${name}: attempt ${attempt} failed, retrying: ${reason}`),
    },
  );
}
