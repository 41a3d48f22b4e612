/** The app's bundle (dist/bundle/app.js, built by `npm run bundle`) as its own process on free ports, with its image's Node options, for tests that talk to it over real sockets. */
import { type ChildProcess, spawn } from 'node:child_process';
import type { PhaseBody } from '../common/phase-contract';
import { connects, freePort } from '../common/local-ports';
import { NODE_FLAGS } from '../common/paths';
import { IMAGE_ENV, bundlePath } from './bundles';
import { waitFor } from './wait-for';

export interface AppProcess {
  child: ChildProcess;
  port: number;
  phasePort: number;
  logs: string[];
  phase(query?: string): Promise<{ status: number; body: PhaseBody & Record<string, unknown> }>;
  waitForState(state: PhaseBody['state'], timeoutMs?: number): Promise<PhaseBody>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export interface StartAppOptions {
  /** The phase endpoint's port, when a test must know it before the app starts (a gate started first); a free one by default. */
  phasePort?: number;
}

export async function startApp(env: Record<string, string> = {}, options: StartAppOptions = {}): Promise<AppProcess> {
  const port = await freePort();
  const phasePort = options.phasePort ?? (await freePort());
  const child = spawn(process.execPath, [...NODE_FLAGS.app, bundlePath('app')], {
    env: { PATH: process.env.PATH, ...IMAGE_ENV, PORT: String(port), PHASE_PORT: String(phasePort), LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => logs.push(...chunk.split('\n').filter(Boolean)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const phase = async (query = '') => {
    const response = await fetch(`http://127.0.0.1:${phasePort}/phase${query}`);
    return { status: response.status, body: (await response.json()) as PhaseBody & Record<string, unknown> };
  };
  const app: AppProcess = {
    child,
    port,
    phasePort,
    logs,
    phase,
    exited,
    waitForState: async (state, timeoutMs) => {
      let last: PhaseBody | undefined;
      await waitFor(
        `app state ${state}`,
        async () => {
          last = await phase().then((answer) => answer.body, () => last); // not listening yet
          return last?.state === state;
        },
        { timeoutMs, detail: () => `last body ${JSON.stringify(last)}; logs:\n${logs.join('\n')}` },
      );
      return last!;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  // A process that exits during startup (a rehearsed crash) may never be seen listening. Both
  // ports: the public one opens just after the phase one, and a test may connect to it at once.
  await Promise.race([Promise.all([waitForListening(phasePort), waitForListening(port)]), exited]);
  return app;
}

/** Starts app processes and stops every one of them in `stopAll` (call it in afterEach). */
export function appLauncher() {
  const running: AppProcess[] = [];
  return {
    async launch(env: Record<string, string> = {}): Promise<AppProcess> {
      const app = await startApp(env);
      running.push(app);
      return app;
    },
    stopAll: () => Promise.all(running.splice(0).map((app) => app.stop())),
  };
}

function waitForListening(port: number): Promise<void> {
  return waitFor(`a listener on port ${port}`, () => connects(port));
}

