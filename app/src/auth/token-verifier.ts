/**
 * Verifying a JWT from the configured issuer: asymmetric signatures only (no `none`, no HS*, so a
 * token "signed" with the public key as an HMAC secret fails), `iss`, `aud`, `exp` and `sub`
 * required, `nbf` honoured, a clock tolerance on both. A failure says why without the token, and
 * tells an unreachable identity provider apart from a bad token.
 */
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { describeError } from '../errors';
import { IdentityProviderUnavailable } from './issuer-keys';

const ACCEPTED_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** A person as the issuer names them: the pair that owns threads and carries limits. */
export interface Identity {
  issuer: string;
  subject: string;
  /** The token's `exp`, in ms since the epoch. */
  expiresAt: number;
}

export type Verification = { ok: true; identity: Identity } | { ok: false; unavailable: boolean; reason: string };

export interface VerifierSettings {
  issuer: string;
  audience: string;
  clockToleranceS: number;
}

export class TokenVerifier {
  constructor(
    readonly settings: VerifierSettings,
    private readonly getKey: JWTVerifyGetKey,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(token: string): Promise<Verification> {
    const { issuer, audience, clockToleranceS } = this.settings;
    try {
      const { payload } = await jwtVerify(token, this.getKey, {
        issuer,
        audience,
        algorithms: [...ACCEPTED_ALGORITHMS],
        clockTolerance: clockToleranceS,
        requiredClaims: ['iss', 'aud', 'exp', 'sub'],
        currentDate: new Date(this.now()),
      });
      if (typeof payload.sub !== 'string' || payload.sub === '') return { ok: false, unavailable: false, reason: 'the token has no subject (sub)' };
      return { ok: true, identity: { issuer, subject: payload.sub, expiresAt: payload.exp! * 1000 } };
    } catch (error) {
      if (error instanceof IdentityProviderUnavailable) return { ok: false, unavailable: true, reason: 'the identity provider is unavailable; try again shortly' };
      return { ok: false, unavailable: false, reason: invalidReason(error) };
    }
  }
}

/** jose's messages name the check that failed and never quote the token. */
function invalidReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is signed with a key the issuer does not publish';
  if (error instanceof errors.JOSEError) return `invalid token: ${error.message}`;
  return `invalid token: ${describeError(error)}`;
}
