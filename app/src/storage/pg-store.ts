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
import type { AgentEvent, RunState } from '../../../common/chat-protocol';
import { type ChatSession, INTERRUPTED_CODES, PREVIEW_CHARS, type RunRecord, type SessionFactory, type StoredMessage } from './store';

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
function poolConfig(url: string, deadlines: DatabaseDeadlines): PoolConfig {
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
  run_id: string | null;
  run_state: RunState | null;
}

interface RunRow {
  id: string;
  thread_id: string;
  state: RunState;
  error_code: string | null;
  reply: string | null;
}

/** The thread $1, created with the owner in the parameters named (null, null when anonymous), or touched. */
function upsertThread(ownerIssuer: string, ownerSubject: string): string {
  return `
  INSERT INTO threads (id, owner_issuer, owner_subject) VALUES ($1, ${ownerIssuer}, ${ownerSubject})
  ON CONFLICT (id) DO UPDATE SET updated_at = now()
  RETURNING id`;
}

// One statement, so a message never lands without its thread; the owner is set when the thread is created.
const APPEND_MESSAGE = `
  WITH thread AS (${upsertThread('$5', '$6')})
  INSERT INTO messages (thread_id, role, text, at) SELECT id, $2, $3, $4 FROM thread`;

// One statement: the thread, the run and its user message land together, or (the thread already
// has the clientMessageId) none of them. The message id is drawn first so the run can name it.
const START_RUN = `
  WITH thread AS (${upsertThread('$7', '$8')}),
  run AS (
    INSERT INTO runs (id, thread_id, user_message_id, client_message_id, state, lease_until)
    SELECT $2, thread.id, nextval(pg_get_serial_sequence('messages', 'id')), $3, 'running', now() + $6::double precision * interval '1 millisecond' FROM thread
    ON CONFLICT (thread_id, client_message_id) DO NOTHING
    RETURNING id, thread_id, user_message_id
  ),
  message AS (
    INSERT INTO messages (id, thread_id, role, text, run_id, at) SELECT user_message_id, thread_id, 'user', $4, id, $5 FROM run RETURNING id
  )
  SELECT count(*)::int AS started FROM message`;

const RUN_COLUMNS = `
  SELECT runs.id, runs.thread_id, runs.state, runs.error_code, reply.text AS reply FROM runs
  LEFT JOIN messages reply ON reply.run_id = runs.id AND reply.role = 'assistant'`;

const RUN_BY_CLIENT_MESSAGE_ID = `${RUN_COLUMNS} WHERE runs.thread_id = $1 AND runs.client_message_id = $2`;
const RUN_BY_ID = `${RUN_COLUMNS} WHERE runs.id = $1`;

const APPEND_EVENT = 'INSERT INTO events (thread_id, run_id, seq, type, payload) VALUES ($1, $2, $3, $4, $5)';

// One statement: the state, the terminal event and the reply, or nothing when the run was no
// longer running (another instance found its lease expired and marked it interrupted).
const COMPLETE_RUN = `
  WITH done AS (
    UPDATE runs SET state = 'completed', ended_at = now() WHERE id = $1 AND state = 'running' RETURNING id, thread_id
  ),
  event AS (
    INSERT INTO events (thread_id, run_id, seq, type, payload) SELECT thread_id, id, $2, $3, $4 FROM done
  ),
  reply AS (
    INSERT INTO messages (thread_id, role, text, run_id, at) SELECT thread_id, 'assistant', $5, id, $6 FROM done
  )
  SELECT count(*)::int AS completed FROM done`;

const END_RUNS = `UPDATE runs SET state = $2, error_code = $3, ended_at = now() WHERE id = ANY($1) AND state = 'running'`;

const RENEW_LEASES = `UPDATE runs SET lease_until = now() + $2::double precision * interval '1 millisecond' WHERE id = ANY($1) AND state = 'running'`;

// The database's clock for every lease, so instances' clocks never disagree about one. Two
// instances sweeping at once: the second waits for the first's row locks, then finds nothing.
const SWEEP_EXPIRED = `
  UPDATE runs SET state = 'interrupted', error_code = $1, ended_at = now()
  WHERE state = 'running' AND lease_until < now()
  RETURNING id, thread_id`;

const RUN_EVENTS = 'SELECT seq, payload FROM events WHERE run_id = $1 ORDER BY seq, id';

