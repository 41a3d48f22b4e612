/** The PostgreSQL store, its migrations and its startup retries, against a real local server. */
import { Client } from 'pg';
import { createLogger } from '../../common/log';
import { MIGRATIONS, migrate, pendingMigrations } from '../src/storage/migrations';
import { CLIENT_TIMEOUT_MARGIN_MS, HISTORY_QUERY, openPostgres, type PgStore } from '../src/storage/pg-store';
import { startStallProxy } from '../../testkit/stall-proxy';
import { createDatabase, PG_PASSWORD, serverForFile, startPostgres } from '../../testkit/dependency-servers';


const log = createLogger('test', 'silent');
const DEADLINES = { queryMs: 1000, connectMs: 1000 };
const postgres = serverForFile(startPostgres);
const opened: PgStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function open(url: string, budgetMs = 5000): Promise<PgStore> {
  const store = await openPostgres({ url, budgetMs, deadlines: DEADLINES, log });
  opened.push(store);
  return store;
}

async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  it('are numbered 1, 2, 3... and only the missing ones are pending', () => {
    expect(pendingMigrations(MIGRATIONS, new Set([1])).map((m) => m.version)).toEqual([2, 3, 4]);
    expect(() => pendingMigrations([{ version: 2, name: 'x', sql: '' }], new Set())).toThrow('found 2 at position 1');
  });

  it('apply once when two instances start at the same time, and not again later', async () => {
    const url = await createDatabase(postgres());
    const [first, second] = await Promise.all([withClient(url, (c) => migrate(c)), withClient(url, (c) => migrate(c))]);
    expect([first, second].sort((a, b) => b.length - a.length)).toEqual([[1, 2, 3, 4], []]);
    expect(await withClient(url, (c) => migrate(c))).toEqual([]);
    const { rows } = await withClient(url, (c) => c.query('SELECT version, name FROM schema_migrations ORDER BY version'));
    expect(rows).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
  });

  it('roll back a failing migration and report it', async () => {
    const url = await createDatabase(postgres());
    const broken = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE ok (id int); SELECT nope' }];
    await expect(withClient(url, (c) => migrate(c, broken))).rejects.toThrow(/migration 5 \(broken\) failed: column "nope" does not exist/);
    const { rows } = await withClient(url, (c) => c.query("SELECT to_regclass('ok') AS ok, max(version) AS newest FROM schema_migrations"));
    expect(rows[0]).toEqual({ ok: null, newest: 4 });
  });

  it('keep the rows of a database at version 2 readable: messages without a run, events numbered in the order they were emitted', async () => {
    const url = await createDatabase(postgres());
    await withClient(url, async (c) => {
      await migrate(c, MIGRATIONS.slice(0, 2));
      await c.query("INSERT INTO threads (id) VALUES ('old')");
      await c.query("INSERT INTO messages (thread_id, role, text, at) VALUES ('old', 'user', 'before runs', now()), ('old', 'assistant', 'reply', now())");
      // Written concurrently before version 3: ids out of emission order.
      await c.query(`INSERT INTO events (thread_id, run_id, type, payload) VALUES
        ('old', 'r0', 'agent_thinking', '{}'), ('old', 'r0', 'agent_started', '{}'), ('old', 'r1', 'agent_started', '{}')`);
      expect(await migrate(c)).toEqual([3, 4]);
      const { rows } = await c.query('SELECT run_id, seq, type FROM events ORDER BY run_id, seq');
      expect(rows).toEqual([
        { run_id: 'r0', seq: 1, type: 'agent_started' },
        { run_id: 'r0', seq: 2, type: 'agent_thinking' },
        { run_id: 'r1', seq: 1, type: 'agent_started' },
      ]);
    });
    const session = (await open(url)).session();
    expect((await session.history('old', 10)).map(({ role, text, runState }) => ({ role, text, runState }))).toEqual([
      { role: 'user', text: 'before runs', runState: undefined },
      { role: 'assistant', text: 'reply', runState: undefined },
    ]);
    await session.append({ threadId: 'old', role: 'user', text: 'after', at: new Date().toISOString() });
    expect(await session.history('old', 10)).toHaveLength(3);
  });
});

