/**
 * Each fault a target can produce, from a real HTTP server on loopback, through the real GET (node:http),
 * check loop and gate: counted under its own result label, kept as the last error, never opening.
 */
import type http from 'node:http';
import { waitFor } from '../../testkit/wait-for';
import { startGate } from './support';
import { freePort } from '../../common/local-ports';
import { phaseBody, READY_BODY, sendPhase, startTarget, type Target } from '../../testkit/phase-endpoint';

const TEN_MB = 10 * 1024 * 1024;
const readyJson = JSON.stringify(READY_BODY);

/** Handlers that misbehave; several would open the gate if it trusted them (they say ready). */
const FAULTS: [string, string, http.RequestListener][] = [
  ['HTTP 500', 'http_status', (_req, res) => res.writeHead(500).end(readyJson)],
  ['garbage', 'not_json', (_req, res) => res.writeHead(200).end('<html>ready</html>')],
  ['wrong shape', 'invalid', (_req, res) => res.writeHead(200).end(JSON.stringify({ state: 'ready', components: READY_BODY.components }))],
  ['a status that contradicts the body', 'invalid', (_req, res) => res.writeHead(200).end(JSON.stringify(phaseBody()))],
  ['a declared 10 MB body', 'too_large', (_req, res) => res.writeHead(200, { 'content-length': TEN_MB }).end(Buffer.alloc(TEN_MB, 32))],
  [
    'a streamed 10 MB body without a length',
    'too_large',
    (_req, res) => {
      res.writeHead(200);
      res.write(readyJson.slice(0, -1));
      res.end(Buffer.alloc(TEN_MB, 32));
    },
  ],
  ['no answer within the timeout', 'timeout', () => {}],
  [
    'a slow body past the timeout',
    'timeout',
    (_req, res) => {
      res.writeHead(200, { 'content-length': readyJson.length });
      res.write(readyJson.slice(0, 10));
    },
  ],
  [
    'a reset mid-body',
    'reset',
    (_req, res) => {
      res.writeHead(200, { 'content-length': readyJson.length });
      res.write(readyJson.slice(0, 10), () => res.destroy());
    },
  ],
  ['a reset before the headers', 'reset', (req) => req.socket.destroy()],
];

describe('faults, one result label each', () => {
  let target: Target | undefined;
  afterEach(async () => target?.close());

  it.each(FAULTS)('%s counts as %s and never opens', async (_name, result, handler) => {
    target = await startTarget(handler);
    // The short test timeout only where the fault is a timeout: on a busy machine a 10 MB body can
    // take longer than it to stream, and a timeout in between would be a second fault to log.
    const gate = await startGate(target.url, result === 'timeout' ? {} : { checkTimeoutMs: 30_000 });
    try {
      await waitFor(`two ${result} checks`, async () => (await gate.counter(result)) >= 2);
      expect(await gate.counter('ok')).toBe(0);
      expect(gate.gate.current.openedAtMs).toBeNull();
      const startup = await fetch(`${gate.base}/startup`);
      expect(startup.status).toBe(503);
      expect(((await startup.json()) as { lastCheckError: { result: string } }).lastCheckError.result).toBe(result);
      expect((await fetch(`${gate.base}/ready`)).status).toBe(503);
      // The same fault again is not logged again.
      expect(gate.logs.filter((l) => l.result === result)).toHaveLength(1);
    } finally {
      await gate.stop();
    }
  });

  it('a fault that passes: /startup names it while it lasts and no longer once checks succeed again; the recovery is logged', async () => {
    let requests = 0;
    let recovered = false;
    target = await startTarget((_req, res) => {
      requests += 1;
      if (!recovered) res.writeHead(500).end(readyJson);
      else sendPhase(res, phaseBody({ seq: requests }));
    });
    const gate = await startGate(target.url, { backoffMinMs: 20, backoffMaxMs: 50 });
    try {
      await waitFor('two failed checks', async () => (await gate.counter('http_status')) >= 2);
      const failing = (await (await fetch(`${gate.base}/startup`)).json()) as { lastCheckError: { result: string } | null };
      expect(failing.lastCheckError?.result).toBe('http_status');
      recovered = true;
      await waitFor('a trusted body', async () => (await gate.counter('ok')) >= 1);
      const startup = await fetch(`${gate.base}/startup`);
      expect(startup.status).toBe(503);
      expect(await startup.json()).toMatchObject({ state: 'starting', reason: 'starting', lastCheckError: null });
      expect(await (await fetch(`${gate.base}/ready`)).json()).toMatchObject({ ready: false, lastCheckOk: true, reason: 'starting' });
      expect(gate.logs.some((l) => l.message === 'check succeeded again' && l.previous === 'http_status')).toBe(true);
    } finally {
      await gate.stop();
    }
  });

  it('refused: nothing listens; backoff spaces the checks out', async () => {
    const port = await freePort();
    const gate = await startGate(new URL(`http://127.0.0.1:${port}/phase`), { backoffMinMs: 20, backoffMaxMs: 100 });
    try {
      const started = performance.now();
      await waitFor('five refused checks', async () => (await gate.counter('refused')) >= 5);
      // Waits of at least 20, 40, 80 and 100 ms lie between them (jitter only lengthens a wait);
      // a busy loop would make five checks in a few milliseconds. A busy CPU only adds time.
      expect(performance.now() - started).toBeGreaterThanOrEqual(20 + 40 + 80 + 100);
      expect((await fetch(`${gate.base}/startup`)).status).toBe(503);
      expect((await fetch(`${gate.base}/live`)).status).toBe(200);
    } finally {
      await gate.stop();
    }
  });
});

