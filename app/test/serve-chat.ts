/** The chat service over the components the real startup plan builds, behind a loopback WebSocket server. */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Env } from '../../common/env';
import { createLogger } from '../../common/log';
import { ChatService, type ChatOptions } from '../src/chat/chat-service';
import { readServerConfig } from '../src/config';
import { COMPONENT_NAMES } from '../src/startup/components';
import { runStartup } from '../src/startup/orchestrator';
import { PhaseState } from '../src/startup/phase-state';
import { createStartupPlan } from '../src/startup/startup-plan';
import { messages } from '../../testkit/chat-client';

const log = createLogger('test', 'silent');

export type Limits = Partial<Pick<ChatOptions, 'rateLimitPerMinute' | 'maxBufferedBytes' | 'maxThreadsPerSocket'>>;

/** `env` picks the dependencies, as in the app (DATABASE_URL for PostgreSQL); none means the embedded ones. */
export async function serveChat(limits: Limits = {}, env: Env = {}) {
  const components = await runStartup(createStartupPlan({ env, config: readServerConfig(env), log }), { state: new PhaseState(COMPONENT_NAMES), serve: () => {} });
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
    await components.sessionFactory.close();
  };
  return { chat, components, connect, close };
}
