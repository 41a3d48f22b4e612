/**
 * Where an OpenID provider publishes its keys: the `jwks_uri` of its discovery document
 * (`/.well-known/openid-configuration`), checked to describe the configured issuer, and the key
 * set itself. Both are plain GETs with a deadline; a redirect is refused, as jose refuses it.
 */
import type { JSONWebKeySet } from 'jose';
import { z } from 'zod';
import { OIDC_DISCOVERY_PATH } from '../../../common/revision';

const discoverySchema = z.object({ issuer: z.string(), jwks_uri: z.url() });
const keySetSchema = z.object({ keys: z.array(z.looseObject({ kty: z.string() })) });


export function discoveryUrl(issuer: string): URL {
  return new URL(`${issuer.replace(/\/+$/, '')}${OIDC_DISCOVERY_PATH}`);
}

async function getJson(url: URL, fetchFn: typeof fetch, timeoutMs: number): Promise<unknown> {
  const response = await fetchFn(url, { redirect: 'error', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new Error(`GET ${url.href} answered HTTP ${response.status}`);
  }
  try {
    return await response.json();
  } catch {
    throw new Error(`GET ${url.href} answered a body that is not JSON`);
  }
}

/** The key set URL the issuer's discovery document names; it must describe `issuer` exactly. */
export async function discoverJwksUrl(issuer: string, fetchFn: typeof fetch, timeoutMs: number): Promise<URL> {
  const url = discoveryUrl(issuer);
  const parsed = discoverySchema.safeParse(await getJson(url, fetchFn, timeoutMs));
  if (!parsed.success) throw new Error(`${url.href} is not an OpenID discovery document (issuer and jwks_uri)`);
  if (parsed.data.issuer !== issuer) throw new Error(`${url.href} describes issuer ${JSON.stringify(parsed.data.issuer)}, not ${JSON.stringify(issuer)}`);
  return new URL(parsed.data.jwks_uri);
}

export async function fetchKeySet(url: URL, fetchFn: typeof fetch, timeoutMs: number): Promise<JSONWebKeySet> {
  const parsed = keySetSchema.safeParse(await getJson(url, fetchFn, timeoutMs));
  if (!parsed.success) throw new Error(`${url.href} is not a JSON Web Key Set`);
  return parsed.data as JSONWebKeySet;
}
