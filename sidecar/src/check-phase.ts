/**
 * `npm run check-phase -- URL`: follows any backend's phase endpoint as the gate reads it, from
 * wherever it is (starting, or already ready) until it reports ready or failed, and judges contract
 * 1 over every answer (phase-conformance.ts). Exit 0 when it conforms; 1 with one line per broken
 * rule; 2 for bad arguments.
 */
import { parseArgs } from 'node:util';
import { MAX_LONG_POLL_MS } from '../../common/phase-contract';
import { DEFAULT_REQUIRED_COMPONENTS } from '../../common/revision';
import type { LongPoll } from './checker';
import { DEFAULT_TIMINGS } from './config';
import { FINAL_STATES, judge, type Observation, violationLine } from './phase-conformance';

const USAGE = 'usage: npm run check-phase -- URL [--require a,b] [--wait-ms 3000] [--timeout-s 300]';

export interface CheckPhaseOptions {
  url: URL;
  require: string[];
  waitMs: number;
  timeoutMs: number;
}

export function parseCheckPhaseArgs(argv: string[]): CheckPhaseOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { require: { type: 'string' }, 'wait-ms': { type: 'string' }, 'timeout-s': { type: 'string' } },
  });
  if (positionals.length !== 1) throw new Error(`one URL expected, got ${positionals.length}; ${USAGE}`);
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new Error(`URL: not a URL: ${positionals[0]}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`URL: must be http or https, got ${url.protocol}`);
  const require = values.require === undefined ? [...DEFAULT_REQUIRED_COMPONENTS] : values.require.split(',').map((name) => name.trim()).filter(Boolean);
  if (require.length === 0) throw new Error('--require: names no component; leave it out for the gate\'s default');
  return {
    url,
    require,
    waitMs: integer('--wait-ms', values['wait-ms'], 3000, 200, MAX_LONG_POLL_MS),
    timeoutMs: integer('--timeout-s', values['timeout-s'], 300, 1, 3600) * 1000,
  };
}

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}: must be an integer from ${min} to ${max}, got ${raw}`);
  return value;
}

/** One GET, never rejecting: a failure is an observation with status 0. */
async function observe(url: URL, sent: LongPoll | null): Promise<Observation> {
  const target = new URL(url);
  if (sent !== null) {
    target.searchParams.set('afterSeq', String(sent.afterSeq));
    target.searchParams.set('waitMs', String(sent.waitMs));
  }
  const startedAt = performance.now();
  // Past the gate's own deadline an answer is late; a bit more lets the checker say by how much.
  const deadline = AbortSignal.timeout(2 * DEFAULT_TIMINGS.checkTimeoutMs + (sent?.waitMs ?? 0));
  try {
    const response = await fetch(target, { signal: deadline, headers: { accept: 'application/json' } });
    const text = (await response.text()).slice(0, DEFAULT_TIMINGS.maxBodyBytes + 1);
    return { sent, status: response.status, contentType: response.headers.get('content-type') ?? '', text, elapsedMs: performance.now() - startedAt };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return { sent, status: 0, contentType: '', text: '', elapsedMs: performance.now() - startedAt, error: `no answer (${cause})` };
  }
}

/**
 * Follows the backend: plain GETs (retried while it does not answer yet) until a body parses, then
 * long-polls on its seq until a terminal state, then one more long-poll with nothing to wait for,
 * which a conforming endpoint holds for waitMs, and one plain GET for its speed.
 */
export async function followBackend(options: CheckPhaseOptions, print: (line: string) => void): Promise<Observation[]> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const observations: Observation[] = [];
  const record = (seen: Observation) => {
    observations.push(seen);
    const body = bodyOf(seen);
    const at = `+${(elapsed() / 1000).toFixed(1)}s`;
    print(body === null ? `  ${at} HTTP ${seen.status || '-'} ${seen.error ?? ''}`.trimEnd() : `  ${at} seq ${body.seq} ${body.state} ${body.phase}`);
    return body;
  };

  let body: { seq: number; state: string } | null = null;
  while (body === null && elapsed() < options.timeoutMs) {
    const seen = await observe(options.url, null);
    if (seen.status === 0) await new Promise((resolve) => setTimeout(resolve, 250));
    else body = record(seen);
    if (seen.status !== 0 && body === null) break;
  }
  if (body === null) {
    const last = await observe(options.url, null);
    observations.push(last);
    return observations;
  }

  let heldOnce = false;
  while (!FINAL_STATES.has(body.state) && elapsed() < options.timeoutMs) {
    const seen = await observe(options.url, { afterSeq: body.seq, waitMs: options.waitMs });
    const next = record(seen);
    if (next === null) return observations;
    // An endpoint that answers at once has been judged already; poll it as the gate would.
    if (next.seq === body.seq && seen.elapsedMs < options.waitMs / 2) await new Promise((resolve) => setTimeout(resolve, DEFAULT_TIMINGS.pollIntervalMs));
    heldOnce ||= next.seq === body.seq;
    body = next;
  }
  if (!heldOnce) record(await observe(options.url, { afterSeq: body.seq, waitMs: options.waitMs }));
  record(await observe(options.url, null));
  return observations;
}

function bodyOf(seen: Observation): { seq: number; state: string; phase: string } | null {
  if (seen.status !== 200 && seen.status !== 503) return null;
  try {
    const body = JSON.parse(seen.text) as { seq?: unknown; state?: unknown; phase?: unknown };
    return typeof body.seq === 'number' && typeof body.state === 'string' ? { seq: body.seq, state: body.state, phase: String(body.phase) } : null;
  } catch {
    return null;
  }
}

export async function checkPhase(options: CheckPhaseOptions, print: (line: string) => void): Promise<number> {
  print(`checking ${options.url.href} against contract 1 (required: ${options.require.join(', ')})`);
  const observations = await followBackend(options, print);
  const { violations, bodies, heldMs } = judge(observations, options.require, DEFAULT_TIMINGS);
  const last = bodies.at(-1);
  for (const violation of violations) print(violationLine(violation));
  if (violations.length > 0) return 1;
  const end = last!.state === 'failed' ? `failed in ${last!.error!.phase}: ${last!.error!.message}` : last!.state;
  print(`OK: conforms to contract 1 over ${observations.length} answers, ending ${end}; long-poll held ${Math.round(heldMs ?? 0)} ms with nothing new`);
  return 0;
}

if (require.main === module) {
  let options: CheckPhaseOptions;
  try {
    options = parseCheckPhaseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`check-phase: ${(error as Error).message}\n`);
    process.exit(2);
  }
  void checkPhase(options, (line) => process.stdout.write(`${line}\n`)).then((code) => process.exit(code));
}
