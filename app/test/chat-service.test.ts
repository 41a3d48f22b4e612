import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '../../common/log';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { ChatService, type ChatOptions, RECONNECT_CLOSE, SLOW_READER_CLOSE } from '../src/chat/chat-service';
import { readServerConfig } from '../src/config';
import { COMPONENT_NAMES } from '../src/startup/components';
import { runStartup } from '../src/startup/orchestrator';
import { PhaseState } from '../src/startup/phase-state';
import { createStartupPlan } from '../src/startup/startup-plan';
import { closeEvent, messages } from '../../testkit/chat-client';

const log = createLogger('test', 'silent');
const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];

type Limits = Partial<Pick<ChatOptions, 'rateLimitPerMinute' | 'maxBufferedBytes' | 'maxThreadsPerSocket'>>;

/** The chat service over the components the real startup plan builds, behind a loopback WebSocket server. */
async function serveChat(limits: Limits = {}) {
  const components = await runStartup(createStartupPlan({ env: {}, config: readServerConfig({}), log }), { state: new PhaseState(COMPONENT_NAMES), serve: () => {} });
  const chat = new ChatService({ components, rateLimitPerMinute: 60, maxBufferedBytes: 1 << 20, maxThreadsPerSocket: 16, pingIntervalMs: 60_000, log, ...limits });
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => chat.accept(ws, 'client-a'));
  await new Promise((resolve) => wss.once('listening', resolve));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const sockets: WebSocket[] = [];
  const connect = async () => {
    const ws = new WebSocket(url);
    sockets.push(ws);
    const inbox = messages(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return { ws, inbox };
  };
  const close = async () => {
    for (const ws of sockets) ws.terminate();
    await chat.stop(0, 0);
    await new Promise((resolve) => wss.close(resolve));
  };
  return { chat, connect, close };
}

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
