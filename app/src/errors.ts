/**
 * The app's one way to turn any thrown value into one line for a log, a phase error or a chat
 * error: the startup orchestrator, the dependency retries, the model client, the chat service and
 * the relay all describe errors here. Connection URLs and keys travel in errors (a driver repeats
 * the URL it was given), so every description has credentials removed.
 */

import { redactCredentials } from '../../common/env';

interface ErrorShape {
  message?: unknown;
  code?: unknown;
  errors?: unknown;
  name?: unknown;
  cause?: unknown;
}

/**
 * One line for any error, with `secrets` and any `user:password@` in a URL replaced by `***`.
 * - Node reports a refused connection to a name with several addresses as an AggregateError with
 *   an empty message, so its parts are spelled out.
 * - A timeout (fetch's AbortSignal.timeout) reads "timed out".
 * - A cause is added when the message does not already say it (fetch's "fetch failed" says nothing
 *   without its cause).
 * Errors are read by shape, not instanceof: errors made in another realm (Node's internals under
 * jest, fetch's DOMException) fail that check.
 */
export function describeError(error: unknown, secrets: readonly string[] = []): string {
  return redact(describe(error), secrets);
}

function describe(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { message, code, errors, name, cause } = error as ErrorShape;
  if (name === 'TimeoutError') return 'timed out';
  if (Array.isArray(errors) && errors.length > 0 && !message) return [...new Set(errors.map(describe))].join('; ');
  const text = [message, code, name].find((part): part is string => typeof part === 'string' && part !== '') ?? String(error);
  const because = cause === undefined || cause === null ? '' : describe(cause);
  return because === '' || text.includes(because) ? text : `${text}: ${because}`;
}

/** Replaces each secret, and any `user:password@` in a URL, with `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter(Boolean).sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return redactCredentials(out, { keepUser: true });
}
