/**
 * The real app process over real sockets: refusal before ready, chat after, failure reporting,
 * configuration errors and shutdown.
 */
import { phaseBodySchema } from '../../common/phase-contract';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { appLauncher } from '../../testkit/app-process';
import { closeEvent, messages, openChat, tryUpgrade } from '../../testkit/chat-client';
import { slowModel } from '../../testkit/model-stub';
import { waitFor } from '../../testkit/wait-for';
import { bundlePath, IMAGE_ENV } from '../../testkit/bundles';

const { launch, stopAll } = appLauncher();

/** A ready app and one chat socket on it, with the socket's inbox. */
async function readyChat(env: Record<string, string> = {}) {
  const app = await launch(env);
  await app.waitForState('ready');
  const ws = await openChat(app);
  return { app, ws, inbox: messages(ws) };
}
afterEach(stopAll);

describe('app process', () => {
  it('refuses WebSocket upgrades with 503 and Retry-After until ready, then serves chat', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: '150' });
    const seen: string[] = [];
    // Hammer the socket through startup: every attempt is either refused with 503 or opens after ready.
    for (;;) {
      const result = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
      if (result.kind === 'open') {
        const { body } = await app.phase();
        expect(body.state).toBe('ready');
        result.ws.close();
        break;
      }
      expect(result.kind).toBe('refused');
      if (result.kind !== 'refused') return;
      expect(result.status).toBe(503);
      expect(result.headers['retry-after']).toBe('1');
      const reason = JSON.parse(result.body) as { error: string; state: string; phase: string; message: string };
      expect(reason).toMatchObject({ error: 'not_ready', state: 'starting' });
      seen.push(reason.phase);
      await sleep(20);
    }
    expect(new Set(seen).size).toBeGreaterThan(3);

    const ws = await openChat(app);
    const inbox = messages(ws);
    ws.send(JSON.stringify({ type: 'user_message', text: 'hello there world' }));
    const received = await inbox.take(6);
    expect(received.map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
    const { runId, threadId } = received[0] ?? {};
    expect(typeof runId).toBe('string');
    for (const message of received) expect(message).toMatchObject({ runId, threadId });
    expect(received[3]).toMatchObject({ tool: 'text_stats', output: { words: 3, characters: 17 } });
    expect(received[5]?.text).toContain('hello there world');
    ws.close();
  });

  it('keeps the connection open after bad frames and closes oversized frames with 1009', async () => {
    const { ws, inbox } = await readyChat({ APP_WS_MAX_MESSAGE_BYTES: '2048' });
    ws.send('not json');
    expect(await inbox.next()).toMatchObject({ type: 'error', code: 'invalid_json' });
    ws.send(JSON.stringify({ type: 'subscribe' }));
    expect(await inbox.next()).toMatchObject({ type: 'error', code: 'unknown_type' });
    ws.send(JSON.stringify({ type: 'user_message', text: '' }));
    expect(await inbox.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    ws.send(JSON.stringify({ type: 'user_message', text: 'still here?' }));
    const reply = await inbox.take(6);
    expect(reply.map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
    expect(typeof reply[0]?.threadId).toBe('string');

    const closed = closeEvent(ws);
    ws.send(JSON.stringify({ type: 'user_message', text: 'x'.repeat(4096) }));
    expect((await closed).code).toBe(1009);
  });

  it('rate-limits messages per client', async () => {
    // Three runs may be in flight, so the third message meets the rate limit, not the per-socket cap.
    const { ws, inbox } = await readyChat({ APP_RATE_LIMIT_PER_MINUTE: '2', APP_WS_MAX_RUNS_PER_SOCKET: '3' });
    for (let i = 0; i < 3; i += 1) ws.send(JSON.stringify({ type: 'user_message', text: `m${i}` }));
    const received = await inbox.take(13);
    const errors = received.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'rate_limited' });
    expect(received.filter((m) => m.type === 'agent_response')).toHaveLength(2);
    ws.close();
  });

  it('serves a thread only to whoever holds its threadToken', async () => {
    const app = await launch();
    await app.waitForState('ready');
    const owner = await openChat(app);
    const ownerInbox = messages(owner);
    owner.send(JSON.stringify({ type: 'user_message', text: 'my secret plan' }));
    const run = await ownerInbox.take(6);
    const { threadId, threadToken } = run[0] as { threadId: string; threadToken: string };
    expect(threadId).toMatch(/^[0-9a-f-]{36}$/);
    expect(threadToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const message of run.slice(1)) expect(message).not.toHaveProperty('threadToken');

    const intruder = await openChat(app);
    const intruderInbox = messages(intruder);
    const forbidden = { type: 'error', code: 'forbidden', threadId };
    intruder.send(JSON.stringify({ type: 'resume', threadId }));
    expect(await intruderInbox.next()).toMatchObject(forbidden);
    intruder.send(JSON.stringify({ type: 'resume', threadId, threadToken: `${threadToken.slice(1)}A` }));
    expect(await intruderInbox.next()).toMatchObject(forbidden);
    intruder.send(JSON.stringify({ type: 'user_message', text: 'written into your thread', threadId }));
    expect(await intruderInbox.next()).toMatchObject(forbidden);
    // A thread id the client picks is refused too: only the server mints them.
    intruder.send(JSON.stringify({ type: 'user_message', text: 'hello', threadId: 'general' }));
    expect(await intruderInbox.next()).toMatchObject({ type: 'error', code: 'forbidden', threadId: 'general' });

    // Nothing was stored or delivered: the owner's next message is its own run, its history its own.
    owner.send(JSON.stringify({ type: 'user_message', text: 'second', threadId, threadToken }));
    expect(await ownerInbox.next()).toMatchObject({ type: 'agent_started', threadId });
    await ownerInbox.take(5);
    const reconnected = await openChat(app);
    const reconnectedInbox = messages(reconnected);
    reconnected.send(JSON.stringify({ type: 'resume', threadId, threadToken }));
    const history = await reconnectedInbox.next();
    expect((history.messages as { role: string; text: string }[]).filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['my secret plan', 'second']);
    expect(app.logs.join('\n')).not.toContain(threadToken);
    for (const ws of [owner, intruder, reconnected]) ws.close();
  });

  it('keys the rate limit on the address the trusted proxy hops vouch for, not on what the client wrote', async () => {
    const app = await launch({ APP_RATE_LIMIT_PER_MINUTE: '1' });
    await app.waitForState('ready');
    // One hop (Cloud Run's front end) appended 9.9.9.9: the entries before it are the client's own words.
    const first = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`, { headers: { 'x-forwarded-for': '1.1.1.1, 9.9.9.9' } });
    const forged = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`, { headers: { 'x-forwarded-for': '2.2.2.2, 9.9.9.9' } });
    const other = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`, { headers: { 'x-forwarded-for': '1.1.1.1, 8.8.8.8' } });
    const codes: unknown[] = [];
    for (const result of [first, forged, other]) {
      if (result.kind !== 'open') throw new Error(`upgrade failed: ${JSON.stringify(result)}`);
      const inbox = messages(result.ws);
      result.ws.send(JSON.stringify({ type: 'user_message', text: 'hi' }));
      const reply = await inbox.next();
      codes.push(reply.type === 'error' ? reply.code : reply.type);
      result.ws.close();
    }
    expect(codes).toEqual(['agent_started', 'rate_limited', 'agent_started']);
  });

  it('refuses upgrades past APP_MAX_CONNECTIONS with 503 and Retry-After, logs each burst once, and keeps health reachable', async () => {
    const app = await launch({ APP_MAX_CONNECTIONS: '3' });
    await app.waitForState('ready');
    const open = await Promise.all([openChat(app), openChat(app), openChat(app)]);
    for (let i = 0; i < 4; i += 1) {
      const refused = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
      expect(refused).toMatchObject({ kind: 'refused', status: 503, headers: { 'retry-after': '1' } });
      if (refused.kind === 'refused') expect(JSON.parse(refused.body)).toMatchObject({ error: 'too_many_connections' });
    }
    expect((await fetch(`http://127.0.0.1:${app.port}/healthz`)).status).toBe(200);
    expect((await app.phase()).status).toBe(200);
    const closed = closeEvent(open[0]!);
    open[0]!.close();
    await closed;
    // The server may see the close a moment after the client does.
    const reopened: WebSocket[] = [];
    await waitFor('an upgrade to open once a socket has closed', async () => {
      const again = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
      if (again.kind === 'open') reopened.push(again.ws);
      return again.kind === 'open';
    });
    const capLines = app.logs.filter((line) => line.includes('APP_MAX_CONNECTIONS'));
    expect(capLines).toHaveLength(2);
    expect(JSON.parse(capLines[0]!)).toMatchObject({ severity: 'WARNING', connections: 3, limit: 3 });
    expect(JSON.parse(capLines[1]!)).toMatchObject({ severity: 'INFO', refused: expect.any(Number) });
    expect(JSON.parse(capLines[1]!).refused).toBeGreaterThanOrEqual(4);
    for (const ws of [...open, ...reopened]) ws.close();
  });

  it('accepts upgrades without Origin, from its own origin and from APP_ALLOWED_ORIGINS; refuses other origins with 403', async () => {
    const app = await launch({ APP_ALLOWED_ORIGINS: 'https://chat.example' });
    await app.waitForState('ready');
    const url = `ws://127.0.0.1:${app.port}/ws`;
    const allowed: Record<string, string>[] = [{}, { origin: `http://127.0.0.1:${app.port}` }, { origin: 'https://chat.example' }];
    for (const headers of allowed) {
      const result = await tryUpgrade(url, { headers });
      expect(result.kind).toBe('open');
      if (result.kind === 'open') result.ws.close();
    }
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${app.port + 1}`]) {
      const result = await tryUpgrade(url, { headers: { origin } });
      expect(result).toMatchObject({ kind: 'refused', status: 403 });
      if (result.kind === 'refused') expect(JSON.parse(result.body)).toMatchObject({ error: 'forbidden_origin' });
    }
  });

  it('serves the chat page with security headers, and JSON for unknown paths and methods', async () => {
    const app = await launch();
    const base = `http://127.0.0.1:${app.port}`;
    const page = await fetch(`${base}/`);
    await page.text();
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const missing = await fetch(`${base}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
    const wrongMethod = await fetch(`${base}/healthz`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    expect(await wrongMethod.json()).toMatchObject({ error: 'method_not_allowed' });
  });

  it('never shows credentials of a URL setting: not in its log, not on the phase endpoint', async () => {
    const model = await slowModel(0, 401);
    try {
      const app = await launch({ LLM_BASE_URL: model.url.replace('http://', 'http://someone:hunter2-password@') });
      const body = await app.waitForState('failed');
      expect(body.error?.message).toContain('answered HTTP 401');
      expect(JSON.stringify(body)).not.toContain('hunter2-password');
      expect(app.logs.join('\n')).not.toContain('hunter2-password');
    } finally {
      await model.close();
    }
  });

  it('exits 2 when PHASE_HOST is not loopback, unless APP_ALLOW_PUBLIC_PHASE_HOST=true', () => {
    const result = spawnSync(process.execPath, [bundlePath('app')], { env: { PATH: process.env.PATH, ...IMAGE_ENV, PHASE_HOST: '0.0.0.0' }, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    expect(JSON.parse(result.stderr.trim())).toMatchObject({ setting: 'PHASE_HOST', message: expect.stringContaining('APP_ALLOW_PUBLIC_PHASE_HOST') });
  });

  it('counts resumes against the rate limit', async () => {
    // Three runs may be in flight, so the third message meets the rate limit, not the per-socket cap.
    const { ws, inbox } = await readyChat({ APP_RATE_LIMIT_PER_MINUTE: '2', APP_WS_MAX_RUNS_PER_SOCKET: '3' });
    for (let i = 0; i < 3; i += 1) ws.send(JSON.stringify({ type: 'resume', threadId: `t${i}` }));
    const received = await inbox.take(3);
    expect(received[2]).toMatchObject({ type: 'error', code: 'rate_limited' });
    ws.close();
  });

  it('lets one socket follow at most APP_WS_MAX_THREADS_PER_SOCKET threads', async () => {
    const { ws, inbox } = await readyChat({ APP_WS_MAX_THREADS_PER_SOCKET: '2' });
    for (let i = 0; i < 2; i += 1) {
      ws.send(JSON.stringify({ type: 'user_message', text: `new thread ${i}` }));
      expect((await inbox.take(6)).map((m) => m.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
    }
    ws.send(JSON.stringify({ type: 'user_message', text: 'a third thread' }));
    expect(await inbox.next()).toMatchObject({ type: 'error', code: 'too_many_threads' });
    ws.close();
  });

  it('serves the phase endpoint only on the phase port, with contract bodies and a growing seq', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: '100' });
    const seqs: number[] = [];
    for (;;) {
      const { status, body } = await app.phase();
      expect(phaseBodySchema.safeParse(body).success).toBe(true);
      expect(status).toBe(body.state === 'ready' ? 200 : 503);
      seqs.push(body.seq);
      if (body.state === 'ready') break;
      await sleep(5);
    }
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBeGreaterThan(2);
    const onPublic = await fetch(`http://127.0.0.1:${app.port}/phase`);
    expect(onPublic.status).toBe(404);
    const health = await fetch(`http://127.0.0.1:${app.port}/healthz`);
    expect(health.status).toBe(200);
    const page = await fetch(`http://127.0.0.1:${app.port}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain("new WebSocket(url)");
  });

  it('fails at the rehearsed phase, runs nothing after it, and keeps reporting the failure', async () => {
    const app = await launch({ APP_FAIL_PHASE: 'services' });
    const body = await app.waitForState('failed');
    expect(body.error).toEqual({ phase: 'services', message: 'rehearsed failure (APP_FAIL_PHASE=services)' });
    expect(body.completedPhases).toEqual(['init', 'dependencies', 'database', 'cache']);
    expect(body.components).toMatchObject({ agentSupervisor: false, websocketBridge: false, llmClient: true });
    // A long-poll past the failure's seq: the app holds it and answers with nothing new.
    const later = await app.phase(`?afterSeq=${body.seq}&waitMs=200`);
    expect(later.status).toBe(503);
    expect(later.body.state).toBe('failed');
    expect(later.body.seq).toBe(body.seq);
    const health = await fetch(`http://127.0.0.1:${app.port}/healthz`);
    expect(health.status).toBe(503);
    const upgrade = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
    expect(upgrade).toMatchObject({ kind: 'refused', status: 503 });
    expect(app.logs.filter((line) => line.includes('"severity":"ERROR"'))).toHaveLength(1);
  });

  it('fails the dependencies phase naming the missing setting in staging', async () => {
    const app = await launch({ APP_ENV: 'staging' });
    const body = await app.waitForState('failed');
    expect(body.error?.phase).toBe('dependencies');
    expect(body.error?.message).toContain('LLM_BASE_URL is required when APP_ENV=staging');
  });

  it('exits 1 at the rehearsed crash phase', async () => {
    const app = await launch({ APP_CRASH_PHASE: 'database' });
    expect(await app.exited).toEqual({ code: 1, signal: null });
    expect(app.logs.some((line) => line.includes('"severity":"CRITICAL"') && line.includes('APP_CRASH_PHASE=database'))).toBe(true);
  });

  it('stops promptly when SIGTERM arrives during startup', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: '2000' });
    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 2 with one line naming a bad setting', () => {
    const result = spawnSync(process.execPath, [bundlePath('app')], { env: { PATH: process.env.PATH, ...IMAGE_ENV, PORT: 'eighty' }, encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ severity: 'ERROR', setting: 'PORT' });
    expect(lines[0]).toContain('PORT must be an integer');
  });
});

