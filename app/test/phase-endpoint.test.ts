import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { phaseBodySchema } from '../../common/phase-contract';
import { COMPONENT_NAMES } from '../src/startup/components';
import { createPhaseServer } from '../src/startup/phase-server';
import { PhaseState } from '../src/startup/phase-state';

let state: PhaseState;
let server: Server;
let base: string;

beforeEach(async () => {
  state = new PhaseState(COMPONENT_NAMES);
  server = createPhaseServer(state);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function get(path: string) {
  const response = await fetch(`${base}${path}`);
  return { status: response.status, body: phaseBodySchema.parse(await response.json()) };
}

describe('phase endpoint', () => {
  it('answers 503 while starting and 200 when ready, with a contract body', async () => {
    const starting = await get('/phase');
    expect(starting.status).toBe(503);
    expect(starting.body).toMatchObject({ contract: 1, state: 'starting', phase: 'init', completedPhases: [], error: null });
    expect(starting.body.components).toMatchObject({ agentSupervisor: false, websocketBridge: false });
    state.completeStartup('finalize', 1);
    const ready = await get('/phase');
    expect(ready.status).toBe(200);
    expect(ready.body.seq).toBeGreaterThan(starting.body.seq);
  });

  it('bumps seq on every change', async () => {
    const seqs = [(await get('/phase')).body.seq];
    const changes = [
      () => state.beginPhase('dependencies'),
      () => state.componentBuilt('llmClient'),
      () => state.completePhase('dependencies', 3),
      () => state.fail({ phase: 'database', message: 'down' }),
      () => state.markStopping(),
    ];
    for (const change of changes) {
      change();
      seqs.push((await get('/phase')).body.seq);
    }
    expect(seqs).toEqual(seqs.map((_, index) => seqs[0]! + index));
    expect((await get('/phase')).body).toMatchObject({ state: 'stopping', error: { phase: 'database', message: 'down' } });
  });

  it('once stopping, drops progress but records a failure, and stays stopping', () => {
    const cases: { name: string; change: (state: PhaseState) => void; want: { state: string; phase: string; error: object | null; seqGrew: boolean } }[] = [
      { name: 'beginPhase', change: (s) => s.beginPhase('database'), want: { state: 'stopping', phase: 'init', error: null, seqGrew: false } },
      { name: 'componentBuilt', change: (s) => s.componentBuilt('llmClient'), want: { state: 'stopping', phase: 'init', error: null, seqGrew: false } },
      { name: 'completePhase', change: (s) => s.completePhase('init', 1), want: { state: 'stopping', phase: 'init', error: null, seqGrew: false } },
      { name: 'completeStartup', change: (s) => s.completeStartup('finalize', 1), want: { state: 'stopping', phase: 'init', error: null, seqGrew: false } },
      { name: 'markStopping again', change: (s) => s.markStopping(), want: { state: 'stopping', phase: 'init', error: null, seqGrew: false } },
      {
        name: 'fail',
        change: (s) => s.fail({ phase: 'database', message: 'startup stopped: the process is shutting down' }),
        want: { state: 'stopping', phase: 'init', error: { phase: 'database', message: 'startup stopped: the process is shutting down' }, seqGrew: true },
      },
    ];
    for (const { name, change, want } of cases) {
      const phases = new PhaseState(COMPONENT_NAMES);
      phases.markStopping();
      const before = phases.snapshot();
      change(phases);
      const after = phases.snapshot();
      const got = { state: after.state, phase: after.phase, error: after.error, seqGrew: after.seq > before.seq };
      expect({ name, ...got }).toEqual({ name, ...want });
      expect({ name, completed: after.completedPhases, built: after.components.llmClient }).toEqual({ name, completed: [], built: false });
    }
  });

  it('long-poll answers as soon as seq passes afterSeq', async () => {
    const { seq } = (await get('/phase')).body;
    const started = performance.now();
    const pending = get(`/phase?afterSeq=${seq}&waitMs=10000`);
    setTimeout(() => state.completeStartup('finalize', 1), 50);
    const answer = await pending;
    const elapsed = performance.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.body.seq).toBe(seq + 1);
    // Far below the 10 s wait: the answer came from the change, not the timeout.
    expect(elapsed).toBeLessThan(5000);
  });

  it('long-poll answers at once when seq is already past afterSeq', async () => {
    state.beginPhase('database');
    const answer = await get('/phase?afterSeq=0&waitMs=10000');
    expect(answer.body.phase).toBe('database');
  });

  it('long-poll returns the unchanged body after waitMs', async () => {
    const { seq } = (await get('/phase')).body;
    const started = performance.now();
    const answer = await get(`/phase?afterSeq=${seq}&waitMs=200`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(answer.body.seq).toBe(seq);
    expect(answer.status).toBe(503);
  });

  it('answers only GET /phase', async () => {
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${base}/phase`, { method: 'POST' })).status).toBe(405);
  });
});
