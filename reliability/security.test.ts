/**
 * Hostile-client attacks against the real app process on loopback, each bounded and
 * self-stopping. The figures they print are quoted in docs/protocol.md.
 */
import { SLOW_READER_CLOSE } from '../app/src/chat/chat-service';
import { APP_ENV_VARS, APP_PATHS } from '../common/revision';
import { FrontDoor } from '../runner/src/front-door';
import { openSocket } from '../testkit/chat-client';
import { buildThread, forgedHeaderFlood, rssBytes, slowReader } from '../testkit/hostile-clients';
import { appLauncher } from '../testkit/app-process';

const { launch, stopAll } = appLauncher();
afterEach(stopAll);

const MiB = 2 ** 20;
const report = (name: string, figures: object) => process.stdout.write(`${name}: ${JSON.stringify(figures)}\n`);

it('a socket that stops reading grows the app by a small fixed amount, then is closed once', async () => {
  // The rate limit out of the way: the buffer limit alone must hold.
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: '100000', [APP_ENV_VARS.logLevel]: 'info' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const thread = await buildThread(url, 100, 8000);
  const cut = () => app.logs.filter((line) => line.includes(SLOW_READER_CLOSE.reason));
  const { baselineBytes, peakGrowthBytes } = await slowReader({ url, pid: app.child.pid!, thread, resumes: 1000, windowMs: 15_000, until: () => cut().length > 0 });
  report('slow reader', { baselineMiB: Math.round(baselineBytes / MiB), peakGrowthMiB: Math.round(peakGrowthBytes / MiB) });
  expect(cut()).toHaveLength(1);
  // The chat logger's line names its component once (pino writes a re-bound key twice).
  expect(cut()[0]!.match(/"component":/g)).toHaveLength(1);
  expect(peakGrowthBytes).toBeLessThan(64 * MiB);
}, 120_000);

it('200 sockets forging X-Forwarded-For through the front door share one rate limit', async () => {
  const limit = 60;
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: String(limit), [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const frontDoor = new FrontDoor({ targetPort: app.port, holdTimeoutMs: 1000 });
  frontDoor.open();
  try {
    const url = `ws://127.0.0.1:${await frontDoor.listen()}${APP_PATHS.websocket}`;
    const { accepted, limited } = await forgedHeaderFlood(url, 200, 3000);
    report('forged-header flood', { sockets: 200, seconds: 3, limitPerMinute: limit, accepted, limited });
    // One minute window, possibly two if the run straddles a window boundary.
    expect(accepted).toBeLessThanOrEqual(2 * limit);
    expect(limited).toBeGreaterThan(0);
  } finally {
    await frontDoor.close();
  }
}, 60_000);

it('a flood of made-up resumes from one socket gets forbidden or rate_limited, follows nothing, and leaves memory flat', async () => {
  const app = await launch({ [APP_ENV_VARS.rateLimitPerMinute]: '60', [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const baseline = rssBytes(app.child.pid!);
  const ws = await openSocket(`ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`);
  const FRAMES = 20_000;
  const codes: Record<string, number> = {};
  let answered = 0;
  const done = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      const { code } = JSON.parse(String(data)) as { code?: string };
      codes[String(code)] = (codes[String(code)] ?? 0) + 1;
      if ((answered += 1) === FRAMES) resolve();
    }),
  );
  for (let i = 0; i < FRAMES; i += 1) ws.send(JSON.stringify({ type: 'resume', threadId: `guess-${i}` }));
  await done;
  const growthMiB = Math.round((rssBytes(app.child.pid!) - baseline) / MiB);
  report('resume flood', { frames: FRAMES, codes, growthMiB });
  // 60 a minute: 120 when the run straddles the start of a new minute.
  expect(Object.keys(codes).sort()).toEqual(['forbidden', 'rate_limited']);
  expect(codes.forbidden).toBeGreaterThanOrEqual(60);
  expect(codes.forbidden).toBeLessThanOrEqual(120);
  expect(growthMiB).toBeLessThan(64);
  ws.close();
}, 60_000);

it('idle sockets past APP_MAX_CONNECTIONS are refused with 503 while /healthz and /phase keep answering', async () => {
  const app = await launch({ [APP_ENV_VARS.maxConnections]: '200', [APP_ENV_VARS.logLevel]: 'warn' });
  await app.waitForState('ready');
  const url = `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`;
  const results = await Promise.allSettled(Array.from({ length: 300 }, () => openSocket(url)));
  const opened = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const refused = results.filter((result) => result.status === 'rejected' && String(result.reason).includes('503')).length;
  report('idle-socket flood', { attempted: 300, opened: opened.length, refused });
  expect(opened).toHaveLength(200);
  expect(refused).toBe(100);
  expect((await fetch(`http://127.0.0.1:${app.port}${APP_PATHS.healthz}`)).status).toBe(200);
  expect((await app.phase()).status).toBe(200);
  expect(app.logs.filter((line) => line.includes(`${APP_ENV_VARS.maxConnections} reached`))).toHaveLength(1);
  for (const ws of opened) ws.terminate();
}, 60_000);
