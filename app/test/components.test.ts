import { EmbeddedCache } from '../src/storage/cache';
import { ExecutionTracker } from '../src/agents/execution-tracker';
import { BuiltinModel } from '../src/agents/llm';
import fc from 'fast-check';
import { capHistory, historyPage, parseClientFrame } from '../../common/chat-protocol';
import { EmbeddedStore } from '../src/storage/store';
import { textStats, ToolDispatcher } from '../src/agents/tools';
import { WebSocketManager } from '../src/chat/websocket-manager';

describe('client frames', () => {
  it.each([
    ['{', 'invalid_json'],
    ['[]', 'unknown_type'],
    ['{"type":"hello"}', 'unknown_type'],
    ['{"type":"user_message"}', 'invalid_message'],
    ['{"type":"user_message","text":"   "}', 'invalid_message'],
    ['{"type":"user_message","text":"hi","threadId":"bad id!"}', 'invalid_message'],
    ['{"type":"resume"}', 'invalid_message'],
  ])('%s is answered with %s', (frame, code) => {
    const parsed = parseClientFrame(frame);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.code).toBe(code);
  });

  it.each([
    ['"12"', 'before must be a number'],
    ['-1', 'before must be a non-negative integer'],
    ['1.5', 'before must be a non-negative integer'],
    ['1e300', 'before must be a non-negative integer'],
    ['null', 'before must be a number'],
  ])('a resume with before %s is an invalid_message naming it', (before, message) => {
    expect(parseClientFrame(`{"type":"resume","threadId":"t-1","before":${before}}`)).toEqual({
      ok: false,
      error: { type: 'error', code: 'invalid_message', message: expect.stringContaining(`before: ${message}`) },
    });
  });

  it('accepts a resume with a thread id and an optional before, and names both types, never the client one, when the type is unknown', () => {
    expect(parseClientFrame('{"type":"resume","threadId":"t-1","before":0}')).toEqual({ ok: true, message: { type: 'resume', threadId: 't-1', before: 0 } });
    expect(parseClientFrame('{"type":"resume","threadId":"t-1"}')).toEqual({ ok: true, message: { type: 'resume', threadId: 't-1' } });
    expect(parseClientFrame('{"type":"hello"}')).toMatchObject({ error: { code: 'unknown_type', message: 'type must be "authenticate" or "user_message" or "resume" or "list_threads"' } });
  });

  it('accepts a user message, trimming the text', () => {
    expect(parseClientFrame('{"type":"user_message","text":" hi ","threadId":"t-1"}')).toEqual({
      ok: true,
      message: { type: 'user_message', text: 'hi', threadId: 't-1' },
    });
  });
});

describe('history cap', () => {
  const entry = (text: string) => ({ role: 'user' as const, text, at: '' });

  it('keeps the newest messages that fit in the byte budget, oldest first', () => {
    expect(capHistory([entry('aaaa'), entry('bb'), entry('cc')], 4)).toEqual({ messages: [entry('bb'), entry('cc')], truncated: true });
    expect(capHistory([entry('aa'), entry('bb')], 4)).toEqual({ messages: [entry('aa'), entry('bb')], truncated: false });
  });

  it('counts UTF-8 bytes and cuts a newest message larger than the budget without splitting a character', () => {
    expect(capHistory([entry('x'), entry('ééé')], 5)).toEqual({ messages: [entry('éé')], truncated: true });
  });
});

describe('history page', () => {
  const at = (position: number, text = `m${position}`) => ({ role: 'user' as const, text, at: '', position });
  const texts = (page: { messages: { text: string }[] }) => page.messages.map((m) => m.text);

  it('takes the newest `limit` of the `limit + 1` it is given and points before its oldest', () => {
    const page = historyPage([at(3), at(7), at(8)], 2, 100);
    expect({ texts: texts(page), truncated: page.truncated, nextBefore: page.nextBefore }).toEqual({ texts: ['m7', 'm8'], truncated: false, nextBefore: 7 });
  });

  it('has no next page when everything older fits, or nothing is stored', () => {
    expect(historyPage([at(0), at(1)], 2, 100)).toMatchObject({ truncated: false, nextBefore: null });
    expect(historyPage([], 2, 100)).toEqual({ messages: [], truncated: false, nextBefore: null });
  });

  it('stops at the byte budget, marks it truncated and points before the oldest it kept', () => {
    const page = historyPage([at(0, 'aaaa'), at(1, 'bb'), at(2, 'cc')], 5, 4);
    expect({ texts: texts(page), truncated: page.truncated, nextBefore: page.nextBefore }).toEqual({ texts: ['bb', 'cc'], truncated: true, nextBefore: 1 });
  });

  it('cuts a message larger than the budget and goes on before it', () => {
    expect(historyPage([at(4, 'x'), at(5, 'abcdef')], 5, 3)).toEqual({ messages: [{ role: 'user', text: 'abc', at: '' }], truncated: true, nextBefore: 5 });
  });

  // A thread in a model store (positions grow with gaps, as PostgreSQL row ids shared by every
  // thread do), read newest page first, with messages appended between pages.
  it('reads a whole thread page by page, oldest to newest, nothing missing or twice, within both caps', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '€'), maxLength: 4 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(text, { maxLength: 30 }),
        fc.array(fc.array(text, { maxLength: 3 }), { maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 60, maxLength: 60 }),
        (limit, initial, appendsBetweenPages, gaps) => {
          const maxBytes = 12; // every text fits (at most 4 x 3 bytes): nothing is cut
          const thread: ReturnType<typeof at>[] = [];
          let position = 0;
          const append = (t: string) => thread.push(at((position += gaps[thread.length % gaps.length]!), t));
          initial.forEach(append);
          const read = (before: number | undefined) => thread.filter((m) => before === undefined || m.position < before).slice(-(limit + 1));
          const newestAtStart = thread.length;
          const got: string[] = [];
          let before: number | undefined;
          for (let page = 0; ; page += 1) {
            const answer = historyPage(read(before), limit, maxBytes);
            expect(answer.messages.length).toBeLessThanOrEqual(limit);
            expect(answer.messages.reduce((sum, m) => sum + Buffer.byteLength(m.text), 0)).toBeLessThanOrEqual(maxBytes);
            if (answer.nextBefore !== null) expect(answer.messages.length).toBeGreaterThan(0);
            got.unshift(...texts(answer));
            if (answer.nextBefore === null) break;
            before = answer.nextBefore;
            (appendsBetweenPages[page] ?? []).forEach(append);
          }
          expect(got).toEqual(thread.slice(0, newestAtStart).map((m) => m.text));
        },
      ),
    );
  });
});

