/**
 * Threads belong to the signed-in person who created them: another person cannot read, page or
 * write them, even holding a valid thread token, and list_threads shows each person only theirs.
 */
import { AGENT_EVENT_TYPES, THREADS_PAGE_LIMIT } from '../../common/chat-protocol';
import { startTestIssuer, type TestIssuer } from '../../testkit/oidc-issuer';
import { ThreadTokens } from '../src/chat/thread-tokens';
import { serveChat } from './serve-chat';
import { createDatabase, serverForFile, startPostgres } from '../../testkit/dependency-servers';

const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];
const postgres = serverForFile(startPostgres);

const stores: [string, () => Promise<Record<string, string>>][] = [
  ['the in-process store', async () => ({})],
  ['PostgreSQL', async () => ({ DATABASE_URL: await createDatabase(postgres()) })],
];

describe.each(stores)('threads that belong to a person, in %s', (_store, storeEnv) => {
  let test: TestIssuer;
  let served: Awaited<ReturnType<typeof serveChat>>;

  beforeEach(async () => {
    test = await startTestIssuer();
    served = await serveChat(
      { rateLimitPerMinute: 1000, maxThreadsPerSocket: 100 },
      { APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'chat-test', APP_USER_MESSAGES_PER_MINUTE: '1000', ...(await storeEnv()) },
    );
  });
  afterEach(async () => {
    await served.close();
    await test.issuer.stop();
  });

  async function signIn(subject: string) {
    const socket = await served.connect();
    socket.ws.send(JSON.stringify({ type: 'authenticate', token: await test.issuer.sign({ sub: subject }) }));
    expect(await socket.inbox.next()).toMatchObject({ type: 'authenticated', subject });
    return socket;
  }

  type Socket = Awaited<ReturnType<typeof signIn>>;
  const send = (socket: Socket, message: object) => socket.ws.send(JSON.stringify(message));

  async function say(socket: Socket, text: string, threadId?: string): Promise<string> {
    send(socket, { type: 'user_message', text, threadId });
    const run = await socket.inbox.take(RUN.length);
    expect(run.map((m) => m.type)).toEqual(RUN);
    expect(run[0]).not.toHaveProperty('threadToken');
    return String(run[0]!.threadId);
  }

  it("refuses another person's resume, paging and message with forbidden, even with a valid thread token", async () => {
    const alice = await signIn('alice');
    const threadId = await say(alice, 'my secret');
    await say(alice, 'more', threadId);
    const validToken = new ThreadTokens(served.components.settings.threadTokenKey).mint(threadId);

    const bob = await signIn('bob');
    const attempts = [
      { type: 'resume', threadId },
      { type: 'resume', threadId, threadToken: validToken },
      { type: 'resume', threadId, threadToken: validToken, before: 1 },
      { type: 'user_message', text: 'mine now', threadId, threadToken: validToken },
      { type: 'resume', threadId: 'made-up-thread' },
    ];
    for (const attempt of attempts) {
      send(bob, attempt);
      expect(await bob.inbox.next()).toMatchObject({ type: 'error', code: 'forbidden', threadId: attempt.threadId });
    }

    // Nothing stored, nothing delivered: Alice's history is hers alone, and her owner still reads it.
    send(alice, { type: 'resume', threadId });
    const history = (await alice.inbox.next()) as { type: string; messages: { text: string }[] };
    expect(history.type).toBe('history');
    expect(history.messages.map((m) => m.text).filter((text) => !text.startsWith('You said'))).toEqual(['my secret', 'more']);
  });

  it("lists each person's own threads, newest first, paged", async () => {
    const alice = await signIn('alice');
    const bob = await signIn('bob');
    const mine: string[] = [];
    for (let i = 0; i < THREADS_PAGE_LIMIT + 2; i += 1) mine.push(await say(alice, `thread ${i}`));
    const bobs = await say(bob, 'bob only');
    await say(alice, 'first thread again', mine[0]);

    send(alice, { type: 'list_threads' });
    const first = (await alice.inbox.next()) as { type: string; threads: { threadId: string; preview: string; updatedAt: string }[]; nextBefore: string | null };
    expect(first.type).toBe('threads');
    expect(first.threads).toHaveLength(THREADS_PAGE_LIMIT);
    expect(first.threads[0]).toEqual({ threadId: mine[0], preview: 'thread 0', updatedAt: expect.any(String) });
    expect(first.nextBefore).toEqual(expect.any(String));
    send(alice, { type: 'list_threads', before: first.nextBefore });
    const second = (await alice.inbox.next()) as typeof first;
    expect(second.nextBefore).toBeNull();
    const listed = [...first.threads, ...second.threads].map((t) => t.threadId);
    expect(listed).toEqual([mine[0], ...mine.slice(1).reverse()]);
    expect(listed).not.toContain(bobs);

    send(bob, { type: 'list_threads' });
    expect(await bob.inbox.next()).toEqual({ type: 'threads', threads: [{ threadId: bobs, preview: 'bob only', updatedAt: expect.any(String) }], nextBefore: null });
  });
});

describe('list_threads without sign-in', () => {
  it('is refused: anonymous sockets have no person to list threads for', async () => {
    const served = await serveChat();
    const { ws, inbox } = await served.connect();
    ws.send(JSON.stringify({ type: 'list_threads' }));
    expect(await inbox.next()).toMatchObject({ type: 'error', code: 'unauthenticated' });
    await served.close();
  });
});
