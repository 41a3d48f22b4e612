import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { RECONNECT_CLOSE, SLOW_READER_CLOSE } from '../src/chat/chat-service';
import { closeEvent } from '../../testkit/chat-client';
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
});
