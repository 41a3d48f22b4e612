/** The PostgreSQL store, its migrations and its startup retries, against a real local server. */
import { Client } from 'pg';
import { createLogger } from '../../common/log';
import { MIGRATIONS, migrate, pendingMigrations } from '../src/storage/migrations';
import { HISTORY_QUERY, openPostgres, type PgStore } from '../src/storage/pg-store';
import { createDatabase, PG_PASSWORD, serverForFile, startPostgres } from '../../testkit/dependency-servers';


const log = createLogger('test', 'silent');
const postgres = serverForFile(startPostgres);
const opened: PgStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function open(url: string, budgetMs = 5000): Promise<PgStore> {
  const store = await openPostgres({ url, budgetMs, log });
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
    expect(pendingMigrations(MIGRATIONS, new Set([1])).map((m) => m.version)).toEqual(MIGRATIONS.slice(1).map((m) => m.version));
    expect(() => pendingMigrations([{ version: 2, name: 'x', sql: '' }], new Set())).toThrow('found 2 at position 1');
  });

  it('apply once when two instances start at the same time, and not again later', async () => {
    const url = await createDatabase(postgres());
    const [first, second] = await Promise.all([withClient(url, (c) => migrate(c)), withClient(url, (c) => migrate(c))]);
    expect([first, second].sort((a, b) => b.length - a.length)).toEqual([MIGRATIONS.map((m) => m.version), []]);
    expect(await withClient(url, (c) => migrate(c))).toEqual([]);
    const { rows } = await withClient(url, (c) => c.query('SELECT version, name FROM schema_migrations ORDER BY version'));
    expect(rows).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
  });

  it('roll back a failing migration and report it', async () => {
    const url = await createDatabase(postgres());
    const broken = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'broken', sql: 'CREATE TABLE ok (id int); SELECT nope' }];
    await expect(withClient(url, (c) => migrate(c, broken))).rejects.toThrow(`migration ${MIGRATIONS.length + 1} (broken) failed: column "nope" does not exist`);
    const { rows } = await withClient(url, (c) => c.query("SELECT to_regclass('ok') AS ok, max(version) AS newest FROM schema_migrations"));
    expect(rows[0]).toEqual({ ok: null, newest: MIGRATIONS.length });
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
    await session.appendEvent({ type: 'agent_started', runId: 'r1', threadId: 't', agent: 'chat' });
    const { rows } = await withClient(url, (c) => c.query('SELECT thread_id, run_id, type, payload FROM events'));
    expect(rows).toEqual([{ thread_id: 't', run_id: 'r1', type: 'agent_started', payload: { type: 'agent_started', runId: 'r1', threadId: 't', agent: 'chat' } }]);
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

describe('openPostgres', () => {
  it('fails within the budget naming the server and the last error, never the password', async () => {
    const url = new URL(postgres().url);
    url.port = '1';
    const started = Date.now();
    const failure = await openPostgres({ url: url.toString(), budgetMs: 600, log }).then(
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
    const failure = await openPostgres({ url: url.toString(), budgetMs: 300, log }).catch((error: Error) => error);
    expect((failure as Error).message).toContain('password authentication failed for user "chat"');
    expect((failure as Error).message).not.toMatch(/wrong-s3cret|s3cret/);
    expect((failure as Error).message).not.toContain(PG_PASSWORD);
  });
});
