import { decide } from '../../common/startup-decision';
import { type CheckOutcome, INITIAL_STATE, type GateState, afterCheck, isLive, isReady, startupPending, startupReason } from '../src/decision';
import { describeChanges } from '../src/gate';
import { REQUIRED } from './support';
import { phaseBody, READY_BODY } from '../../testkit/phase-endpoint';

const failedBody = phaseBody({ state: 'failed', phase: 'database', error: { phase: 'database', message: 'connection refused' }, seq: 5 });

describe('decide: one case per state', () => {
  it.each([
    ['no observation yet', undefined, { open: false, reason: 'no_observation', missing: REQUIRED }],
    ['starting', phaseBody({ phase: 'services' }), { open: false, reason: 'starting', missing: REQUIRED }],
    ['failed', failedBody, { open: false, reason: 'failed', missing: REQUIRED }],
    ['stopping, even with every component', phaseBody({ state: 'stopping', components: READY_BODY.components }), { open: false, reason: 'stopping', missing: [] }],
    ['ready without the bridge', phaseBody({ state: 'ready', components: { agentSupervisor: true, websocketBridge: false } }), { open: false, reason: 'missing_components', missing: ['websocketBridge'] }],
    ['ready with a required component absent', phaseBody({ state: 'ready', components: { agentSupervisor: true } }), { open: false, reason: 'missing_components', missing: ['websocketBridge'] }],
    ['ready with every required component', READY_BODY, { open: true, reason: 'ready', missing: [] }],
  ])('%s', (_name, observation, expected) => {
    expect(decide(observation, REQUIRED)).toEqual(expected);
  });

  it('requires only what it is told to require', () => {
    expect(decide(phaseBody({ state: 'ready', components: { db: true } }), ['db']).open).toBe(true);
    expect(decide(phaseBody({ state: 'ready', components: {} }), []).open).toBe(true);
  });
});

const ok = (body = READY_BODY): CheckOutcome => ({ ok: true, body });
const bad: CheckOutcome = { ok: false, failure: { result: 'refused', message: 'connection refused' } };
const run = (outcomes: CheckOutcome[], from: GateState = INITIAL_STATE) => outcomes.reduce((state, outcome, i) => afterCheck(state, outcome, i + 1, REQUIRED), from);

describe('afterCheck, isReady and startupReason', () => {
  it('opens on the first ready body and stays open (latched) when the app falls back', () => {
    const opened = run([ok(phaseBody()), ok()]);
    expect(opened.openedAtMs).toBe(2);
    const later = run([ok(phaseBody({ seq: 10 })), bad], opened);
    expect(later.openedAtMs).toBe(2);
    expect(isReady(later, REQUIRED)).toBe(false);
  });

  it('keeps the last valid observation through failed checks, and names the failure while it lasts', () => {
    const state = run([ok(phaseBody({ phase: 'cache' })), bad]);
    expect(state.observation?.phase).toBe('cache');
    expect(startupReason(state, REQUIRED)).toEqual({
      state: 'starting',
      phase: 'cache',
      reason: 'starting',
      missing: REQUIRED,
      error: null,
      lastCheckError: { result: 'refused' },
    });
  });

  it('clears the failure once a check succeeds again', () => {
    const state = run([ok(phaseBody({ phase: 'cache' })), bad, bad, ok(phaseBody({ phase: 'services' }))]);
    expect(state.observation?.phase).toBe('services');
    expect(state.lastCheckError).toBeNull();
    expect(startupReason(state, REQUIRED)).toMatchObject({ phase: 'services', reason: 'starting', lastCheckError: null });
  });

  it('names the phase the app failed in, not its message', () => {
    expect(startupReason(run([ok(failedBody)]), REQUIRED)).toMatchObject({ state: 'failed', phase: 'database', error: { phase: 'database' } });
    expect(JSON.stringify(startupReason(run([ok(failedBody)]), REQUIRED))).not.toContain('connection refused');
  });

  it('is ready only while the latest check is trusted and not shutting down', () => {
    const open = run([ok()]);
    expect(isReady(open, REQUIRED)).toBe(true);
    expect(isReady(run([bad], open), REQUIRED)).toBe(false);
    expect(isReady({ ...open, stopping: true }, REQUIRED)).toBe(false);
  });

  it('is live unless the loop crashed or went silent too long', () => {
    expect(isLive(1000, 500, 600, false)).toBe(true);
    expect(isLive(1200, 500, 600, false)).toBe(false);
    expect(isLive(1000, 1000, 600, true)).toBe(false);
  });
});

