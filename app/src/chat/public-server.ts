/**
 * The public listener on PORT: the startup probe at /startup, liveness at /healthz, the chat page
 * at / and chat at /ws. Before the app is ready an upgrade is refused with HTTP 503 and
 * Retry-After, never accepted and then closed with 1011. An upgrade from another site's page
 * (Origin) gets 403; past the connection cap, 503; past the upgrades one client address (an IPv6
 * /64) may make, 429. Every answer carries helmet's security headers;
 * unknown paths and methods get JSON.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import express from 'express';
import helmet from 'helmet';
import { WebSocketServer } from 'ws';
import { REPO_ROOT } from '../../../common/paths';
import type { Logger } from '../../../common/log';
import { APP_ENV_VARS as V, APP_PATHS, DEFAULT_REQUIRED_COMPONENTS } from '../../../common/revision';
import { decide, worthHolding } from '../../../common/startup-decision';
import { ProbeHolds, type StartupAnswer, serveStartupProbe } from '../../../common/startup-hold';
import { describeError } from '../errors';
import type { ChatService } from './chat-service';
import type { DependencyHealth } from '../dependencies/dependency-health';
import type { ClientFaultLog } from './client-faults';
import { clientKey } from './client-key';
import { UpgradeLimiter, type UpgradeLimits } from './upgrade-limit';
import type { ServerConfig } from '../config';
import type { PhaseState } from '../startup/phase-state';

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
  /** Origins besides the page's own allowed to open chat sockets (APP_ALLOWED_ORIGINS). */
  allowedOrigins: readonly string[];
  /** Open chat sockets past which an upgrade gets 503 (APP_MAX_CONNECTIONS). */
  maxConnections: number;
  log: Logger;
  /** Express `trust proxy`: how many proxies' X-Forwarded-For entries, from the right, to believe. */
  trustProxyHops: number;
  /** How long GET /startup holds a probe while startup is under way (APP_STARTUP_HOLD_MS); 0 answers at once. */
  startupHoldMs: number;
  /** Dependencies the app is serving without; /healthz lists them and stays 200. */
  health?: Pick<DependencyHealth, 'snapshot'>;
  /** Where the chat page signs in (APP_AUTH_ISSUER); undefined for anonymous chat. */
  authIssuer: string | undefined;
  /** Upgrades per client key (IPv6: its /64) past which an upgrade gets 429. */
  upgradeLimits: UpgradeLimits;
  /** Where refused upgrades are logged, bounded (shared with the chat service). */
  faults: ClientFaultLog;
}

