/**
 * Who may chat, built in the dependencies phase: a verifier holding the issuer's keys, fetched
 * with retries inside APP_AUTH_BUDGET_MS (an issuer that stays away fails startup naming its
 * host, so the gate never opens on an instance that cannot verify anyone), or anonymous sockets
 * when no issuer is configured.
 */
import type { Logger } from '../../../common/log';
import { APP_ENV_VARS as V } from '../../../common/revision';
import type { AuthConfig } from '../config';
import { connectWithin } from '../startup/dependency-retry';
import { discoverJwksUrl, fetchKeySet } from './discovery';
import { IssuerKeys, KEY_FETCH_TIMEOUT_MS } from './issuer-keys';
import { TokenVerifier } from './token-verifier';

export type Authentication = { kind: 'anonymous' } | { kind: 'verified'; verifier: TokenVerifier };

export interface OpenAuthenticationOptions {
  budgetMs: number;
  clockToleranceS: number;
  log: Logger;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  now?: () => number;
}

function identityProviderName(issuer: string): string {
  return `identity provider ${new URL(issuer).host}`;
}

export async function openAuthentication(config: AuthConfig, options: OpenAuthenticationOptions): Promise<Authentication> {
  const { log, fetch: fetchFn = fetch, now = Date.now } = options;
  if (config.kind === 'anonymous') {
    log.warn({ authentication: 'anonymous' }, `AUTHENTICATION IS OFF: ${V.authIssuer} is unset, so anyone who reaches /ws can chat as nobody in particular; set ${V.authIssuer} and ${V.authAudience} before this serves real users`);
    return { kind: 'anonymous' };
  }
  const name = identityProviderName(config.issuer);
  return connectWithin(
    async (timeoutMs) => {
      const attemptMs = Math.min(timeoutMs, KEY_FETCH_TIMEOUT_MS);
      const jwksUrl = config.jwksUrl ?? (await discoverJwksUrl(config.issuer, fetchFn, attemptMs));
      const keys = new IssuerKeys({ fetchKeys: (ms) => fetchKeySet(jwksUrl, fetchFn, ms), now });
      await keys.load(attemptMs);
      log.info({ issuer: config.issuer, jwksUrl: jwksUrl.href, keys: keys.kids.length }, `${name}: ${keys.kids.length} signing keys loaded`);
      return { kind: 'verified', verifier: new TokenVerifier({ issuer: config.issuer, audience: config.audience, clockToleranceS: options.clockToleranceS }, keys.getKey, now) } as const;
    },
    {
      name,
      budgetMs: options.budgetMs,
      secrets: [],
      signal: options.signal,
      onRetry: (attempt, reason, delayMs) => log.warn({ dependency: name, attempt, delayMs }, `${name}: attempt ${attempt} failed, retrying: ${reason}`),
    },
  );
}
