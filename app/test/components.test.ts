import { EmbeddedCache } from '../src/storage/cache';
import { ExecutionTracker } from '../src/agents/execution-tracker';
import { BuiltinModel } from '../src/agents/llm';
import { capHistory, parseClientFrame } from '../../common/chat-protocol';
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

  it('accepts a resume with a thread id, and names both types when the type is unknown', () => {
    expect(parseClientFrame('{"type":"resume","threadId":"t-1"}')).toEqual({ ok: true, message: { type: 'resume', threadId: 't-1' } });
    expect(parseClientFrame('{"type":"hello"}')).toMatchObject({ error: { message: 'unknown message type "hello"; expected "user_message" or "resume"' } });
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

describe('embedded cache', () => {
  it('counts within the window and starts again after it expires', async () => {
    let now = 1000;
    const cache = new EmbeddedCache(() => now);
    expect(await cache.increment('k', 100)).toBe(1);
    expect(await cache.increment('k', 100)).toBe(2);
    now = 1100;
    expect(await cache.increment('k', 100)).toBe(1);
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
    expect(first).toBe(await model.complete(turns));
    expect(first).toContain('You said: "hi".');
    expect(first).toContain('tool text_stats returned');
  });
});
