/**
 * Cloud Run's probe semantics, for the local runner and the benchmarks. The schedule is pure
 * logic over an injected clock, so the same code runs against real processes in real time and
 * against modelled startups on a virtual clock.
 *
 * What Cloud Run documents, and this follows: the first attempt starts initialDelaySeconds after
 * the container starts, then one attempt every periodSeconds; each attempt times out after
 * timeoutSeconds; an HTTP probe passes on a status from 200 to 399, a TCP probe when a connection
 * opens; a startup probe fails after failureThreshold failed attempts, and its window
 * (failureThreshold x periodSeconds) is at most 240 s; liveness probes start once the startup
 * probe passed and restart the container after failureThreshold consecutive failures.
 */
import { httpStatusPasses, type ProbeSpec } from '../../common/probes';
import { connects } from '../../common/local-ports';

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw: `HTTP 503`, `connection refused`, `timed out`… */
  detail: string;
}

export interface ProbeAttempt extends ProbeResult {
  attempt: number;
  startedAtMs: number;
  durationMs: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  // Unref'd: a probe loop waiting for its next period must not keep a stopped runner's process alive.
  // A period already past comes out slightly negative, which Node warns about: wait 0 instead.
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref()),
};

/** A clock whose sleeps return at once and move time forward: for modelling startups. */
export class VirtualClock implements Clock {
  constructor(private time = 0) {}

  now(): number {
    return this.time;
  }

  async sleep(ms: number): Promise<void> {
    this.time += Math.max(0, ms);
  }

  advance(ms: number): void {
    this.time += Math.max(0, ms);
  }
}

export type Attempt = (timeoutMs: number) => Promise<ProbeResult>;

export interface StartupOutcome {
  passed: boolean;
  /** Clock time when the probe passed or gave up. */
  atMs: number;
  attempts: ProbeAttempt[];
}

/**
 * Runs a startup probe from `startedAtMs` (the container's start) until it passes or fails.
 * `stopped` ends it early (the runner is shutting down), reported as not passed.
 */
export async function runStartupProbe(
  spec: ProbeSpec,
  attempt: Attempt,
  clock: Clock,
  startedAtMs: number,
  onAttempt: (attempt: ProbeAttempt) => void = () => {},
  stopped: () => boolean = () => false,
): Promise<StartupOutcome> {
  const attempts: ProbeAttempt[] = [];
  await clock.sleep(startedAtMs + spec.initialDelaySeconds * 1000 - clock.now());
  for (let n = 1; n <= spec.failureThreshold && !stopped(); n += 1) {
    const startedAt = clock.now();
    const result = await attempt(spec.timeoutSeconds * 1000);
    const record = { ...result, attempt: n, startedAtMs: startedAt, durationMs: clock.now() - startedAt };
    attempts.push(record);
    onAttempt(record);
    if (result.ok) return { passed: true, atMs: clock.now(), attempts };
    if (n < spec.failureThreshold) await clock.sleep(startedAt + spec.periodSeconds * 1000 - clock.now());
  }
  return { passed: false, atMs: clock.now(), attempts };
}

/**
 * Runs a liveness probe until `stopped()`; resolves with the failing attempts once
 * failureThreshold attempts in a row failed (the container must be restarted).
 */
export async function runLivenessProbe(
  spec: ProbeSpec,
  attempt: Attempt,
  clock: Clock,
  onAttempt: (attempt: ProbeAttempt) => void = () => {},
  stopped: () => boolean = () => false,
): Promise<ProbeAttempt[] | undefined> {
  let failures: ProbeAttempt[] = [];
  await clock.sleep(spec.initialDelaySeconds * 1000);
  for (let n = 1; !stopped(); n += 1) {
    const startedAt = clock.now();
    const result = await attempt(spec.timeoutSeconds * 1000);
    const record = { ...result, attempt: n, startedAtMs: startedAt, durationMs: clock.now() - startedAt };
    onAttempt(record);
    failures = result.ok ? [] : [...failures, record];
    if (failures.length >= spec.failureThreshold) return failures;
    await clock.sleep(startedAt + spec.periodSeconds * 1000 - clock.now());
  }
  return undefined;
}

/** One real probe attempt against a container on this machine. */
export function probeAttempt(spec: ProbeSpec, host = '127.0.0.1'): Attempt {
  if (spec.httpGet) {
    const { path, port } = spec.httpGet;
    return async (timeoutMs) => {
      try {
        const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
        await response.body?.cancel();
        return { ok: httpStatusPasses(response.status), detail: `HTTP ${response.status}` };
      } catch (error) {
        return { ok: false, detail: describeFetchError(error) };
      }
    };
  }
  const { port } = spec.tcpSocket ?? { port: 0 };
  return (timeoutMs) => tcpConnectsWithin(host, port, timeoutMs);
}

/**
 * Cloud Run's TCP startup probe keeps trying to connect for the whole attempt timeout, so an
 * attempt passes as soon as the port listens.
 */
async function tcpConnectsWithin(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await connects(port, host)) return { ok: true, detail: 'connected' };
    if (performance.now() >= deadline) return { ok: false, detail: 'connection refused' };
    await realClock.sleep(Math.min(20, Math.max(0, deadline - performance.now())));
  }
}

function describeFetchError(error: unknown): string {
  // Duck-typed: fetch rejects with DOMExceptions, which are not instances of this realm's Error.
  const { name, message, cause } = (error ?? {}) as { name?: string; message?: string; cause?: { code?: string } };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timed out';
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  return cause?.code ?? message ?? String(error);
}
