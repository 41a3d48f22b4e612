/**
 * Comparison 4: the gate's /startup (what Cloud Run's prober asks) and /metrics (what Prometheus
 * scrapes) under a fixed closed-loop load from autocannon on loopback. The two paths take turns
 * in rounds so both see the same machine.
 */
import autocannon from 'autocannon';
import { GATE_ENV_VARS, GATE_PATHS } from '../../common/revision';
import { observeStartup, startApp } from './app-process';
import { type NodeProcess, startNode, waitFor200 } from './processes';
import { mean, rotate } from './stats';
import { freePort } from '../../common/local-ports';
import { ENTRY_POINTS } from '../../common/paths';

export const ENDPOINTS = ['startup', 'metrics'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** Ten keep-alive connections, one request in flight each: a fixed load, far above any prober's. */
export const CONNECTIONS = 10;

export interface EndpointResult {
  /** Mean requests per second over the rounds. */
  rps: number;
  /** Worst round's p99 latency, ms. */
  p99Ms: number;
  /** Responses that were not 2xx, and connection errors: a fast error is not a fast endpoint. */
  non2xx: number;
  errors: number;
}

/** One /metrics answer: what each scrape carries, with the boot and phase histograms of one observed boot. */
export interface ScrapeSize {
  bytes: number;
  /** Sample lines (not comments): the series a collector stores. */
  samples: number;
}

export type EndpointsRun = Record<Endpoint, EndpointResult> & { scrape: ScrapeSize };

export async function runEndpoints(rounds: number, secondsPerRound: number): Promise<EndpointsRun> {
  const app = await startApp();
  let gate: NodeProcess | undefined;
  try {
    await observeStartup(app);
    const port = await freePort();
    gate = startNode(ENTRY_POINTS.gate, { [GATE_ENV_VARS.port]: String(port), [GATE_ENV_VARS.targetUrl]: app.phaseUrl, [GATE_ENV_VARS.logLevel]: 'warn' });
    await waitFor200(`http://127.0.0.1:${port}${GATE_PATHS.startup}`, gate);
    // The gate started after the app was ready, so its first answer completes all seven phases: every phase series exists.
    const text = await (await fetch(`http://127.0.0.1:${port}${GATE_PATHS.metrics}`, { signal: AbortSignal.timeout(5000) })).text();
    const scrape = { bytes: Buffer.byteLength(text), samples: text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length };
    const results: Record<Endpoint, autocannon.Result[]> = { startup: [], metrics: [] };
    for (let round = 0; round < rounds; round += 1) {
      for (const endpoint of rotate(ENDPOINTS, round)) {
        results[endpoint].push(await autocannon({ url: `http://127.0.0.1:${port}${GATE_PATHS[endpoint]}`, connections: CONNECTIONS, duration: secondsPerRound }));
      }
    }
    return {
      startup: summarizeRounds(results.startup),
      metrics: summarizeRounds(results.metrics),
      scrape,
    };
  } finally {
    await Promise.all([app.proc.stop(), gate?.stop()]);
  }
}

function summarizeRounds(rounds: readonly autocannon.Result[]): EndpointResult {
  return {
    rps: mean(rounds.map((r) => r.requests.average)),
    p99Ms: Math.max(...rounds.map((r) => r.latency.p99)),
    non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
  };
}
