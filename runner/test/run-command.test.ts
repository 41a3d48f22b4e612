/**
 * `npm start -- --stack python-fastapi --run app=COMMAND`: the Python example's rendered revision
 * with its app run from a command (uvicorn on Debian's python3), behind the real gate, with Cloud
 * Run's probe semantics under both readings of its routing. A request sent while the app starts
 * waits at the front door and reaches the app only once it is ready; a failed phase fails the
 * revision naming it; stopping ends every process the command started. In a chat stack, --run
 * replaces only the command (here with the images' bundles).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { BUNDLES, NODE_FLAGS, REPO_ROOT } from '../../common/paths';
import { PROBE_MODELS } from '../src/probe-model';
import { waitFor } from '../../testkit/wait-for';

const RUNNER = path.join(REPO_ROOT, 'dist', 'runner', 'src', 'main.js');
/** Debian's interpreter, which sees the python3-fastapi and python3-uvicorn packages. */
const uvicorn = (env: string) =>
  `cd examples/python-fastapi && ${env} /usr/bin/python3 -m uvicorn app:app --host 0.0.0.0 --port $PORT --log-config log-config.json`;

interface Line {
  kind: string;
  atMs: number;
  container?: string;
  pid?: number;
  url?: string;
  ok?: boolean;
  reason?: string;
  probeModel?: string;
  phase?: string;
}

interface Run {
  child: ChildProcess;
  lines: Line[];
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [RUNNER, '--stack', 'python-fastapi', '--json', '--port', '0', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let rest = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) if (part) lines.push(JSON.parse(part) as Line);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exited };
}

/** Whether any process of the group led by `pid` is still running. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(PROBE_MODELS)('--probe-model %s', (model) => {
  it('holds a request until the Python app is ready, then serves it from the app; SIGTERM ends the whole command', async () => {
    const run = start(['--probe-model', model, '--run', `app=${uvicorn('EXAMPLE_PHASE_DELAY_MS=400')}`]);
    try {
      await waitFor('the front door', () => run.lines.some((line) => line.kind === 'front-door'));
      const url = run.lines.find((line) => line.kind === 'front-door')!.url!;
      // Sent before anything listens: the front door holds it until Cloud Run would send traffic.
      const response = await fetch(`${url}/`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ message: 'hello', model: 'model ready' });
      const traffic = run.lines.find((line) => line.kind === 'traffic')!;
      expect(traffic.probeModel).toBe(model);
      // Four phases of 400 ms after uvicorn started: the held probes let traffic in only then.
      expect(traffic.atMs).toBeGreaterThanOrEqual(1600);
      const passed = run.lines.filter((line) => line.kind === 'startup-passed').map((line) => line.container);
      if (model === 'all-containers') expect(passed.sort()).toEqual(['app', 'gate']);
      else expect(passed).toContain('app');
    } finally {
      const app = run.lines.find((line) => line.kind === 'container-started' && line.container === 'app');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      // The shell and the uvicorn it started: none left once the runner has stopped.
      expect(groupAlive(app!.pid!)).toBe(false);
    }
  }, 60_000);
});

it("fails the revision naming the Python app's failed phase, reported through the gate", async () => {
  const run = start(['--exit-after-ready', '--run', `app=${uvicorn('EXAMPLE_FAIL_PHASE=model')}`]);
  expect(await run.exited).toBe(1);
  expect(run.lines.at(-1)).toMatchObject({ kind: 'result', ok: false });
  expect(run.lines.at(-1)!.reason).toMatch(/^container gate exited during startup \(code 1\): app startup failed in phase model: model failed on purpose/);
  expect(run.lines.some((line) => line.kind === 'traffic')).toBe(false);
}, 60_000);

it("replaces only the command in a chat stack: the images' bundles run with the local ports and stand-ins, traffic after the app's last phase", async () => {
  // Each bundle as its image's CMD starts it: node, the image's Node options, the bundle.
  const image = (name: keyof typeof BUNDLES) => `${name}=${[process.execPath, ...NODE_FLAGS[name], BUNDLES[name]].join(' ')}`;
  const run = start(['--stack', 'staging', '--exit-after-ready', '--run', image('app'), '--run', image('gate')]);
  expect(await run.exited).toBe(0);
  expect(run.lines.at(-1)).toMatchObject({ kind: 'result', ok: true, stack: 'staging' });
  const lastPhase = run.lines.filter((line) => line.kind === 'phase').at(-1)!;
  expect(lastPhase).toMatchObject({ container: 'app', phase: 'finalize' });
  expect(run.lines.find((line) => line.kind === 'traffic')!.atMs).toBeGreaterThanOrEqual(lastPhase.atMs);
}, 60_000);

describe('a stack whose app is not this repository', () => {
  it.each([
    [[], 'container app (europe-west1-docker.pkg.dev/python-gate-example/apps/python-fastapi@sha256:'],
    [['--run', 'db=redis-server'], '--run db: stack python-fastapi has no container db (it has app, gate, collector)'],
    [['--run', 'app'], '--run must be CONTAINER=COMMAND, got "app"'],
    [['--run', 'app=true', '--scenario', 'slow-services'], '--scenario rehearses the chat app, which stack python-fastapi does not run'],
  ])('%j exits 2 with one line, then the usage', async (args, message) => {
    const run = start(args);
    expect(await run.exited).toBe(2);
    expect(run.stderr().split('\n')[0]).toContain(message);
    expect(run.stderr()).toContain('usage: npm start --');
  });
});
