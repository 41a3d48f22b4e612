/**
 * The public listener on PORT: the startup probe at /startup, liveness at /healthz and chat at /ws.
 * Before the app is ready an upgrade is refused with HTTP 503 and Retry-After, never accepted and
 * then closed with 1011.
 */
import http, { STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import express from 'express';
import { WebSocketServer } from 'ws';
import { REPO_ROOT } from '../../common/paths';
import { APP_PATHS, DEFAULT_REQUIRED_COMPONENTS } from '../../common/revision';
import { decide, worthHolding } from '../../common/startup-decision';
import { ProbeHolds, type StartupAnswer, serveStartupProbe } from '../../common/startup-hold';
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

/**
 * The ingress container's startup answer: contract 2's condition (the gate's own `decide`) over the
 * app's state. The body says why, but not the app's error message: this port is public.
 */
export function startupAnswer(state: PhaseState): StartupAnswer {
  const { state: current, phase, components } = state.snapshot();
  const decision = decide({ state: current, components }, DEFAULT_REQUIRED_COMPONENTS);
  if (decision.open) return { status: 200, body: { state: current, phase }, final: true };
  return { status: 503, body: { state: current, phase, reason: decision.reason, missing: decision.missing }, final: !worthHolding(decision), close: current === 'stopping' };
}

export function createPublicServer(state: PhaseState, maxMessageBytes: number, startupHoldMs = 0): PublicServer {
  const app = express();
  app.disable('x-powered-by');
  const holds = new ProbeHolds();
  state.subscribe(() => holds.wake());
  // Held like the gate's /startup (common/startup-hold.ts): 200 the moment the app is ready.
  app.get(APP_PATHS.startup, (_req, res) => void serveStartupProbe(res, { holds, holdMs: startupHoldMs, answer: () => startupAnswer(state), now: () => performance.now() }));
  app.get(APP_PATHS.healthz, (_req, res) => {
    const failed = state.current === 'failed';
    res.status(failed ? 503 : 200).json({ status: failed ? 'failed' : 'ok', state: state.current, startupProbesHeld: holds.count });
  });

  app.get(APP_PATHS.chatPage, (_req, res) => res.sendFile(CHAT_PAGE));

  const server = http.createServer(app);
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes });
  let chat: ChatService | undefined;

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://public.local').pathname;
    if (path !== APP_PATHS.websocket) {
      return refuse(socket, 404, { error: 'not_found', message: `the WebSocket endpoint is ${APP_PATHS.websocket}` });
    }
    const snapshot = state.snapshot();
    if (snapshot.state !== 'ready' || chat === undefined) return refuse(socket, 503, refusal(snapshot.state, snapshot.phase));
    const accepted = chat;
    wss.handleUpgrade(req, socket, head, (ws) => accepted.accept(ws, req));
  });

  return {
    server,
    enableChat: (service) => {
      chat = service;
    },
  };
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
