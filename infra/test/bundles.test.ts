/**
 * The images run one esbuild bundle each and no node_modules (app/Dockerfile, sidecar/Dockerfile).
 * Here each bundle runs from a directory laid out as its image's final stage: the bundle (and the
 * chat page for the app) and nothing else, so a dependency the bundle failed to carry fails here.
 * The app's bundle talks to real PostgreSQL and Redis, whose clients load the most at run time.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';
import { APP_PATHS, GATE_PATHS } from '../../common/revision';
import { waitFor } from '../../testkit/wait-for';
import { freePort } from '../../common/local-ports';
import { createDatabase, serverForFile, startPostgres, startRedis } from '../../testkit/dependency-servers';

jest.setTimeout(60_000);

const postgres = serverForFile(startPostgres);
const redis = serverForFile(startRedis);

/** A directory holding what the image's final stage holds: `dist/bundle/NAME.js` and `extra` paths. */
function imageLayout(name: string, extra: string[] = []): string {
  const root = mkdtempSync(path.join(os.tmpdir(), `bundle-${name}-`));
  mkdirSync(path.join(root, 'dist', 'bundle'), { recursive: true });
  cpSync(path.join(REPO_ROOT, 'dist', 'bundle', `${name}.js`), path.join(root, 'dist', 'bundle', `${name}.js`));
  for (const item of extra) cpSync(path.join(REPO_ROOT, item), path.join(root, item), { recursive: true });
  return root;
}

const running: { child: ChildProcess; root: string }[] = [];

function run(root: string, name: string, env: Record<string, string>): ChildProcess {
  // cwd and NODE_PATH-free environment: nothing outside the layout can be resolved.
  const child = spawn(process.execPath, [`dist/bundle/${name}.js`], { cwd: root, env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env }, stdio: 'ignore' });
  running.push({ child, root });
  return child;
}

const get = async (url: string) => {
  try {
    const response = await fetch(url);
    return { status: response.status, text: await response.text() };
  } catch {
    return undefined;
  }
};

beforeAll(() => {
  execFileSync('npm', ['run', '--silent', 'bundle'], { cwd: REPO_ROOT, stdio: 'inherit' });
});

afterEach(() => {
  for (const { child, root } of running.splice(0)) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

it('the gate bundle serves its endpoints with no node_modules beside it', async () => {
  const port = await freePort();
  run(imageLayout('gate'), 'gate', { GATE_PORT: String(port), GATE_TARGET_URL: `http://127.0.0.1:${await freePort()}/phase`, GATE_STARTUP_HOLD_MS: '0' });
  await waitFor('the gate listening', async () => (await get(`http://127.0.0.1:${port}${GATE_PATHS.live}`))?.status === 200);
  expect((await get(`http://127.0.0.1:${port}${GATE_PATHS.startup}`))?.status).toBe(503);
  expect((await get(`http://127.0.0.1:${port}${GATE_PATHS.metrics}`))?.text).toContain('startup_gate_checks_total{result="refused"}');
});

it('the app bundle reaches ready on PostgreSQL and Redis and serves the chat page, with no node_modules beside it', async () => {
  const [port, phasePort] = [await freePort(), await freePort()];
  run(imageLayout('app', ['app/public']), 'app', {
    PORT: String(port),
    PHASE_PORT: String(phasePort),
    DATABASE_URL: await createDatabase(postgres()),
    REDIS_URL: redis().url,
  });
  await waitFor('the app ready', async () => (await get(`http://127.0.0.1:${port}${APP_PATHS.startup}`))?.status === 200);
  const phase = JSON.parse((await get(`http://127.0.0.1:${phasePort}/phase`))!.text) as { state: string; components: Record<string, boolean> };
  expect(phase.state).toBe('ready');
  expect(phase.components).toMatchObject({ agentSupervisor: true, websocketBridge: true });
  expect((await get(`http://127.0.0.1:${port}${APP_PATHS.chatPage}`))?.text).toContain('new WebSocket(url)');
});
