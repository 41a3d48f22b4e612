/**
 * Run records through the real app process, real sockets and a real PostgreSQL: one ending per
 * run on the wire when PostgreSQL stops mid-run, dead runs closed after `kill -9` by another
 * instance's sweep, exactly-once resends, and at most APP_WS_MAX_RUNS_PER_SOCKET runs in flight.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { WebSocket } from 'ws';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { appLauncher, type AppProcess } from '../../testkit/app-process';
import { closeEvent, messages, openChat } from '../../testkit/chat-client';
import { createDatabase, serverForFile, startPostgres, startRedis } from '../../testkit/dependency-servers';
import { slowModel } from '../../testkit/model-stub';
import { waitFor } from '../../testkit/wait-for';

const { launch, stopAll } = appLauncher();
const models: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await stopAll();
  await Promise.all(models.splice(0).map((model) => model.close()));
});
const postgres = serverForFile(startPostgres);
const redis = serverForFile(startRedis);

/** Short leases, so a dead instance's runs are swept within a second. */
const LEASE_MS = '600';
const TOKEN_KEY = 'shared-by-every-instance-of-the-test';

async function model(delayMs: number): Promise<string> {
  const stub = await slowModel(delayMs);
  models.push(stub);
  return stub.url;
}

async function ready(env: Record<string, string>): Promise<AppProcess> {
  const app = await launch({ APP_THREAD_TOKEN_KEY: TOKEN_KEY, APP_RUN_LEASE_MS: LEASE_MS, ...env });
  await app.waitForState('ready');
  return app;
}

async function connect(app: AppProcess) {
  const ws = await openChat(app);
  return { ws, inbox: messages(ws) };
}

async function query<R extends Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Reads socket messages until one of type `type` (and `code` for errors) arrives; returns all read. */
async function until(inbox: ReturnType<typeof messages>, type: string, code?: string): Promise<Record<string, unknown>[]> {
  const read: Record<string, unknown>[] = [];
  for (;;) {
    const message = await inbox.next();
    read.push(message);
    if (message.type === type && (code === undefined || message.code === code)) return read;
  }
}

const summary = (message: Record<string, unknown>) => (message.type === 'error' ? `error:${String(message.code)}` : String(message.type));

it('PostgreSQL stopped mid-run: agent_failed and never agent_completed on the wire; the run is stored failed once it is back', async () => {
  const url = await createDatabase(postgres());
  const app = await ready({ DATABASE_URL: url, LLM_BASE_URL: await model(1500) });
  const { ws, inbox } = await connect(app);
  ws.send(JSON.stringify({ type: 'user_message', text: 'cut by an outage' }));
  const started = await until(inbox, 'tool_completed');
  const runId = String(started[0]!.runId);
  await postgres().stop();
  const rest = await until(inbox, 'error', 'agent_failed');
  expect([...started, ...rest].map(summary)).toEqual([...AGENT_EVENT_TYPES.slice(0, 4), 'error:agent_failed']);
  await postgres().start();
  // The failure could not be stored during the outage: the instance keeps the run leased and stores it now.
  await waitFor('the run to be stored failed', async () => (await query<{ state: string }>(url, 'SELECT state FROM runs WHERE id = $1', [runId]))[0]?.state === 'failed');
  const rows = await query(url, 'SELECT state, error_code FROM runs');
  expect(rows).toEqual([{ state: 'failed', error_code: 'agent_failed' }]);
  expect(await query(url, "SELECT role FROM messages WHERE run_id = $1 ORDER BY id", [runId])).toEqual([{ role: 'user' }]);
  ws.close();
});

