/**
 * Contract 2's HTTP endpoints. Plain node:http: four GET routes that read in-memory state need no
 * framework, and every answer must be quick enough for a 1 s probe timeout.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { GATE_PATHS } from '../../common/revision';
import type { Gate } from './gate';

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

export function createGateServer(gate: Gate, registry: Registry): http.Server {
  const routes: Record<string, (res: http.ServerResponse) => void | Promise<void>> = {
    [GATE_PATHS.startup]: (res) => {
      const startup = gate.startup();
      if (startup.open) send(res, 200, { state: 'open', openedAfterMs: startup.openedAfterMs });
      else send(res, 503, startup.reason);
    },
    [GATE_PATHS.ready]: (res) => (gate.ready() ? send(res, 200, { ready: true }) : send(res, 503, { ready: false, ...gate.readyReason() })),
    [GATE_PATHS.live]: (res) => (gate.live() ? send(res, 200, { live: true }) : send(res, 503, { live: false })),
    [GATE_PATHS.metrics]: async (res) => {
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    },
  };
  return http.createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://gate.local').pathname];
    if (route === undefined) return send(res, 404, { error: 'not_found', message: `the gate serves ${Object.values(GATE_PATHS).join(', ')}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, { error: 'method_not_allowed' });
    }
    void route(res);
  });
}
