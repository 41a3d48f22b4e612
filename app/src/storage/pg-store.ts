/**
 * Chat history in PostgreSQL (Cloud SQL in production), so a client that reconnects to another
 * instance finds its thread. The database phase opens it with `openPostgres`: connect, migrate,
 * ping, retried with backoff inside the phase's budget. Once running, every statement has a
 * deadline: the server cancels it after `queryMs` (statement_timeout, which also bounds a wait for
 * a lock), and the client gives up a little later when no answer comes at all (a connection that
 * neither answers nor fails), dropping that connection; getting a connection has `connectMs`.
 */
import { Client, Pool, type PoolConfig } from 'pg';
import type { Logger } from '../../../common/log';
import { connectWithin, settleWithin, urlSecrets, urlTarget } from '../startup/dependency-retry';
import { RecyclingPool } from './recycling-pool';
import { describeError } from '../errors';
import { migrate } from './migrations';
import type { AgentEvent } from '../../../common/chat-protocol';
import type { ChatSession, SessionFactory, StoredMessage } from './store';

/** Connections per instance: Cloud SQL's limit is shared by every instance of every revision. */
const POOL_SIZE = 5;

/**
 * How much later than the server's statement_timeout the client stops waiting: a live server's
 * cancellation arrives first and keeps the connection; only a silent one reaches this.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 500;

export interface DatabaseDeadlines {
  queryMs: number;
  connectMs: number;
}

/** The pool's settings once running: the deadlines, apart from the startup budget. */
export function poolConfig(url: string, deadlines: DatabaseDeadlines): PoolConfig {
  return {
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: deadlines.connectMs,
    statement_timeout: deadlines.queryMs,
    query_timeout: deadlines.queryMs + CLIENT_TIMEOUT_MARGIN_MS,
  };
}

interface MessageRow {
  /** bigint: pg returns it as a string. */
  id: string;
  thread_id: string;
  role: StoredMessage['role'];
  text: string;
  at: Date;
}

// One statement, so a message never lands without its thread.
const APPEND_MESSAGE = `
  WITH thread AS (
    INSERT INTO threads (id) VALUES ($1)
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

export class PgStore implements SessionFactory {
  readonly kind = 'postgres';

  constructor(private readonly pool: RecyclingPool) {}

  session(): ChatSession {
    return {
      append: async ({ threadId, role, text, at }) => {
        await this.pool.query(APPEND_MESSAGE, [threadId, role, text, at]);
      },
      appendEvent: async (event: AgentEvent) => {
        await this.pool.query(APPEND_EVENT, [event.threadId, event.runId, event.type, JSON.stringify(event)]);
      },
      history: async (threadId, limit, before) => {
        const { rows } = await this.pool.query<MessageRow>(HISTORY_QUERY, [threadId, limit, before ?? null]);
        return rows.map((row) => ({ threadId: row.thread_id, role: row.role, text: row.text, at: row.at.toISOString(), position: Number(row.id) }));
      },
    };
  }

  /** Reads the messages table, so a lock on it (or a server that answers nothing) fails the ping. */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1 FROM messages LIMIT 0');
  }

  /** Waits for checked-out clients (in-flight queries) to be released, then closes every connection. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}

export interface OpenPostgresOptions {
  url: string;
  budgetMs: number;
  deadlines: DatabaseDeadlines;
  log: Logger;
  signal?: AbortSignal;
  createPool?: (config: PoolConfig) => Pool;
}

/** The name a failure or a log line uses for the database: where it is, never the password. */
export function postgresName(url: string): string {
  return `PostgreSQL at ${urlTarget(url)}`;
}

export async function openPostgres({ url, budgetMs, deadlines, log, signal, createPool = (config) => new Pool(config) }: OpenPostgresOptions): Promise<PgStore> {
  const name = postgresName(url);
  const secrets = urlSecrets(url);
  return connectWithin(
    async (timeoutMs) => {
      // Migrations on a connection of their own, bounded by what is left of the startup budget
      // rather than by the deadlines of chat's statements. Not awaited: ending a connection that
      // stalled would wait as long as it does.
      const client = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
      client.on('error', () => undefined);
      try {
        const applied = await settleWithin(
          client.connect().then(() => migrate(client)),
          timeoutMs,
          `no answer within ${timeoutMs} ms`,
        );
        if (applied.length > 0) log.info({ dependency: name, applied }, `${name}: applied migrations ${applied.join(', ')}`);
      } finally {
        client.end().catch(() => undefined);
      }
      const newPool = () => {
        const pool = createPool(poolConfig(url, deadlines));
        // An idle connection that the server drops (restart, failover) is reported here; without a
        // listener the process would crash. The pool replaces it on the next query.
        pool.on('error', (error) => log.warn({ dependency: name }, `${name}: idle connection lost: ${describeError(error, secrets)}`));
        return pool;
      };
      const store = new PgStore(new RecyclingPool(newPool));
      try {
        await store.ping();
        return store;
      } catch (error) {
        await store.close().catch(() => undefined);
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
