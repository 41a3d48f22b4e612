/** The gate's bundle (dist/bundle/gate.js, built by `npm run bundle`) as its own process, started as its image starts it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { NODE_FLAGS } from '../common/paths';
import { GATE_ENV_VARS } from '../common/revision';
import { IMAGE_ENV, bundlePath } from './bundles';

export interface GateProcess {
  child: ChildProcess;
  base: string;
  /** Parsed JSON log lines, and every raw line in order. */
  logs: Record<string, unknown>[];
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Starts the gate with its image's Node options, and only PATH, NODE_ENV=production and `env` (and GATE_PORT when `port` is given) in its environment. */
export function spawnGate(env: Record<string, string>, port?: number): GateProcess {
  const portEnv = port === undefined ? {} : { [GATE_ENV_VARS.port]: String(port) };
  const child = spawn(process.execPath, [...NODE_FLAGS.gate, bundlePath('gate')], { env: { PATH: process.env.PATH, ...IMAGE_ENV, ...portEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        lines.push(line);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: kept in `lines` so a test can show it
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    logs,
    lines,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
