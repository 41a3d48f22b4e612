/**
 * Connecting to an external dependency inside a startup phase. Cloud SQL and Memorystore can be
 * briefly unreachable while an instance starts (a failover, the VPC route warming up), so one
 * refused connection must not fail startup; a dependency that stays away past the phase's budget
 * must, naming itself and the last error. Connection URLs carry passwords, so every message that
 * leaves this module has them removed (errors.ts).
 */
import { describeError } from '../errors';

export interface RetryOptions {
  /** Names the dependency in the failure, e.g. "PostgreSQL at 10.0.0.3:5432/chat". */
  name: string;
  budgetMs: number;
  /** Strings that must never appear in a message (passwords, whole URLs). */
  secrets: readonly string[];
  /** Aborting ends the retries at once (SIGTERM during startup). */
  signal?: AbortSignal;
  /** Called after each failed attempt that will be retried, with the redacted reason. */
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;
/** Every attempt gets at least this long, even when the budget is nearly spent. */
const MIN_ATTEMPT_MS = 250;

export class DependencyError extends Error {
  override readonly name = 'DependencyError';
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Delay before retry number `attempt` (1-based): doubling from 100 ms, at most 2 s. */
export function backoffMs(attempt: number): number {
  return Math.min(FIRST_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS);
}

/**
 * Calls `attempt` with the time it may take until it succeeds, or throws a DependencyError once
 * the next retry would start after the budget. `attempt` must clean up after itself on failure.
 */
export async function connectWithin<T>(attempt: (timeoutMs: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { now = Date.now, sleep = defaultSleep, signal } = options;
  const started = now();
  const deadline = started + options.budgetMs;
  for (let attempts = 1; ; attempts += 1) {
    try {
      return await attempt(Math.max(MIN_ATTEMPT_MS, deadline - now()));
    } catch (error) {
      const reason = describeError(error, options.secrets);
      const delay = backoffMs(attempts);
      if (signal?.aborted) throw new DependencyError(`${options.name}: startup stopped while connecting (last error: ${reason})`);
      if (now() + delay >= deadline) {
        const plural = attempts === 1 ? '' : 's';
        throw new DependencyError(`${options.name} not available after ${attempts} attempt${plural} in ${now() - started} ms: ${reason}`);
      }
      options.onRetry?.(attempts, reason, delay);
      await sleep(delay);
    }
  }
}

/**
 * Rejects with `message` when `promise` has not settled within `ms`. A connection handshake that
 * stalls (a server that accepts and never answers, TLS spoken to a plain port) would otherwise
 * outlive the budget. A later rejection of `promise` is expected (the caller tears it down) and
 * ignored.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The secrets a connection URL holds: the whole URL and its password, raw and decoded. */
export function urlSecrets(url: string): string[] {
  const { password } = new URL(url);
  return [url, password, safeDecode(password)].filter((value) => value !== '');
}

/** Where a URL points, without credentials: "127.0.0.1:5432/chat". */
export function urlTarget(url: string): string {
  const parsed = new URL(url);
  const path = parsed.pathname === '/' ? '' : parsed.pathname;
  return `${parsed.host}${path}`;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
