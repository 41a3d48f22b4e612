/**
 * An OpenID provider on loopback, for the local revision and the tests: a key pair made at start,
 * the discovery document and the key set, tokens signed on request, keys rotated without a
 * restart, and (with `signIn`) a sign-in endpoint where a browser picks a user name. The app
 * verifies its tokens exactly as it verifies a real provider's: discovery, keys, signature and
 * claims, no bypass. Every answer allows any origin (CORS), as public discovery documents do, so
 * the chat page can sign in from the app's origin.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { OIDC_DISCOVERY_PATH } from '../../common/revision';

export const JWKS_PATH = '/jwks';
export const SIGN_IN_PATH = '/sign-in';
/** The discovery field that points the chat page at the sign-in endpoint; no real provider has it. */
export const LOCAL_SIGN_IN_FIELD = 'local_sign_in_endpoint';
/** A user name is the token's subject: short, and safe to show. */
export const USER_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_SIGN_IN_BODY_BYTES = 1024;

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface IssuerOptions {
  /** The `aud` of the tokens it signs by default. */
  audience: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  alg?: 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
  /** How long a token it signs lives by default. */
  tokenLifetimeS?: number;
  /** Serves POST /sign-in {"name"} -> {"token","expiresAt"}: anyone may be anyone, for local runs only. */
  signIn?: boolean;
  /** Told of every request it answers, by path. */
  onRequest?: (path: string) => void;
}

export async function makeSigningKey(alg: SigningKey['alg'] = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export class EmbeddedIssuer {
  /** Newest first: tokens are signed with keys[0]; every key listed is published. */
  keys: SigningKey[] = [];
  private server: http.Server | undefined;
  private port = 0;

  private constructor(private readonly options: IssuerOptions) {}

  static async start(options: IssuerOptions): Promise<EmbeddedIssuer> {
    const issuer = new EmbeddedIssuer(options);
    issuer.keys = [await makeSigningKey(options.alg)];
    await issuer.listen(options.port ?? 0);
    return issuer;
  }

  /** The issuer identifier, the `iss` of its tokens. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get audience(): string {
    return this.options.audience;
  }

  private get tokenLifetimeS(): number {
    return this.options.tokenLifetimeS ?? 3600;
  }

  get jwksUrl(): string {
    return `${this.url}${JWKS_PATH}`;
  }

  /** Signs a token for `sub` (claims override the defaults: iss, aud, iat, exp). */
  async sign(claims: JWTPayload = {}, key: SigningKey = this.keys[0]!): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { iss: this.url, aud: this.options.audience, iat: now, exp: now + this.tokenLifetimeS, ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  }

  /** Publishes a new key and signs with it from now on; the old ones stay published unless `retire`. */
  async rotate({ retire = false } = {}): Promise<SigningKey> {
    const key = await makeSigningKey(this.options.alg);
    this.keys = retire ? [key] : [key, ...this.keys];
    return key;
  }

  private async signInAs(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const name = await readName(req);
    if (name === undefined) return json(res, 400, { error: 'invalid_request', message: `send {"name":"…"}, 1-64 letters, digits, ".", "_" or "-"` });
    const exp = Math.floor(Date.now() / 1000) + this.tokenLifetimeS;
    json(res, 200, { token: await this.sign({ sub: name, exp }), expiresAt: exp * 1000 });
  }

  /** Stops answering: connections are refused, as when the provider is down. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Answers again on the same port, with the same keys. */
  resume(): Promise<void> {
    return this.listen(this.port);
  }

  private listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.url).pathname;
    this.options.onRequest?.(path);
    res.setHeader('access-control-allow-origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' }).end();
      return;
    }
    if (req.method === 'GET' && path === OIDC_DISCOVERY_PATH) {
      const signIn = this.options.signIn ? { [LOCAL_SIGN_IN_FIELD]: `${this.url}${SIGN_IN_PATH}` } : {};
      return json(res, 200, { issuer: this.url, jwks_uri: this.jwksUrl, id_token_signing_alg_values_supported: [...new Set(this.keys.map((key) => key.alg))], subject_types_supported: ['public'], response_types_supported: ['id_token'], ...signIn });
    }
    if (req.method === 'POST' && path === SIGN_IN_PATH && this.options.signIn) return this.signInAs(req, res);
    if (req.method === 'GET' && path === JWKS_PATH) return json(res, 200, { keys: this.keys.map((key) => key.publicJwk) });
    json(res, 404, { error: 'not_found' });
  }
}

/** Reads `{"name"}` and answers a token for that subject. */
async function readName(req: http.IncomingMessage): Promise<string | undefined> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > MAX_SIGN_IN_BODY_BYTES) return undefined;
  }
  try {
    const name = (JSON.parse(body) as { name?: unknown }).name;
    return typeof name === 'string' && USER_NAME.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}
