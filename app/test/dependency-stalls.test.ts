/**
 * Dependencies that stall after ready, through the real app process, real PostgreSQL and Redis
 * and the stall proxy between them: a table lock, a stopped Redis, a black-holed PostgreSQL and
 * Redis. Each time a message gets a frame within DEADLINE_MS, nothing acknowledged is lost,
 * liveness stays 200 and the next message after recovery works without a restart.
 */
import { Client } from 'pg';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { appLauncher, type AppProcess } from '../../testkit/app-process';
import { messages, openChat } from '../../testkit/chat-client';
import { createDatabase, serverForFile, startPostgres, startRedis } from '../../testkit/dependency-servers';
import { type StallProxy, startStallProxy } from '../../testkit/stall-proxy';
import { waitFor } from '../../testkit/wait-for';

/** What a user may wait for a first frame, whatever stalls (the defaults answer well within it). */
const DEADLINE_MS = 8000;

const { launch, stopAll } = appLauncher();
const postgres = serverForFile(startPostgres);
const redis = serverForFile(startRedis);
const proxies: StallProxy[] = [];
afterEach(async () => {
  await stopAll();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

interface Setup {
  app: AppProcess;
  databaseUrl: string;
  pgProxy: StallProxy;
  redisProxy: StallProxy;
}

/** The app with PostgreSQL and Redis each behind a stall proxy, at the default deadlines; `instances` share them. */
async function appBehindProxies(instances = 1): Promise<Setup & { others: AppProcess[] }> {
  const databaseUrl = await createDatabase(postgres());
  const [pgProxy, redisProxy] = await Promise.all([startStallProxy(postgres().port), startStallProxy(redis().port)]);
  proxies.push(pgProxy, redisProxy);
  const env = { DATABASE_URL: pgProxy.proxied(databaseUrl), REDIS_URL: redisProxy.proxied(redis().url), APP_THREAD_TOKEN_KEY: 'shared-by-every-instance-of-the-test' };
  const [app, ...others] = await Promise.all(Array.from({ length: instances }, () => launch(env)));
  await Promise.all([app!, ...others].map((instance) => instance.waitForState('ready')));
  return { app: app!, others, databaseUrl, pgProxy, redisProxy };
}

async function healthz(app: AppProcess): Promise<{ status: number; body: { status: string; degraded: { dependency: string }[] } }> {
  const response = await fetch(`http://127.0.0.1:${app.port}/healthz`);
  return { status: response.status, body: (await response.json()) as never };
}

/** Reads /healthz every 50 ms while the test runs; records every status that is not 200. */
function watchLiveness(app: AppProcess) {
  const seen = { answers: 0, not200: [] as number[], stopped: false };
  void (async () => {
    while (!seen.stopped) {
      const { status } = await healthz(app).catch(() => ({ status: 0 }));
      seen.answers += 1;
      if (status !== 200) seen.not200.push(status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return seen;
}

const degradedNames = async (app: AppProcess) => (await healthz(app)).body.degraded.map((d) => d.dependency);

/** A chat client that keeps its thread and times the first frame of each message. */
async function chatter(app: AppProcess) {
  const ws = await openChat(app);
  const inbox = messages(ws);
  const thread: { threadId?: string; threadToken?: string } = {};
  return {
    ws,
    /** Sends one message; resolves with the first frame and how long it took, and the rest of the run when acknowledged. */
    async send(text: string) {
      const started = performance.now();
      ws.send(JSON.stringify({ type: 'user_message', text, ...thread }));
      const first = await inbox.next(DEADLINE_MS);
      const firstFrameMs = performance.now() - started;
      if (first.type !== 'agent_started') return { first, firstFrameMs, rest: [] };
      if (thread.threadId === undefined) Object.assign(thread, { threadId: first.threadId, threadToken: first.threadToken });
      return { first, firstFrameMs, rest: await inbox.take(5) };
    },
    thread,
  };
}

async function storedUserMessages(databaseUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ text: string }>("SELECT text FROM messages WHERE role = 'user' ORDER BY id");
    return rows.map((row) => row.text);
  } finally {
    await client.end();
  }
}

const FULL_RUN = [...AGENT_EVENT_TYPES.slice(1), 'agent_response'];

it('a table lock: unavailable within the deadline (later ones at once), liveness 200, the next message after the lock works', async () => {
  const { app, databaseUrl } = await appBehindProxies();
  const live = watchLiveness(app);
  const client = await chatter(app);
  expect((await client.send('before the lock')).rest.map((m) => m.type)).toEqual(FULL_RUN);

  const locker = new Client({ connectionString: databaseUrl });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
  const refusals = [];
  for (const text of ['during the lock 1', 'during the lock 2', 'during the lock 3']) refusals.push(await client.send(text));
  for (const { first, firstFrameMs } of refusals) {
    expect(first).toMatchObject({ type: 'error', code: 'unavailable', retryAfterSeconds: expect.any(Number) });
    expect(firstFrameMs).toBeLessThan(DEADLINE_MS);
  }
  expect(await degradedNames(app)).toEqual(['postgresql']);
  await locker.query('ROLLBACK');
  await locker.end();

  await waitFor('the database to be back', async () => (await degradedNames(app)).length === 0);
  expect((await client.send('after the lock')).rest.map((m) => m.type)).toEqual(FULL_RUN);
  live.stopped = true;
  expect(live.not200).toEqual([]);
  expect(await storedUserMessages(databaseUrl)).toEqual(['before the lock', 'after the lock']);
  expect(app.logs.filter((line) => line.includes('"message":"dependency degraded"'))).toHaveLength(1);
  expect(app.logs.filter((line) => line.includes('"message":"dependency recovered"'))).toHaveLength(1);
});

it('a black-holed PostgreSQL: unavailable within the deadline, sockets stay open, the next message after it answers again works', async () => {
  const { app, databaseUrl, pgProxy } = await appBehindProxies();
  const live = watchLiveness(app);
  const client = await chatter(app);
  await client.send('before');
  pgProxy.setMode('blackhole');
  for (const text of ['into the hole 1', 'into the hole 2']) {
    const { first, firstFrameMs } = await client.send(text);
    expect(first).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(firstFrameMs).toBeLessThan(DEADLINE_MS);
  }
  expect(await degradedNames(app)).toEqual(['postgresql']);
  pgProxy.setMode('forward');
  await waitFor('the database to be back', async () => (await degradedNames(app)).length === 0);
  expect((await client.send('after')).rest.map((m) => m.type)).toEqual(FULL_RUN);
  expect(client.ws.readyState).toBe(client.ws.OPEN);
  live.stopped = true;
  expect(live.not200).toEqual([]);
  expect(await storedUserMessages(databaseUrl)).toEqual(['before', 'after']);
});

describe.each([
  ['stopped', (_setup: Setup) => redis().stop(), () => redis().start()],
  ['black-holed', (setup: Setup) => setup.redisProxy.setMode('blackhole'), (setup: Setup) => setup.redisProxy.setMode('forward')],
] as const)('Redis %s', (_, breakIt, mendIt) => {
  it('chat goes on with in-process rate limits and local delivery, /healthz says degraded, and cross-instance delivery comes back', async () => {
    const setup = await appBehindProxies(2);
    const { app, databaseUrl, others } = setup;
    const live = watchLiveness(app);
    const client = await chatter(app);
    await client.send('before');
    // A socket on the other instance follows the thread.
    const watcher = await openChat(others[0]!);
    const watched = messages(watcher);
    watcher.send(JSON.stringify({ type: 'resume', ...client.thread }));
    expect(await watched.next()).toMatchObject({ type: 'history', threadId: client.thread.threadId });
    await breakIt(setup);
    for (const text of ['during 1', 'during 2']) {
      const { first, firstFrameMs, rest } = await client.send(text);
      expect(first.type).toBe('agent_started');
      expect(firstFrameMs).toBeLessThan(DEADLINE_MS);
      expect(rest.map((m) => m.type)).toEqual(FULL_RUN);
    }
    await waitFor('degraded mode to show', async () => (await degradedNames(app)).includes('redis'));
    await mendIt(setup);
    await waitFor('degraded mode to end', async () => (await degradedNames(app)).length === 0 && (await degradedNames(others[0]!)).length === 0);
    const after = await client.send('after');
    expect(after.rest.map((m) => m.type)).toEqual(FULL_RUN);
    // Whatever the watcher got during the outage, the run after it arrives whole, across instances.
    await waitFor('the run after the outage on the other instance', async () => {
      for (;;) {
        const message = await watched.next(DEADLINE_MS);
        if (message.type === 'agent_response' && message.runId === after.first.runId) return true;
      }
    });
    live.stopped = true;
    expect(live.not200).toEqual([]);
    expect(await storedUserMessages(databaseUrl)).toEqual(['before', 'during 1', 'during 2', 'after']);
    expect(app.logs.filter((line) => line.includes('"message":"dependency degraded"'))).toHaveLength(1);
  });
});
