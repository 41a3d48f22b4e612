/**
 * `Authorization: Bearer <JWT>` on the WebSocket upgrade, for clients that can set headers:
 * verified before the upgrade, so a bad token gets HTTP 401 (503 when the identity provider
 * cannot be asked, 429 past the per-address count of sign-ins) and never a socket.
 */
import type { ErrorMessage } from '../../../common/chat-protocol';
import type { Authentication } from './authentication';
import type { Identity } from './token-verifier';

export type UpgradeVerdict = { ok: true; identity: Identity | undefined } | { ok: false; status: 401 | 429 | 503; body: Record<string, unknown> };

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * No header: the socket signs in with its first frame. Anonymous mode ignores the header.
 * `rateLimit` is the per-address count of sign-ins, taken before the signature is checked.
 */
export async function verifyUpgrade(
  authentication: Authentication,
  authorization: string | undefined,
  rateLimit: () => Promise<ErrorMessage | undefined>,
): Promise<UpgradeVerdict> {
  if (authorization === undefined || authentication.kind === 'anonymous') return { ok: true, identity: undefined };
  const token = BEARER.exec(authorization.trim())?.[1];
  if (token === undefined) return { ok: false, status: 401, body: { error: 'unauthenticated', message: 'Authorization must be "Bearer <JWT>"' } };
  const limited = await rateLimit();
  if (limited !== undefined) {
    return { ok: false, status: 429, body: { error: 'rate_limited', message: limited.message, retryAfterSeconds: Math.ceil((limited.retryAfterMs ?? 1000) / 1000) } };
  }
  const result = await authentication.verifier.verify(token);
  if (result.ok) return { ok: true, identity: result.identity };
  if (result.unavailable) return { ok: false, status: 503, body: { error: 'identity_provider_unavailable', message: result.reason, retryAfterSeconds: 1 } };
  return { ok: false, status: 401, body: { error: 'unauthenticated', message: result.reason } };
}
