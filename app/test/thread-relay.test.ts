/** Cross-instance delivery of a thread's messages, with two relays sharing one in-process bus. */
import { createLogger } from '../../common/log';
import type { CacheClient, MessageHandler } from '../src/storage/cache';
import type { ServerMessage } from '../../common/chat-protocol';
import { decodeEnvelope, threadChannel, ThreadRelay } from '../src/chat/thread-relay';
import { AgentWebSocketBridge } from '../src/chat/websocket-bridge';
import { WebSocketManager } from '../src/chat/websocket-manager';

const log = createLogger('test', 'silent');

/** Stands in for Redis: every instance's subscriptions see every instance's publications. */
function sharedBus() {
  const subscribers: { channels: Set<string>; handlers: MessageHandler[] }[] = [];
  const unavailable = { subscribe: false };
  const client = (): Pick<CacheClient, 'publish' | 'subscribe' | 'unsubscribe' | 'onMessage'> => {
    const me = { channels: new Set<string>(), handlers: [] as MessageHandler[] };
    subscribers.push(me);
    return {
      publish: async (channel, payload) => {
        for (const s of subscribers) if (s.channels.has(channel)) for (const handler of s.handlers) handler(channel, payload);
      },
      subscribe: async (channel) => {
        if (unavailable.subscribe) throw new Error('cache unavailable');
        me.channels.add(channel);
      },
      unsubscribe: async (channel) => {
        me.channels.delete(channel);
      },
      onMessage: (handler) => me.handlers.push(handler),
    };
  };
  return { client, unavailable };
}

function instance(bus: ReturnType<typeof sharedBus>, id: string) {
  const manager = new WebSocketManager();
  const relay = new ThreadRelay(bus.client() as CacheClient, manager, log, id);
  const bridge = new AgentWebSocketBridge(manager, relay);
  const received: ServerMessage[] = [];
  manager.add({ id: `${id}-socket`, send: (message) => received.push(message), close: () => {} });
  return { manager, relay, bridge, received, socket: `${id}-socket` };
}

const reply = (threadId: string, text: string) => ({ type: 'agent_response' as const, runId: 'r', threadId, text });

describe('thread relay', () => {
  it('delivers a run on one instance to the thread follower on another, exactly once each', async () => {
    const bus = sharedBus();
    const a = instance(bus, 'a');
    const b = instance(bus, 'b');
    a.manager.follow(a.socket, 't');
    await a.relay.watch('t');
    b.manager.follow(b.socket, 't');
    await b.relay.watch('t');
    expect(a.bridge.emit(reply('t', 'from a'))).toBe(1);
    await Promise.resolve();
    expect(a.received).toEqual([reply('t', 'from a')]);
    expect(b.received).toEqual([reply('t', 'from a')]);
  });

  it('stops delivering after unwatch, and retries a subscription that failed', async () => {
    const bus = sharedBus();
    const a = instance(bus, 'a');
    const b = instance(bus, 'b');
    bus.unavailable.subscribe = true;
    await expect(b.relay.watch('t')).rejects.toThrow('cache unavailable');
    bus.unavailable.subscribe = false;
    b.manager.follow(b.socket, 't');
    await b.relay.watch('t');
    a.bridge.emit(reply('t', 'one'));
    b.relay.unwatch('t');
    await Promise.resolve();
    a.bridge.emit(reply('t', 'two'));
    await Promise.resolve();
    expect(b.received.map((m) => (m as { text: string }).text)).toEqual(['one']);
  });

  it('drops its own publications and malformed ones', () => {
    expect(decodeEnvelope(JSON.stringify({ origin: 'me', message: reply('t', 'x') }), 'me')).toBeUndefined();
    expect(decodeEnvelope(JSON.stringify({ origin: 'other', message: reply('t', 'x') }), 'me')).toEqual(reply('t', 'x'));
    expect(decodeEnvelope('not json', 'me')).toBeUndefined();
    expect(decodeEnvelope('{"origin":"other"}', 'me')).toBeUndefined();
    expect(threadChannel('abc')).toBe('chat:thread:abc');
  });
});
