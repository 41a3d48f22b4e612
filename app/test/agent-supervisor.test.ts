import { createLogger } from '../../common/log';
import type { ServerMessage } from '../../common/chat-protocol';
import { type Agent, AgentRegistry } from '../src/agents/agent-registry';
import { AgentSupervisor } from '../src/agents/agent-supervisor';
import { ChatAgent } from '../src/agents/chat-agent';
import { ExecutionTracker } from '../src/agents/execution-tracker';
import { BuiltinModel } from '../src/agents/llm';
import { createToolDispatcher } from '../src/agents/tools';
import { AgentWebSocketBridge } from '../src/chat/websocket-bridge';
import { WebSocketManager } from '../src/chat/websocket-manager';
import { EmbeddedStore, type SessionFactory } from '../src/storage/store';

const THREAD = 'thread-1';
const AT = '2026-11-30T10:00:00.000Z';

/** A store whose sessions fail at `failing`; otherwise the embedded store. */
function storeFailingAt(failing: 'history' | 'append' | 'appendEvent' | undefined): SessionFactory {
  const store = new EmbeddedStore();
  if (failing === undefined) return store;
  return Object.assign(Object.create(store) as EmbeddedStore, {
    session: () => ({ ...store.session(), [failing]: () => Promise.reject(new Error(`${failing} failed`)) }),
  });
}

const throwing: Agent = {
  name: 'chat',
  run: async ({ runId, threadId, emit }) => {
    emit({ type: 'agent_started', runId, threadId, agent: 'chat' });
    throw new Error('model exploded');
  },
};

/** The supervisor as the services phase builds it, with one client following THREAD. */
function setUp(options: { agent?: Agent; sessionFactory?: SessionFactory } = {}) {
  const websocketManager = new WebSocketManager();
  const published: ServerMessage[] = [];
  const websocketBridge = new AgentWebSocketBridge(websocketManager, { publish: (message) => published.push(message) });
  const agentRegistry = new AgentRegistry().register(options.agent ?? new ChatAgent(() => 0));
  agentRegistry.connect(websocketBridge);
  const sessionFactory = options.sessionFactory ?? new EmbeddedStore();
  const executionTracker = new ExecutionTracker();
  const supervisor = new AgentSupervisor(
    { llmClient: new BuiltinModel(), sessionFactory, toolDispatcher: createToolDispatcher(), websocketBridge, agentRegistry, executionTracker },
    createLogger('test', 'silent'),
    () => 'run-1',
    () => new Date(AT),
  );
  const received: ServerMessage[] = [];
  websocketManager.add({ id: 'client', send: (message) => received.push(message), close: () => {} });
  websocketManager.follow('client', THREAD);
  return { supervisor, sessionFactory, executionTracker, received, published };
}

describe('AgentSupervisor.handle', () => {
  const FIVE_AND_REPLY = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed', 'agent_response'];
  const cases: {
    name: string;
    agent?: Agent;
    failing?: 'history' | 'append' | 'appendEvent';
    want: { ok: boolean; delivered: string[]; stored: string[] };
  }[] = [
    { name: 'a run that succeeds: five events, the reply, both messages stored', want: { ok: true, delivered: FIVE_AND_REPLY, stored: ['user', 'assistant'] } },
    { name: 'an agent that throws: agent_failed, no reply stored', agent: throwing, want: { ok: false, delivered: ['agent_started', 'error:agent_failed'], stored: ['user'] } },
    { name: 'history unreadable: unavailable before anything runs', failing: 'history', want: { ok: false, delivered: ['error:unavailable'], stored: [] } },
    { name: 'the user message cannot be stored: unavailable, no agent_started', failing: 'append', want: { ok: false, delivered: ['error:unavailable'], stored: [] } },
    {
      name: 'an event cannot be stored: the events went out, then agent_failed, no reply stored',
      failing: 'appendEvent',
      want: { ok: false, delivered: [...FIVE_AND_REPLY.slice(0, 5), 'error:agent_failed'], stored: ['user'] },
    },
  ];

  it.each(cases)('$name', async ({ agent, failing, want }) => {
    const { supervisor, sessionFactory, executionTracker, received, published } = setUp({ agent, sessionFactory: storeFailingAt(failing) });
    const outcome = await supervisor.handle({ threadId: THREAD, text: 'hello there' });
    const history = failing === 'history' ? [] : await sessionFactory.session().history(THREAD, 10);
    const got = { ok: outcome.ok, delivered: received.map((message) => (message.type === 'error' ? `error:${message.code}` : message.type)), stored: history.map((message) => message.role) };
    expect(got).toEqual(want);
    expect(outcome.runId).toBe('run-1');
    // Every message also went to the other instances, and the run is no longer counted.
    expect(published).toEqual(received);
    expect(executionTracker.inFlight).toBe(0);
  });

  it('answers with the reply the agent made, and the error names no internals', async () => {
    const ok = setUp();
    await ok.supervisor.handle({ threadId: THREAD, text: 'hello there' });
    expect(ok.received.at(-1)).toEqual({ type: 'agent_response', runId: 'run-1', threadId: THREAD, text: expect.stringContaining('You said: "hello there".') });
    const failed = setUp({ agent: throwing });
    await failed.supervisor.handle({ threadId: THREAD, text: 'hello' });
    expect(failed.received.at(-1)).toEqual({ type: 'error', code: 'agent_failed', runId: 'run-1', threadId: THREAD, message: 'the agent could not answer; send the message again' });
    const refused = setUp({ sessionFactory: storeFailingAt('append') });
    await refused.supervisor.handle({ threadId: THREAD, text: 'hello' });
    expect(refused.received.at(-1)).toEqual({ type: 'error', code: 'unavailable', retryAfterSeconds: 1, threadId: THREAD, message: 'the message could not be stored; send it again in 1 s' });
  });

  it('counts the run in flight from the start until it ends', async () => {
    let release: (reply: string) => void = () => {};
    const replied = new Promise<string>((resolve) => (release = resolve));
    const { supervisor, executionTracker } = setUp({ agent: { name: 'chat', run: () => replied } });
    const run = supervisor.handle({ threadId: THREAD, text: 'hi' });
    expect(executionTracker.inFlight).toBe(1);
    release('late');
    expect(await run).toEqual({ runId: 'run-1', ok: true });
    expect(executionTracker.inFlight).toBe(0);
  });
});
