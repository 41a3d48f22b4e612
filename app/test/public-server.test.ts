import { Writable } from 'node:stream';
import { createLogger } from '../../common/log';
import { APP_PATHS } from '../../common/revision';
import { chatPagePolicy, ConnectionCap, originAllowed, startupAnswer } from '../src/chat/public-server';
import { readServerConfig } from '../src/config';
import { COMPONENT_NAMES } from '../src/startup/components';
import { runStartup } from '../src/startup/orchestrator';
import { PhaseState } from '../src/startup/phase-state';
import { createStartupPlan } from '../src/startup/startup-plan';
import { tryUpgrade } from '../../testkit/chat-client';
import { buildChat } from './serve-chat';

const log = createLogger('test', 'silent');
type Stage = 'starting' | 'ready' | 'failed' | 'stopping';

/** Brings `state` to `stage`; `ready` goes through the real startup plan. */
async function bringTo(state: PhaseState, stage: Stage): Promise<void> {
  if (stage === 'failed') state.fail({ phase: 'database', message: 'PostgreSQL at db:5432 not available' });
  if (stage === 'stopping') state.markStopping();
  if (stage === 'ready') await runStartup(createStartupPlan({ env: {}, config: readServerConfig({}), log }), { state, serve: () => {} });
}

describe('startupAnswer (the ingress startup probe over the app state)', () => {
  const cases: { stage: Stage; want: { status: number; body: object; final: boolean } }[] = [
    { stage: 'starting', want: { status: 503, body: { state: 'starting', phase: 'init', reason: 'starting', missing: ['agentSupervisor', 'websocketBridge'] }, final: false } },
    { stage: 'ready', want: { status: 200, body: { state: 'ready', phase: 'finalize' }, final: true } },
    // The app's error message stays off the public port.
    { stage: 'failed', want: { status: 503, body: { state: 'failed', phase: 'init', reason: 'failed', missing: ['agentSupervisor', 'websocketBridge'] }, final: true } },
    { stage: 'stopping', want: { status: 503, body: { state: 'stopping', phase: 'init', reason: 'stopping', missing: ['agentSupervisor', 'websocketBridge'] }, final: true } },
  ];

  it.each(cases)('$stage', async ({ stage, want }) => {
    const state = new PhaseState(COMPONENT_NAMES);
    await bringTo(state, stage);
    const { status, body, final } = startupAnswer(state);
    expect({ status, body, final }).toEqual(want);
  });
});

describe('the public listener', () => {
  let built: ReturnType<typeof buildChat> | undefined;

  async function listen(stage: Stage, options: { maxConnections?: number; allowedOrigins?: string[] } = {}) {
    built = buildChat({ server: { maxConnections: options.maxConnections ?? 10, allowedOrigins: options.allowedOrigins ?? [], startupHoldMs: 0 } });
    if (stage === 'ready') await built.start();
    else await bringTo(built.state, stage);
    return built.listen();
  }

  afterEach(async () => {
    await built?.close();
    built = undefined;
  });

  const http: { name: string; stage: Stage; method?: string; path: string; want: { status: number; body?: object } }[] = [
    { name: 'liveness while starting', stage: 'starting', path: APP_PATHS.healthz, want: { status: 200, body: { status: 'ok', state: 'starting' } } },
    { name: 'liveness once failed: restart me', stage: 'failed', path: APP_PATHS.healthz, want: { status: 503, body: { status: 'failed', state: 'failed' } } },
    { name: 'liveness while stopping', stage: 'stopping', path: APP_PATHS.healthz, want: { status: 200, body: { status: 'ok', state: 'stopping' } } },
    { name: 'the startup probe when ready', stage: 'ready', path: APP_PATHS.startup, want: { status: 200, body: { state: 'ready' } } },
    { name: 'the startup probe while starting, not held', stage: 'starting', path: APP_PATHS.startup, want: { status: 503, body: { state: 'starting', reason: 'starting' } } },
    { name: 'another method on a known path', stage: 'ready', method: 'POST', path: APP_PATHS.healthz, want: { status: 405, body: { error: 'method_not_allowed' } } },
    { name: 'an unknown path', stage: 'ready', path: '/phase', want: { status: 404, body: { error: 'not_found' } } },
    { name: 'the chat page', stage: 'starting', path: APP_PATHS.chatPage, want: { status: 200 } },
  ];

  it.each(http)('$name', async ({ stage, method, path, want }) => {
    const host = await listen(stage);
    const response = await fetch(`http://${host}${path}`, { method });
    const got = { status: response.status, body: want.body === undefined ? undefined : ((await response.json()) as object) };
    expect(got).toEqual({ status: want.status, body: want.body === undefined ? undefined : expect.objectContaining(want.body) });
    // helmet on every answer, Express's banner on none.
    expect({ nosniff: response.headers.get('x-content-type-options'), poweredBy: response.headers.get('x-powered-by') }).toEqual({ nosniff: 'nosniff', poweredBy: null });
  });

  const upgrades: { name: string; stage: Stage; path?: string; origin?: string; maxConnections?: number; want: { kind: string; status?: number; error?: string } }[] = [
    { name: 'ready: opens', stage: 'ready', want: { kind: 'open' } },
    { name: 'ready, from the page of its own host: opens', stage: 'ready', origin: 'own', want: { kind: 'open' } },
    { name: 'another path', stage: 'ready', path: '/socket', want: { kind: 'refused', status: 404, error: 'not_found' } },
    { name: "another site's page", stage: 'ready', origin: 'https://evil.example', want: { kind: 'refused', status: 403, error: 'forbidden_origin' } },
    { name: 'past the connection cap', stage: 'ready', maxConnections: 0, want: { kind: 'refused', status: 503, error: 'too_many_connections' } },
    { name: 'starting: 503, never 1011', stage: 'starting', want: { kind: 'refused', status: 503, error: 'not_ready' } },
    { name: 'failed', stage: 'failed', want: { kind: 'refused', status: 503, error: 'not_ready' } },
    { name: 'stopping', stage: 'stopping', want: { kind: 'refused', status: 503, error: 'not_ready' } },
  ];

  it.each(upgrades)('upgrade: $name', async ({ stage, path = APP_PATHS.websocket, origin, maxConnections, want }) => {
    const host = await listen(stage, { maxConnections });
    const headers = origin === undefined ? undefined : { origin: origin === 'own' ? `http://${host}` : origin };
    const result = await tryUpgrade(`ws://${host}${path}`, { headers });
    if (result.kind === 'open') result.ws.terminate();
    const got =
      result.kind === 'refused'
        ? { kind: result.kind, status: result.status, error: (JSON.parse(result.body) as { error: string }).error }
        : { kind: result.kind };
    expect(got).toEqual(want);
    if (result.kind === 'refused' && result.status === 503) expect(result.headers['retry-after']).toBe('1');
  });
});