describe('embedded cache', () => {
  it('counts within the window and starts again after it expires', async () => {
    let now = 1000;
    const cache = new EmbeddedCache(() => now);
    expect(await cache.increment('k', 100)).toBe(1);
    expect(await cache.increment('k', 100)).toBe(2);
    now = 1100;
    expect(await cache.increment('k', 100)).toBe(1);
  });

  it('adds any amount, and each change extends the expiry', async () => {
    let now = 1000;
    const cache = new EmbeddedCache(() => now);
    expect(await cache.add('s', 150, 100)).toBe(150);
    now = 1050;
    expect(await cache.add('s', -1, 100)).toBe(149);
    now = 1149;
    expect(await cache.add('s', 0, 100)).toBe(149);
    now = 1249;
    expect(await cache.add('s', 0, 100)).toBe(0);
  });
});

describe('embedded store', () => {
  it('keeps threads apart and returns the newest messages oldest first', async () => {
    const session = new EmbeddedStore().session();
    for (const text of ['a', 'b', 'c']) await session.append({ threadId: 't', role: 'user', text, at: '' });
    await session.append({ threadId: 'u', role: 'user', text: 'other', at: '' });
    expect((await session.history('t', 2)).map((m) => m.text)).toEqual(['b', 'c']);
    expect(await session.history('none', 5)).toEqual([]);
  });

  it('numbers messages from the start of the thread and reads the page before a position', async () => {
    const session = new EmbeddedStore().session();
    for (const text of ['a', 'b', 'c', 'd']) await session.append({ threadId: 't', role: 'user', text, at: '' });
    const page = (before?: number) => session.history('t', 2, before).then((messages) => messages.map((m) => `${m.position}:${m.text}`));
    expect([await page(), await page(2), await page(1), await page(0), await page(99)]).toEqual([['2:c', '3:d'], ['0:a', '1:b'], ['0:a'], [], ['2:c', '3:d']]);
  });
});

describe('execution tracker', () => {
  it('drains when the last run ends, or reports false at the deadline', async () => {
    const tracker = new ExecutionTracker();
    expect(await tracker.drain(10)).toBe(true);
    const done = tracker.start('r1');
    expect(await tracker.drain(20)).toBe(false);
    const drained = tracker.drain(60_000);
    setTimeout(done, 10);
    expect(await drained).toBe(true);
    expect(tracker.inFlight).toBe(0);
  });
});

describe('websocket manager', () => {
  it('delivers to followers of a thread only, and forgets removed connections', () => {
    const manager = new WebSocketManager();
    const got: Record<string, string[]> = { a: [], b: [] };
    for (const id of ['a', 'b']) manager.add({ id, send: (m) => got[id]!.push(m.type), close: () => {} });
    manager.follow('a', 't1');
    manager.follow('b', 't2');
    expect(manager.deliver('t1', { type: 'agent_response', runId: 'r', threadId: 't1', text: '' })).toBe(1);
    expect(got).toEqual({ a: ['agent_response'], b: [] });
    manager.follow('b', 't1');
    expect(manager.remove('a')).toEqual([]);
    expect(manager.remove('b')).toEqual(['t2', 't1']);
    expect(manager.deliver('t1', { type: 'agent_response', runId: 'r', threadId: 't1', text: '' })).toBe(0);
    expect(() => manager.follow('a', 't1')).toThrow('not registered');
  });
});

describe('tools and the built-in model', () => {
  it('dispatches by name and names unknown tools', async () => {
    const tools = new ToolDispatcher().register('text_stats', textStats);
    expect(await tools.dispatch('text_stats', { text: 'two words' })).toEqual({ words: 2, characters: 9 });
    await expect(tools.dispatch('nope', {})).rejects.toThrow('unknown tool nope; registered: text_stats');
    expect(() => tools.register('text_stats', textStats)).toThrow('registered twice');
  });

  it('answers deterministically from the conversation', async () => {
    const model = new BuiltinModel();
    const turns = [
      { role: 'user' as const, content: 'hi' },
      { role: 'system' as const, content: 'tool text_stats returned {"words":1}' },
    ];
    const first = await model.complete(turns);
    expect(first).toEqual(await model.complete(turns));
    expect(first.text).toContain('You said: "hi".');
    expect(first.text).toContain('tool text_stats returned');
    // It reports its own usage, about four characters a token, as a budget needs.
    expect(first.totalTokens).toBe(Math.ceil((2 + 35 + first.text.length) / 4));
  });
});
