/**
 * The real app process with real PostgreSQL and Redis servers: startup through the database and
 * cache phases, outages at startup and while running, two instances sharing one database and one
 * Redis, and SIGTERM with a run in flight.
 */
import { AGENT_EVENT_TYPES } from '../src/protocol';
import { appLauncher, type AppProcess, messages, openChat } from './support';
import { createDatabase, PG_PASSWORD, serverForFile, startPostgres } from './servers';

jest.setTimeout(30_000);

const { launch, stopAll } = appLauncher();
afterEach(stopAll);
const postgres = serverForFile(startPostgres);

/** A chat socket with its inbox. */
async function connect(app: AppProcess) {
  const ws = await openChat(app);
  return { ws, inbox: messages(ws) };
}

/** Sends a user message and returns the events and reply it produced. */
async function chat(chatSocket: Awaited<ReturnType<typeof connect>>, text: string, threadId: string) {
  chatSocket.ws.send(JSON.stringify({ type: 'user_message', text, threadId }));
  const received = await chatSocket.inbox.take(6);
  expect(received.map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
  return received;
}

function secretsIn(app: AppProcess, body: unknown): string[] {
  const text = `${JSON.stringify(body)}\n${app.logs.join('\n')}`;
  return [PG_PASSWORD, encodeURIComponent(PG_PASSWORD)].filter((secret) => text.includes(secret));
}

describe('database phase with PostgreSQL', () => {
  it('connects, migrates and serves chat from the database', async () => {
    const app = await launch({ DATABASE_URL: await createDatabase(postgres()) });
    const body = await app.waitForState('ready');
    expect(body.completedPhases).toContain('database');
    expect(app.logs.some((line) => line.includes('applied migrations 1, 2'))).toBe(true);
    const client = await connect(app);
    const reply = await chat(client, 'first', 'pg-thread');
    expect(reply[5]?.text).toContain('message 1 in this thread');
    client.ws.close();
  });

  it('fails the database phase with a clear reason when PostgreSQL is down, and never opens', async () => {
    const url = await createDatabase(postgres());
    await postgres().stop();
    const app = await launch({ DATABASE_URL: url, APP_DATABASE_BUDGET_MS: '700' });
    const body = await app.waitForState('failed');
    expect(body.error).toEqual({
      phase: 'database',
      message: expect.stringMatching(/^sessionFactory: PostgreSQL at 127\.0\.0\.1:\d+\/test_\w+ unreachable after \d+ attempts in \d+ ms: connect ECONNREFUSED/),
    });
    expect(body.completedPhases).toEqual(['init', 'dependencies']);
    expect((await app.phase()).status).toBe(503);
    expect(secretsIn(app, body)).toEqual([]);
  });

  it('completes startup when PostgreSQL comes back within the budget', async () => {
    const url = await createDatabase(postgres());
    await postgres().stop();
    const app = await launch({ DATABASE_URL: url, APP_DATABASE_BUDGET_MS: '15000' });
    await waitForLog(app, 'attempt 2 failed, retrying');
    expect((await app.phase()).body).toMatchObject({ state: 'starting', phase: 'database' });
    await postgres().start();
    const body = await app.waitForState('ready', 10_000);
    expect(body.completedPhases).toContain('database');
    expect(secretsIn(app, body)).toEqual([]);
  });
});

async function waitForLog(app: AppProcess, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!app.logs.some((line) => line.includes(text))) {
    if (Date.now() > deadline) throw new Error(`no log line with ${JSON.stringify(text)} within ${timeoutMs} ms; logs:\n${app.logs.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