describe('upgrades per client', () => {
  let built: ReturnType<typeof buildChat> | undefined;
  afterEach(async () => {
    await built?.close();
    built = undefined;
  });

  it('counts an IPv6 /64 as one client: past the burst, 429 with Retry-After; another /64 still opens', async () => {
    built = buildChat({ server: { upgradeLimits: { perSecond: 0.001, burst: 2 } } });
    await built.start();
    const host = await built.listen();
    // APP_TRUST_PROXY_HOPS=1: the address Cloud Run's front end appends is the client's.
    const from = (address: string) => tryUpgrade(`ws://${host}${APP_PATHS.websocket}`, { headers: { 'x-forwarded-for': address } });
    const results = [];
    for (let i = 0; i < 20; i += 1) results.push(await from(`2001:db8:1:2:${i.toString(16)}::1`));
    const other = await from('2001:db8:1:3::1');
    for (const result of [...results, other]) if (result.kind === 'open') result.ws.terminate();
    expect(results.map((result) => (result.kind === 'refused' ? result.status : result.kind))).toEqual(['open', 'open', ...Array(18).fill(429)]);
    const refused = results[2]!;
    expect(refused.kind === 'refused' && { error: (JSON.parse(refused.body) as { error: string }).error, retryAfter: Number(refused.headers['retry-after']) }).toEqual({
      error: 'too_many_upgrades',
      retryAfter: expect.any(Number),
    });
    expect(other.kind).toBe('open');
  });
});

describe('originAllowed', () => {
  const cases: [string | undefined, string[], boolean][] = [
    [undefined, [], true],
    ['http://chat.example', [], true],
    ['https://partner.example', ['https://partner.example'], true],
    ['https://evil.example', ['https://partner.example'], false],
    ['not a url', [], false],
  ];
  it.each(cases)('origin %s, allowed %j: %s', (origin, allowed, want) => {
    expect(originAllowed(origin, 'chat.example', allowed)).toBe(want);
  });
});

describe('ConnectionCap', () => {
  it('admits below the limit and logs a burst of refusals once when it starts and once when it ends', () => {
    const lines: { severity: string; refused?: number }[] = [];
    const capLog = createLogger('test', 'info', new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(String(chunk)) as { severity: string }), done()) }));
    const cap = new ConnectionCap(2, capLog);
    const got = [1, 2, 2, 2, 1].map((open) => cap.admit(open));
    expect(got).toEqual([true, false, false, false, true]);
    expect(lines.map(({ severity, refused }) => ({ severity, refused }))).toEqual([
      { severity: 'WARNING', refused: undefined },
      { severity: 'INFO', refused: 3 },
    ]);
  });
});

describe('chatPagePolicy', () => {
  it('allows only the inline script and style of the page, by hash', () => {
    const policy = chatPagePolicy('<style>a{}</style><script>go()</script>');
    expect(policy.scriptSrc).toEqual([expect.stringMatching(/^'sha256-[A-Za-z0-9+/]+=*'$/)]);
    expect(policy.styleSrc).toHaveLength(1);
    expect({ defaultSrc: policy.defaultSrc, connectSrc: policy.connectSrc, frameAncestors: policy.frameAncestors }).toEqual({
      defaultSrc: ["'none'"],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
    });
  });
});
