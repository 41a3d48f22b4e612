/**
 * Backends that misbehave towards the gate, and the probes an attacker could hold on it: bounded
 * loopback runs against the real gate bundle. No attacker is needed for the first three, a buggy
 * backend is enough. Each run stops itself and reports what it cost the gate.
 */
import http from 'node:http';
import { DEFAULT_REQUIRED_COMPONENTS, GATE_ENV_VARS, GATE_PATHS } from '../common/revision';
import { freePort } from '../common/local-ports';
import { type GateProcess, spawnGate } from './gate-process';
import { rssBytes } from './hostile-clients';
import { phaseBody, sendPhase, startTarget, type Target } from './phase-endpoint';
import { waitFor } from './wait-for';

/**
 * `changing-names`: 50 new component names on every answer; `seq-storm`: seq grows on every
 * answer, long-polls answered at once; `flapping`: ready and starting in turn, a new phase name
 * each time. All answer every request at once, with seq + 1.
 */
export const MISBEHAVIOURS = ['changing-names', 'seq-storm', 'flapping'] as const;
export type Misbehaviour = (typeof MISBEHAVIOURS)[number];

const REQUIRED_FALSE = Object.fromEntries(DEFAULT_REQUIRED_COMPONENTS.map((name) => [name, false]));
const REQUIRED_TRUE = Object.fromEntries(DEFAULT_REQUIRED_COMPONENTS.map((name) => [name, true]));

export async function hostilePhaseEndpoint(misbehaviour: Misbehaviour): Promise<Target & { answers(): number }> {
  let seq = 0;
  const target = await startTarget((_req, res) => {
    seq += 1;
    if (misbehaviour === 'changing-names') {
      const components = { ...REQUIRED_FALSE, ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`component_${seq}_${i}`, true])) };
      return sendPhase(res, phaseBody({ phase: 'services', components, seq }));
    }
    if (misbehaviour === 'seq-storm') return sendPhase(res, phaseBody({ phase: 'services', seq }));
    const ready = seq % 2 === 0;
    sendPhase(res, phaseBody({ state: ready ? 'ready' : 'starting', phase: `phase_${seq}`, components: ready ? REQUIRED_TRUE : REQUIRED_FALSE, seq }));
  });
  return { ...target, answers: () => seq };
}

export interface GateCost {
  misbehaviour: Misbehaviour;
  seconds: number;
  checksPerSecond: number;
  /** Series of startup_gate_component_ready and of the whole scrape at the end. */
  componentSeries: number;
  series: number;
  metricsBytes: number;
  /** RSS halfway through the run and at its end: a gate whose memory levels off grows little in between. */
  rssHalfwayMb: number;
  rssMb: number;
  logLinesPerSecond: number;
  /** WARNING lines that say the backend is flapping. */
  flappingWarnings: number;
}

const seriesOf = (text: string, name?: string) => text.split('\n').filter((line) => line !== '' && !line.startsWith('#') && (name === undefined || line.startsWith(`${name}{`))).length;

/** The real gate against a misbehaving backend for `durationMs`; what it cost, from /metrics, /proc and its log. */
export async function gateUnderHostileBackend(misbehaviour: Misbehaviour, durationMs: number, env: Record<string, string> = {}): Promise<GateCost> {
  const target = await hostilePhaseEndpoint(misbehaviour);
  const gate = spawnGate({ [GATE_ENV_VARS.targetUrl]: target.url.href, ...env }, await freePort());
  try {
    await waitFor('the gate checking', () => target.answers() > 0, { detail: () => gate.lines.join('\n') });
    const started = performance.now();
    const answersBefore = target.answers();
    const linesBefore = gate.lines.length;
    const elapsed = (ms: number) => waitFor(`${ms} ms of ${misbehaviour}`, () => performance.now() - started >= ms, { timeoutMs: ms + 5000, intervalMs: 100 });
    await elapsed(durationMs / 2);
    const rssHalfwayMb = rssBytes(gate.child.pid!) / 2 ** 20;
    await elapsed(durationMs);
    const seconds = (performance.now() - started) / 1000;
    const checksPerSecond = (target.answers() - answersBefore) / seconds;
    const logLinesPerSecond = (gate.lines.length - linesBefore) / seconds;
    const text = await (await fetch(`${gate.base}${GATE_PATHS.metrics}`)).text();
    return {
      misbehaviour,
      seconds,
      checksPerSecond,
      componentSeries: seriesOf(text, 'startup_gate_component_ready'),
      series: seriesOf(text),
      metricsBytes: Buffer.byteLength(text),
      rssHalfwayMb,
      rssMb: rssBytes(gate.child.pid!) / 2 ** 20,
      logLinesPerSecond,
      flappingWarnings: gate.logs.filter((line) => line.severity === 'WARNING' && String(line.message).includes('flapping')).length,
    };
  } finally {
    await gate.stop();
    await target.close();
  }
}

export interface HeldProbeFlood {
  sent: number;
  /** Answered with 503 while the others were still held. */
  answeredAtOnce: number;
  /** Connections the gate dropped unanswered (past its connection cap). */
  dropped: number;
  /** startup_gate_probes_held at the peak. */
  held: number;
  baselineMb: number;
  peakGrowthMb: number;
}

/**
 * `count` GET /startup, each on its own connection, against a gate whose backend never becomes
 * ready: how many it holds, how many it answers at once, and what that costs it in memory.
 */
export async function heldProbeFlood(count: number, holdMs = 60_000): Promise<HeldProbeFlood> {
  const target = await startTarget((_req, res) => sendPhase(res, phaseBody({ phase: 'services' })));
  const gate: GateProcess = spawnGate({ [GATE_ENV_VARS.targetUrl]: target.url.href, [GATE_ENV_VARS.startupHoldMs]: String(holdMs) }, await freePort());
  const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const requests: http.ClientRequest[] = [];
  try {
    await waitFor('the gate listening', () => fetch(`${gate.base}${GATE_PATHS.live}`).then((r) => r.ok, () => false), { detail: () => gate.lines.join('\n') });
    const baseline = rssBytes(gate.child.pid!);
    let peak = baseline;
    let answered = 0;
    let dropped = 0;
    const port = Number(new URL(gate.base).port);
    for (let i = 0; i < count; i += 1) {
      const req = http.get({ host: '127.0.0.1', port, path: GATE_PATHS.startup, agent }, (res) => {
        res.resume();
        res.on('end', () => (answered += 1));
      });
      req.on('error', () => (dropped += 1));
      requests.push(req);
    }
    let held = 0;
    // The scrape is one more connection: while the gate is full it is dropped too, and asked again.
    const scrapeHeld = () =>
      fetch(`${gate.base}${GATE_PATHS.metrics}`)
        .then(async (response) => Number(/^startup_gate_probes_held (\d+)/m.exec(await response.text())?.[1] ?? 0))
        .catch(() => held);
    await waitFor(
      'every probe answered or held',
      async () => {
        peak = Math.max(peak, rssBytes(gate.child.pid!));
        held = Math.max(held, await scrapeHeld());
        return answered + dropped + held >= count;
      },
      { timeoutMs: 60_000, intervalMs: 50, detail: () => `answered ${answered}, dropped ${dropped}, held ${held}` },
    );
    return { sent: count, answeredAtOnce: answered, dropped, held, baselineMb: baseline / 2 ** 20, peakGrowthMb: (peak - baseline) / 2 ** 20 };
  } finally {
    for (const req of requests) req.destroy();
    agent.destroy();
    await gate.stop();
    await target.close();
  }
}
