/**
 * Every setting of the gate, read and validated in one place before anything listens: a bad value
 * ends the process with exit code 2 and one line naming the variable (see main.ts).
 * docs/gate.md documents each one; the names live in common/revision.ts.
 */
import { type Env, ConfigError, readEnum, readInt, readList, readNumber, readPort, readUrl } from '../../common/env';
import { LOG_LEVELS, type LogLevel } from '../../common/log';
import { MAX_LONG_POLL_MS } from '../../common/phase-contract';
import { DEFAULT_STARTUP_HOLD_MS, MAX_STARTUP_BUDGET_SECONDS, MAX_STARTUP_HOLD_MS, MAX_STARTUP_WINDOW_SECONDS } from '../../common/probes';
import { DEFAULT_GATE_TARGET_URL, DEFAULT_REQUIRED_COMPONENTS, GATE_ENV_VARS as V, GATE_PORT } from '../../common/revision';

/** How the gate checks its target; also what the check loop and its tests take. */
export interface CheckTimings {
  /** Backoff between failed checks: the first wait, the cap, and the growth per failure (jittered x1..2). */
  backoffMinMs: number;
  backoffMaxMs: number;
  backoffFactor: number;
  /** Time allowed for one check on top of the long-poll wait: connect, headers and body. */
  checkTimeoutMs: number;
  /** How long the target may hold a long-poll request; 0 turns long-poll off. */
  longPollMs: number;
  /** The wait between checks when the target answers at once (no long-poll). */
  pollIntervalMs: number;
  /** Bodies larger than this are refused unread: the phase body is a few hundred bytes. */
  maxBodyBytes: number;
  /** After a burst of quick checks, checks start at least this far apart, even when seq grows on every answer. */
  minCheckIntervalMs: number;
}

export interface GateConfig extends CheckTimings {
  port: number;
  targetUrl: URL;
  require: string[];
  /** After the app reports `failed`, how long the gate keeps answering before it exits 1. */
  failedLingerMs: number;
  /** How long /startup holds a probe while the gate is closed; 0 answers at once. */
  startupHoldMs: number;
  /** The startup budget the revision's probes give the backend, in seconds; only exported as a metric. */
  startupBudgetSeconds: number;
  logLevel: LogLevel;
}

export const DEFAULT_TIMINGS: CheckTimings = {
  backoffMinMs: 100,
  backoffMaxMs: 2000,
  backoffFactor: 2,
  checkTimeoutMs: 1000,
  longPollMs: 10_000,
  pollIntervalMs: 250,
  maxBodyBytes: 64 * 1024,
  minCheckIntervalMs: 50,
};

export const DEFAULT_FAILED_LINGER_MS = 1000;

/** Without a budget from infra, Cloud Run's longest startup window without an initial delay. */
export const DEFAULT_STARTUP_BUDGET_SECONDS = MAX_STARTUP_WINDOW_SECONDS;

export function readGateConfig(env: Env): GateConfig {
  const backoffMinMs = readInt(env, V.backoffMinMs, DEFAULT_TIMINGS.backoffMinMs, { min: 1, max: 60_000 });
  const backoffMaxMs = readInt(env, V.backoffMaxMs, DEFAULT_TIMINGS.backoffMaxMs, { min: 1, max: 300_000 });
  if (backoffMaxMs < backoffMinMs) {
    throw new ConfigError(V.backoffMaxMs, `must be at least ${V.backoffMinMs} (${backoffMinMs}), got ${backoffMaxMs}`);
  }
  const targetUrl = readUrl(env, V.targetUrl, DEFAULT_GATE_TARGET_URL) as URL;
  // Set but blank is a mistake (a template that left it empty), not a request for the defaults.
  if (env[V.require] !== undefined && env[V.require]!.trim() === '') {
    throw new ConfigError(V.require, `is set but empty: name the components that must be true before the gate opens, or unset it for the default (${DEFAULT_REQUIRED_COMPONENTS.join(',')})`);
  }
  return {
    port: readPort(env, V.port, GATE_PORT),
    targetUrl,
    require: readList(env, V.require, DEFAULT_REQUIRED_COMPONENTS),
    backoffMinMs,
    backoffMaxMs,
    backoffFactor: readNumber(env, V.backoffFactor, DEFAULT_TIMINGS.backoffFactor, { min: 1, max: 10 }),
    checkTimeoutMs: readInt(env, V.checkTimeoutMs, DEFAULT_TIMINGS.checkTimeoutMs, { min: 10, max: 60_000 }),
    longPollMs: readInt(env, V.longPollMs, DEFAULT_TIMINGS.longPollMs, { min: 0, max: MAX_LONG_POLL_MS }),
    pollIntervalMs: readInt(env, V.pollIntervalMs, DEFAULT_TIMINGS.pollIntervalMs, { min: 10, max: 60_000 }),
    maxBodyBytes: readInt(env, V.maxBodyBytes, DEFAULT_TIMINGS.maxBodyBytes, { min: 1024, max: 16 * 1024 * 1024 }),
    minCheckIntervalMs: readInt(env, V.minCheckIntervalMs, DEFAULT_TIMINGS.minCheckIntervalMs, { min: 0, max: 60_000 }),
    failedLingerMs: readInt(env, V.failedLingerMs, DEFAULT_FAILED_LINGER_MS, { min: 0, max: 10_000 }),
    startupHoldMs: readInt(env, V.startupHoldMs, DEFAULT_STARTUP_HOLD_MS, { min: 0, max: MAX_STARTUP_HOLD_MS }),
    startupBudgetSeconds: readInt(env, V.startupBudgetSeconds, DEFAULT_STARTUP_BUDGET_SECONDS, { min: 1, max: MAX_STARTUP_BUDGET_SECONDS }),
    logLevel: readEnum(env, V.logLevel, LOG_LEVELS, 'info'),
  };
}
