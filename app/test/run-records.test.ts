/**
 * Run records through the real app process, real sockets and a real PostgreSQL: one ending per
 * run on the wire when PostgreSQL stops mid-run, dead runs closed after `kill -9` by another
 * instance's sweep, exactly-once resends, and at most APP_WS_MAX_RUNS_PER_SOCKET runs in flight.
 */
import { Client } from 'pg';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { appLauncher, type AppProcess } from '../../testkit/app-process';
import { messages, openChat } from '../../testkit/chat-client';
import { createDatabase, serverForFile, startPostgres } from '../../testkit/dependency-servers';
import { slowModel } from '../../testkit/model-stub';
import { waitFor } from '../../testkit/wait-for';

const { launch, stopAll } = appLauncher();
const models: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await stopAll();
  await Promise.all(models.splice(0).map((model) => model.close()));
});
const postgres = serverForFile(startPostgres);

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
  const app = await ready({ DATABASE_URL: url, LLM_BASE_URL: await model(300), APP_WS_MAX_RUNS_PER_SOCKET: String(maxRuns), APP_RATE_LIMIT_PER_MINUTE: '1000' });
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
