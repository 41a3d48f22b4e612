import { createLogger } from '../../common/log';
import { AGENT_EVENT_TYPES, type ServerMessage } from '../../common/chat-protocol';
import { type Agent, AgentRegistry } from '../src/agents/agent-registry';
import { AgentSupervisor } from '../src/agents/agent-supervisor';
import { ChatAgent } from '../src/agents/chat-agent';
import { ExecutionTracker } from '../src/agents/execution-tracker';
import { BuiltinModel } from '../src/agents/llm';
import { createToolDispatcher } from '../src/agents/tools';
import { AgentWebSocketBridge } from '../src/chat/websocket-bridge';
import { WebSocketManager } from '../src/chat/websocket-manager';
import { type ChatSession, EmbeddedStore, type SessionFactory } from '../src/storage/store';

const THREAD = 'thread-1';
const AT = '2026-11-30T10:00:00.000Z';
const LEASE_MS = 1000;

type Method = keyof ChatSession;

/** The embedded store with some session methods replaced (failing ones, slow ones). */
function storeWith(store: EmbeddedStore, replaced: (real: ChatSession) => Partial<ChatSession>): SessionFactory {
  return Object.assign(Object.create(store) as EmbeddedStore, {
    session: () => {
      const real = store.session();
      return { ...real, ...replaced(real) };
    },
  });
}

function failing(store: EmbeddedStore, ...methods: Method[]): SessionFactory {
  return storeWith(store, () => Object.fromEntries(methods.map((method) => [method, () => Promise.reject(new Error(`${method} failed`))])));
}

const throwing: Agent = {
  name: 'chat',
  run: async ({ runId, threadId, emit }) => {
    emit({ type: 'agent_started', runId, threadId, agent: 'chat' });
    throw new Error('model exploded');
  },
};

/** The supervisor as the services phase builds it, with one client following THREAD. */
function setUp(options: { agent?: Agent; store?: EmbeddedStore; sessionFactory?: SessionFactory; runIds?: string[] } = {}) {
  const websocketManager = new WebSocketManager();
  const published: ServerMessage[] = [];
  const websocketBridge = new AgentWebSocketBridge(websocketManager, { publish: (message) => published.push(message) });
  const agentRegistry = new AgentRegistry().register(options.agent ?? new ChatAgent(() => 0));
  agentRegistry.connect(websocketBridge);
  const store = options.store ?? new EmbeddedStore();
  const sessionFactory = options.sessionFactory ?? store;
  const executionTracker = new ExecutionTracker();
  const runIds = [...(options.runIds ?? ['run-1'])];
  const supervisor = new AgentSupervisor(
    { llmClient: new BuiltinModel(), sessionFactory, toolDispatcher: createToolDispatcher(), websocketBridge, agentRegistry, executionTracker },
    createLogger('test', 'silent'),
    { leaseMs: LEASE_MS, newRunId: () => runIds.shift() ?? 'run-x', now: () => new Date(AT) },
  );
  const received: ServerMessage[] = [];
  websocketManager.add({ id: 'client', send: (message) => received.push(message), close: () => {} });
  websocketManager.follow('client', THREAD);
  return { supervisor, store, executionTracker, received, published };
}

const types = (messages: readonly ServerMessage[]) => messages.map((message) => (message.type === 'error' ? `error:${message.code}` : message.type));

