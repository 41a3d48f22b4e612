/**
 * The public listener on PORT: liveness at /healthz and chat at /ws. Before the app is ready an
 * upgrade is refused with HTTP 503 and Retry-After, never accepted and then closed with 1011.
 */
import http, { type IncomingMessage, STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import express from 'express';
import { WebSocketServer } from 'ws';
import { REPO_ROOT } from '../../common/paths';
import type { Logger } from '../../common/log';
import { APP_ENV_VARS as V, APP_PATHS } from '../../common/revision';
import type { ChatService } from './chat-service';
import type { PhaseState } from './phase-state';

/** The chat page: plain HTML and JavaScript, no build step. */
export const CHAT_PAGE = path.join(REPO_ROOT, 'app', 'public', 'index.html');

/** Seconds a refused client should wait before it tries again. */
export const RETRY_AFTER_SECONDS = 1;

export interface PublicServer {
  server: http.Server;
  /** Called once startup is complete: from then on upgrades at /ws reach the chat service. */
  enableChat(chat: ChatService): void;
}

export interface PublicServerOptions {
  maxMessageBytes: number;
  /** Open chat sockets past which an upgrade gets 503 (APP_MAX_CONNECTIONS). */
  maxConnections: number;
  log: Logger;
  /** Express `trust proxy`: how many proxies' X-Forwarded-For entries, from the right, to believe. */
  trustProxyHops: number;
}

export function createPublicServer(state: PhaseState, options: PublicServerOptions): PublicServer {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxyHops);
  app.get(APP_PATHS.healthz, (_req, res) => {
    const failed = state.current === 'failed';
    res.status(failed ? 503 : 200).json({ status: failed ? 'failed' : 'ok', state: state.current });
  });

  app.get(APP_PATHS.chatPage, (_req, res) => res.sendFile(CHAT_PAGE));

  const server = http.createServer(app);
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
  let chat: ChatService | undefined;
  const cap = new ConnectionCap(options.maxConnections, options.log);

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://public.local').pathname;
    if (path !== APP_PATHS.websocket) {
      return refuse(socket, 404, { error: 'not_found', message: `the WebSocket endpoint is ${APP_PATHS.websocket}` });
    }
    const snapshot = state.snapshot();
    if (snapshot.state !== 'ready' || chat === undefined) return refuse(socket, 503, refusal(snapshot.state, snapshot.phase));
    if (!cap.admit(chat.connections)) {
      return refuse(socket, 503, { error: 'too_many_connections', message: `this instance is full; retry in ${RETRY_AFTER_SECONDS} s`, retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    const accepted = chat;
    const client = clientAddress(app, req);
    wss.handleUpgrade(req, socket, head, (ws) => accepted.accept(ws, client));
  });

  return {
    server,
    enableChat: (service) => {
      chat = service;
    },
  };
}

/**
 * Admits upgrades while fewer than `limit` sockets are open. A burst of refusals is logged once
 * when it starts (WARNING) and once when the next upgrade is admitted, with its count (INFO).
 */
export class ConnectionCap {
  private refused = 0;

  constructor(
    private readonly limit: number,
    private readonly log: Logger,
  ) {}

  admit(open: number): boolean {
    if (open < this.limit) {
      if (this.refused > 0) this.log.info({ refused: this.refused, limit: this.limit }, `accepting upgrades again, after refusing ${this.refused} at ${V.maxConnections}`);
      this.refused = 0;
      return true;
    }
    if (this.refused === 0) this.log.warn({ connections: open, limit: this.limit }, `refusing upgrades with 503: ${V.maxConnections} reached`);
    this.refused += 1;
    return false;
  }
}

/**
 * The client's address as Express computes `req.ip` from `trust proxy`: X-Forwarded-For read from
 * the right, as many entries deep as there are trusted hops. Entries further left are whatever the
 * client wrote. The upgrade request gets Express's request prototype, as every Express request does.
 */
function clientAddress(app: express.Express, req: IncomingMessage): string {
  return (Object.setPrototypeOf(req, app.request) as express.Request).ip ?? 'unknown';
}

function refusal(state: string, phase: string) {
  const message =
    state === 'stopping'
      ? 'the server is shutting down; reconnect to reach another instance'
      : state === 'failed'
        ? 'the server failed to start; reconnect to reach another instance'
        : `the server is starting (phase ${phase}); retry in ${RETRY_AFTER_SECONDS} s`;
  return { error: 'not_ready', state, phase, message, retryAfterSeconds: RETRY_AFTER_SECONDS };
}

function refuse(socket: Duplex, status: 404 | 503, body: object): void {
  const json = JSON.stringify(body);
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    ...(status === 503 ? [`Retry-After: ${RETRY_AFTER_SECONDS}`] : []),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${json}`);
}
