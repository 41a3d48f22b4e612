import { AGENT_EVENT_TYPES, type AgentEvent } from '../../common/chat-protocol';
import { AgentRegistry } from '../src/agents/agent-registry';
import { AgentWebSocketBridge } from '../src/chat/websocket-bridge';
import { WebSocketManager } from '../src/chat/websocket-manager';
import { runEventSelfTest, sampleEvents } from '../src/startup/self-test';

type Wiring = (registry: AgentRegistry, manager: WebSocketManager) => void;

const bridgeTo = (manager: WebSocketManager) => new AgentWebSocketBridge(manager, { publish: () => {} });

/** A bridge that passes on only the events `keep` accepts. */
function filteringBridge(manager: WebSocketManager, keep: (event: AgentEvent) => boolean): AgentWebSocketBridge {
  const bridge = bridgeTo(manager);
  const emit = bridge.emit.bind(bridge);
  bridge.emit = (message) => (message.type === 'agent_response' || message.type === 'error' || keep(message) ? emit(message) : 0);
  return bridge;
}

describe('the finalize-phase event self-test', () => {
  const cases: { name: string; wire: Wiring; want: string | undefined }[] = [
    { name: 'registry wired to the manager through the bridge: passes', wire: (registry, manager) => registry.connect(bridgeTo(manager)), want: undefined },
    { name: 'registry not wired', wire: () => {}, want: 'AgentRegistry is not connected to the AgentWebSocketBridge' },
    {
      name: 'wired to another manager: nothing arrives',
      wire: (registry) => registry.connect(bridgeTo(new WebSocketManager())),
      want: `event self-test expected ${AGENT_EVENT_TYPES.join(', ')} at the loopback connection, received nothing`,
    },
    {
      name: 'a bridge that loses an event: names what arrived',
      wire: (registry, manager) => registry.connect(filteringBridge(manager, (event) => event.type !== 'tool_completed')),
      want: `event self-test expected ${AGENT_EVENT_TYPES.join(', ')} at the loopback connection, received agent_started, agent_thinking, tool_executing, agent_completed`,
    },
  ];

  it.each(cases)('$name', ({ wire, want }) => {
    const registry = new AgentRegistry();
    const manager = new WebSocketManager();
    wire(registry, manager);
    const got = (() => {
      try {
        runEventSelfTest(registry, manager);
        return undefined;
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(got).toBe(want);
    // The loopback connection is gone again, pass or fail.
    expect(manager.size).toBe(0);
  });

  it('leaves real clients alone: they follow other threads and receive nothing', () => {
    const manager = new WebSocketManager();
    const registry = new AgentRegistry();
    registry.connect(bridgeTo(manager));
    const received: unknown[] = [];
    manager.add({ id: 'user', send: (message) => received.push(message), close: () => {} });
    manager.follow('user', 'a-user-thread');
    runEventSelfTest(registry, manager);
    expect({ received, size: manager.size }).toEqual({ received: [], size: 1 });
  });

  it('samples the five events in protocol order', () => {
    expect(sampleEvents('r', 't').map((event) => event.type)).toEqual([...AGENT_EVENT_TYPES]);
  });
});
