/**
 * Random sequences of target behaviours run through the real check loop and gate, with an injected
 * GET. The oracle below is written out again on purpose, not taken from decide().
 */
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log';
import { STATES, type PhaseBody } from '../../common/phase-contract';
import { type CheckDeps, runCheckLoop } from '../src/checker';
import type { CheckOutcome } from '../src/decision';
import { Gate } from '../src/gate';
import { GateMetrics } from '../src/metrics';
import { REQUIRED, TEST_TIMINGS } from './support';
import { phaseBody } from '../../testkit/phase-endpoint';

type Behaviour =
  | { kind: 'body'; body: PhaseBody; delayMs: number }
  | { kind: 'raw'; status: number; text: string }
  | { kind: 'error'; code: string };

const body = fc
  .record({
    state: fc.constantFrom(...STATES),
    agentSupervisor: fc.boolean(),
    websocketBridge: fc.boolean(),
    extra: fc.boolean(),
    seq: fc.nat({ max: 50 }),
  })
  .map(({ state, agentSupervisor, websocketBridge, extra, seq }) => phaseBody({ state, seq, components: { agentSupervisor, websocketBridge, extra } }));

const behaviour: fc.Arbitrary<Behaviour> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('body' as const), body, delayMs: fc.integer({ min: 0, max: 3 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      status: fc.constantFrom(200, 503, 500),
      // Bodies that look almost right: ready but with the wrong contract, a missing field, garbage.
      text: fc.constantFrom(
        JSON.stringify({ ...phaseBody({ state: 'ready', components: { agentSupervisor: true, websocketBridge: true } }), contract: 2 }),
        JSON.stringify({ state: 'ready', components: { agentSupervisor: true, websocketBridge: true } }),
        'ready',
        '',
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('error' as const), code: fc.constantFrom('ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND') }) },
);

const opensOn = (b: PhaseBody) => b.state === 'ready' && REQUIRED.every((name) => b.components[name] === true);

async function play(script: Behaviour[]): Promise<void> {
  const stop = new AbortController();
  let next = 0;
  const deps: CheckDeps = {
    now: () => performance.now(),
    sleep: async () => {},
    get: async () => {
      const step = script[next++];
      if (step === undefined) {
        stop.abort();
        throw new Error('script finished');
      }
      if (step.kind === 'error') throw Object.assign(new Error(`socket error ${step.code}`), { code: step.code });
      if (step.kind === 'raw') return { status: step.status, text: step.text };
      await new Promise((resolve) => setTimeout(resolve, step.delayMs));
      return { status: step.body.state === 'ready' ? 200 : 503, text: JSON.stringify(step.body) };
    },
  };
  const gate = new Gate({
    required: REQUIRED,
    timings: TEST_TIMINGS,
    log: createLogger('gate', 'silent'),
    metrics: new GateMetrics(new Registry(), REQUIRED, 0),
    now: deps.now,
    onAppFailed: () => {},
  });
  let everOpen = false;
  let lastValid: PhaseBody | undefined;
  const onCheck = (outcome: CheckOutcome, ms: number) => {
    const wasOpen = gate.current.openedAtMs !== null;
    gate.recordCheck(outcome, ms);
    if (outcome.ok) lastValid = outcome.body;
    const opensNow = outcome.ok && opensOn(outcome.body);
    // Never opens on anything but a trusted ready body with every required component...
    if (!wasOpen && gate.current.openedAtMs !== null) expect(opensNow).toBe(true);
    // ...opens on the very check that brings one, and stays open after.
    everOpen ||= opensNow;
    expect(gate.current.openedAtMs !== null).toBe(everOpen);
    expect(gate.ready()).toBe(outcome.ok && lastValid !== undefined && opensOn(lastValid));
  };
  await runCheckLoop(new URL('http://target.invalid/phase'), { ...TEST_TIMINGS, backoffMinMs: 0, backoffMaxMs: 0 }, deps, { onCheck, onLongPoll: () => {} }, stop.signal);
  expect(next).toBe(script.length + 1);
}

describe('the gate over random target behaviours', () => {
  it('is open iff a trusted ready body with every required component was seen, latched', async () => {
    await fc.assert(fc.asyncProperty(fc.array(behaviour, { maxLength: 25 }), play), { numRuns: 150 });
  });
});