describe('targets that behave differently', () => {
  let target: Target | undefined;
  afterEach(async () => target?.close());

  it('flapping between ready and starting: /startup stays open, /ready follows', async () => {
    let n = 0;
    target = await startTarget((_req, res) => sendPhase(res, (n += 1) % 2 === 0 ? { ...READY_BODY, seq: n } : phaseBody({ seq: n })));
    const gate = await startGate(target.url, { pollIntervalMs: 10 });
    try {
      await waitFor('open', () => gate.gate.current.openedAtMs !== null);
      const seen = new Set<string>();
      await waitFor('/ready both ways', async () => {
        expect((await fetch(`${gate.base}/startup`)).status).toBe(200);
        seen.add(String((await fetch(`${gate.base}/ready`)).status));
        return seen.size === 2;
      });
    } finally {
      await gate.stop();
    }
  });

  it('without long-poll: detects it, polls at the interval (no busy loop), opens on the next check', async () => {
    let body = phaseBody({ seq: 3 });
    target = await startTarget((_req, res) => sendPhase(res, body));
    const gate = await startGate(target.url, { pollIntervalMs: 50 });
    try {
      const started = performance.now();
      await waitFor('six answered checks', async () => (await gate.counter('ok')) >= 6);
      // The first two checks (plain, then a long-poll answered at once) follow each other; then the
      // gate knows and waits 50 ms before each check: four intervals at least. A busy loop would
      // make thousands of checks in that time.
      expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 50);
      expect(gate.logs.map((l) => l.message)).toContain('target ignores long-poll; polling every 50 ms');
      body = { ...READY_BODY, seq: 4 };
      const checksBefore = await gate.counter('ok');
      await waitFor('open', () => gate.gate.current.openedAtMs !== null);
      // The check in flight may still carry the old body; the next one opens the gate. How soon
      // in milliseconds is the bench's question (docs/bench.md).
      expect((await gate.counter('ok')) - checksBefore).toBeLessThanOrEqual(2);
    } finally {
      await gate.stop();
    }
  });

  it('with long-poll: one parked request, answered with the change, opens the gate', async () => {
    let body = phaseBody({ seq: 3 });
    let longPolls = 0;
    const parked = new Set<() => void>();
    target = await startTarget((req, res) => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      const afterSeq = Number(query.get('afterSeq') ?? -1);
      if (!query.has('afterSeq') || body.seq > afterSeq) return sendPhase(res, body);
      const answer = () => {
        parked.delete(answer);
        clearTimeout(timer);
        if (!res.destroyed) sendPhase(res, body);
      };
      // The first long-poll is held for its wait, so the gate learns the target honours it; later
      // ones stay parked until the change, however slow the machine.
      longPolls += 1;
      const timer = longPolls === 1 ? setTimeout(answer, Number(query.get('waitMs'))) : undefined;
      parked.add(answer);
    });
    const gate = await startGate(target.url, { longPollMs: 300, checkTimeoutMs: 60_000, pollIntervalMs: 1000 });
    try {
      await waitFor('the first long-poll held for its wait', () => gate.logs.some((l) => l.message === 'target honours long-poll'));
      await waitFor('the next long-poll parked', () => parked.size === 1);
      // The first plain check and one long-poll held 300 ms; the next one is parked.
      expect(await gate.counter('ok')).toBe(2);
      body = { ...READY_BODY, seq: 4 };
      for (const answer of [...parked]) answer();
      await waitFor('open', () => gate.gate.current.openedAtMs !== null);
      // The parked request itself carried the change: no further check was needed to open.
      expect(await gate.counter('ok')).toBe(3);
    } finally {
      await gate.stop();
    }
  });
});