// A backward range scan of messages_thread_id_id, however deep the page; the run of each user message by its key.
export const HISTORY_QUERY = `
  SELECT newest.id, newest.thread_id, newest.role, newest.text, newest.at, newest.run_id, runs.state AS run_state FROM (
    SELECT id, thread_id, role, text, at, run_id FROM messages
    WHERE thread_id = $1 AND id < COALESCE($3::bigint, 9223372036854775807)
    ORDER BY id DESC LIMIT $2
  ) newest
  LEFT JOIN runs ON runs.id = newest.run_id AND newest.role = 'user'
  ORDER BY newest.id`;

function runRecord(row: RunRow): RunRecord {
  return { runId: row.id, threadId: row.thread_id, state: row.state, errorCode: row.error_code, reply: row.reply };
}

const THREAD_OWNER = 'SELECT owner_issuer, owner_subject FROM threads WHERE id = $1';

/**
 * A person's threads, newest first, from threads_owner_updated. The cursor is the last row's
 * updated_at in microseconds since the epoch (timestamptz's own precision) and its id, so rows
 * that share a timestamp are neither skipped nor repeated.
 */
const THREADS_QUERY = `
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

  constructor(private readonly pool: RecyclingPool) {}

  session(): ChatSession {
    const run = async (query: string, values: unknown[]) => {
      const { rows } = await this.pool.query<RunRow>(query, values);
      return rows[0] === undefined ? undefined : runRecord(rows[0]);
    };
    const endRuns = async (runIds: readonly string[], state: RunState, errorCode: string) => (await this.pool.query(END_RUNS, [runIds, state, errorCode])).rowCount ?? 0;
    return {
      append: async ({ threadId, role, text, at }, owner) => {
        await this.pool.query(APPEND_MESSAGE, [threadId, role, text, at, owner?.issuer ?? null, owner?.subject ?? null]);
      },
      startRun: async ({ runId, threadId, text, at, clientMessageId, owner, leaseMs }) => {
        const { rows } = await this.pool.query<{ started: number }>(START_RUN, [threadId, runId, clientMessageId ?? null, text, at, leaseMs, owner?.issuer ?? null, owner?.subject ?? null]);
        if (rows[0]?.started === 1) return { started: true };
        const existing = await run(RUN_BY_CLIENT_MESSAGE_ID, [threadId, clientMessageId]);
        if (existing === undefined) throw new Error(`run ${runId} was neither stored nor found under its clientMessageId`);
        return { started: false, existing };
      },
      appendEvent: async (event: AgentEvent, seq: number) => {
        await this.pool.query(APPEND_EVENT, [event.threadId, event.runId, seq, event.type, JSON.stringify(event)]);
      },
      completeRun: async ({ runId, event, seq, reply }) => {
        const { rows } = await this.pool.query<{ completed: number }>(COMPLETE_RUN, [runId, seq, event.type, JSON.stringify(event), reply.text, reply.at]);
        return rows[0]?.completed === 1;
      },
      failRun: async (runId, errorCode) => (await endRuns([runId], 'failed', errorCode)) === 1,
      interruptRuns: async (runIds, errorCode) => {
        if (runIds.length > 0) await endRuns(runIds, 'interrupted', errorCode);
      },
      renewLeases: async (runIds, leaseMs) => {
        if (runIds.length > 0) await this.pool.query(RENEW_LEASES, [runIds, leaseMs]);
      },
      sweepExpired: async () => {
        const { rows } = await this.pool.query<{ id: string; thread_id: string }>(SWEEP_EXPIRED, [INTERRUPTED_CODES.leaseExpired]);
        return rows.map((row) => ({ runId: row.id, threadId: row.thread_id }));
      },
      run: (runId) => run(RUN_BY_ID, [runId]),
      events: async (runId) => {
        const { rows } = await this.pool.query<{ seq: number; payload: AgentEvent }>(RUN_EVENTS, [runId]);
        return rows.map((row) => ({ seq: row.seq, event: row.payload }));
      },
      history: async (threadId, limit, before) => {
        const { rows } = await this.pool.query<MessageRow>(HISTORY_QUERY, [threadId, limit, before ?? null]);
        return rows.map((row) => ({
          threadId: row.thread_id,
          role: row.role,
          text: row.text,
          at: row.at.toISOString(),
          position: Number(row.id),
          ...(row.run_id !== null && row.run_state !== null ? { runId: row.run_id, runState: row.run_state } : {}),
        }));
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
