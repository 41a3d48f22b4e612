/**
 * Versioned schema migrations for the PostgreSQL store. Each runs once, in its own transaction,
 * and is recorded in schema_migrations. Instances of a new revision start together, so the whole
 * run holds a session-level advisory lock: the second instance waits, then finds nothing to do.
 * Never edit a migration that has shipped; add the next version.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'threads and messages',
    sql: `
      CREATE TABLE threads (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE messages (
        id bigserial PRIMARY KEY,
        thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN ('user', 'assistant')),
        text text NOT NULL,
        run_id text,
        at timestamptz NOT NULL
      );
      CREATE INDEX messages_thread_id_id ON messages (thread_id, id);`,
  },
  {
    version: 2,
    name: 'agent events',
    sql: `
      CREATE TABLE events (
        id bigserial PRIMARY KEY,
        thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        run_id text NOT NULL,
        type text NOT NULL,
        payload jsonb NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX events_thread_id_id ON events (thread_id, id);`,
  },
  {
    version: 3,
    name: 'agent runs',
    // Rows from before keep reading as they did: messages without a run (the foreign key is NOT
    // VALID, so it checks new rows only). Their events were written concurrently, so their ids do
    // not follow the emission order; every run emitted the five events once, in a fixed order,
    // so that order numbers them.
    sql: `
      CREATE TABLE runs (
        id text PRIMARY KEY,
        thread_id text NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        user_message_id bigint NOT NULL,
        client_message_id text,
        state text NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'interrupted')),
        error_code text,
        started_at timestamptz NOT NULL DEFAULT now(),
        ended_at timestamptz,
        lease_until timestamptz NOT NULL,
        CHECK ((state = 'running') = (ended_at IS NULL))
      );
      CREATE UNIQUE INDEX runs_thread_id_client_message_id ON runs (thread_id, client_message_id);
      CREATE INDEX runs_lease_until_running ON runs (lease_until) WHERE state = 'running';
      ALTER TABLE messages ADD CONSTRAINT messages_run_id_fkey FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE NOT VALID;
      CREATE INDEX messages_run_id ON messages (run_id) WHERE run_id IS NOT NULL;
      ALTER TABLE events ADD COLUMN seq integer;
      UPDATE events SET seq = numbered.seq FROM (
        SELECT id, row_number() OVER (
          PARTITION BY run_id
          ORDER BY array_position(ARRAY['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'], type), id
        ) AS seq FROM events
      ) numbered WHERE events.id = numbered.id;
      ALTER TABLE events ALTER COLUMN seq SET NOT NULL;
      CREATE UNIQUE INDEX events_run_id_seq ON events (run_id, seq);`,
  },
  {
    version: 4,
    name: 'thread owners',
    sql: `
      ALTER TABLE threads
        ADD COLUMN owner_issuer text,
        ADD COLUMN owner_subject text,
        ADD CONSTRAINT threads_owner_whole CHECK ((owner_issuer IS NULL) = (owner_subject IS NULL));
      CREATE INDEX threads_owner_updated ON threads (owner_issuer, owner_subject, updated_at DESC, id DESC);`,
  },
];

/** Arbitrary, but fixed for this app: every instance must lock the same key. */
export const MIGRATION_LOCK_KEY = 7_000_001;

export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** The migrations still to apply, in order; throws when the list itself is out of order. */
export function pendingMigrations(migrations: readonly Migration[], applied: ReadonlySet<number>): Migration[] {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`migration versions must run 1, 2, 3...; found ${migration.version} at position ${index + 1}`);
  });
  return migrations.filter((migration) => !applied.has(migration.version));
}

/** Applies what is pending on one connection and returns the versions it applied. */
export async function migrate(client: Queryable, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied: number[] = [];
    for (const migration of pendingMigrations(migrations, new Set(rows.map((row) => row.version)))) {
      await applyOne(client, migration);
      applied.push(migration.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}

async function applyOne(client: Queryable, migration: Migration): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(migration.sql);
    await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw new Error(`migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
  }
}
