/** Helpers for the gate's tests: valid bodies, local targets, an in-process gate, a spawned gate. */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log';
import { PHASE_CONTRACT_VERSION, type PhaseBody } from '../../common/phase-contract';
import { DEFAULT_REQUIRED_COMPONENTS, GATE_ENV_VARS } from '../../common/revision';
import { realCheckDeps, runCheckLoop } from '../src/checker';
import { type CheckTimings, DEFAULT_TIMINGS } from '../src/config';
import { Gate } from '../src/gate';
import { GateMetrics } from '../src/metrics';
import { createGateServer } from '../src/server';

export const GATE_MAIN = path.resolve(__dirname, '../../dist/sidecar/src/main.js');
export const REQUIRED = [...DEFAULT_REQUIRED_COMPONENTS];


/** A body that validates against contract 1; overrides pick the state and components. */
export function phaseBody(overrides: Partial<PhaseBody> = {}): PhaseBody {
  const now = new Date().toISOString();
  return {
    contract: PHASE_CONTRACT_VERSION,
    state: 'starting',
    phase: 'init',
    completedPhases: [],
    components: { agentSupervisor: false, websocketBridge: false },
    error: null,
    seq: 1,
    startedAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export const READY_BODY = phaseBody({ state: 'ready', phase: 'finalize', components: { agentSupervisor: true, websocketBridge: true }, seq: 9 });

export function sendJson(res: http.ServerResponse, body: PhaseBody): void {
  res.writeHead(body.state === 'ready' ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export interface Target {
  url: URL;
  server: http.Server;
  close(): Promise<void>;
}

/** A phase endpoint on loopback whose every request is answered by `handler`. */
export async function startTarget(handler: http.RequestListener): Promise<Target> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/phase`),
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Fast timings for tests: short timeouts and backoff, so each fault shows up within ~100 ms. */
export const TEST_TIMINGS: CheckTimings = { ...DEFAULT_TIMINGS, backoffMinMs: 5, backoffMaxMs: 40, checkTimeoutMs: 200, longPollMs: 2000, pollIntervalMs: 20 };

export interface InProcessGate {
  gate: Gate;
  registry: Registry;
  logs: Record<string, unknown>[];
  failed: string[];
  /** Base URL of the gate's own HTTP server. */
  base: string;
  counter(result: string): Promise<number>;
  stop(): Promise<void>;
}

/** The gate's modules wired as main.ts wires them, with a real server and a real check loop. */
export async function startGate(url: URL, timings: Partial<CheckTimings> = {}, required: readonly string[] = REQUIRED, startupHoldMs = 0): Promise<InProcessGate> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const registry = new Registry();
  const failed: string[] = [];
  const all = { ...TEST_TIMINGS, ...timings };
  const stopChecks = new AbortController();
  const metrics: GateMetrics = new GateMetrics(registry, required, Date.now() / 1000, (): number => gate.holds.count);
  const gate: Gate = new Gate({
    required,
    timings: all,
    log: createLogger('gate', 'info', sink),
    metrics,
    now: realCheckDeps.now,
    onAppFailed: (error) => failed.push(error.phase),
  });
  const server = createGateServer(gate, registry, { startupHoldMs, metrics, now: realCheckDeps.now });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const loop = runCheckLoop(url, all, realCheckDeps, { onCheck: (o, ms) => gate.recordCheck(o, ms), onLongPoll: (h) => gate.recordLongPoll(h) }, stopChecks.signal);
  return {
    gate,
    registry,
    logs,
    failed,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counter: async (result) => (await registry.getSingleMetric('startup_gate_checks_total')?.get())?.values.find((v) => v.labels.result === result)?.value ?? 0,
    stop: async () => {
      stopChecks.abort();
      await loop;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}


export interface GateProcess {
  child: ChildProcess;
  base: string;
  /** Parsed JSON log lines, and every raw line in order. */
  logs: Record<string, unknown>[];
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** The compiled gate (dist/, built by `tsc -p .` in `npm test`) as its own process. */
export function spawnGate(env: Record<string, string>, port?: number): GateProcess {
  const portEnv = port === undefined ? {} : { [GATE_ENV_VARS.port]: String(port) };
  const child = spawn(process.execPath, [GATE_MAIN], { env: { PATH: process.env.PATH, ...portEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        lines.push(line);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: kept in `lines` so a test can show it
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    logs,
    lines,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