/** The listener's options from the app's settings. */
export function publicServerOptions(config: ServerConfig, log: Logger, faults: ClientFaultLog): PublicServerOptions {
  return {
    upgradeLimits: { perSecond: config.wsUpgradesPerSecond, burst: config.wsUpgradeBurst },
    faults,
    maxMessageBytes: config.wsMaxMessageBytes,
    maxConnections: config.maxConnections,
    allowedOrigins: config.allowedOrigins,
    trustProxyHops: config.trustProxyHops,
    startupHoldMs: config.startupHoldMs,
    authIssuer: config.authIssuer,
    log,
  };
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

export function createPublicServer(state: PhaseState, options: PublicServerOptions): PublicServer {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxyHops);
  // Read once: the page served is the page the CSP hashes were computed from.
  const page = readFileSync(CHAT_PAGE, 'utf8');
  app.use(helmet({ contentSecurityPolicy: { useDefaults: false, directives: chatPagePolicy(page, options.authIssuer) } }));
  const holds = new ProbeHolds();
  state.subscribe(() => holds.wake());
  // Held like the gate's /startup (common/startup-hold.ts): 200 the moment the app is ready.
  app.get(APP_PATHS.startup, (_req, res) => void serveStartupProbe(res, { holds, holdMs: options.startupHoldMs, answer: () => startupAnswer(state), now: () => performance.now() }));
  app.get(APP_PATHS.healthz, (_req, res) => {
    const failed = state.current === 'failed';
    const degraded = options.health?.snapshot() ?? [];
    // A dependency outage keeps 200: restarting the instance would not bring the dependency back.
    const status = failed ? 'failed' : degraded.length > 0 ? 'degraded' : 'ok';
    res.status(failed ? 503 : 200).json({ status, state: state.current, startupProbesHeld: holds.count, degraded });
  });

  app.get(APP_PATHS.chatPage, (_req, res) => res.type('html').send(page));
  app.get(APP_PATHS.authConfig, (_req, res) => res.json({ issuer: options.authIssuer ?? null }));
  for (const path of [APP_PATHS.startup, APP_PATHS.healthz, APP_PATHS.chatPage, APP_PATHS.authConfig]) {
    app.all(path, (req, res) => {
      res.set('allow', 'GET, HEAD').status(405).json({ error: 'method_not_allowed', message: `${req.method} is not served at ${path}; use GET` });
    });
  }
  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `nothing is served at ${req.path}; the chat page is ${APP_PATHS.chatPage}, the WebSocket ${APP_PATHS.websocket}` });
  });

  const server = http.createServer(app);
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
  let chat: ChatService | undefined;
  const cap = new ConnectionCap(options.maxConnections, options.log);
  const upgrades = new UpgradeLimiter(options.upgradeLimits);

  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://public.local').pathname;
    if (path !== APP_PATHS.websocket) {
      return refuse(socket, 404, { error: 'not_found', message: `the WebSocket endpoint is ${APP_PATHS.websocket}` });
    }
    if (!originAllowed(req.headers.origin, req.headers.host, options.allowedOrigins)) {
      return refuse(socket, 403, { error: 'forbidden_origin', message: 'pages of this origin may not open chat sockets here (APP_ALLOWED_ORIGINS)' });
    }
    const snapshot = state.snapshot();
    if (snapshot.state !== 'ready' || chat === undefined) return refuse(socket, 503, refusal(snapshot.state, snapshot.phase));
    if (!cap.admit(chat.connections)) {
      return refuse(socket, 503, { error: 'too_many_connections', message: `this instance is full; retry in ${RETRY_AFTER_SECONDS} s`, retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    const client = clientKey(clientAddress(app, req));
    const waitMs = upgrades.take(client, performance.now());
    if (waitMs > 0) {
      options.faults.report('upgrade_rate');
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      return refuse(socket, 429, { error: 'too_many_upgrades', message: `too many connections from your address; retry in ${retryAfterSeconds} s`, retryAfterSeconds });
    }
    const accepted = chat;
    accepted.authenticateUpgrade(client, req.headers.authorization).then(
      (verdict) => {
        if (!verdict.ok) return refuse(socket, verdict.status, verdict.body);
        if (!socket.destroyed) wss.handleUpgrade(req, socket, head, (ws) => accepted.accept(ws, client, verdict.identity));
      },
      (error: unknown) => {
        options.log.warn({}, `cannot check the upgrade's sign-in: ${describeError(error)}`);
        refuse(socket, 503, { error: 'unavailable', message: 'the server could not reach its cache; try again', retryAfterSeconds: RETRY_AFTER_SECONDS });
      },
    );
  });

  return {
    server,
    enableChat: (service) => {
      chat = service;
    },
  };
}

/**
 * The chat page's Content-Security-Policy: its own inline script and style (by hash), WebSockets
 * to its own host and requests to the identity provider it signs in with; nothing else loads, and
 * no other page may frame it.
 */
export function chatPagePolicy(html: string, issuer?: string): Record<string, string[]> {
  const hashes = (tag: string) => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(([, body]) => `'sha256-${createHash('sha256').update(body!).digest('base64')}'`);
  return {
    defaultSrc: ["'none'"],
    scriptSrc: hashes('script'),
    styleSrc: hashes('style'),
    connectSrc: ["'self'", ...originOf(issuer)],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  };
}

function originOf(url: string | undefined): string[] {
  try {
    return url === undefined ? [] : [new URL(url).origin];
  } catch {
    return []; // the dependencies phase names the bad setting
  }
}

/**
 * Browsers send Origin on every WebSocket upgrade; other clients usually send none. A page of
 * another site could otherwise use its visitors' browsers as chat clients.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
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

/** Retry-After (on 429 and 503) is the body's retryAfterSeconds. */
function refuse(socket: Duplex, status: 401 | 403 | 404 | 429 | 503, body: object): void {
  const json = JSON.stringify(body);
  const retryAfterSeconds = (body as { retryAfterSeconds?: number }).retryAfterSeconds ?? RETRY_AFTER_SECONDS;
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    ...(status === 503 || status === 429 ? [`Retry-After: ${retryAfterSeconds}`] : []),
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${json}`);
}