describe('app with an OpenAI-compatible model', () => {
  it('uses the endpoint with the key, and on SIGTERM finishes the run, closes with 1012 and exits 0', async () => {
    const model = await slowModel(600);
    try {
      const app = await launch({ LLM_BASE_URL: model.url, LLM_API_KEY: 'sk-test', LLM_MODEL: 'tiny' });
      await app.waitForState('ready');
      expect(model.requests[0]).toEqual({ path: '/v1/models', auth: 'Bearer sk-test' });
      const ws = await openChat(app);
      const inbox = messages(ws);
      const closed = closeEvent(ws);
      ws.send(JSON.stringify({ type: 'user_message', text: 'take your time' }));
      const first = await inbox.take(4);
      expect(first.map((m) => m.type)).toEqual(AGENT_EVENT_TYPES.slice(0, 4));
      app.child.kill('SIGTERM');
      await app.waitForState('stopping');
      const refused = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
      expect(refused).toMatchObject({ kind: 'refused', status: 503 });
      const rest = await inbox.take(2);
      expect(rest.map((m) => m.type)).toEqual(['agent_completed', 'agent_response']);
      expect(rest[1]?.text).toBe('slow answer');
      const close = await closed;
      expect(close.code).toBe(1012);
      expect(close.reason).toMatch(/reconnect/);
      expect(await app.exited).toEqual({ code: 0, signal: null });
    } finally {
      await model.close();
    }
  });

  it('closes with 1012 when a run outlasts the shutdown deadline, and still exits 0', async () => {
    const model = await slowModel(5000);
    try {
      const app = await launch({ LLM_BASE_URL: model.url, APP_SHUTDOWN_DEADLINE_MS: '300' });
      await app.waitForState('ready');
      const ws = await openChat(app);
      const inbox = messages(ws);
      const closed = closeEvent(ws);
      ws.send(JSON.stringify({ type: 'user_message', text: 'never answered' }));
      await inbox.take(4);
      app.child.kill('SIGTERM');
      expect(await closed).toEqual({ code: 1012, reason: expect.stringMatching(/resend/) });
      expect(await app.exited).toEqual({ code: 0, signal: null });
      expect(app.logs.some((line) => line.includes('"drained":false'))).toBe(true);
    } finally {
      await model.close();
    }
  });

  it('fails the dependencies phase when the endpoint rejects the key, without printing the key', async () => {
    const model = await slowModel(0, 401);
    try {
      const app = await launch({ LLM_BASE_URL: model.url, LLM_API_KEY: 'sk-secret-value' });
      const body = await app.waitForState('failed');
      expect(body.error).toEqual({ phase: 'dependencies', message: expect.stringContaining('answered HTTP 401') });
      expect(JSON.stringify(body)).not.toContain('sk-secret-value');
      expect(app.logs.join('\n')).not.toContain('sk-secret-value');
    } finally {
      await model.close();
    }
  });
});
