/**
 * Contract 2's HTTP endpoints. Plain node:http: four GET routes that read in-memory state need no
 * framework. /startup holds a probe while the gate is closed (common/startup-hold.ts); the others
 * answer at once.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import type { LiveBody } from '../../common/gate-contract';
import { isLoopback } from '../../common/loopback';
import { GATE_PATHS } from '../../common/revision';
import { type StartupAnswer, sendJson as send, serveStartupProbe } from '../../common/startup-hold';
import type { Gate } from './gate';
import type { GateMetrics } from './metrics';

/**
 * Connections open at once, at most; Node drops the ones past it as they arrive. The gate's clients
 * are Cloud Run's probers, the metrics collector and loopback tools: a handful. Each connection costs
 * about 16 KB, so 5,000 at once took the gate past its 128 MiB limit whatever it answered them.
 */
export const MAX_GATE_CONNECTIONS = 256;

export interface GateServerOptions {
  /** How long /startup holds a probe while closed (GATE_STARTUP_HOLD_MS); 0 answers at once. */
  startupHoldMs: number;
  metrics?: GateMetrics;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export function createGateServer(gate: Gate, registry: Registry, options: GateServerOptions = { startupHoldMs: 0 }): http.Server {
  const now = options.now ?? (() => performance.now());
  const startupAnswer = (): StartupAnswer => {
    const body = gate.startup();
    if (body.state === 'open') return { status: 200, body, final: true };
    return { status: 503, body, final: !gate.startupPending(), close: gate.current.stopping };
  };
  const routes: Record<string, (res: http.ServerResponse, req: http.IncomingMessage) => void | Promise<void>> = {
    [GATE_PATHS.startup]: (res) =>
      serveStartupProbe(res, {
        holds: gate.holds,
        holdMs: options.startupHoldMs,
        answer: startupAnswer,
        pending: () => gate.startupPending(),
        now,
        onHeld: (outcome, heldMs) => options.metrics?.recordHold(outcome, heldMs),
      }),
    // The messages only to a request from inside the instance: its containers share one network namespace, probers connect from outside it.
    [GATE_PATHS.ready]: (res, req) => (gate.ready() ? send(res, 200, { ready: true }) : send(res, 503, gate.readyReason(isLoopback(req.socket.remoteAddress)))),
    [GATE_PATHS.live]: (res) => {
      const body: LiveBody = { live: gate.live() };
      send(res, body.live ? 200 : 503, body);
    },
    [GATE_PATHS.metrics]: async (res) => {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    },
  };
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://gate.local').pathname];
    if (route === undefined) return send(res, 404, { error: 'not_found', message: `the gate serves ${Object.values(GATE_PATHS).join(', ')}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method_not_allowed' });
    }
    void route(res, req);
  });
  server.maxConnections = MAX_GATE_CONNECTIONS;
  return server;
}
