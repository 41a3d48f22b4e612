import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { createLogger } from '../../common/log';
import { RECONNECT_CLOSE, SLOW_READER_CLOSE } from '../src/chat/chat-service';
import { CLIENT_FAULTS } from '../src/chat/client-faults';
import { ERROR_BUDGET_CLOSE } from '../src/chat/error-budget';
import { closeEvent } from '../../testkit/chat-client';
import { rawTextFrame } from '../../testkit/hostile-clients';
import { waitFor } from '../../testkit/wait-for';
import { type Limits, serveChat } from './serve-chat';

const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];

const summary = (message: Record<string, unknown>) => (message.type === 'error' ? `error:${String(message.code)}` : String(message.type));
const userMessage = (text: string, thread?: { threadId: string; threadToken?: string }) => JSON.stringify({ type: 'user_message', text, ...thread });

describe('ChatService', () => {
  let served: Awaited<ReturnType<typeof serveChat>> | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  // Each step sends one frame and waits for exactly its answers, so runs never interleave.
  const cases: { name: string; limits?: Limits; steps: { send: string | Buffer; want: string[] }[] }[] = [
    { name: 'a user message: the five events, then the reply', steps: [{ send: userMessage('hello'), want: RUN }] },
    { name: 'text that is not JSON', steps: [{ send: 'hello', want: ['error:invalid_json'] }] },
    { name: 'a binary frame', steps: [{ send: Buffer.from(userMessage('hello')), want: ['error:invalid_json'] }] },
    { name: 'an unknown type', steps: [{ send: '{"type":"shout"}', want: ['error:unknown_type'] }] },
    { name: 'an empty text', steps: [{ send: userMessage('   '), want: ['error:invalid_message'] }] },
    { name: "a resume without the thread's token", steps: [{ send: '{"type":"resume","threadId":"someone-elses"}', want: ['error:forbidden'] }] },
    { name: 'a message to a thread without its token', steps: [{ send: userMessage('hi', { threadId: 'someone-elses' }), want: ['error:forbidden'] }] },
    {
      name: 'past the rate limit',
      limits: { rateLimitPerMinute: 1 },
      steps: [
        { send: userMessage('one'), want: RUN },
        { send: userMessage('two'), want: ['error:rate_limited'] },
      ],
    },
    {
      name: 'past the threads one socket may follow',
      limits: { maxThreadsPerSocket: 1 },
      steps: [
        { send: userMessage('one'), want: RUN },
        { send: userMessage('a second thread'), want: ['error:too_many_threads'] },
      ],
    },
  ];

  it.each(cases)('$name', async ({ limits, steps }) => {
    served = await serveChat(limits);
    const { ws, inbox } = await served.connect();
    for (const { send, want } of steps) {
      ws.send(send);
      const got = (await inbox.take(want.length)).map(summary);
      expect(got).toEqual(want);
    }
  });

  it("sends a new thread's token once, on its first agent_started, and a resume with it gets the history from another socket", async () => {
    served = await serveChat();
    const first = await served.connect();
    first.ws.send(userMessage('remember me'));
    const run = await first.inbox.take(RUN.length);
    const { threadId, threadToken } = run[0] as { threadId: string; threadToken: string };
    expect(run.filter((message) => 'threadToken' in message).map(summary)).toEqual(['agent_started']);

    const second = await served.connect();
    const resumes: { token: string; want: unknown }[] = [
      { token: threadToken, want: { type: 'history', threadId, truncated: false, roles: ['user', 'assistant'] } },
      { token: `${threadToken}x`, want: { type: 'error', threadId, truncated: undefined, roles: undefined } },
    ];
    for (const { token, want } of resumes) {
      second.ws.send(JSON.stringify({ type: 'resume', threadId, threadToken: token }));
      const answer = (await second.inbox.next()) as { type: string; threadId: string; truncated?: boolean; messages?: { role: string }[] };
      expect({ type: answer.type, threadId: answer.threadId, truncated: answer.truncated, roles: answer.messages?.map((m) => m.role) }).toEqual(want);
    }
  });

  it('closes a socket that does not read with 1008 once its unsent bytes pass the limit', async () => {
    served = await serveChat({ maxBufferedBytes: 1 });
    const { ws } = await served.connect();
    const closed = closeEvent(ws);
    ws.send(userMessage('hello'));
    expect(await closed).toEqual(SLOW_READER_CLOSE);
  });

  it('on stop, closes every socket with 1012 and a reason that says to reconnect', async () => {
    served = await serveChat();
    const { ws } = await served.connect();
    const closed = closeEvent(ws);
    expect(await served.chat.stop(1000, 1000)).toEqual({ drained: true, closed: 1 });
    expect(await closed).toEqual(RECONNECT_CLOSE);
    expect(served.chat.connections).toBe(0);
  });

  it('answers an unknown type without echoing it', async () => {
    served = await serveChat();
    const { ws, inbox } = await served.connect();
    const marker = 'ECHO-ME-'.repeat(1000);
    ws.send(JSON.stringify({ type: marker }));
    const answer = await inbox.next();
    expect(answer).toMatchObject({ type: 'error', code: 'unknown_type' });
    expect(JSON.stringify(answer)).not.toContain('ECHO-ME');
    // The same short answer whatever the client sent.
    ws.send(JSON.stringify({ type: 'x' }));
    expect(await inbox.next()).toEqual(answer);
    expect(JSON.stringify(answer).length).toBeLessThan(160);
  });

  describe('the error budget', () => {
    const logged: Record<string, unknown>[] = [];
    const log = createLogger('test', 'info', new Writable({ write: (chunk: Buffer, _enc, done) => (logged.push(JSON.parse(String(chunk)) as Record<string, unknown>), done()) }));
    beforeEach(() => logged.splice(0));

    it('closes a socket with 1008 once its invalid or refused frames pass the budget, logged once', async () => {
      served = await serveChat({ errorBudget: { maxErrors: 3, windowMs: 60_000 } }, {}, log);
      const { ws, inbox } = await served.connect();
      const closed = closeEvent(ws);
      // Every kind of client error spends it: bad JSON, an unknown type, a bad message, a refused resume.
      for (const frame of ['nope', '{"type":"x"}', userMessage(''), '{"type":"resume","threadId":"t"}', 'nope', 'nope']) ws.send(frame);
      expect((await inbox.take(4)).map(summary)).toEqual(['error:invalid_json', 'error:unknown_type', 'error:invalid_message', 'error:forbidden']);
      expect(await closed).toEqual(ERROR_BUDGET_CLOSE);
      const lines = logged.filter((line) => line.cause === 'error_budget');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ severity: 'WARNING', message: expect.stringContaining(CLIENT_FAULTS.error_budget) });
    });

    it('a socket whose frames are valid keeps chatting', async () => {
      served = await serveChat({ errorBudget: { maxErrors: 1, windowMs: 60_000 } });
      const { ws, inbox } = await served.connect();
      for (const text of ['one', 'two', 'three']) {
        ws.send(userMessage(text));
        expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
      }
    });

    it('protocol errors from many sockets make one line per cause, without a stack', async () => {
      served = await serveChat({}, {}, log);
      const sockets = await Promise.all(Array.from({ length: 20 }, () => served!.connect()));
      // Invalid UTF-8 in a text frame: ws closes the socket with 1007 and emits 'error'.
      const closes = sockets.map(({ ws }) => closeEvent(ws));
      for (const { ws } of sockets) (ws as WebSocket & { _socket: { write(b: Buffer): void } })._socket.write(rawTextFrame(Buffer.from([0xc3, 0x28])));
      expect((await Promise.all(closes)).map(({ code }) => code)).toEqual(Array(20).fill(1007));
      await waitFor('the protocol error logged', () => logged.some((line) => line.cause === 'invalid_utf8'));
      const lines = logged.filter((line) => line.cause === 'invalid_utf8');
      expect(lines).toHaveLength(1);
      expect(JSON.stringify(lines[0])).not.toContain('    at ');
      expect(lines[0]).not.toHaveProperty('err');
    });
  });
});