describe('describeChanges: one line per change, not per check', () => {
  const messages = (before: GateState, after: GateState) => describeChanges(before, after, REQUIRED, 0, 0).map((e) => `${e.level}: ${e.message}`);

  it('logs a failure kind once, and the recovery once', () => {
    const failing = run([bad]);
    expect(messages(INITIAL_STATE, failing)).toEqual(['warn: check failed (refused): connection refused']);
    expect(messages(failing, run([bad], failing))).toEqual([]);
    const timeout = run([{ ok: false, failure: { result: 'timeout', message: 'slow' } }], failing);
    expect(messages(failing, timeout)).toEqual(['warn: check failed (timeout): slow']);
  });

  it('logs phase changes, the opening, and nothing for an unchanged body', () => {
    const starting = run([ok(phaseBody())]);
    expect(messages(INITIAL_STATE, starting)).toEqual(['info: app starting in phase init']);
    expect(messages(starting, run([ok(phaseBody({ seq: 2 }))], starting))).toEqual([]);
    expect(messages(starting, run([ok()], starting))).toEqual(['info: app ready in phase finalize', 'info: gate open']);
  });

  it('warns once when the backend says ready without a required component, naming what it lists', () => {
    const misnamed = run([ok(phaseBody({ state: 'ready', components: { agentSupervisor: true, wsBridge: true } }))]);
    expect(messages(INITIAL_STATE, misnamed)).toEqual([
      'info: app ready in phase init',
      'warn: the backend reports ready but does not list websocketBridge in its components (it lists agentSupervisor, wsBridge): the gate stays closed; check GATE_REQUIRE against the names it publishes',
    ]);
    expect(messages(misnamed, run([ok(phaseBody({ state: 'ready', seq: 2, components: { agentSupervisor: true, wsBridge: true } }))], misnamed))).toEqual([]);
    const down = run([ok(phaseBody({ state: 'ready', components: { agentSupervisor: true, websocketBridge: false } }))]);
    expect(messages(INITIAL_STATE, down)).toContain('warn: the backend reports ready with websocketBridge false: the gate stays closed until they are true');
  });

  it('warns when the body changes while seq stays, and not when seq moves', () => {
    const startedAt = '2026-12-04T10:00:00.000Z';
    const starting = run([ok(phaseBody({ seq: 4, startedAt }))]);
    expect(messages(starting, run([ok(phaseBody({ seq: 4, phase: 'cache', startedAt }))], starting))).toContain(
      'warn: the backend changed phase while seq stayed 4: contract 1 wants seq to grow on every change, or a long-poll hears of it only when its wait ends',
    );
    expect(messages(starting, run([ok(phaseBody({ seq: 5, phase: 'cache', startedAt }))], starting))).toEqual(['info: app starting in phase cache']);
  });

  it('ends with one ERROR line naming the failed phase and the message', () => {
    const failed = run([ok(failedBody)], run([bad]));
    const lines = messages(run([bad]), failed);
    expect(lines.at(-1)).toBe('error: app startup failed in phase database: connection refused');
    expect(messages(failed, run([ok(failedBody)], failed))).toEqual([]);
  });
});

describe('startupPending: /startup holds a probe only while the outcome is still open', () => {
  it.each([
    ['before any observation', INITIAL_STATE, true],
    ['while the app starts', run([ok(phaseBody())]), true],
    ['while a required component is missing', run([ok(phaseBody({ state: 'ready', components: { agentSupervisor: true } }))]), true],
    ['once open', run([ok()]), false],
    ['once the app failed', run([ok(failedBody)]), false],
    ['once the app stops', run([ok(phaseBody({ state: 'stopping' }))]), false],
    ['once the gate shuts down', { ...run([ok(phaseBody())]), stopping: true }, false],
  ])('%s', (_name, state, pending) => {
    expect(startupPending(state, REQUIRED)).toBe(pending);
  });
});
