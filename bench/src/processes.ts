/**
 * The real processes a benchmark starts: spawned with a clean environment, measured through
 * /proc, and always killed, also when the benchmark throws or is interrupted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { rssBytes } from '../../testkit/hostile-clients';
import { waitFor } from '../../testkit/wait-for';
import { connects } from '../../common/local-ports';

export const BARE_SERVER_MAIN = path.resolve(__dirname, 'bare-server.js');

export interface NodeProcess {
  child: ChildProcess;
  pid: number;
  /** performance.now() just before spawn: the exec time for exec-to-listening. */
  spawnedAt: number;
  /** The last lines it wrote, for error messages. */
  output(): string;
  /** How many lines it has written so far (stdout and stderr). */
  lines(): number;
  /** Kills it (SIGKILL: nothing it would flush matters to a benchmark) and waits for the exit. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kills whatever a benchmark left running; main calls it on exit and on SIGINT. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

export function startNode(script: string, env: Record<string, string>, nodeFlags: readonly string[] = []): NodeProcess {
  const spawnedAt = performance.now();
  // Only PATH is inherited: a developer's GATE_* or APP_* variables must not change the figures.
  const child = spawn(process.execPath, [...nodeFlags, script], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  running.add(child);
  let tail = '';
  let lines = 0;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines += 1;
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  return {
    child,
    pid: child.pid,
    spawnedAt,
    output: () => tail,
    lines: () => lines,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export { sleep };

/** Resolves with performance.now() once `ready` first holds, checking every millisecond; fails if the process exits first. */
async function firstTime(what: string, proc: NodeProcess, ready: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  let at = 0;
  const check = async () => {
    if (proc.child.exitCode !== null) throw new Error(`process exited before ${what}:\n${proc.output()}`);
    if (!(await ready())) return false;
    at = performance.now();
    return true;
  };
  await waitFor(what, check, { timeoutMs, intervalMs: 1, detail: proc.output });
  return at;
}

/** Resolves with performance.now() at the first accepted TCP connection. */
export function waitListening(port: number, proc: NodeProcess, timeoutMs = 10_000): Promise<number> {
  return firstTime(`a listener on ${port}`, proc, () => connects(port), timeoutMs);
}

/** One keep-alive agent for the bench's own polling, so each check is one request, not a handshake. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Resolves with performance.now() when `url` first answers 200. */
export function waitFor200(url: string, proc: NodeProcess, timeoutMs = 10_000): Promise<number> {
  return firstTime(`${url} to answer 200`, proc, async () => (await httpGet(url).then((r) => r.status, () => 0)) === 200, timeoutMs);
}

/** Resident set size in MiB. */
export function rssMb(pid: number): number {
  return rssBytes(pid) / (1024 * 1024);
}

/** User plus system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may contain spaces, start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on every Linux build Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;
