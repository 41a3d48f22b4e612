/**
 * Limits per signed-in person: messages a minute, runs at once and LLM tokens a day (from the
 * usage the model reports), refused before anything is stored or the model is called, and
 * shared by instances through Redis.
 */
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { serverForFile, startRedis } from '../../testkit/dependency-servers';
import { slowModel } from '../../testkit/model-stub';
import { startTestIssuer, type TestIssuer } from '../../testkit/oidc-issuer';
import { serveChat } from './serve-chat';

const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];
const redis = serverForFile(startRedis);
/** Fixed inside one minute and one day, so no window rolls over during a test. */
const NOW = Date.UTC(2026, 11, 6, 12, 0, 30);

describe('limits per person', () => {
  let test: TestIssuer;
  const servers: Awaited<ReturnType<typeof serveChat>>[] = [];
  const models: Awaited<ReturnType<typeof slowModel>>[] = [];

  beforeEach(async () => {
    test = await startTestIssuer();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((served) => served.close()));
    await Promise.all(models.splice(0).map((model) => model.close()));
    await test.issuer.stop();
  });

  async function serve(env: Record<string, string>) {
    const served = await serveChat({ now: () => NOW }, { APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'chat-test', ...env });
    servers.push(served);
    return served;
  }

  async function signIn(served: Awaited<ReturnType<typeof serveChat>>, subject: string) {
    const socket = await served.connect();
    socket.ws.send(JSON.stringify({ type: 'authenticate', token: await test.issuer.sign({ sub: subject }) }));
    expect(await socket.inbox.next()).toMatchObject({ type: 'authenticated' });
    return {
      ...socket,
      say: (text: string) => socket.ws.send(JSON.stringify({ type: 'user_message', text })),
      listThreads: async () => {
        socket.ws.send(JSON.stringify({ type: 'list_threads' }));
        return ((await socket.inbox.next()) as { threads: unknown[] }).threads.length;
      },
    };
  }

  it('refuses messages past the per-minute limit with retryAfterSeconds, storing nothing, for that person only', async () => {
    const served = await serve({ APP_USER_MESSAGES_PER_MINUTE: '2' });
    const alice = await signIn(served, 'alice');
    for (const text of ['one', 'two']) {
      alice.say(text);
      expect((await alice.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
    }
    alice.say('three');
    expect(await alice.inbox.next()).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterSeconds: 30 });
    expect(await alice.listThreads()).toBe(2);
    const bob = await signIn(served, 'bob');
    bob.say('hello');
    expect((await bob.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
  });

  it('refuses a run past the concurrent runs, and admits the next once one finished', async () => {
    const model = await slowModel(500);
    models.push(model);
    const served = await serve({ APP_USER_MAX_CONCURRENT_RUNS: '1', LLM_BASE_URL: model.url });
    const alice = await signIn(served, 'alice');
    alice.say('slow');
    expect(await alice.inbox.next()).toMatchObject({ type: 'agent_started' });
    alice.say('while it runs');
    const during = await alice.inbox.take(RUN.length);
    expect(during.map((m) => (m.type === 'error' ? m.code : m.type))).toContain('rate_limited');
    expect(during.filter((m) => m.type === 'error')[0]).toMatchObject({ retryAfterSeconds: expect.any(Number) });
    alice.say('after');
    expect((await alice.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
  });

  it("refuses a message past the socket's runs with busy before anything is counted: the person's minute is not spent on it", async () => {
    const model = await slowModel(300);
    models.push(model);
    const served = await serve({ APP_WS_MAX_RUNS_PER_SOCKET: '1', APP_USER_MESSAGES_PER_MINUTE: '2', LLM_BASE_URL: model.url });
    const alice = await signIn(served, 'alice');
    alice.say('slow');
    expect(await alice.inbox.next()).toMatchObject({ type: 'agent_started' });
    alice.say('while it runs');
    const during = await alice.inbox.take(RUN.length);
    expect(during.filter((m) => m.type === 'error').map((m) => m.code)).toEqual(['busy']);
    // Had the busy message counted, this would be the third of the minute.
    alice.say('second');
    expect((await alice.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
    alice.say('third');
    expect(await alice.inbox.next()).toMatchObject({ type: 'error', code: 'rate_limited' });
  });

  it("gives a run's count back exactly once, also for resends that start nothing", async () => {
    const model = await slowModel(300);
    models.push(model);
    const served = await serve({ APP_USER_MAX_CONCURRENT_RUNS: '1', LLM_BASE_URL: model.url });
    const alice = await signIn(served, 'alice');
    alice.ws.send(JSON.stringify({ type: 'user_message', text: 'once', clientMessageId: 'm-1' }));
    const run = await alice.inbox.take(RUN.length);
    expect(run.map((m) => m.type)).toEqual(RUN);
    const threadId = run[0]!.threadId;
    for (let resend = 0; resend < 3; resend += 1) {
      alice.ws.send(JSON.stringify({ type: 'user_message', text: 'once', clientMessageId: 'm-1', threadId }));
      expect(await alice.inbox.next()).toMatchObject({ type: 'run_status', clientMessageId: 'm-1', state: 'completed' });
    }
    // Not held by the resends (this one runs), and not given back twice (a second at once is refused).
    const other = await signIn(served, 'alice');
    alice.say('slow');
    expect(await alice.inbox.next()).toMatchObject({ type: 'agent_started' });
    other.say('at the same time');
    expect(await other.inbox.next()).toMatchObject({ type: 'error', code: 'rate_limited' });
    expect((await alice.inbox.take(RUN.length - 1)).map((m) => m.type)).toEqual(RUN.slice(1));
    other.say('after');
    expect((await other.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
  });

  it('counts the tokens the model reports and refuses with quota_exceeded before calling it once the day is spent', async () => {
    const model = await slowModel(0, 200, 150);
    models.push(model);
    const served = await serve({ APP_USER_DAILY_LLM_TOKENS: '200', LLM_BASE_URL: model.url });
    const alice = await signIn(served, 'alice');
    for (const text of ['150 used after this', '300 used after this']) {
      alice.say(text);
      expect((await alice.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
    }
    alice.say('over budget');
    expect(await alice.inbox.next()).toMatchObject({ type: 'error', code: 'quota_exceeded', resetsAt: Date.UTC(2026, 11, 7) });
    expect(model.requests.filter((request) => request.path.endsWith('/chat/completions'))).toHaveLength(2);
    expect(await alice.listThreads()).toBe(2);
  });

  it('holds across two instances that share Redis', async () => {
    const env = { REDIS_URL: redis().url, APP_USER_MESSAGES_PER_MINUTE: '2' };
    const [a, b] = [await serve(env), await serve(env)];
    const subject = `alice-${Date.now()}`;
    const onA = await signIn(a, subject);
    const onB = await signIn(b, subject);
    onA.say('one');
    expect((await onA.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
    onB.say('two');
    expect((await onB.inbox.take(RUN.length)).map((m) => m.type)).toEqual(RUN);
    onA.say('three');
    expect(await onA.inbox.next()).toMatchObject({ type: 'error', code: 'rate_limited' });
  });
});
