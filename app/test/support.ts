/** Helpers for tests that run the real app process and talk to it over real sockets. */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { WebSocket } from 'ws';
import { connects, freePort } from '../../runner/src/ports';
import type { PhaseBody } from '../../common/phase-contract';
import { DEFAULT_WAIT_TIMEOUT_MS, waitFor } from '../../testkit/wait-for';

export const APP_MAIN = path.resolve(__dirname, '../../dist/app/src/main.js');

export { freePort };

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

export async function startApp(env: Record<string, string> = {}): Promise<AppProcess> {
  const port = await freePort();
  const phasePort = await freePort();
  const child = spawn(process.execPath, [APP_MAIN], {
    env: { PATH: process.env.PATH, PORT: String(port), PHASE_PORT: String(phasePort), LOG_LEVEL: 'debug', ...env },
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

/** Opens a chat socket on a ready app; fails the test when the upgrade is refused. */
export async function openChat(app: Pick<AppProcess, 'port'>): Promise<WebSocket> {
  const result = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
  if (result.kind !== 'open') throw new Error(`expected the upgrade to open, got ${JSON.stringify(result)}`);
  return result.ws;
}

function waitForListening(port: number): Promise<void> {
  return waitFor(`a listener on port ${port}`, () => connects(port));
}

export type UpgradeResult =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; headers: Record<string, string | string[] | undefined>; body: string }
  | { kind: 'error'; error: Error };

/** Tries a WebSocket upgrade and reports whether it opened or was refused (with the HTTP answer). */
export function tryUpgrade(url: string, options: { maxPayload?: number; headers?: Record<string, string> } = {}): Promise<UpgradeResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', (error) => resolve({ kind: 'error', error }));
  });
}

/** Collects parsed JSON messages from a socket; `next` waits for the next one. */
export function messages(ws: WebSocket) {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((message: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, unknown>;
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return {
    next(timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<Record<string, unknown>> {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
    },
    async take(count: number, timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<Record<string, unknown>[]> {
      const taken: Record<string, unknown>[] = [];
      for (let i = 0; i < count; i += 1) taken.push(await this.next(timeoutMs));
      return taken;
    },
  };
}

export function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** An OpenAI-compatible endpoint on loopback that answers slowly, so a run is in flight on SIGTERM. */
export async function slowModel(delayMs: number, modelsStatus = 200) {
  const requests: { path: string; auth: string | undefined }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', auth: req.headers.authorization });
    if (req.url === '/v1/models') {
      res.writeHead(modelsStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [] }));
      return;
    }
    req.resume();
    req.on('end', () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'slow answer' } }] }));
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = () => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return { url: `http://127.0.0.1:${port}/v1`, requests, close };
}