it('kill -9 mid-run: another instance marks the run interrupted; resume shows it, and a resend with the same clientMessageId stores nothing', async () => {
  const url = await createDatabase(postgres());
  const env = { DATABASE_URL: url };
  const dying = await ready({ ...env, LLM_BASE_URL: await model(60_000) });
  const first = await connect(dying);
  const message = { type: 'user_message', text: 'lost with its instance', clientMessageId: 'm-1' };
  first.ws.send(JSON.stringify(message));
  const ack = await first.inbox.next();
  expect(ack).toMatchObject({ type: 'agent_started', clientMessageId: 'm-1', threadToken: expect.any(String) });
  const thread = { threadId: String(ack.threadId), threadToken: String(ack.threadToken) };
  await until(first.inbox, 'tool_completed');
  await waitFor('four events stored', async () => (await query(url, 'SELECT id FROM events')).length === 4);
  dying.child.kill('SIGKILL');
  await dying.exited;

  const survivor = await ready(env);
  const second = await connect(survivor);
  // The client resends the message it has no reply to, with the same id.
  second.ws.send(JSON.stringify({ ...message, ...thread }));
  const status = await second.inbox.next();
  expect(status).toMatchObject({ type: 'run_status', runId: ack.runId, threadId: thread.threadId, clientMessageId: 'm-1', state: expect.stringMatching(/^(running|interrupted)$/) });
  // Still running when it asked: the sweep that ends it tells the thread.
  if (status.state === 'running') expect(await second.inbox.next()).toMatchObject({ type: 'error', code: 'interrupted', runId: ack.runId, threadId: thread.threadId });
  await waitFor('the run to be interrupted', async () => (await query<{ state: string }>(url, 'SELECT state FROM runs'))[0]?.state === 'interrupted');

  second.ws.send(JSON.stringify({ ...message, ...thread }));
  expect(await second.inbox.next()).toMatchObject({ type: 'run_status', runId: ack.runId, state: 'interrupted' });
  second.ws.send(JSON.stringify({ type: 'resume', ...thread }));
  const history = await second.inbox.next();
  expect(history).toMatchObject({ type: 'history', messages: [{ role: 'user', text: 'lost with its instance', runId: ack.runId, runState: 'interrupted' }] });
  expect(await query(url, 'SELECT (SELECT count(*)::int FROM messages) AS messages, (SELECT count(*)::int FROM runs) AS runs')).toEqual([{ messages: 1, runs: 1 }]);
  expect(await query(url, 'SELECT state, error_code, ended_at IS NOT NULL AS ended FROM runs')).toEqual([{ state: 'interrupted', error_code: 'instance_lost', ended: true }]);
  expect((await query<{ seq: number }>(url, 'SELECT seq FROM events ORDER BY id')).map((row) => row.seq)).toEqual([1, 2, 3, 4]);
  second.ws.close();
});

it('a resend after the reply answers with the reply and stores nothing', async () => {
  const url = await createDatabase(postgres());
  const app = await ready({ DATABASE_URL: url });
  const { ws, inbox } = await connect(app);
  ws.send(JSON.stringify({ type: 'user_message', text: 'once', clientMessageId: 'once-1' }));
  const run = await until(inbox, 'agent_response');
  const thread = { threadId: String(run[0]!.threadId), threadToken: String(run[0]!.threadToken) };
  ws.send(JSON.stringify({ type: 'user_message', text: 'once', clientMessageId: 'once-1', ...thread }));
  expect(await inbox.next()).toEqual({ type: 'run_status', runId: run[0]!.runId, threadId: thread.threadId, clientMessageId: 'once-1', state: 'completed', text: run.at(-1)!.text });
  expect(await query(url, 'SELECT role FROM messages ORDER BY id')).toEqual([{ role: 'user' }, { role: 'assistant' }]);
  ws.close();
});

