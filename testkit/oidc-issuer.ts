/**
 * A real OpenID provider of the tests' own on loopback (the local revision's embedded issuer),
 * counting the requests it gets, plus the forged tokens an attacker would try: unsigned, "signed"
 * with the public key as an HMAC secret, tampered, from another issuer.
 */
import { createHmac } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { discoveryUrl } from '../app/src/auth/discovery';
import { APP_PATHS } from '../common/revision';
import { EmbeddedIssuer, type IssuerOptions, JWKS_PATH, LOCAL_SIGN_IN_FIELD } from '../runner/src/embedded-issuer';

export interface TestIssuer {
  issuer: EmbeddedIssuer;
  /** Requests it answered, by path. */
  requests: Map<string, number>;
  /** Requests for its key set. */
  keyRequests(): number;
}

export async function startTestIssuer(options: Partial<IssuerOptions> = {}): Promise<TestIssuer> {
  const requests = new Map<string, number>();
  const issuer = await EmbeddedIssuer.start({ audience: 'chat-test', ...options, onRequest: (path) => requests.set(path, (requests.get(path) ?? 0) + 1) });
  return { issuer, requests, keyRequests: () => requests.get(JWKS_PATH) ?? 0 };
}

/**
 * Signs in as `name` the way the chat page does: the app's /auth/config names the issuer, whose
 * discovery document names the local sign-in endpoint (the embedded issuer of `npm start`).
 */
export async function signInThrough(appUrl: string, name: string): Promise<string> {
  const { issuer } = (await (await fetch(`${appUrl}${APP_PATHS.authConfig}`)).json()) as { issuer: string | null };
  if (issuer === null) throw new Error(`${appUrl} runs without sign-in`);
  const discovery = (await (await fetch(discoveryUrl(issuer))).json()) as Record<string, string>;
  const response = await fetch(discovery[LOCAL_SIGN_IN_FIELD]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  return ((await response.json()) as { token: string }).token;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function defaultClaims(issuer: EmbeddedIssuer, claims: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer.url, aud: issuer.audience, sub: 'alice', iat: now, exp: now + 3600, ...claims };
}

/** `alg: none`, no signature. */
export function unsignedToken(issuer: EmbeddedIssuer, claims: JWTPayload = {}): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(defaultClaims(issuer, claims))}.`;
}

/** HS256 with the issuer's public key (its JWK as JSON) as the secret: the classic key-confusion forgery. */
export function publicKeyHmacToken(issuer: EmbeddedIssuer, claims: JWTPayload = {}): string {
  const key = issuer.keys[0]!;
  const signingInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64(defaultClaims(issuer, claims))}`;
  const signature = createHmac('sha256', JSON.stringify(key.publicJwk)).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** A validly signed token whose payload was then changed (another subject). */
export function tamperedToken(token: string, claims: JWTPayload): string {
  const [header, payload, signature] = token.split('.');
  const changed = { ...(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as JWTPayload), ...claims };
  return `${header}.${b64(changed)}.${signature}`;
}
