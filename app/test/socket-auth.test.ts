/**
 * Sign-in on the chat socket, against a real issuer on loopback: the first frame authenticates,
 * anything else first (or silence) closes 4401, `Authorization: Bearer` is verified before the
 * upgrade, and a live socket is warned, refreshed, or closed when its token expires, after the
 * run it started has finished.
 */
import { WebSocket } from 'ws';
import { AGENT_EVENT_TYPES, UNAUTHENTICATED_CLOSE_CODE } from '../../common/chat-protocol';
import { makeSigningKey } from '../../runner/src/embedded-issuer';
import { closeEvent, messages, tryUpgrade } from '../../testkit/chat-client';
import { slowModel } from '../../testkit/model-stub';
import { publicKeyHmacToken, startTestIssuer, tamperedToken, type TestIssuer, unsignedToken } from '../../testkit/oidc-issuer';
import { serveChat } from './serve-chat';
import { waitFor } from '../../testkit/wait-for';

const RUN = [...AGENT_EVENT_TYPES, 'agent_response'];
const summary = (message: Record<string, unknown>) => (message.type === 'error' ? `error:${String(message.code)}` : String(message.type));
const seconds = () => Math.floor(Date.now() / 1000);

describe('signing in on the chat socket', () => {
  let test: TestIssuer;
  let served: Awaited<ReturnType<typeof serveChat>> | undefined;
  const authEnv = (extra: Record<string, string> = {}) => ({ APP_AUTH_ISSUER: test.issuer.url, APP_AUTH_AUDIENCE: 'chat-test', ...extra });

  beforeEach(async () => {
    test = await startTestIssuer();
  });
  afterEach(async () => {
    await served?.close();
    served = undefined;
    await test.issuer.stop();
  });

  const authenticate = (token: string) => JSON.stringify({ type: 'authenticate', token });

  it('authenticates with the first frame, then chats (five events and the reply)', async () => {
    served = await serveChat({}, authEnv());
    const { ws, inbox } = await served.connect();
    const token = await test.issuer.sign({ sub: 'alice', exp: seconds() + 600 });
    ws.send(authenticate(token));
    expect(await inbox.next()).toEqual({ type: 'authenticated', subject: 'alice', expiresAt: (seconds() + 600) * 1000 });
    ws.send(JSON.stringify({ type: 'user_message', text: 'hello' }));
    expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
  });

  it('refuses every bad token with unauthenticated and 4401 on the socket, and with 401 on the upgrade', async () => {
    served = await serveChat({}, authEnv());
    const now = seconds();
    const valid = await test.issuer.sign({ sub: 'alice' });
    const stranger = await startTestIssuer();
    const tokens: Record<string, string> = {
      expired: await test.issuer.sign({ sub: 'alice', exp: now - 120 }),
      'wrong aud': await test.issuer.sign({ sub: 'alice', aud: 'other' }),
      'wrong iss': await stranger.issuer.sign({ sub: 'alice', aud: 'chat-test' }),
      'alg none': unsignedToken(test.issuer),
      'HS256 with the public key': publicKeyHmacToken(test.issuer),
      'unknown kid': await test.issuer.sign({ sub: 'alice' }, await makeSigningKey('ES256')),
      'tampered payload': tamperedToken(valid, { sub: 'mallory' }),
      'missing sub': await test.issuer.sign({}),
    };
    await stranger.issuer.stop();
    for (const [name, token] of Object.entries(tokens)) {
      const { ws, inbox } = await served.connect();
      const closed = closeEvent(ws);
      ws.send(authenticate(token));
      expect({ name, answer: summary(await inbox.next()), code: (await closed).code }).toEqual({ name, answer: 'error:unauthenticated', code: UNAUTHENTICATED_CLOSE_CODE });

      const upgrade = await tryUpgrade(served.url, { headers: { authorization: `Bearer ${token}` } });
      expect({ name, kind: upgrade.kind, status: upgrade.kind === 'refused' ? upgrade.status : 0 }).toEqual({ name, kind: 'refused', status: 401 });
      if (upgrade.kind === 'refused') {
        expect(JSON.parse(upgrade.body)).toMatchObject({ error: 'unauthenticated', message: expect.any(String) });
        expect(upgrade.body).not.toContain(token);
      }
    }
  });

  it.each([
    ['a user message', JSON.stringify({ type: 'user_message', text: 'hi' })],
    ['a resume', JSON.stringify({ type: 'resume', threadId: 'abc' })],
    ['text that is not JSON', 'hello'],
    ['a binary frame', Buffer.from('{}')],
  ])('closes with 4401 when %s comes before authenticate', async (_name, frame) => {
    served = await serveChat({}, authEnv());
    const { ws, inbox } = await served.connect();
    const closed = closeEvent(ws);
    ws.send(frame);
    expect(summary(await inbox.next())).toBe('error:unauthenticated');
    expect((await closed).code).toBe(UNAUTHENTICATED_CLOSE_CODE);
  });

  it('closes with 4401 when no authenticate arrives within 10 s', async () => {
    served = await serveChat({}, authEnv());
    const { ws, inbox } = await served.connect();
    const closed = closeEvent(ws);
    expect(await inbox.next(15_000)).toMatchObject({ type: 'error', code: 'unauthenticated', message: expect.stringMatching(/within 10 s/) });
    expect((await closed).code).toBe(UNAUTHENTICATED_CLOSE_CODE);
  });

  it('takes a good Authorization: Bearer on the upgrade and says authenticated first', async () => {
    served = await serveChat({}, authEnv());
    const token = await test.issuer.sign({ sub: 'bob' });
    // Listening before the upgrade completes: `authenticated` may arrive with the 101.
    const ws = new WebSocket(served.url, { headers: { authorization: `Bearer ${token}` } });
    const inbox = messages(ws);
    expect(await inbox.next()).toMatchObject({ type: 'authenticated', subject: 'bob' });
    ws.send(JSON.stringify({ type: 'user_message', text: 'hello' }));
    expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
    ws.close();
  });

  it('warns before expiry, extends on a refresh for the same subject, and closes on another subject', async () => {
    served = await serveChat({}, authEnv());
    const { ws, inbox } = await served.connect();
    ws.send(authenticate(await test.issuer.sign({ sub: 'alice', exp: seconds() + 61 })));
    expect(await inbox.next()).toMatchObject({ type: 'authenticated', subject: 'alice' });
    expect(await inbox.next()).toMatchObject({ type: 'token_expiring', expiresAt: expect.any(Number) });
    const later = seconds() + 3600;
    ws.send(authenticate(await test.issuer.sign({ sub: 'alice', exp: later })));
    expect(await inbox.next()).toEqual({ type: 'authenticated', subject: 'alice', expiresAt: later * 1000 });
    const closed = closeEvent(ws);
    ws.send(authenticate(await test.issuer.sign({ sub: 'mallory' })));
    expect(summary(await inbox.next())).toBe('error:unauthenticated');
    expect((await closed).code).toBe(UNAUTHENTICATED_CLOSE_CODE);
  });

  it('closes with 4401 token expired once the run in flight has finished and been stored', async () => {
    const model = await slowModel(2500);
    try {
      served = await serveChat({}, authEnv({ APP_AUTH_CLOCK_TOLERANCE_S: '0', LLM_BASE_URL: model.url }));
      const { ws, inbox } = await served.connect();
      const closed = closeEvent(ws);
      ws.send(authenticate(await test.issuer.sign({ sub: 'alice', exp: seconds() + 2 })));
      expect(await inbox.next()).toMatchObject({ type: 'authenticated' });
      expect(await inbox.next()).toMatchObject({ type: 'token_expiring' });
      ws.send(JSON.stringify({ type: 'user_message', text: 'slow one' }));
      const received = (await inbox.take(RUN.length + 1, 10_000)).map(summary);
      expect(received).toEqual([...RUN, 'error:unauthenticated']);
      expect(await closed).toEqual({ code: UNAUTHENTICATED_CLOSE_CODE, reason: 'token expired' });
    } finally {
      await model.close();
    }
  });

  it('counts authenticate frames against the per-address limit, in front of verification', async () => {
    served = await serveChat({ rateLimitPerMinute: 1 }, authEnv());
    const first = await served.connect();
    first.ws.send(authenticate(await test.issuer.sign({ sub: 'alice' })));
    expect(await first.inbox.next()).toMatchObject({ type: 'authenticated' });
    const second = await served.connect();
    const closed = closeEvent(second.ws);
    second.ws.send(authenticate(await test.issuer.sign({ sub: 'bob' })));
    expect(await second.inbox.next()).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect((await closed).code).toBe(UNAUTHENTICATED_CLOSE_CODE);
    // The same count holds a Bearer upgrade back before its signature is checked.
    const upgrade = await tryUpgrade(served.url, { headers: { authorization: `Bearer ${await test.issuer.sign({ sub: 'carol' })}` } });
    expect(upgrade).toMatchObject({ kind: 'refused', status: 429, headers: { 'retry-after': expect.stringMatching(/^\d+$/) } });
  });

  it('keeps a socket that refreshed open past its first token expiry', async () => {
    served = await serveChat({}, authEnv({ APP_AUTH_CLOCK_TOLERANCE_S: '0' }));
    const { ws, inbox } = await served.connect();
    const firstExp = seconds() + 1;
    ws.send(authenticate(await test.issuer.sign({ sub: 'alice', exp: firstExp })));
    expect(await inbox.next()).toMatchObject({ type: 'authenticated' });
    expect(await inbox.next()).toMatchObject({ type: 'token_expiring' });
    ws.send(authenticate(await test.issuer.sign({ sub: 'alice', exp: seconds() + 3600 })));
    expect(await inbox.next()).toMatchObject({ type: 'authenticated', subject: 'alice' });
    await waitFor('the first token to be past its exp', () => Date.now() > firstExp * 1000 + 500);
    ws.send(JSON.stringify({ type: 'user_message', text: 'still here' }));
    expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('costs the issuer at most one request for 50 sockets with made-up kids, and keeps known keys while it is down', async () => {
    served = await serveChat({}, authEnv());
    const before = test.keyRequests();
    const forged = await Promise.all(Array.from({ length: 50 }, async (_, i) => test.issuer.sign({ sub: `forger-${i}` }, await makeSigningKey('ES256'))));
    await Promise.all(
      forged.map(async (token) => {
        const { ws, inbox } = await served!.connect();
        ws.send(authenticate(token));
        expect(await inbox.next()).toMatchObject({ type: 'error', code: 'unauthenticated' });
      }),
    );
    expect(test.keyRequests() - before).toBeLessThanOrEqual(1);

    await test.issuer.stop();
    const { ws, inbox } = await served.connect();
    ws.send(authenticate(await test.issuer.sign({ sub: 'alice' })));
    expect(await inbox.next()).toMatchObject({ type: 'authenticated', subject: 'alice' });
    ws.send(JSON.stringify({ type: 'user_message', text: 'issuer is down' }));
    expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
  });

  it('keeps anonymous sockets without an issuer, as before', async () => {
    served = await serveChat();
    const { ws, inbox } = await served.connect();
    ws.send(JSON.stringify({ type: 'user_message', text: 'hello' }));
    expect((await inbox.take(RUN.length)).map(summary)).toEqual(RUN);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });
});