it('300 frames from one socket: at most APP_WS_MAX_RUNS_PER_SOCKET runs in flight, busy at once for the rest, nothing stored for them', async () => {
  const url = await createDatabase(postgres());
  const maxRuns = 2;
  // Busy answers spend the error budget too (the next test): a budget this large keeps the socket open for all 300.
  const app = await ready({ DATABASE_URL: url, LLM_BASE_URL: await model(300), APP_WS_MAX_RUNS_PER_SOCKET: String(maxRuns), APP_RATE_LIMIT_PER_MINUTE: '1000', APP_WS_MAX_ERRORS: '1000' });
  const { ws, inbox } = await connect(app);
  for (let i = 0; i < 300; i += 1) ws.send(JSON.stringify({ type: 'user_message', text: `frame ${i}` }));
  let inFlight = 0;
  let most = 0;
  const counts = { started: 0, ended: 0, busy: 0 };
  while (counts.busy + counts.ended < 300) {
    const message = await inbox.next();
    if (message.type === 'agent_started') {
      counts.started += 1;
      inFlight += 1;
      most = Math.max(most, inFlight);
    } else if (message.type === 'agent_response' || message.type === 'error') {
      if (message.type === 'error' && message.code === 'busy') counts.busy += 1;
      else {
        counts.ended += 1;
        inFlight -= 1;
      }
    }
  }
  process.stdout.write(`300 frames from one socket: ${JSON.stringify({ ...counts, mostInFlight: most })}\n`);
  expect(most).toBeLessThanOrEqual(maxRuns);
  expect(counts.started).toBe(counts.ended);
  expect(counts.busy).toBe(300 - counts.started);
  // The frames arrive faster than a run takes, so nearly all of them found the slots taken.
  expect(counts.started).toBeLessThan(300);
  expect(await query(url, "SELECT (SELECT count(*)::int FROM messages WHERE role = 'user') AS messages, (SELECT count(*)::int FROM runs) AS runs")).toEqual([
    { messages: counts.started, runs: counts.started },
  ]);
  ws.close();
});

it('busy answers spend the error budget: a socket that keeps sending past its slots is closed with 1008', async () => {
  const app = await ready({ LLM_BASE_URL: await model(300), APP_WS_MAX_RUNS_PER_SOCKET: '1', APP_WS_MAX_ERRORS: '5' });
  const ws = await openChat(app);
  let busy = 0;
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; code?: string };
    if (message.type === 'error' && message.code === 'busy') busy += 1;
  });
  const closed = closeEvent(ws);
  for (let i = 0; i < 50; i += 1) ws.send(JSON.stringify({ type: 'user_message', text: `frame ${i}` }));
  expect((await closed).code).toBe(1008);
  expect(busy).toBeGreaterThanOrEqual(5);
  expect(busy).toBeLessThan(50);
});

/**
 * A client that keeps one message in flight, each with its own clientMessageId, and resends it
 * with the same id after an error that stored nothing or a lost connection, as docs/protocol.md
 * asks. Records every run's messages as the wire delivered them.
 */
function loadClient(port: () => number, load: { stopped: boolean; sockets: Set<WebSocket>; wire: Map<string, string[]>; inFlight: Set<string>; completed: number }) {
  let thread = {};
  let n = 0;
  let current: { text: string; clientMessageId: string } | undefined;
  const session = (ws: WebSocket) =>
    new Promise<void>((resolve) => {
      const send = () => {
        if (load.stopped) return ws.close();
        current ??= { text: `message ${(n += 1)}`, clientMessageId: randomUUID() };
        ws.send(JSON.stringify({ type: 'user_message', ...current, ...thread }));
      };
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as Record<string, string | undefined>;
        if (message.threadToken !== undefined) thread = { threadId: message.threadId, threadToken: message.threadToken };
        const runId = message.runId;
        if (runId !== undefined) load.wire.set(runId, [...(load.wire.get(runId) ?? []), message.type === 'error' ? `error:${message.code}` : message.type!]);
        if (message.type === 'agent_started') load.inFlight.add(runId!);
        const ended = message.type === 'agent_response' || message.type === 'error' || (message.type === 'run_status' && message.state !== 'running');
        if (!ended) return;
        if (runId !== undefined) load.inFlight.delete(runId);
        if (message.type === 'agent_response') load.completed += 1;
        // An error that names no run stored nothing (unavailable, rate_limited): the same message goes again.
        if (message.type !== 'error' || runId !== undefined) current = undefined;
        setTimeout(send, 10);
      });
      ws.on('error', () => {});
      ws.on('close', () => resolve());
      send();
    });
  return (async () => {
    while (!load.stopped) {
      const ws = await openChat({ port: port() }).catch(() => undefined);
      if (ws === undefined) continue;
      load.sockets.add(ws);
      await session(ws);
      load.sockets.delete(ws);
    }
  })();
}

