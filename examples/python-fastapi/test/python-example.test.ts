/**
 * The Python backend behind the real gate: uvicorn runs the example as its container would (one
 * process, Debian's python3 with its FastAPI), the contract checker passes it, the gate's bundle
 * opens on its ready and fails fast on its failure, and two workers in one container are refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { connects, freePort } from '../../../common/local-ports';
import { ENTRY_POINTS } from '../../../common/paths';
import { GATE_ENV_VARS as V } from '../../../common/revision';
import { spawnGate } from '../../../testkit/gate-process';
import { waitFor } from '../../../testkit/wait-for';

const EXAMPLE_DIR = path.join(__dirname, '..');
/** Debian's interpreter, which sees the python3-fastapi and python3-uvicorn packages (a pyenv python3 on PATH would not). */
const PYTHON = '/usr/bin/python3';
const REQUIRE = 'database,model';

interface Backend {
  child: ChildProcess;
  port: number;
  phaseUrl: string;
  output: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** How long a backend has to stop on SIGTERM before its process group is killed. */
const STOP_GRACE_MS = 5000;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // ESRCH: nothing of the group is left.
  }
}

/** One uvicorn process, as the example's container runs it. */
const uvicorn = (port: number) => ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(port), '--log-config', 'log-config.json'];

async function startBackend(env: Record<string, string>, command = uvicorn): Promise<Backend> {
  const [port, phasePort] = [await freePort(), await freePort()];
  const child = spawn(PYTHON, command(port), {
    cwd: EXAMPLE_DIR,
    env: { PATH: process.env.PATH, PHASE_PORT: String(phasePort), PYTHONDONTWRITEBYTECODE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so stop() reaches gunicorn's workers too, even after their master exited.
    detached: true,
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    port,
    phaseUrl: `http://127.0.0.1:${phasePort}/phase`,
    output: () => output,
    exited,
    stop: async () => {
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
      // Whatever of the group outlived its leader (a worker) goes too, and its pipes with it.
      signalGroup(child, 'SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

function run(file: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, output })));
}

const phaseOf = async (url: string) => (await (await fetch(url)).json()) as { state: string; seq: number };

describe('examples/python-fastapi', () => {
  it('passes npm run check-phase, followed from its first phase to ready', async () => {
    const backend = await startBackend({ EXAMPLE_PHASE_DELAY_MS: '300' });
    try {
      await waitFor('phase endpoint', () => connects(Number(new URL(backend.phaseUrl).port)), { detail: backend.output });
      const { code, output } = await run(ENTRY_POINTS.checkPhase, [backend.phaseUrl, '--require', REQUIRE, '--wait-ms', '1000']);
      expect(output).not.toContain('FAIL');
      expect(code).toBe(0);
      expect(output).toMatch(/seq \d+ starting /);
      expect(output).toContain('ending ready');
      // One JSON object per line, as Cloud Logging parses them.
      await waitFor('ready logged', () => backend.output().includes('"message": "ready"'));
      const lines = backend.output().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { severity: string; message: string });
      expect(lines.every((line) => typeof line.severity === 'string' && typeof line.message === 'string')).toBe(true);
    } finally {
      await backend.stop();
    }
  });

  it('holds its own startup probe while starting and answers 200 the moment it is ready', async () => {
    const backend = await startBackend({ EXAMPLE_PHASE_DELAY_MS: '300', STARTUP_HOLD_MS: '30000' });
    try {
      await waitFor('public port', () => connects(backend.port), { detail: backend.output });
      expect((await phaseOf(backend.phaseUrl)).state).toBe('starting');
      const probe = await fetch(`http://127.0.0.1:${backend.port}/startup`);
      expect(probe.status).toBe(200);
      expect(await probe.json()).toEqual({ state: 'open' });
      expect((await phaseOf(backend.phaseUrl)).state).toBe('ready');
      expect((await fetch(`http://127.0.0.1:${backend.port}/`)).status).toBe(200);
    } finally {
      await backend.stop();
    }
  });

  it('opens the real gate on its ready', async () => {
    const backend = await startBackend({ EXAMPLE_PHASE_DELAY_MS: '200' });
    const gate = spawnGate({ [V.targetUrl]: backend.phaseUrl, [V.require]: REQUIRE }, await freePort());
    try {
      await waitFor('gate open', () => gate.logs.some((line) => line.message === 'gate open'), { detail: () => gate.lines.join('\n') + backend.output() });
      expect((await phaseOf(backend.phaseUrl)).state).toBe('ready');
      expect(gate.logs.map((line) => line.message)).toContain('app ready in phase finalize');
      expect(gate.logs.find((line) => line.message === 'gate open')?.sinceAppUpdateMs).toBeGreaterThanOrEqual(0);
      expect((await fetch(`${gate.base}/startup`)).status).toBe(200);
    } finally {
      await gate.stop();
      await backend.stop();
    }
  });

  it('makes the gate fail fast, naming the phase and the message, when a phase fails', async () => {
    const backend = await startBackend({ EXAMPLE_FAIL_PHASE: 'database' });
    const gate = spawnGate({ [V.targetUrl]: backend.phaseUrl, [V.require]: REQUIRE }, await freePort());
    try {
      expect((await gate.exited).code).toBe(1);
      const error = gate.logs.find((line) => line.severity === 'ERROR');
      expect(error?.message).toBe('app startup failed in phase database: database failed on purpose (EXAMPLE_FAIL_PHASE)');
      expect(gate.logs.map((line) => line.message)).not.toContain('gate open');
      await waitFor('failure logged', () => backend.output().includes('startup failed in phase database'));
    } finally {
      await gate.stop();
      await backend.stop();
    }
  });

  it('refuses two workers in one container (gunicorn -w 2): the server stops, saying why, and the gate never opens', async () => {
    // Phases slow enough that the worker that bound the phase port cannot be ready before gunicorn stops.
    const gunicorn = (port: number) => ['-m', 'gunicorn', '-w', '2', '-k', 'uvicorn.workers.UvicornWorker', '--bind', `127.0.0.1:${port}`, 'app:app'];
    const backend = await startBackend({ EXAMPLE_PHASE_DELAY_MS: '2000' }, gunicorn);
    const gate = spawnGate({ [V.targetUrl]: backend.phaseUrl, [V.require]: REQUIRE }, await freePort());
    try {
      await waitFor('gate listening', async () => (await fetch(`${gate.base}/live`).catch(() => undefined))?.status === 200);
      expect(await backend.exited).not.toBe(0);
      expect(backend.output()).toContain('run one server process per container');
      expect((await fetch(`${gate.base}/startup`)).status).toBe(503);
      expect(gate.logs.map((line) => line.message)).not.toContain('gate open');
    } finally {
      await gate.stop();
      await backend.stop();
    }
  });
});
