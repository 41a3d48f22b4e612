/**
 * Verifying tokens against a real OpenID provider on loopback (the testkit issuer): discovery and
 * keys fetched at startup, every forged or stale token refused with its reason, key rotation
 * without a restart, a bounded number of key fetches whatever `kid`s arrive, and known keys kept
 * through an issuer outage.
 */
import { createLogger } from '../../common/log';
import { makeSigningKey } from '../../runner/src/embedded-issuer';
import { publicKeyHmacToken, startTestIssuer, tamperedToken, type TestIssuer, unsignedToken } from '../../testkit/oidc-issuer';
import { freePort } from '../../common/local-ports';
import { type Authentication, openAuthentication } from '../src/auth/authentication';
import { readAuthConfig } from '../src/config';
import type { TokenVerifier } from '../src/auth/token-verifier';
import { buildChat } from './serve-chat';
import { waitFor } from '../../testkit/wait-for';
import { appLauncher } from '../../testkit/app-process';

const log = createLogger('test', 'silent');

describe('token verification against a real issuer', () => {
  let test: TestIssuer;
  let clock: number;
  let verifier: TokenVerifier;

  beforeEach(async () => {
    test = await startTestIssuer();
    clock = Date.now();
    const auth = await openAuthentication(readAuthConfig({ APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'chat-test' }, 'test'), {
      budgetMs: 5000,
      clockToleranceS: 30,
      log,
      now: () => clock,
    });
    verifier = (auth as Extract<Authentication, { kind: 'verified' }>).verifier;
  });
  afterEach(() => test.issuer.stop());

  it('reads the keys through discovery once at startup and accepts a valid token', async () => {
    expect(Object.fromEntries(test.requests)).toEqual({ '/.well-known/openid-configuration': 1, '/jwks': 1 });
    const token = await test.issuer.sign({ sub: 'alice' });
    const result = await verifier.verify(token);
    expect(result).toEqual({ ok: true, identity: { issuer: test.issuer.url, subject: 'alice', expiresAt: expect.any(Number) } });
  });

  it('refuses each forged, stale or foreign token with its reason, never quoting it', async () => {
    const now = Math.floor(clock / 1000);
    const stranger = await startTestIssuer({ audience: 'chat-test' });
    const unpublished = await makeSigningKey('ES256');
    const valid = await test.issuer.sign({ sub: 'alice' });
    const cases: [string, string, RegExp][] = [
      ['expired past the tolerance', await test.issuer.sign({ sub: 'alice', exp: now - 31 }), /expired/],
      ['not yet valid (nbf)', await test.issuer.sign({ sub: 'alice', nbf: now + 120 }), /nbf/],
      ['another audience', await test.issuer.sign({ sub: 'alice', aud: 'someone-else' }), /aud/],
      ['another issuer, signed by it', await stranger.issuer.sign({ sub: 'alice', aud: 'chat-test' }), /iss|key/],
      ['another issuer claimed, signed by ours', await test.issuer.sign({ sub: 'alice', iss: stranger.issuer.url }), /iss/],
      ['alg none', unsignedToken(test.issuer), /alg/],
      ['HS256 signed with the public key', publicKeyHmacToken(test.issuer), /alg/],
      ['an unknown kid', await test.issuer.sign({ sub: 'alice' }, unpublished), /key the issuer does not publish/],
      ['a tampered payload', tamperedToken(valid, { sub: 'mallory' }), /signature/],
      ['no sub', await test.issuer.sign({}), /sub/],
      ['no exp', await test.issuer.sign({ sub: 'alice', exp: undefined }), /exp/],
      ['not a JWT at all', 'hello', /invalid token/],
    ];
    await stranger.issuer.stop();
    for (const [name, token, reason] of cases) {
      const result = await verifier.verify(token);
      expect({ name, ok: result.ok }).toEqual({ name, ok: false });
      if (result.ok) continue;
      expect({ name, reason: result.reason, unavailable: result.unavailable }).toEqual({ name, reason: expect.stringMatching(reason), unavailable: false });
      expect(result.reason).not.toContain(token.split('.')[1] || token);
    }
  });

  it('accepts a token within the clock tolerance of its exp', async () => {
    const token = await test.issuer.sign({ sub: 'alice', exp: Math.floor(clock / 1000) - 20 });
    expect((await verifier.verify(token)).ok).toBe(true);
  });

  it('fetches keys at most once per cooldown, however many made-up kids arrive', async () => {
    const forged = await Promise.all(Array.from({ length: 50 }, async () => test.issuer.sign({ sub: 'alice' }, await makeSigningKey('ES256'))));
    clock += 31_000;
    for (const token of forged) expect((await verifier.verify(token)).ok).toBe(false);
    // One refetch after startup's: the cooldown holds the other 49.
    expect(test.keyRequests()).toBe(2);
  });

  it('uses a key rotated in without a restart, once the cooldown allows a refetch', async () => {
    await test.issuer.rotate();
    const token = await test.issuer.sign({ sub: 'alice' });
    clock += 31_000;
    expect(await verifier.verify(token)).toMatchObject({ ok: true });
    expect(test.keyRequests()).toBe(2);
  });

  it('keeps verifying with known keys while the issuer is down, and tells an outage from a bad token', async () => {
    const known = await test.issuer.sign({ sub: 'alice' });
    await test.issuer.rotate();
    const rotated = await test.issuer.sign({ sub: 'bob' });
    await test.issuer.stop();
    clock += 11 * 60_000; // past the keys' max age: a refresh is tried, and fails
    expect(await verifier.verify(known)).toMatchObject({ ok: true });
    clock += 31_000;
    expect(await verifier.verify(rotated)).toEqual({ ok: false, unavailable: true, reason: expect.stringMatching(/identity provider is unavailable/) });
    // Within the cooldown of that failed fetch, a made-up kid does not reach the issuer at all.
    const before = test.keyRequests();
    await test.issuer.resume();
    expect((await verifier.verify(await test.issuer.sign({ sub: 'x' }, await makeSigningKey('ES256')))).ok).toBe(false);
    expect(test.keyRequests()).toBe(before);
  });

  it('refuses known keys once they are older than the staleness bound and the issuer is still down', async () => {
    const known = await test.issuer.sign({ sub: 'alice', exp: Math.floor(clock / 1000) + 7 * 3600 });
    await test.issuer.stop();
    clock += 6 * 3600_000 + 1000;
    expect(await verifier.verify(known)).toMatchObject({ ok: false, unavailable: true });
  });
});

