/**
 * Chat built the way main.ts builds it: the public listener (createPublicServer), the real startup
 * plan, then a ChatService enabled on it, with the options main.ts derives from the settings
 * (readServerConfig of `env`) and a test's own limits on top. Listens on a loopback port.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { Env } from '../../common/env';
import { createLogger, type Logger } from '../../common/log';
import { APP_PATHS } from '../../common/revision';
import { ChatService, type ChatOptions, chatOptions } from '../src/chat/chat-service';
import { ClientFaultLog } from '../src/chat/client-faults';
import { createPublicServer, type PublicServerOptions, publicServerOptions } from '../src/chat/public-server';
import { readServerConfig } from '../src/config';
import { COMPONENT_NAMES, type Components } from '../src/startup/components';
import { runStartup } from '../src/startup/orchestrator';
import { PhaseState } from '../src/startup/phase-state';
import { createStartupPlan } from '../src/startup/startup-plan';
import { messages } from '../../testkit/chat-client';

const silent = createLogger('test', 'silent');

export type Limits = Partial<Pick<ChatOptions, 'rateLimitPerMinute' | 'maxBufferedBytes' | 'maxThreadsPerSocket' | 'errorBudget' | 'now'>>;

export interface BuildOptions {
  /** Picks the dependencies, as in the app (DATABASE_URL for PostgreSQL); none means the embedded ones. */
  env?: Env;
  limits?: Limits;
  /** Listener settings that differ from the app's defaults. */
  server?: Partial<Omit<PublicServerOptions, 'log'>>;
  /** Where every line goes; silent by default. */
  log?: Logger;
}

/** The listener and its state before startup; `start()` runs the startup plan and enables chat, `listen()` opens the port. */
export function buildChat({ env = {}, limits = {}, server: overrides = {}, log = silent }: BuildOptions = {}) {
  const config = readServerConfig(env);
  const state = new PhaseState(COMPONENT_NAMES);
  const faults = new ClientFaultLog(log);
  const publicServer = createPublicServer(state, { ...publicServerOptions(config, log, faults), ...overrides });
  const { server } = publicServer;
  let components: Components | undefined;
  let chat: ChatService | undefined;
  return {
    state,
    publicServer,
    start: async (): Promise<{ components: Components; chat: ChatService }> => {
      components = await runStartup(createStartupPlan({ env, config, log }), {
        state,
        serve: (built) => {
          chat = new ChatService({ ...chatOptions(config, built, log, faults), ...limits });
          publicServer.enableChat(chat);
        },
      });
      return { components, chat: chat! };
    },
    /** Resolves to `host:port`. */
    listen: async (): Promise<string> => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: async (): Promise<void> => {
      await chat?.stop(0, 0);
      faults.stop();
      server.closeAllConnections();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
      await Promise.all([components?.sessionFactory.close(), components?.cacheClient.close()]);
    },
  };
}

/** Chat ready and listening, with a client that connects to it. */
export async function serveChat(limits: Limits = {}, env: Env = {}, log?: Logger) {
  const built = buildChat({ env, limits, log });
  const { components, chat } = await built.start();
  const url = `ws://${await built.listen()}${APP_PATHS.websocket}`;
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
    await built.close();
  };
  return { chat, components, connect, close, url };
}
