/**
 * How a person appears in logs and cache keys: a stable hash of issuer and subject, never the
 * subject in clear (an email address at some providers) and never a token.
 */
import { createHash } from 'node:crypto';

export function subjectHash({ issuer, subject }: { issuer: string; subject: string }): string {
  return createHash('sha256').update(`${issuer}\n${subject}`).digest('base64url').slice(0, 22);
}
