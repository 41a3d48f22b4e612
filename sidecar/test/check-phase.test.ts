/**
 * The contract checker: its rules over recorded answers, and `npm run check-phase`'s program
 * against the real app (starting, ready, failed) and against phase endpoints each broken one way.
 */
import { spawn } from 'node:child_process';
import type http from 'node:http';
import { ENTRY_POINTS } from '../../common/paths';
import type { PhaseBody } from '../../common/phase-contract';
import { startApp } from '../../testkit/app-process';
import { phaseBody, READY_BODY, sendPhase, startTarget } from '../../testkit/phase-endpoint';
import { DEFAULT_TIMINGS } from '../src/config';
import { judge, type Observation, RULES } from '../src/phase-conformance';

const REQUIRED = ['agentSupervisor', 'websocketBridge'];

const answer = (body: unknown, overrides: Partial<Observation> = {}): Observation => ({
  sent: null,
  status: typeof body === 'object' && body !== null && (body as PhaseBody).state === 'ready' ? 200 : 503,
  contentType: 'application/json; charset=utf-8',
  text: JSON.stringify(body),
  elapsedMs: 3,
  ...overrides,
});
const held = (afterSeq: number, body: PhaseBody, elapsedMs = 2900): Observation => answer(body, { sent: { afterSeq, waitMs: 3000 }, elapsedMs });

const STARTING = phaseBody({ seq: 4 });
const rules = (observations: Observation[]) => judge(observations, REQUIRED, DEFAULT_TIMINGS).violations.map((violation) => violation.rule);

describe('judge', () => {
  it('passes a backend followed from starting to ready with a held long-poll', () => {
    const result = judge([answer(STARTING), held(4, STARTING), held(4, { ...READY_BODY, startedAt: STARTING.startedAt }, 40), held(9, READY_BODY)], REQUIRED, DEFAULT_TIMINGS);
    expect(result.violations).toEqual([]);
    expect(result.heldMs).toBe(2900);
  });

  it.each<[string, Observation[], keyof typeof RULES]>([
    ['seq going backwards in one process', [answer(phaseBody({ seq: 7, startedAt: '2026-12-04T10:00:00Z' })), answer(phaseBody({ seq: 3, startedAt: '2026-12-04T10:00:00Z' }))], 'seq-grows'],
    ['a long-poll answered at once with nothing new', [answer(READY_BODY), held(9, READY_BODY, 2)], 'long-poll'],
    ['a long-poll held past waitMs and the gate\'s timeout', [answer(READY_BODY), held(9, READY_BODY, 4500)], 'long-poll'],
    ['text/plain', [answer(READY_BODY, { contentType: 'text/plain' })], 'content-type'],
    ['ready without a required component', [answer({ ...READY_BODY, components: { agentSupervisor: true } })], 'required-components'],
    ['ready with a required component false', [answer({ ...READY_BODY, components: { agentSupervisor: true, websocketBridge: false } })], 'required-components'],
    ['failed without a message', [answer(phaseBody({ state: 'failed', error: { phase: 'database', message: ' ' } }))], 'failed-error'],
    ['failed with no error at all', [answer(phaseBody({ state: 'failed', error: null }))], 'failed-error'],
    ['a phase change that does not move seq', [answer(STARTING), answer({ ...STARTING, phase: 'cache' })], 'seq-moves'],
    ['a naive timestamp (Python\'s isoformat() without a zone)', [answer({ ...READY_BODY, updatedAt: '2026-12-04T10:00:00.123456' })], 'schema'],
    ['a body that is not JSON', [answer(READY_BODY, { text: 'OK' })], 'schema'],
    ['200 while starting', [answer(STARTING, { status: 200 })], 'status'],
    ['HTTP 404', [answer(READY_BODY, { status: 404 })], 'status'],
    ['a plain GET slower than the gate\'s check timeout', [answer(READY_BODY, { elapsedMs: 1500 })], 'answers'],
    ['following that ends while still starting', [answer(STARTING)], 'reaches-end'],
  ])('names the broken rule for %s', (_, observations, rule) => {
    expect(rules(observations)).toContain(rule);
  });

  it('lets seq start again in a new process (another startedAt)', () => {
    expect(rules([answer(phaseBody({ seq: 7, startedAt: '2026-12-04T10:00:00Z' })), answer({ ...READY_BODY, seq: 2, startedAt: '2026-12-04T10:00:05Z' })])).toEqual([]);
  });

  it('reports each broken rule once, at its first breach', () => {
    const result = judge([answer(READY_BODY, { contentType: 'text/html' }), answer(READY_BODY, { contentType: 'text/plain' })], REQUIRED, DEFAULT_TIMINGS);
    expect(result.violations).toHaveLength(1);
    expect(result.violations[0]!.seen).toBe('Content-Type: text/html');
  });
});

