/**
 * Comparison 1: how long after the app is ready does each detector notice? The gate with
 * long-poll, the gate polling only, and wait-on polling /phase every 250 ms. Every trial is a fresh
 * app startup; the variants take turns so drift in the machine's load hits all of them alike.
 */
import waitOn from 'wait-on';
import { APP_ENV_VARS, GATE_ENV_VARS, GATE_PATHS } from '../../common/revision';
import { observeStartup, startApp } from './app-process';
import { type NodeProcess, sleep, startNode, waitFor200 } from './processes';
import { rotate } from './stats';
import { freePort } from '../../common/local-ports';
import { ENTRY_POINTS } from '../../common/paths';

export const DETECTION_VARIANTS = ['longPoll', 'polling', 'waitOn'] as const;
export type DetectionVariant = (typeof DETECTION_VARIANTS)[number];

/** Both pollers check every 250 ms (the gate's default and wait-on's), so only long-poll differs. */
export const POLL_INTERVAL_MS = 250;

/** One startup, times in ms from the app's exec. */
export interface DetectionTrial {
  variant: DetectionVariant;
  listenMs: number;
  readyMs: number;
  detectedMs: number;
  /** The gate's log of a slow long-poll detection, to see where the time went. */
  slowGateLog?: string;
}

export const latencyMs = (trial: DetectionTrial) => trial.detectedMs - trial.readyMs;

/**
 * The app spends a random 1000-1250 ms in finalize, so `ready` lands at a random point of the
 * pollers' 250 ms cycle, as it would in production. A production startup takes seconds, so the
 * gate has long finished its own start and its first check; the second of finalize keeps that true
 * here on a busy machine, where a gate started at the same time as the app once took 600 ms to
 * listen and its first check came back after the app was ready.
 */
function finalizeDelayMs(): number {
  return 1000 + Math.round(Math.random() * POLL_INTERVAL_MS);
}

/** A long-poll detection slower than this keeps the gate's log for the report. */
const SLOW_LONG_POLL_MS = 50;

/** How long before the app is due to be ready the bench starts asking the gate's /startup. */
const READY_MARGIN_MS = 50;

/**
 * A trial can fail for reasons outside the gate (another process on the machine takes a port
 * between freePort and listen): it is retried, and reported, up to this many times in a row.
 */
const RETRIES = 2;

export async function runDetection(
  startupsPerVariant: number,
  onTrial: (trial: DetectionTrial) => void,
  onRetry: (variant: DetectionVariant, error: Error) => void,
): Promise<DetectionTrial[]> {
  const trials: DetectionTrial[] = [];
  for (let round = 0; round < startupsPerVariant; round += 1) {
    for (const variant of rotate(DETECTION_VARIANTS, round)) {
      const trial = await withRetries(() => runTrial(variant), (error) => onRetry(variant, error));
      trials.push(trial);
      onTrial(trial);
    }
  }
  return trials;
}

async function withRetries<T>(run: () => Promise<T>, onRetry: (error: Error) => void): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= RETRIES) throw error;
      onRetry(error as Error);
    }
  }
}

async function runTrial(variant: DetectionVariant): Promise<DetectionTrial> {
  const finalizeMs = finalizeDelayMs();
  const app = await startApp({ [APP_ENV_VARS.phaseDelayMs]: `finalize=${finalizeMs}` });
  let gate: NodeProcess | undefined;
  let finalizeBegun = (_at: number) => {};
  const inFinalize = new Promise<number>((resolve) => (finalizeBegun = resolve));
  try {
    let detected: Promise<number>;
    if (variant === 'waitOn') {
      detected = waitOn({
        resources: [`http-get://${app.phaseUrl.slice('http://'.length)}`],
        interval: POLL_INTERVAL_MS,
        timeout: 30_000,
        // Loopback only: a proxy from the environment must not sit between wait-on and the app.
        proxy: false,
      }).then(() => performance.now());
    } else {
      const gatePort = await freePort();
      const startupUrl = `http://127.0.0.1:${gatePort}${GATE_PATHS.startup}`;
      const gateProc = startNode(ENTRY_POINTS.gate, {
        [GATE_ENV_VARS.port]: String(gatePort),
        [GATE_ENV_VARS.targetUrl]: app.phaseUrl,
        // info: a handful of lines per startup (checks failing and recovering, phases, open).
        [GATE_ENV_VARS.logLevel]: 'info',
        // 0 turns the gate's long-poll off; it then polls every GATE_POLL_INTERVAL_MS (250 by default).
        ...(variant === 'polling' ? { [GATE_ENV_VARS.longPollMs]: '0' } : {}),
      });
      gate = gateProc;
      // The bench asks /startup every millisecond from READY_MARGIN_MS before the app is due to be
      // ready (it knows the finalize delay), so its own requests do not load the gate while the
      // gate waits. /startup is latched: a gate that had opened early answers 200 at once and
      // shows as a negative latency; if the bench sees finalize late, it starts late and the
      // latency reads high, never low.
      detected = inFinalize.then(async (finalizeAt) => {
        await sleep(finalizeAt + finalizeMs - READY_MARGIN_MS - performance.now());
        return waitFor200(startupUrl, gateProc, 30_000);
      });
    }
    // If the startup fails, nobody awaits the detector; its later rejection must not end the bench.
    detected.catch(() => {});
    const { listenAt, readyAt } = await observeStartup(app, (body) => {
      if (body.phase === 'finalize' || body.state !== 'starting') finalizeBegun(performance.now());
    });
    const detectedAt = await detected;
    const since = (at: number) => at - app.proc.spawnedAt;
    const trial: DetectionTrial = { variant, listenMs: since(listenAt), readyMs: since(readyAt), detectedMs: since(detectedAt) };
    if (variant === 'longPoll' && latencyMs(trial) > SLOW_LONG_POLL_MS && gate) trial.slowGateLog = gate.output();
    return trial;
  } finally {
    await Promise.all([app.proc.stop(), gate?.stop()]);
  }
}
