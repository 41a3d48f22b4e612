/** Helpers for the gate's own tests: test timings and the gate's modules wired in-process. */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log';
import { DEFAULT_REQUIRED_COMPONENTS } from '../../common/revision';
import { realCheckDeps, runCheckLoop } from '../src/checker';
import { type CheckTimings, DEFAULT_TIMINGS } from '../src/config';
import { Gate } from '../src/gate';
import { GateMetrics } from '../src/metrics';
import { createGateServer } from '../src/server';

export const REQUIRED = [...DEFAULT_REQUIRED_COMPONENTS];

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
  const metrics = new GateMetrics(registry, required, Date.now() / 1000);
  const gate = new Gate({
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