it('under load with PostgreSQL and Redis stopped and kill -9 mid-run: every run ends once, in order, with its reply linked when it completed', async () => {
  const url = await createDatabase(postgres());
  const env = { DATABASE_URL: url, REDIS_URL: redis().url, LLM_BASE_URL: await model(50), APP_RATE_LIMIT_PER_MINUTE: '1000000' };
  const [dying, survivor] = await Promise.all([ready(env), ready(env)]);
  const load = { stopped: false, sockets: new Set<WebSocket>(), wire: new Map<string, string[]>(), inFlight: new Set<string>(), completed: 0 };
  let target = dying;
  const clients = Array.from({ length: 10 }, () => loadClient(() => target.port, load));
  const completions = async (more: number) => {
    const want = load.completed + more;
    await waitFor(`${want} replies`, () => load.completed >= want, { timeoutMs: 60_000 });
  };
  try {
    await completions(20);
    await postgres().stop();
    await redis().stop();
    await waitFor('a message refused during the outage', () => [...load.wire.values()].some((messages) => messages.includes('error:agent_failed')));
    await Promise.all([postgres().start(), redis().start()]);
    await completions(20);
    await waitFor('runs in flight', () => load.inFlight.size > 0);
    dying.child.kill('SIGKILL');
    await dying.exited;
    target = survivor;
    await completions(20);
  } finally {
    load.stopped = true;
    for (const ws of load.sockets) ws.close();
    await Promise.all(clients);
  }

  // Within a lease and a sweep, nothing is left running.
  await waitFor('no run left running', async () => (await query(url, "SELECT id FROM runs WHERE state = 'running'")).length === 0);
  const states = await query<{ state: string; n: number }>(url, 'SELECT state, count(*)::int AS n FROM runs GROUP BY state ORDER BY state');
  process.stdout.write(`runs under faults: ${JSON.stringify(states)}\n`);
  expect(states.map((row) => row.state)).toEqual(expect.arrayContaining(['completed', 'interrupted']));
  // Events in sequence order, gap-free from 1, by id as by seq; agent_completed only in completed runs, and last.
  expect(
    await query(url, `SELECT run_id FROM events GROUP BY run_id
      HAVING array_agg(seq ORDER BY id) <> array_agg(seq ORDER BY seq) OR min(seq) <> 1 OR max(seq) <> count(*)`),
  ).toEqual([]);
  expect(
    await query(url, `SELECT r.id FROM runs r WHERE (r.state = 'completed') <> EXISTS (SELECT 1 FROM events e WHERE e.run_id = r.id AND e.type = 'agent_completed' AND e.seq = 5)`),
  ).toEqual([]);
  // A linked reply exactly when it completed; every user message has its run.
  expect(
    await query(url, `SELECT r.id FROM runs r WHERE (r.state = 'completed') <> EXISTS (SELECT 1 FROM messages m WHERE m.run_id = r.id AND m.role = 'assistant')`),
  ).toEqual([]);
  expect(await query(url, `SELECT r.id FROM runs r LEFT JOIN messages u ON u.id = r.user_message_id AND u.run_id = r.id AND u.role = 'user' WHERE u.id IS NULL`)).toEqual([]);
  expect(await query(url, "SELECT id FROM messages WHERE role = 'user' AND run_id IS NULL")).toEqual([]);
  // On the wire, at most one ending per run.
  const endings = [...load.wire].map(([runId, messages]) => ({ runId, endings: messages.filter((type) => ['agent_completed', 'error:agent_failed', 'error:interrupted'].includes(type)) }));
  expect(endings.filter(({ endings: found }) => found.length > 1)).toEqual([]);
});
