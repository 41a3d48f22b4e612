/** The real app, started for a benchmark on free loopback ports, and the bench's view of its startup. */
import type { PhaseBody } from '../../common/phase-contract';
import { APP_ENV_VARS, PHASE_PATH } from '../../common/revision';
import { type NodeProcess, httpGet, startNode, waitListening } from './processes';
import { freePort } from '../../common/local-ports';
import { ENTRY_POINTS } from '../../common/paths';

export interface BenchApp {
  proc: NodeProcess;
  port: number;
  phaseUrl: string;
}

export async function startApp(env: Record<string, string> = {}): Promise<BenchApp> {
  const port = await freePort();
  const phasePort = await freePort();
  const proc = startNode(ENTRY_POINTS.app, { [APP_ENV_VARS.port]: String(port), [APP_ENV_VARS.phasePort]: String(phasePort), [APP_ENV_VARS.logLevel]: 'warn', ...env });
  return { proc, port, phaseUrl: `http://127.0.0.1:${phasePort}${PHASE_PATH}` };
}

/** Times on the bench's performance.now() clock at which the app listened on its public port and became ready. */
export interface ObservedStartup {
  listenAt: number;
  readyAt: number;
}

/**
 * Waits for the app the way the gate does, with the phase endpoint's long-poll. The ready time is
 * the app's own `updatedAt` on the ready body, not the moment the bench saw it: on a busy machine
 * the bench's view lags by a few milliseconds, which would flatter every detector. `updatedAt` is
 * truncated to the millisecond, so latencies measured from it read up to 1 ms high, never low.
 */
export async function observeStartup(app: BenchApp, onBody: (body: PhaseBody) => void = () => {}, timeoutMs = 30_000): Promise<ObservedStartup> {
  const listenAt = await waitListening(app.port, app.proc, timeoutMs);
  const deadline = performance.now() + timeoutMs;
  let body = JSON.parse((await httpGet(app.phaseUrl)).body) as PhaseBody;
  onBody(body);
  while (body.state === 'starting') {
    if (performance.now() > deadline) throw new Error(`app not ready within ${timeoutMs} ms (phase ${body.phase}):\n${app.proc.output()}`);
    body = JSON.parse((await httpGet(`${app.phaseUrl}?afterSeq=${body.seq}&waitMs=5000`, 10_000)).body) as PhaseBody;
    onBody(body);
  }
  if (body.state !== 'ready') throw new Error(`app reached state ${body.state}, not ready:\n${app.proc.output()}`);
  return { listenAt, readyAt: Date.parse(body.updatedAt) - performance.timeOrigin };
}
