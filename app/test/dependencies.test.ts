/**
 * The real app process with real PostgreSQL and Redis servers: startup through the database and
 * cache phases, outages at startup and while running, two instances sharing one database and one
 * Redis, and SIGTERM with a run in flight.
 */
import { Client } from 'pg';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { waitFor } from '../../testkit/wait-for';
import { appLauncher, type AppProcess } from '../../testkit/app-process';
import { closeEvent, messages, openChat } from '../../testkit/chat-client';
import { createDatabase, PG_PASSWORD, REDIS_PASSWORD, serverForFile, startPostgres, startRedis } from '../../testkit/dependency-servers';
import { slowModel } from '../../testkit/model-stub';


const { launch, stopAll } = appLauncher();
afterEach(stopAll);
const postgres = serverForFile(startPostgres);
const redis = serverForFile(startRedis);

/** A chat socket with its inbox. */
async function connect(app: AppProcess) {
  const ws = await openChat(app);
  return { ws, inbox: messages(ws) };
}

/** The server mints thread ids: each test names its threads, and this maps a name to the id and token. */
const threads = new Map<string, { threadId: string; threadToken: string }>();
afterEach(() => threads.clear());

/** The thread fields of a message to the named thread: none the first time (a new thread). */
const thread = (name: string): { threadId?: string; threadToken?: string } => threads.get(name) ?? {};

/** Remembers the thread a run's agent_started started. */
function started(name: string, event: Record<string, unknown>): void {
  if (!threads.has(name)) threads.set(name, { threadId: String(event.threadId), threadToken: String(event.threadToken) });
}

