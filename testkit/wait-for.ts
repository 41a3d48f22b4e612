/**
 * The one way tests (and the bench) wait: poll a condition until it holds, never sleep a fixed
 * time and then assert. The default timeout is generous because CI shares its CPUs; a condition
 * that holds returns at the next poll, so a long timeout costs nothing on a quiet machine.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra context for the error, e.g. a process's output so far. */
  detail?: () => string;
}

export const DEFAULT_WAIT_TIMEOUT_MS = 20_000;

/** Resolves once `condition` returns true (or a promise of true); fails naming `what` after the timeout. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = DEFAULT_WAIT_TIMEOUT_MS, intervalMs = 10, detail } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() >= deadline) {
      const extra = detail === undefined ? '' : `\n${detail()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(intervalMs);
  }
}