describe('AgentSupervisor.handle', () => {
  const FIVE_AND_REPLY = [...AGENT_EVENT_TYPES, 'agent_response'];
  const FOUR = AGENT_EVENT_TYPES.slice(0, 4);
  const cases: {
    name: string;
    agent?: Agent;
    failing?: Method[];
    want: { ok: boolean; delivered: string[]; stored: string[]; state: string | undefined; events: string[] };
  }[] = [
    {
      name: 'a run that succeeds: five events, the reply, both messages stored, the run completed',
      want: { ok: true, delivered: FIVE_AND_REPLY, stored: ['user', 'assistant'], state: 'completed', events: [...AGENT_EVENT_TYPES] },
    },
    {
      name: 'an agent that throws: agent_failed, no reply stored, the run failed',
      agent: throwing,
      want: { ok: false, delivered: ['agent_started', 'error:agent_failed'], stored: ['user'], state: 'failed', events: ['agent_started'] },
    },
    {
      name: 'history unreadable: unavailable before anything is stored',
      failing: ['history'],
      want: { ok: false, delivered: ['error:unavailable'], stored: [], state: undefined, events: [] },
    },
    {
      name: 'the user message cannot be stored: unavailable, no agent_started, no run',
      failing: ['startRun'],
      want: { ok: false, delivered: ['error:unavailable'], stored: [], state: undefined, events: [] },
    },
    {
      name: 'an event cannot be stored: agent_failed instead of agent_completed, never both',
      failing: ['appendEvent'],
      want: { ok: false, delivered: [...FOUR, 'error:agent_failed'], stored: ['user'], state: 'failed', events: [] },
    },
    {
      name: 'the reply cannot be stored: agent_failed instead of agent_completed, never both',
      failing: ['completeRun'],
      want: { ok: false, delivered: [...FOUR, 'error:agent_failed'], stored: ['user'], state: 'failed', events: FOUR },
    },
  ];

  it.each(cases)('$name', async ({ agent, failing: methods = [], want }) => {
    const store = new EmbeddedStore();
    const { supervisor, executionTracker, received, published } = setUp({ agent, store, sessionFactory: failing(store, ...methods) });
    const outcome = await supervisor.handle({ threadId: THREAD, text: 'hello there' });
    const session = store.session();
    const history = await session.history(THREAD, 10);
    const got = {
      ok: outcome.ok,
      delivered: types(received),
      stored: history.map((message) => message.role),
      state: (await session.run('run-1'))?.state,
      events: (await session.events('run-1')).map(({ event }) => event.type),
    };
    expect(got).toEqual(want);
    expect(outcome.runId).toBe('run-1');
    // Every message also went to the other instances, and the run is no longer counted.
    expect(published).toEqual(received);
    expect(executionTracker.inFlight).toBe(0);
  });

  it('answers with the reply the agent made, links both messages to the run, and the error names no internals', async () => {
    const ok = setUp();
    await ok.supervisor.handle({ threadId: THREAD, text: 'hello there' });
    expect(ok.received.at(-1)).toEqual({ type: 'agent_response', runId: 'run-1', threadId: THREAD, text: expect.stringContaining('You said: "hello there".') });
    expect((await ok.store.session().history(THREAD, 10)).map(({ role, runId, runState }) => ({ role, runId, runState }))).toEqual([
      { role: 'user', runId: 'run-1', runState: 'completed' },
      { role: 'assistant', runId: undefined, runState: undefined },
    ]);
    const failed = setUp({ agent: throwing });
    await failed.supervisor.handle({ threadId: THREAD, text: 'hello' });
    expect(failed.received.at(-1)).toEqual({ type: 'error', code: 'agent_failed', runId: 'run-1', threadId: THREAD, message: 'the agent could not answer; send the message again' });
    const store = new EmbeddedStore();
    const refused = setUp({ store, sessionFactory: failing(store, 'startRun') });
    await refused.supervisor.handle({ threadId: THREAD, text: 'hello' });
    expect(refused.received.at(-1)).toEqual({ type: 'error', code: 'unavailable', retryAfterSeconds: 1, threadId: THREAD, message: 'the message could not be stored; send it again in 1 s' });
  });

  it('numbers and stores the events in emission order even when an earlier write is the slowest', async () => {
    const store = new EmbeddedStore();
    const stored: number[] = [];
    // The first write takes longest: written concurrently, the others would land before it.
    const slowFirst = storeWith(store, (real) => ({
      appendEvent: async (event, seq) => {
        await new Promise((resolve) => setTimeout(resolve, seq === 1 ? 50 : 0));
        stored.push(seq);
        await real.appendEvent(event, seq);
      },
    }));
    const { supervisor } = setUp({ store, sessionFactory: slowFirst });
    await supervisor.handle({ threadId: THREAD, text: 'in order' });
    expect(stored).toEqual([1, 2, 3, 4]);
    expect((await store.session().events('run-1')).map(({ seq, event }) => `${seq}:${event.type}`)).toEqual(AGENT_EVENT_TYPES.map((type, i) => `${i + 1}:${type}`));
  });

  it('stores a failure that could not be stored at once on a later tick, keeping the run leased meanwhile', async () => {
    let now = 0;
    const store = new EmbeddedStore(() => now);
    let down = true;
    const flaky = storeWith(store, (real) => ({
      completeRun: () => Promise.reject(new Error('database down')),
      failRun: (runId, code) => (down ? Promise.reject(new Error('database down')) : real.failRun(runId, code)),
    }));
    const { supervisor, received } = setUp({ store, sessionFactory: flaky });
    await supervisor.handle({ threadId: THREAD, text: 'hello' });
    expect(types(received).at(-1)).toBe('error:agent_failed');
    expect((await store.session().run('run-1'))?.state).toBe('running');
    down = false;
    now += LEASE_MS / 2;
    await supervisor.sweep();
    now += LEASE_MS * 2;
    await supervisor.sweep();
    expect(await store.session().run('run-1')).toMatchObject({ state: 'failed', errorCode: 'agent_failed' });
    // One terminal message on the wire: the sweep told nobody again.
    expect(types(received).filter((type) => type.startsWith('error'))).toEqual(['error:agent_failed']);
  });

  it('a resent clientMessageId stores nothing, starts nothing, sends nothing, and returns the run with its reply', async () => {
    const { supervisor, store, received } = setUp({ runIds: ['run-1', 'run-2', 'run-3'] });
    await supervisor.handle({ threadId: THREAD, text: 'once', clientMessageId: 'c-1' });
    expect(received[0]).toMatchObject({ type: 'agent_started', clientMessageId: 'c-1' });
    const sent = received.length;
    const again = await supervisor.handle({ threadId: THREAD, text: 'once', clientMessageId: 'c-1' });
    expect(again).toEqual({ runId: 'run-1', ok: true, existing: { runId: 'run-1', threadId: THREAD, state: 'completed', errorCode: null, reply: expect.stringContaining('You said: "once"') } });
    expect(received).toHaveLength(sent);
    expect((await store.session().history(THREAD, 10)).map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(await store.session().run('run-2')).toBeUndefined();
    // The id is per thread: another thread may use it.
    expect((await supervisor.handle({ threadId: 'thread-2', text: 'elsewhere', clientMessageId: 'c-1' })).existing).toBeUndefined();
  });

  it('counts the run in flight from the start until it ends', async () => {
    let release: (reply: string) => void = () => {};
    const replied = new Promise<string>((resolve) => (release = resolve));
    const { supervisor, executionTracker } = setUp({ agent: pausing(replied) });
    const run = supervisor.handle({ threadId: THREAD, text: 'hi' });
    await waitUntil(() => executionTracker.inFlight === 1);
    release('late');
    expect(await run).toEqual({ runId: 'run-1', ok: true });
    expect(executionTracker.inFlight).toBe(0);
  });
});

/** An agent that emits agent_started, waits for `reply`, then completes. */
function pausing(reply: Promise<string>): Agent {
  return {
    name: 'chat',
    run: async ({ runId, threadId, emit }) => {
      emit({ type: 'agent_started', runId, threadId, agent: 'chat' });
      const text = await reply;
      emit({ type: 'agent_completed', runId, threadId, durationMs: 1 });
      return text;
    },
  };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('run leases', () => {
  it("closes a dead instance's run once its lease ran out, tells the thread, and renews its own", async () => {
    let now = 0;
    const store = new EmbeddedStore(() => now);
    let release: (reply: string) => void = () => {};
    const { supervisor, received } = setUp({ store, agent: pausing(new Promise((resolve) => (release = resolve))) });
    // A run whose instance died: stored, then never renewed.
    await store.session().startRun({ runId: 'dead', threadId: THREAD, text: 'lost', at: AT, leaseMs: LEASE_MS });
    const live = supervisor.handle({ threadId: THREAD, text: 'alive' });
    await waitUntil(() => received.length === 1);
    for (let tick = 0; tick < 4; tick += 1) {
      now += LEASE_MS / 2;
      await supervisor.sweep();
    }
    expect((await store.session().run('dead'))?.state).toBe('interrupted');
    expect((await store.session().run('run-1'))?.state).toBe('running');
    expect(received.filter((message) => message.type === 'error')).toEqual([{ type: 'error', code: 'interrupted', runId: 'dead', threadId: THREAD, message: expect.any(String) }]);
    release('done');
    await live;
    expect((await store.session().run('run-1'))?.state).toBe('completed');
    const history = await store.session().history(THREAD, 10);
    expect(history.map(({ text, runState }) => `${text}:${runState ?? '-'}`)).toEqual(['lost:interrupted', 'alive:completed', 'done:-']);
  });

  it('on stop marks the runs in flight interrupted and tells their threads; a run that ends later sends no second ending', async () => {
    let release: (reply: string) => void = () => {};
    const { supervisor, store, received } = setUp({ agent: pausing(new Promise((resolve) => (release = resolve))) });
    const run = supervisor.handle({ threadId: THREAD, text: 'cut' });
    await waitUntil(() => received.length === 1);
    await supervisor.stopLeases();
    expect(await store.session().run('run-1')).toMatchObject({ state: 'interrupted', errorCode: 'shutdown' });
    release('too late');
    expect(await run).toEqual({ runId: 'run-1', ok: false });
    expect(types(received)).toEqual(['agent_started', 'error:interrupted']);
    expect((await store.session().history(THREAD, 10)).map((message) => message.role)).toEqual(['user']);
  });

  it('a run that fails after stop, with the database gone too, sends no second ending', async () => {
    let fail: (error: Error) => void = () => {};
    const store = new EmbeddedStore();
    const { supervisor, received } = setUp({ store, sessionFactory: storeWith(store, () => ({ failRun: () => Promise.reject(new Error('pool closed')) })), agent: pausing(new Promise((_, reject) => (fail = reject))) });
    const run = supervisor.handle({ threadId: THREAD, text: 'cut' });
    await waitUntil(() => received.length === 1);
    await supervisor.stopLeases();
    fail(new Error('model connection reset'));
    expect(await run).toEqual({ runId: 'run-1', ok: false });
    expect(types(received)).toEqual(['agent_started', 'error:interrupted']);
  });
});
