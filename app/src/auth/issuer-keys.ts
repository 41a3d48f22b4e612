/**
 * One identity provider's signing keys, kept by this process. jose's remote key set drops every
 * key when a refetch fails, so an issuer outage would lock out users whose tokens it had already
 * verified; and its cooldown starts only on a successful fetch, so made-up `kid`s during an outage
 * would each reach the issuer. This set keeps the last good keys for a bounded time and counts
 * every attempt, failed or not, against the cooldown. One set per issuer: a key is never looked up
 * by `kid` alone across issuers.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { describeError } from '../errors';

/** The issuer could not be asked for keys: not the token's fault, so the client may retry. */
export class IdentityProviderUnavailable extends Error {
  override readonly name = 'IdentityProviderUnavailable';
}

export interface IssuerKeysOptions {
  /** Fetches the current key set within `timeoutMs`. */
  fetchKeys: (timeoutMs: number) => Promise<JSONWebKeySet>;
  /** How long a fetch after startup may take (KEY_FETCH_TIMEOUT_MS by default). */
  fetchTimeoutMs?: number;
  now?: () => number;
  /** At most one fetch per this long, whatever tokens arrive (jose's default, 30 s). */
  cooldownMs?: number;
  /** Keys older than this are refreshed in the background while still in use (jose's default, 10 min). */
  maxAgeMs?: number;
  /** Keys older than this are not used when a refresh fails: how long an issuer outage is ridden out. */
  maxStaleMs?: number;
}

/** jose's default: a key fetch after startup waits at most this long. */
export const KEY_FETCH_TIMEOUT_MS = 5000;
const KEY_COOLDOWN_MS = 30_000;
const MAX_AGE_MS = 10 * 60_000;
/** Providers publish a new key well before signing with it and keep retired ones for days; 6 h rides out a long outage. */
const MAX_STALE_MS = 6 * 60 * 60_000;

export class IssuerKeys {
  private local: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private pending: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly maxStaleMs: number;

  constructor(private readonly options: IssuerKeysOptions) {
    this.now = options.now ?? Date.now;
    this.cooldownMs = options.cooldownMs ?? KEY_COOLDOWN_MS;
    this.maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
    this.maxStaleMs = options.maxStaleMs ?? MAX_STALE_MS;
  }

  /** Key ids currently held. */
  get kids(): string[] {
    return (this.local?.jwks().keys ?? []).map((key) => key.kid ?? '');
  }

  /** Fetches the keys now, whatever the cooldown; throws when the fetch fails (startup). */
  load(timeoutMs = this.options.fetchTimeoutMs ?? KEY_FETCH_TIMEOUT_MS): Promise<void> {
    this.pending ??= this.fetch(timeoutMs).finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** jwtVerify's key lookup. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.now();
    if (now - this.fetchedAt > this.maxAgeMs && this.mayFetch(now)) this.load().catch(() => undefined);
    if (this.local === undefined || now - this.fetchedAt > this.maxStaleMs) {
      await this.refreshOrUnavailable(now);
    }
    try {
      return await this.local!(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.mayFetch(this.now())) throw error;
      // A key the issuer rotated in since the last fetch.
      await this.refreshOrUnavailable(this.now());
      return this.local!(header, token);
    }
  };

  private mayFetch(now: number): boolean {
    return this.pending !== undefined || now - this.attemptedAt >= this.cooldownMs;
  }

  private async refreshOrUnavailable(now: number): Promise<void> {
    if (!this.mayFetch(now)) throw new IdentityProviderUnavailable('the identity provider was unreachable moments ago and the keys held are too old');
    try {
      await this.load();
    } catch (error) {
      throw new IdentityProviderUnavailable(`cannot fetch the identity provider's keys: ${describeError(error)}`, { cause: error });
    }
  }

  private async fetch(timeoutMs: number): Promise<void> {
    this.attemptedAt = this.now();
    try {
      this.local = createLocalJWKSet(await this.options.fetchKeys(timeoutMs));
      this.fetchedAt = this.now();
    } finally {
      // The cooldown runs from the end of the attempt, so a slow failing fetch cannot be followed at once by another.
      this.attemptedAt = this.now();
    }
  }
}