describe('PostgreSQL store', () => {
  it('keeps threads apart, returns the newest messages oldest first, and stores events', async () => {
    const url = await createDatabase(postgres());
    const session = (await open(url)).session();
    for (const [i, text] of ['a', 'b', 'c'].entries()) await session.append({ threadId: 't', role: i === 1 ? 'assistant' : 'user', text, at: `2026-01-01T00:00:0${i}.000Z` });
    await session.append({ threadId: 'u', role: 'user', text: 'other', at: '2026-01-01T00:00:00.000Z' });
    expect(await session.history('t', 2)).toEqual([
      { threadId: 't', role: 'assistant', text: 'b', at: '2026-01-01T00:00:01.000Z', position: 2 },
      { threadId: 't', role: 'user', text: 'c', at: '2026-01-01T00:00:02.000Z', position: 3 },
    ]);
    await session.appendEvent({ type: 'agent_started', runId: 'r1', threadId: 't', agent: 'chat' }, 1);
    const { rows } = await withClient(url, (c) => c.query('SELECT thread_id, run_id, seq, type, payload FROM events'));
    expect(rows).toEqual([{ thread_id: 't', run_id: 'r1', seq: 1, type: 'agent_started', payload: { type: 'agent_started', runId: 'r1', threadId: 't', agent: 'chat' } }]);
  });

  it('reads the page before a position (the row id, shared by every thread) with a range scan of the thread index', async () => {
    const url = await createDatabase(postgres());
    const session = (await open(url)).session();
    for (const [i, threadId] of ['t', 'u', 't', 'u', 't', 't'].entries()) await session.append({ threadId, role: 'user', text: `${threadId}${i}`, at: new Date().toISOString() });
    const page = (before?: number) => session.history('t', 2, before).then((messages) => messages.map((m) => `${m.position}:${m.text}`));
    expect([await page(), await page(5), await page(3), await page(1), await page(0)]).toEqual([['5:t4', '6:t5'], ['1:t0', '3:t2'], ['1:t0'], [], []]);
    // The plan a large table gets: the index bounds both the thread and the position.
    const plan = await withClient(url, async (c) => {
      await c.query('SET enable_seqscan = off');
      const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${HISTORY_QUERY}`, ['t', 2, 5]);
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index (Only )?Scan Backward using messages_thread_id_id[\s\S]*Index Cond: \(\(thread_id = 't'::text\) AND \(id < /);
  });

  it("records a thread's owner when it is created and lists a person's threads newest first, paged", async () => {
    const url = await createDatabase(postgres());
    const session = (await open(url)).session();
    const alice = { issuer: 'https://issuer.example', subject: 'alice' };
    const at = () => new Date().toISOString();
    for (const threadId of ['a1', 'a2', 'a3']) await session.append({ threadId, role: 'user', text: `hello ${threadId}`, at: at() }, alice);
    await session.append({ threadId: 'b1', role: 'user', text: 'bob', at: at() }, { issuer: alice.issuer, subject: 'bob' });
    await session.append({ threadId: 'anon', role: 'user', text: 'nobody', at: at() });
    // A later message neither moves the owner nor the first message's preview, but makes the thread newest.
    await session.append({ threadId: 'a1', role: 'assistant', text: 'reply', at: at() }, { issuer: alice.issuer, subject: 'mallory' });
    expect([await session.owner('a1'), await session.owner('anon'), await session.owner('none')]).toEqual([alice, null, undefined]);
    // Same subject at another issuer is another person.
    expect(await session.threads({ issuer: 'https://other.example', subject: 'alice' }, 10)).toEqual([]);
    const first = await session.threads(alice, 2);
    expect(first.map((t) => [t.threadId, t.preview])).toEqual([['a1', 'hello a1'], ['a3', 'hello a3']]);
    const second = await session.threads(alice, 2, first[1]!.cursor);
    expect(second.map((t) => t.threadId)).toEqual(['a2']);
    // Rows sharing one timestamp page by id, none skipped or repeated.
    await withClient(url, (c) => c.query("UPDATE threads SET updated_at = '2026-01-01T00:00:00Z' WHERE owner_subject = 'alice'"));
    const pages: string[] = [];
    for (let cursor: string | undefined, page; (page = await session.threads(alice, 1, cursor)).length > 0; cursor = page[0]!.cursor) pages.push(page[0]!.threadId);
    expect(pages).toEqual(['a3', 'a2', 'a1']);
  });

  it('sees what another instance stored', async () => {
    const url = await createDatabase(postgres());
    const [a, b] = await Promise.all([open(url), open(url)]);
    await a.session().append({ threadId: 'moving', role: 'user', text: 'hello from a', at: new Date().toISOString() });
    expect((await b.session().history('moving', 10)).map((m) => m.text)).toEqual(['hello from a']);
  });
});

describe('PostgreSQL runs', () => {
  const AT = '2026-01-01T00:00:00.000Z';
  const started = (runId: string, clientMessageId?: string, leaseMs = 60_000) => ({ runId, threadId: 't', text: `message of ${runId}`, at: AT, clientMessageId, leaseMs });

  it('store the user message with its run, and the reply, terminal event and state together; each ends once', async () => {
    const url = await createDatabase(postgres());
    const session = (await open(url)).session();
    expect(await session.startRun(started('r1'))).toEqual({ started: true });
    for (const [i, type] of (['agent_started', 'agent_thinking'] as const).entries()) {
      await session.appendEvent(type === 'agent_started' ? { type, runId: 'r1', threadId: 't', agent: 'chat' } : { type, runId: 'r1', threadId: 't', text: '…' }, i + 1);
    }
    const completion = { runId: 'r1', event: { type: 'agent_completed' as const, runId: 'r1', threadId: 't', durationMs: 3 }, seq: 3, reply: { threadId: 't', role: 'assistant' as const, text: 'the reply', at: AT } };
    expect(await session.completeRun(completion)).toBe(true);
    expect(await session.completeRun(completion)).toBe(false);
    expect(await session.failRun('r1', 'agent_failed')).toBe(false);
    expect(await session.run('r1')).toEqual({ runId: 'r1', threadId: 't', state: 'completed', errorCode: null, reply: 'the reply' });
    expect((await session.events('r1')).map(({ seq, event }) => `${seq}:${event.type}`)).toEqual(['1:agent_started', '2:agent_thinking', '3:agent_completed']);
    const { rows } = await withClient(url, (c) =>
      c.query(`SELECT m.role, m.run_id, r.user_message_id = m.id AS answers, r.ended_at IS NOT NULL AS ended FROM messages m JOIN runs r ON r.id = m.run_id ORDER BY m.id`),
    );
    expect(rows).toEqual([
      { role: 'user', run_id: 'r1', answers: true, ended: true },
      { role: 'assistant', run_id: 'r1', answers: false, ended: true },
    ]);
  });

  it('a clientMessageId the thread has stores nothing and returns its run, also when two instances race with it', async () => {
    const url = await createDatabase(postgres());
    const [a, b] = await Promise.all([open(url), open(url)]);
    const results = await Promise.all([a.session().startRun(started('r1', 'c-1')), b.session().startRun(started('r2', 'c-1'))]);
    expect(results.filter((result) => result.started)).toHaveLength(1);
    const winner = results[0]!.started ? 'r1' : 'r2';
    expect(results.find((result) => !result.started)).toEqual({ started: false, existing: { runId: winner, threadId: 't', state: 'running', errorCode: null, reply: null } });
    const { rows } = await withClient(url, (c) => c.query('SELECT (SELECT count(*)::int FROM messages) AS messages, (SELECT count(*)::int FROM runs) AS runs'));
    expect(rows[0]).toEqual({ messages: 1, runs: 1 });
  });

  it('a sweep marks only runs whose lease ran out interrupted, once, whichever instance sweeps', async () => {
    const url = await createDatabase(postgres());
    const [a, b] = await Promise.all([open(url), open(url)]);
    await a.session().startRun(started('dead', undefined, 1));
    await a.session().startRun(started('alive', undefined, 1));
    await a.session().renewLeases(['alive'], 60_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const swept = await Promise.all([a.session().sweepExpired(), b.session().sweepExpired()]);
    expect(swept.flat()).toEqual([{ runId: 'dead', threadId: 't' }]);
    expect(await a.session().run('dead')).toMatchObject({ state: 'interrupted', errorCode: 'instance_lost' });
    expect((await a.session().history('t', 10)).map(({ text, runState }) => `${text}:${runState}`)).toEqual(['message of dead:interrupted', 'message of alive:running']);
  });
});

describe('openPostgres', () => {
  it('fails within the budget naming the server and the last error, never the password', async () => {
    const url = new URL(postgres().url);
    url.port = '1';
    const started = Date.now();
    const failure = await openPostgres({ url: url.toString(), budgetMs: 600, deadlines: DEADLINES, log }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(/^PostgreSQL at 127\.0\.0\.1:1\/postgres not available after \d+ attempts in \d+ ms: connect ECONNREFUSED 127\.0\.0\.1:1$/);
    // Ends after the budget rather than retrying on; the slack is for a busy machine.
    expect(Date.now() - started).toBeLessThan(600 + 10_000);
  });

  it('reports a wrong password without echoing either password', async () => {
    const url = new URL(postgres().url);
    url.password = 'wrong-s3cret';
    const failure = await openPostgres({ url: url.toString(), budgetMs: 300, deadlines: DEADLINES, log }).catch((error: Error) => error);
    expect((failure as Error).message).toContain('password authentication failed for user "chat"');
    expect((failure as Error).message).not.toMatch(/wrong-s3cret|s3cret/);
    expect((failure as Error).message).not.toContain(PG_PASSWORD);
  });
});

describe('deadlines once running', () => {
  const message = (text: string) => ({ threadId: 'd', role: 'user' as const, text, at: new Date().toISOString() });

  it('a statement blocked by a table lock fails at statement_timeout, and the connection serves the next one', async () => {
    const url = await createDatabase(postgres());
    const session = (await open(url)).session();
    await session.append(message('before'));
    await withClient(url, async (locker) => {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
      const started = performance.now();
      await expect(session.append(message('during'))).rejects.toThrow('canceling statement due to statement timeout');
      expect(performance.now() - started).toBeLessThan(DEADLINES.queryMs + CLIENT_TIMEOUT_MARGIN_MS);
      await locker.query('ROLLBACK');
    });
    await session.append(message('after'));
    expect((await session.history('d', 10)).map((m) => m.text)).toEqual(['before', 'after']);
  });

  it('a black-holed server: a statement fails once the client deadline passes, and a fresh connection serves once it answers again', async () => {
    const url = await createDatabase(postgres());
    const proxy = await startStallProxy(postgres().port);
    try {
      const session = (await open(proxy.proxied(url))).session();
      await session.append(message('before'));
      proxy.setMode('blackhole');
      const started = performance.now();
      await expect(session.history('d', 10)).rejects.toThrow(/Query read timeout|timeout exceeded when trying to connect/);
      expect(performance.now() - started).toBeLessThan(DEADLINES.queryMs + CLIENT_TIMEOUT_MARGIN_MS + DEADLINES.connectMs + 1000);
      // New connections are accepted and never answered: getting one has its own deadline.
      await expect(session.history('d', 10)).rejects.toThrow(/timeout/);
      proxy.setMode('forward');
      expect((await session.history('d', 10)).map((m) => m.text)).toEqual(['before']);
    } finally {
      await proxy.close();
    }
  });
});
