/**
 * History paging over real sockets, on both stores: a thread larger than one page read whole,
 * newest page first, while it grows; cursors that must not open a thread; the rate limit.
 */
import { AGENT_EVENT_TYPES, RESUME_HISTORY_LIMIT, RESUME_HISTORY_MAX_BYTES } from '../../common/chat-protocol';
import type { Env } from '../../common/env';
import { createDatabase, serverForFile, startPostgres } from '../../testkit/dependency-servers';
import { serveChat } from './serve-chat';

const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];
const postgres = serverForFile(startPostgres);

type Served = Awaited<ReturnType<typeof serveChat>>;
type Client = Awaited<ReturnType<Served['connect']>>;
interface Page {
  type: string;
  code?: string;
  messages: { role: string; text: string }[];
  truncated: boolean;
  before: number | null;
  nextBefore: number | null;
}

/** Runs one user message (a new thread without `thread`) and returns the thread it went to. */
async function say(client: Client, text: string, thread?: { threadId: string; threadToken: string }) {
  client.ws.send(JSON.stringify({ type: 'user_message', text, ...thread }));
  const run = await client.inbox.take(RUN.length);
  expect(run.map((message) => message.type)).toEqual(RUN);
  return thread ?? { threadId: String(run[0]!.threadId), threadToken: String(run[0]!.threadToken) };
}

/** Sends a resume and returns its answer: a history page or an error. Live events of followed threads are skipped. */
async function ask(client: Client, resume: Record<string, unknown>): Promise<Page> {
  client.ws.send(JSON.stringify({ type: 'resume', ...resume }));
  for (;;) {
    const message = await client.inbox.next();
    if (message.type === 'history' || message.type === 'error') return message as unknown as Page;
  }
}

/** Appends straight to the store: the thread grows past a page without hundreds of agent runs. */
async function seed(served: Served, threadId: string, texts: string[]) {
  const session = served.components.sessionFactory.session();
  for (const text of texts) await session.append({ threadId, role: 'user', text, at: new Date().toISOString() });
}

const stores: { name: string; env: () => Promise<Env> }[] = [
  { name: 'embedded store', env: async () => ({}) },
  { name: 'PostgreSQL store', env: async () => ({ DATABASE_URL: await createDatabase(postgres()) }) },
];

describe.each(stores)('history paging, $name', ({ env }) => {
  let served: Served | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  it('reads a thread larger than one page whole, oldest to newest, nothing missing or twice, while messages are appended', async () => {
    served = await serveChat({ rateLimitPerMinute: 1000 }, await env());
    const writer = await served.connect();
    const thread = await say(writer, 'first');
    // 150 small messages fill count-capped pages; 100 with a large one every tenth fill byte-capped ones.
    const texts = Array.from({ length: 250 }, (_, i) => `m${i} ${'x'.repeat(i >= 150 && i % 10 === 0 ? 60_000 : 10)}`);
    await seed(served, thread.threadId, texts);
    const stored = (await served.components.sessionFactory.session().history(thread.threadId, 10_000)).map((message) => message.text);
    expect(stored).toHaveLength(252);

    const reader = await served.connect();
    const pages: Page[] = [];
    let before: number | undefined;
    do {
      const page = await ask(reader, { ...thread, before });
      expect(page).toMatchObject({ type: 'history', before: before ?? null });
      pages.push(page);
      before = page.nextBefore ?? undefined;
      // The thread grows between pages; the cursor counts from its start, so nothing shifts.
      await say(writer, `appended while paging ${pages.length}`, thread);
    } while (before !== undefined);

    const read = pages.toReversed().flatMap((page) => page.messages.map((message) => message.text));
    expect(read).toEqual(stored);
    for (const page of pages) {
      expect(page.messages.length).toBeLessThanOrEqual(RESUME_HISTORY_LIMIT);
      expect(page.messages.reduce((bytes, message) => bytes + Buffer.byteLength(message.text), 0)).toBeLessThanOrEqual(RESUME_HISTORY_MAX_BYTES);
    }
    expect(pages.map((page) => page.truncated)).toContain(true);
    expect(pages.map((page) => page.messages.length)).toContain(RESUME_HISTORY_LIMIT);
    // The newest page, asked for again, now starts with the messages appended meanwhile.
    const newest = await ask(reader, thread);
    expect(newest.messages.at(-2)?.text).toBe(`appended while paging ${pages.length}`);
  });

  it('a cursor opens no thread: without the token or with another thread’s it is forbidden, and on its own thread it reads only that thread', async () => {
    served = await serveChat({ rateLimitPerMinute: 1000 }, await env());
    const owner = await served.connect();
    const mine = await say(owner, 'mine');
    const theirs = await say(owner, 'theirs');
    await seed(served, theirs.threadId, Array.from({ length: 150 }, (_, i) => `theirs ${i}`));
    const cursor = (await ask(owner, theirs)).nextBefore;
    expect(cursor).not.toBeNull();

    const stranger = await served.connect();
    const answers = [
      await ask(stranger, { threadId: theirs.threadId, before: cursor }),
      await ask(stranger, { threadId: theirs.threadId, threadToken: mine.threadToken, before: cursor }),
    ];
    expect(answers.map(({ type, code }) => ({ type, code }))).toEqual([
      { type: 'error', code: 'forbidden' },
      { type: 'error', code: 'forbidden' },
    ]);
    // Their cursor on my thread (with my token) reads my thread: the store reads only the thread the token opens.
    const page = await ask(stranger, { ...mine, before: cursor });
    expect(page.type).toBe('history');
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.messages.every((message) => !message.text.startsWith('theirs'))).toBe(true);
  });

  it.each([['"older"'], ['-1'], ['2.5'], ['null']])('a malformed cursor %s is an invalid_message naming before', async (before) => {
    served = await serveChat({}, await env());
    const client = await served.connect();
    const thread = await say(client, 'hello');
    client.ws.send(`{"type":"resume","threadId":"${thread.threadId}","threadToken":"${thread.threadToken}","before":${before}}`);
    expect(await client.inbox.next()).toEqual({ type: 'error', code: 'invalid_message', message: expect.stringMatching(/^before: before must be/) });
  });

  it('counts every page asked for against the rate limit', async () => {
    served = await serveChat({ rateLimitPerMinute: 3 }, await env());
    const client = await served.connect();
    const thread = await say(client, 'hello');
    const codes = [];
    for (const before of [undefined, 1, 1]) codes.push((await ask(client, { ...thread, before })).code ?? 'history');
    expect(codes).toEqual(['history', 'history', 'rate_limited']);
  });
});
