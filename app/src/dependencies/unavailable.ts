/**
 * A dependency that cannot serve a call within its deadline: thrown by the storage and cache
 * layers, turned into `{"type":"error","code":"unavailable","retryAfterSeconds":N}` for the user.
 */

export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';

  constructor(
    readonly dependency: string,
    readonly retryAfterSeconds: number,
    cause?: unknown,
  ) {
    super(`${dependency} is unavailable; retry in ${retryAfterSeconds} s`, { cause });
  }
}

/** Seconds a user is told to wait when nothing more precise is known. */
const DEFAULT_RETRY_AFTER_SECONDS = 1;

export function retryAfterOf(error: unknown): number {
  return error instanceof DependencyUnavailableError ? error.retryAfterSeconds : DEFAULT_RETRY_AFTER_SECONDS;
}
