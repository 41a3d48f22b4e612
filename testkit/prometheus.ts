/**
 * A real Prometheus server (Debian's `prometheus` package; `npm test` installs it) on loopback,
 * scraping the targets a test names, in a throwaway directory. A missing binary fails with the fix.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../common/local-ports';
import { waitFor } from './wait-for';

/** The path of a tool from the prometheus package; throws one line naming the package when missing. */
export function requirePrometheusTool(name: 'prometheus' | 'promtool'): string {
  try {
    return execFileSync('which', [name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${name} is not installed: these tests need Debian's prometheus package (apt-get install -y prometheus)`);
  }
}

export interface ScrapeJob {
  job: string;
  targets: readonly string[];
  /** Target labels, as the collector on Cloud Run attaches them. */
  labels?: Readonly<Record<string, string>>;
}

export interface PrometheusServer {
  /** The query API's base URL. */
  api: string;
  logs: string[];
  /** The first sample of an instant query, or undefined while there is none (or Prometheus is not up). */
  query(expr: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping every 250 ms and waits until its query API answers. */
export async function startPrometheus(jobs: readonly ScrapeJob[]): Promise<PrometheusServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    config,
    [
      'global: { scrape_interval: 250ms, scrape_timeout: 200ms }',
      'scrape_configs:',
      ...jobs.flatMap(({ job, targets, labels }) => [`  - job_name: ${job}`, `    static_configs: [{ targets: ${JSON.stringify(targets)}${labels ? `, labels: ${JSON.stringify(labels)}` : ''} }]`]),
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(requirePrometheusTool('prometheus'), [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const api = `http://127.0.0.1:${port}`;
  const server: PrometheusServer = {
    api,
    logs,
    query: async (expr) => {
      try {
        const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5000) });
        const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
        return body.data?.result?.[0]?.value[1];
      } catch {
        return undefined;
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitFor('Prometheus to answer queries', async () => (await fetch(`${api}/-/ready`).catch(() => undefined))?.status === 200, {
    timeoutMs: 40_000,
    detail: () => `prometheus said:\n${logs.join('')}`,
  }).catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
  return server;
}