/** `npm run check-phase`'s program, as npm runs it. */
function checkPhase(...args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, [ENTRY_POINTS.checkPhase, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, lines: output.split('\n').filter(Boolean) })));
}

describe('npm run check-phase', () => {
  it('follows the real app from its first phase to ready and passes it', async () => {
    const app = await startApp({ APP_PHASE_DELAY_MS: '150' });
    try {
      const { code, lines } = await checkPhase(`http://127.0.0.1:${app.phasePort}/phase`, '--wait-ms', '1000');
      expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual([]);
      expect(code).toBe(0);
      expect(lines.some((line) => / starting /.test(line))).toBe(true);
      expect(lines.at(-1)).toMatch(/^OK: conforms to contract 1 over \d+ answers, ending ready; long-poll held \d+ ms/);
    } finally {
      await app.stop();
    }
  });

  it('passes the real app that failed its database phase, and says so', async () => {
    const app = await startApp({ APP_FAIL_PHASE: 'database' });
    try {
      const { code, lines } = await checkPhase(`http://127.0.0.1:${app.phasePort}/phase`, '--wait-ms', '500');
      expect(code).toBe(0);
      expect(lines.at(-1)).toMatch(/ending failed in database: /);
    } finally {
      await app.stop();
    }
  });

  /** A phase endpoint whose answers come from `body(request, n)`, the nth request's. */
  async function brokenEndpoint(handle: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void) {
    let n = 0;
    return startTarget((req, res) => handle(req, res, ++n));
  }

  it.each<[string, (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void, string]>([
    ['seq going backwards', (_req, res, n) => sendPhase(res, n === 1 ? { ...READY_BODY, seq: 9 } : { ...READY_BODY, seq: 5 }), 'FAIL seq-grows: saw seq went from 9 to 5'],
    ['no long-poll', (_req, res) => sendPhase(res, READY_BODY), 'FAIL long-poll: saw afterSeq=9&waitMs=1000 answered after'],
    [
      'the wrong content type',
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        setTimeout(() => res.end(JSON.stringify(READY_BODY)), 600);
      },
      'FAIL content-type: saw Content-Type: text/plain',
    ],
    ['a missing required component', (_req, res) => setTimeout(() => sendPhase(res, { ...READY_BODY, components: { agentSupervisor: true } }), 600), 'FAIL required-components: saw state ready without websocketBridge'],
    ['failed without a message', (_req, res) => setTimeout(() => sendPhase(res, phaseBody({ state: 'failed', error: null })), 600), 'FAIL failed-error: saw state failed with error null'],
  ])('fails an endpoint with %s, naming the rule and the docs', async (_, handle, expected) => {
    const target = await brokenEndpoint(handle);
    try {
      const { code, lines } = await checkPhase(target.url.href, '--wait-ms', '1000', '--timeout-s', '20');
      expect(code).toBe(1);
      const line = lines.find((candidate) => candidate.startsWith(expected));
      expect(line).toBeDefined();
      expect(line).toMatch(/; contract 1 wants .+ \(docs\/phase-contract\.md#\w+\)$/);
    } finally {
      await target.close();
    }
  });

  it.each([
    [[], 'one URL expected, got 0'],
    [['not a url'], 'URL: not a URL: not a url'],
    [['http://127.0.0.1:1/phase', '--wait-ms', '50'], '--wait-ms: must be an integer from 200 to 30000, got 50'],
    [['http://127.0.0.1:1/phase', '--require', ','], '--require: names no component'],
  ])('exits 2 with one line for bad arguments %j', async (args, message) => {
    const { code, lines } = await checkPhase(...args);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(message);
  });
});
