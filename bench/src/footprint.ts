/**
 * Comparison 3: what the gate costs an instance, against a bare Node HTTP server as the floor:
 * exec-to-listening time, RSS once open, RSS and CPU after a window of checking. All run in the
 * same window and are probed the same way, once a second like Cloud Run. The gate runs as its
 * image runs it, one esbuild bundle (`npm run bundle`, dist/bundle/gate.js), and for comparison as
 * tsc compiles it (dist/sidecar, loading node_modules), as the images ran it before.
 */
import { existsSync } from 'node:fs';
import { GATE_ENV_VARS, GATE_PATHS } from '../../common/revision';
import { observeStartup, startApp } from './app-process';
import { BARE_SERVER_MAIN, cpuSeconds, httpGet, type NodeProcess, rssMb, sleep, startNode, waitFor200, waitListening } from './processes';
import { rotate } from './stats';
import { freePort } from '../../common/local-ports';
import { BUNDLES, ENTRY_POINTS, NODE_FLAGS } from '../../common/paths';

export const SUBJECTS = ['gate', 'gateTsc', 'bareNode'] as const;
export type Subject = (typeof SUBJECTS)[number];

export interface SubjectFootprint {
  /** Exec-to-listening of each start, ms. */
  listenMs: number[];
  rssAfterStartMb: number;
  rssAfterWindowMb: number;
  cpuSecondsInWindow: number;
}

export type Footprints = Record<'gate' | 'bareNode', SubjectFootprint> & { gateTsc?: SubjectFootprint };

interface Started {
  proc: NodeProcess;
  port: number;
  /** What a startup probe asks: the gate's /startup, anything for the bare server. */
  probeUrl: string;
  listenMs: number;
}

async function start(subject: Subject, phaseUrl: string): Promise<Started> {
  const port = await freePort();
  const gateEnv = { [GATE_ENV_VARS.port]: String(port), [GATE_ENV_VARS.targetUrl]: phaseUrl, [GATE_ENV_VARS.logLevel]: 'warn' };
  const proc = subject === 'bareNode' ? startNode(BARE_SERVER_MAIN, { PORT: String(port) }) : startNode(subject === 'gate' ? BUNDLES.gate : ENTRY_POINTS.gate, gateEnv, NODE_FLAGS.gate);
  const listenedAt = await waitListening(port, proc);
  const probeUrl = `http://127.0.0.1:${port}${subject === 'bareNode' ? '/' : GATE_PATHS.startup}`;
  return { proc, port, probeUrl, listenMs: listenedAt - proc.spawnedAt };
}

/**
 * `starts` alternating starts of each for exec-to-listening, then one of each measured over
 * `windowMs` against a ready app.
 */
export async function runFootprint(starts: number, windowMs: number): Promise<Footprints> {
  if (!existsSync(BUNDLES.gate)) throw new Error(`the gate bundle ${BUNDLES.gate} is not built: npm run bench builds it (npm run bundle)`);
  const app = await startApp();
  const started: Started[] = [];
  try {
    await observeStartup(app);
    const listenMs: Record<Subject, number[]> = { gate: [], gateTsc: [], bareNode: [] };
    for (let i = 0; i < starts; i += 1) {
      for (const subject of rotate(SUBJECTS, i)) {
        const s = await start(subject, app.phaseUrl);
        listenMs[subject].push(s.listenMs);
        await s.proc.stop();
      }
    }
    for (const subject of SUBJECTS) started.push(await start(subject, app.phaseUrl));
    // "After start" means ready to serve: for the gate, once it has opened.
    await Promise.all(started.map((s) => waitFor200(s.probeUrl, s.proc)));
    const rssAfterStart = started.map((s) => rssMb(s.proc.pid));
    const cpuBefore = started.map((s) => cpuSeconds(s.proc.pid));
    for (let elapsed = 0; elapsed < windowMs; elapsed += 1000) {
      await Promise.all(started.map((s) => httpGet(s.probeUrl)));
      await sleep(Math.min(1000, windowMs - elapsed));
    }
    return Object.fromEntries(
      SUBJECTS.map((subject, i) => [
        subject,
        {
          listenMs: listenMs[subject],
          rssAfterStartMb: rssAfterStart[i]!,
          rssAfterWindowMb: rssMb(started[i]!.proc.pid),
          cpuSecondsInWindow: cpuSeconds(started[i]!.proc.pid) - cpuBefore[i]!,
        },
      ]),
    ) as Footprints;
  } finally {
    await Promise.all([app.proc.stop(), ...started.map((s) => s.proc.stop())]);
  }
}
