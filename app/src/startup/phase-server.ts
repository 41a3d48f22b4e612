/**
 * The internal phase endpoint (contract 1): GET /phase, long-poll with afterSeq and waitMs; and,
 * with a registry, GET /metrics for the collector in the same instance.
 * main.ts binds it to PHASE_HOST (loopback by default), never to the public port.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { parseLongPollQuery, phaseStatusCode } from '../../../common/phase-contract';
import { APP_METRICS_PATH, PHASE_PATH } from '../../../common/revision';
import type { PhaseState } from './phase-state';

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

export function createPhaseServer(state: PhaseState, metrics?: Registry): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://phase.local');
    if (metrics !== undefined && url.pathname === APP_METRICS_PATH && req.method === 'GET') {
      void metrics.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text));
      return;
    }
    if (url.pathname !== PHASE_PATH) return send(res, 404, { error: 'not_found', message: `only GET ${PHASE_PATH} is served here` });
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      return send(res, 405, { error: 'method_not_allowed', message: `use GET ${PHASE_PATH}` });
    }
    const { afterSeq, waitMs } = parseLongPollQuery(url.searchParams);
    if (afterSeq === null) {
      const body = state.snapshot();
      return send(res, phaseStatusCode(body.state), body);
    }
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    void state.waitForChange(afterSeq, waitMs, gone.signal).then((body) => {
      if (!res.destroyed) send(res, phaseStatusCode(body.state), body);
    });
  });
}