/** Sends a user message and returns the events and reply it produced. */
async function chat(chatSocket: Awaited<ReturnType<typeof connect>>, text: string, name: string) {
  chatSocket.ws.send(JSON.stringify({ type: 'user_message', text, ...thread(name) }));
  const received = await chatSocket.inbox.take(6);
  expect(received.map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
  started(name, received[0]!);
  return received;
}

function secretsIn(app: AppProcess, body: unknown): string[] {
  const text = `${JSON.stringify(body)}\n${app.logs.join('\n')}`;
  return [PG_PASSWORD, REDIS_PASSWORD].flatMap((secret) => [secret, encodeURIComponent(secret)]).filter((secret) => text.includes(secret));
}

/** Both dependencies, on a fresh database, and the thread token key every instance shares. */
async function bothUrls(): Promise<Record<string, string>> {
  return { DATABASE_URL: await createDatabase(postgres()), REDIS_URL: redis().url, APP_THREAD_TOKEN_KEY: 'shared-by-every-instance-of-the-test' };
}

/** Opens a socket, resumes the named thread and returns the history it got, plus the socket. */
async function resume(app: AppProcess, name: string) {
  const client = await connect(app);
  client.ws.send(JSON.stringify({ type: 'resume', ...thread(name) }));
  const history = await client.inbox.next();
  expect(history).toMatchObject({ type: 'history', threadId: thread(name).threadId });
  return { ...client, history: (history.messages as { role: string; text: string }[]).map((m) => `${m.role}: ${m.text}`) };
}

describe('database phase with PostgreSQL', () => {
  it('connects, migrates and serves chat from the database', async () => {
    const url = await createDatabase(postgres());
    const app = await launch({ DATABASE_URL: url });
    const body = await app.waitForState('ready');
    expect(body.completedPhases).toContain('database');
    expect(app.logs.some((line) => line.includes('applied migrations 1, 2, 3'))).toBe(true);
    const client = await connect(app);
    const reply = await chat(client, 'first', 'pg-thread');
    expect(reply[5]?.text).toContain('message 1 in this thread');
    client.ws.close();
    const stored = new Client({ connectionString: url });
    await stored.connect();
    try {
      const { threadId, threadToken } = thread('pg-thread');
      const messages = await stored.query('SELECT role, text FROM messages WHERE thread_id = $1 ORDER BY id', [threadId]);
      expect(messages.rows).toEqual([{ role: 'user', text: 'first' }, { role: 'assistant', text: reply[5]?.text }]);
      // Numbered in emission order and written one after another: by id and by seq the same order.
      const events = await stored.query('SELECT type, run_id, seq, payload FROM events WHERE thread_id = $1 ORDER BY id', [threadId]);
      // The token goes to the socket that started the thread, never into storage.
      expect(JSON.stringify(events.rows)).not.toContain(threadToken);
      expect(events.rows.map((row) => `${row.seq}:${row.type}`)).toEqual(AGENT_EVENT_TYPES.map((type, i) => `${i + 1}:${type}`));
      expect(new Set(events.rows.map((row) => row.run_id))).toEqual(new Set([reply[0]?.runId]));
      const runs = await stored.query('SELECT id, state, error_code, ended_at IS NOT NULL AS ended FROM runs WHERE thread_id = $1', [threadId]);
      expect(runs.rows).toEqual([{ id: reply[0]?.runId, state: 'completed', error_code: null, ended: true }]);
      const linked = await stored.query('SELECT count(*)::int AS n FROM messages WHERE thread_id = $1 AND run_id = $2', [threadId, reply[0]?.runId]);
      expect(linked.rows[0]).toEqual({ n: 2 });
    } finally {
      await stored.end();
    }
  });

  it('fails the database phase with a clear reason when PostgreSQL is down, and never opens', async () => {
    const url = await createDatabase(postgres());
    await postgres().stop();
    const app = await launch({ DATABASE_URL: url, APP_DATABASE_BUDGET_MS: '700' });
    const body = await app.waitForState('failed');
    expect(body.error).toEqual({
      phase: 'database',
      message: expect.stringMatching(/^sessionFactory: PostgreSQL at 127\.0\.0\.1:\d+\/test_\w+ not available after \d+ attempts in \d+ ms: connect ECONNREFUSED/),
    });
    expect(body.completedPhases).toEqual(['init', 'dependencies']);
    expect((await app.phase()).status).toBe(503);
    expect(secretsIn(app, body)).toEqual([]);
  });

  it('completes startup when PostgreSQL comes back within the budget', async () => {
    const url = await createDatabase(postgres());
    await postgres().stop();
    const app = await launch({ DATABASE_URL: url, APP_DATABASE_BUDGET_MS: '60000' });
    await waitForLog(app, 'attempt 2 failed, retrying');
    expect((await app.phase()).body).toMatchObject({ state: 'starting', phase: 'database' });
    await postgres().start();
    const body = await app.waitForState('ready');
    expect(body.completedPhases).toContain('database');
    expect(secretsIn(app, body)).toEqual([]);
  });
});

function waitForLog(app: AppProcess, text: string): Promise<void> {
  return waitFor(`a log line with ${JSON.stringify(text)}`, () => app.logs.some((line) => line.includes(text)), { detail: () => `logs:\n${app.logs.join('\n')}` });
}

describe('PostgreSQL restarted while running', () => {
  it('refuses the message it cannot store (no acknowledgement) with unavailable, then serves again on the same socket', async () => {
    const app = await launch({ DATABASE_URL: await createDatabase(postgres()) });
    await app.waitForState('ready');
    const client = await connect(app);
    await chat(client, 'before', 'pg-outage');
    await postgres().stop();
    client.ws.send(JSON.stringify({ type: 'user_message', text: 'during', ...thread('pg-outage') }));
    expect(await client.inbox.next()).toMatchObject({ type: 'error', code: 'unavailable', retryAfterSeconds: expect.any(Number), threadId: thread('pg-outage').threadId });
    const warnings = app.logs.filter((line) => line.includes('"severity":"WARNING"'));
    expect(warnings.some((line) => line.includes('message refused: not stored'))).toBe(true);
    expect(warnings.join('\n')).not.toContain(thread('pg-outage').threadId);
    await postgres().start();
    await waitFor('the database to be back', async () => ((await (await fetch(`http://127.0.0.1:${app.port}/healthz`)).json()) as { status: string }).status === 'ok');
    await chat(client, 'after', 'pg-outage');
    client.ws.close();
    const { history, ws } = await resume(app, 'pg-outage');
    expect(history.filter((line) => line.startsWith('user:'))).toEqual(['user: before', 'user: after']);
    ws.close();
    expect(secretsIn(app, null)).toEqual([]);
  });
});

describe('cache phase with Redis', () => {
  it('starts with both dependencies: the phase endpoint shows database and cache complete', async () => {
    const app = await launch(await bothUrls());
    const body = await app.waitForState('ready');
    expect(body.completedPhases).toEqual(['init', 'dependencies', 'database', 'cache', 'services', 'websocket', 'finalize']);
    expect(body.components).toMatchObject({ sessionFactory: true, cacheClient: true, threadRelay: true });
    const client = await connect(app);
    await chat(client, 'hello', 'both');
    client.ws.close();
    expect(secretsIn(app, body)).toEqual([]);
  });

  it('fails the cache phase with a clear reason when Redis is down', async () => {
    await redis().stop();
    const app = await launch({ ...(await bothUrls()), APP_CACHE_BUDGET_MS: '700' });
    const body = await app.waitForState('failed');
    expect(body.error).toEqual({
      phase: 'cache',
      message: expect.stringMatching(/^cacheClient: Redis at 127\.0\.0\.1:\d+ not available after \d+ attempts in \d+ ms: connect ECONNREFUSED/),
    });
    expect(body.completedPhases).toEqual(['init', 'dependencies', 'database']);
    expect(secretsIn(app, body)).toEqual([]);
  });

  it('reconnects after Redis restarts while running, and loses no acknowledged message', async () => {
    const app = await launch(await bothUrls());
    await app.waitForState('ready');
    const client = await connect(app);
    await chat(client, 'before the outage', 'outage');
    await redis().stop();
    client.ws.send(JSON.stringify({ type: 'user_message', text: 'during the outage', ...thread('outage') }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await redis().start();
    const during = await client.inbox.take(6);
    expect(during.map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
    await chat(client, 'after the outage', 'outage');
    client.ws.close();
    const { history, ws } = await resume(app, 'outage');
    expect(history.filter((line) => line.startsWith('user:'))).toEqual(['user: before the outage', 'user: during the outage', 'user: after the outage']);
    expect(history).toHaveLength(6);
    ws.close();
  });
});

describe('two instances on one database and one Redis', () => {
  it('a client that moves finds its history, and events of a run on one reach a socket on the other', async () => {
    const env = await bothUrls();
    const [a, b] = await Promise.all([launch(env), launch(env)]);
    await Promise.all([a.waitForState('ready'), b.waitForState('ready')]);

    const onA = await connect(a);
    await chat(onA, 'first, on a', 'moving');
    onA.ws.close();

    const onB = await resume(b, 'moving');
    expect(onB.history).toEqual(['user: first, on a', expect.stringMatching(/^assistant: You said: "first, on a"/)]);
    const watcherOnA = await resume(a, 'moving');
    const reply = await chat(onB, 'second, on b', 'moving');
    expect(reply[5]?.text).toContain('message 2 in this thread');

    const relayed = await watcherOnA.inbox.take(6);
    expect(relayed).toEqual(reply);
    onB.ws.close();
    watcherOnA.ws.close();
  });
});

describe('SIGTERM with a run in flight', () => {
  it('stores the reply of a run that finishes inside the deadline, and the acknowledged message of one that does not', async () => {
    const [model, slowForever] = await Promise.all([slowModel(400), slowModel(10_000)]);
    try {
      const env = await bothUrls();
      const [finishing, cut, survivor] = await Promise.all([
        launch({ ...env, LLM_BASE_URL: model.url }),
        launch({ ...env, LLM_BASE_URL: slowForever.url, APP_SHUTDOWN_DEADLINE_MS: '300' }),
        launch(env),
      ]);
      await Promise.all([finishing, cut, survivor].map((app) => app.waitForState('ready')));
      const acknowledged = async (app: AppProcess, name: string) => {
        const client = await connect(app);
        const closed = closeEvent(client.ws);
        client.ws.send(JSON.stringify({ type: 'user_message', text: `acknowledged on ${name}` }));
        const event = await client.inbox.next();
        expect(event).toMatchObject({ type: 'agent_started', threadToken: expect.any(String) });
        started(name, event);
        // Wrapped: an async function that returned the promise itself would wait for the close.
        return { closed };
      };
      const [onFinishing, onCut] = await Promise.all([acknowledged(finishing, 'finishing'), acknowledged(cut, 'cut')]);
      finishing.child.kill('SIGTERM');
      cut.child.kill('SIGTERM');
      expect((await onFinishing.closed).code).toBe(1012);
      expect((await onCut.closed).code).toBe(1012);
      expect(await finishing.exited).toEqual({ code: 0, signal: null });
      expect(await cut.exited).toEqual({ code: 0, signal: null });

      const moved = await resume(survivor, 'finishing');
      expect(moved.history).toEqual(['user: acknowledged on finishing', 'assistant: slow answer']);
      const movedCut = await resume(survivor, 'cut');
      expect(movedCut.history).toEqual(['user: acknowledged on cut']);
      moved.ws.close();
      movedCut.ws.close();
    } finally {
      await Promise.all([model.close(), slowForever.close()]);
    }
  });
});
