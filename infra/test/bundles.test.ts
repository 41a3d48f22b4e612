/**
 * The images run one esbuild bundle each and no node_modules (app/Dockerfile, sidecar/Dockerfile).
 * Here each bundle runs from a directory laid out as its Dockerfile's final stage says (its COPY
 * lines, ENV and CMD) and nothing else, so a dependency the bundle failed to carry fails here.
 * The app's bundle talks to real PostgreSQL and Redis, whose clients load the most at run time.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLES, REPO_ROOT } from '../../common/paths';
import { APP_PATHS, GATE_PATHS } from '../../common/revision';
import { waitFor } from '../../testkit/wait-for';
import { freePort } from '../../common/local-ports';
import { createDatabase, serverForFile, startPostgres, startRedis } from '../../testkit/dependency-servers';
import { finalStage } from './dockerfile';

jest.setTimeout(60_000);

const postgres = serverForFile(startPostgres);
const redis = serverForFile(startRedis);

/** The image that runs each bundle. */
const DOCKERFILES = { app: 'app/Dockerfile', gate: 'sidecar/Dockerfile' } as const satisfies Record<keyof typeof BUNDLES, string>;

const running: { child: ChildProcess; root: string }[] = [];

/**
 * Starts a bundle as its image does: a temporary directory stands for the final stage's WORKDIR and
 * holds its COPY targets only (read from the repository after `npm run bundle`), the stage's ENV is
 * set, and its exec-form CMD runs there.
 */
function runImage(name: keyof typeof BUNDLES, env: Record<string, string>): ChildProcess {
  const image = finalStage(DOCKERFILES[name]);
  // The bundle the tests build is the one the image copies.
  expect(image.copies.map((copy) => copy.from)).toContain(BUNDLES[name]);
  const root = mkdtempSync(path.join(os.tmpdir(), `bundle-${name}-`));
  for (const { from, to } of image.copies) cpSync(from, path.join(root, to), { recursive: true });
  const [command, ...args] = image.command;
  // cwd and NODE_PATH-free environment: nothing outside the layout can be resolved.
  const child = spawn(command!, args, { cwd: root, env: { PATH: process.env.PATH, ...image.env, ...env }, stdio: 'ignore' });
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
  runImage('gate', { GATE_PORT: String(port), GATE_TARGET_URL: `http://127.0.0.1:${await freePort()}/phase`, GATE_STARTUP_HOLD_MS: '0' });
  await waitFor('the gate listening', async () => (await get(`http://127.0.0.1:${port}${GATE_PATHS.live}`))?.status === 200);
  expect((await get(`http://127.0.0.1:${port}${GATE_PATHS.startup}`))?.status).toBe(503);
  expect((await get(`http://127.0.0.1:${port}${GATE_PATHS.metrics}`))?.text).toContain('startup_gate_checks_total{result="refused"}');
});

it('the app bundle reaches ready on PostgreSQL and Redis and serves the chat page, with no node_modules beside it', async () => {
  const [port, phasePort] = [await freePort(), await freePort()];
  runImage('app', {
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