describe('the identity provider at startup', () => {
  it('fails the dependencies phase naming the issuer host when it cannot be reached within the budget', async () => {
    const port = await freePort();
    const chat = buildChat({ env: { APP_AUTH_ISSUER: `http://127.0.0.1:${port}`, APP_AUTH_AUDIENCE: 'chat', APP_AUTH_BUDGET_MS: '300' } });
    await expect(chat.start()).rejects.toThrow(`identity provider 127.0.0.1:${port} not available after`);
    expect(chat.state.snapshot()).toMatchObject({ state: 'failed', error: { phase: 'dependencies', message: expect.stringContaining(`identity provider 127.0.0.1:${port}`) } });
  });

  it('waits for an issuer that comes up within the budget', async () => {
    const test = await startTestIssuer();
    await test.issuer.stop();
    const chat = buildChat({ env: { APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'chat-test', APP_AUTH_BUDGET_MS: '20000' } });
    const started = chat.start();
    await waitFor('startup in the dependencies phase', () => chat.state.snapshot().phase === 'dependencies');
    await test.issuer.resume();
    const { components } = await started;
    expect(components.authentication.kind).toBe('verified');
    await chat.close();
    await test.issuer.stop();
  });

  it('refuses a key set URL from a discovery document of another issuer', async () => {
    const test = await startTestIssuer();
    const chat = buildChat({ env: { APP_AUTH_ISSUER: `${test.issuer.url}/other`, APP_AUTH_AUDIENCE: 'chat-test', APP_AUTH_BUDGET_MS: '200' } });
    await expect(chat.start()).rejects.toThrow(/404|describes issuer/);
    await test.issuer.stop();
  });
});

describe('the app process without an issuer', () => {
  const { launch, stopAll } = appLauncher();
  afterEach(stopAll);

  it('says loudly at startup, in development, that anyone may chat', async () => {
    const app = await launch();
    await app.waitForState('ready');
    const warnings = app.logs.filter((line) => line.includes('"severity":"WARNING"') && line.includes('AUTHENTICATION IS OFF'));
    expect(warnings).toHaveLength(1);
  });
});

describe('the app process in staging', () => {
  const { launch, stopAll } = appLauncher();
  afterEach(stopAll);
  const everythingElse = {
    APP_ENV: 'staging',
    LLM_BASE_URL: 'https://llm.example/v1',
    LLM_API_KEY: 'key',
    DATABASE_URL: 'postgres://chat:pw@127.0.0.1:1/chat',
    REDIS_URL: 'redis://127.0.0.1:1',
    APP_THREAD_TOKEN_KEY: 'a-key-of-at-least-thirty-two-characters',
  };

  it('fails the dependencies phase naming APP_AUTH_ISSUER, then APP_AUTH_AUDIENCE, when sign-in is not configured', async () => {
    for (const [env, missing] of [
      [{}, 'APP_AUTH_ISSUER is required when APP_ENV=staging'],
      [{ APP_AUTH_ISSUER: 'https://securetoken.google.com/chat' }, 'APP_AUTH_AUDIENCE is required when APP_ENV=staging'],
    ] as const) {
      const app = await launch({ ...everythingElse, ...env });
      const body = await app.waitForState('failed');
      expect(body.error).toEqual({ phase: 'dependencies', message: expect.stringContaining(missing) });
    }
  });
});

describe('authentication settings', () => {
  it('requires an issuer and an audience in staging and production, naming the missing one', () => {
    expect(() => readAuthConfig({}, 'staging')).toThrow('APP_AUTH_ISSUER is required when APP_ENV=staging');
    expect(() => readAuthConfig({ APP_AUTH_ISSUER: 'https://securetoken.google.com/p' }, 'production')).toThrow('APP_AUTH_AUDIENCE is required when APP_ENV=production');
    expect(readAuthConfig({}, 'development')).toEqual({ kind: 'anonymous' });
    expect(() => readAuthConfig({ APP_AUTH_AUDIENCE: 'p' }, 'development')).toThrow('APP_AUTH_ISSUER is required when APP_AUTH_AUDIENCE is set');
    expect(() => readAuthConfig({ APP_AUTH_ISSUER: 'http://issuer.example', APP_AUTH_AUDIENCE: 'p' }, 'development')).toThrow(/https unless the issuer is on loopback/);
    expect(readAuthConfig({ APP_AUTH_ISSUER: 'https://securetoken.google.com/p', APP_AUTH_AUDIENCE: 'p' }, 'production')).toEqual({
      kind: 'oidc',
      issuer: 'https://securetoken.google.com/p',
      audience: 'p',
      jwksUrl: undefined,
    });
  });
});
