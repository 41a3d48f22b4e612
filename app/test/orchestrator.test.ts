import { PHASES, type PhaseName } from '../src/startup/phases';
import { createLogger } from '../../common/log';
import { COMPONENT_NAMES } from '../src/startup/components';
import { readServerConfig } from '../src/config';
import { type PhasePlan, runStartup, StartupError, verify, wire } from '../src/startup/orchestrator';
import { PhaseState } from '../src/startup/phase-state';
import { createStartupPlan } from '../src/startup/startup-plan';

const log = createLogger('test', 'silent');

function plan(env: Record<string, string> = {}): PhasePlan[] {
  return createStartupPlan({ env, config: readServerConfig(env), log });
}

/** A plan whose steps record the order they ran in. */
function recordingPlan(ran: string[]): PhasePlan[] {
  return plan().map(({ phase, steps }) => ({
    phase,
    steps: [verify(`mark-${phase}`, [], () => void ran.push(phase)), ...steps],
  }));
}

/** For startups that must fail: serving anything is a bug. */
const unexpected = () => {
  throw new Error('serve called for a startup that should fail');
};

describe('startup orchestrator', () => {
  it('runs the seven phases in order and builds every component', async () => {
    const ran: string[] = [];
    const served: unknown[] = [];
    const state = new PhaseState(COMPONENT_NAMES);
    const seqBefore = state.snapshot().seq;
    const components = await runStartup(recordingPlan(ran), { state, serve: (built) => served.push(built) });
    expect(ran).toEqual([...PHASES]);
    expect(Object.keys(components).sort()).toEqual([...COMPONENT_NAMES].sort());
    const body = state.snapshot();
    expect(body.completedPhases).toEqual([...PHASES]);
    expect(Object.values(body.components).every(Boolean)).toBe(true);
    // Served before ready, and the last phase's completion and ready are one change.
    expect(served).toEqual([components]);
    expect(body.state).toBe('ready');
    expect(body.seq - seqBefore).toBe(PHASES.length * 2 + COMPONENT_NAMES.length);
  });

  it.each(PHASES.map((phase) => [phase]))('fails fast at %s and runs no later phase', async (failPhase) => {
    const ran: string[] = [];
    const state = new PhaseState(COMPONENT_NAMES);
    const failure = runStartup(recordingPlan(ran), { state, failPhase, serve: unexpected });
    await expect(failure).rejects.toThrow(StartupError);
    const index = PHASES.indexOf(failPhase);
    // The failing phase's own steps never run either: the knob fails before them.
    expect(ran).toEqual(PHASES.slice(0, index));
    const body = state.snapshot();
    expect(body.state).toBe('failed');
    expect(body.phase).toBe(failPhase);
    expect(body.completedPhases).toEqual(PHASES.slice(0, index));
    expect(body.error).toEqual({ phase: failPhase, message: `rehearsed failure (APP_FAIL_PHASE=${failPhase})` });
  });

  it('turns a throwing step into a failure of its phase, naming the step', async () => {
    const broken = plan().map((entry) =>
      entry.phase === 'cache' ? { ...entry, steps: [verify('connect', [], () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')))] } : entry,
    );
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(broken, { state, serve: unexpected })).rejects.toThrow('connect: ECONNREFUSED 127.0.0.1:6379');
    expect(state.snapshot().error).toEqual({ phase: 'cache', message: 'connect: ECONNREFUSED 127.0.0.1:6379' });
    expect(state.snapshot().components.toolDispatcher).toBe(false);
  });

  it('names what the supervisor is missing instead of building it without', async () => {
    const withoutTools = plan().map((entry) => ({
      ...entry,
      steps: entry.steps.filter((step) => step.provides !== 'toolDispatcher' && step.provides !== 'llmClient'),
    }));
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(withoutTools, { state, serve: unexpected })).rejects.toThrow(StartupError);
    expect(state.snapshot().error).toEqual({
      phase: 'services',
      message: 'agentSupervisor: missing dependencies llmClient, toolDispatcher (no earlier step built them)',
    });
    expect(state.snapshot().components.agentSupervisor).toBe(false);
  });

  it('fails the finalize self-test when the registry was never wired to the bridge', async () => {
    const unwired = plan().map((entry) => (entry.phase === 'websocket' ? { ...entry, steps: [] } : entry));
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(unwired, { state, serve: unexpected })).rejects.toThrow('AgentRegistry is not connected to the AgentWebSocketBridge');
    expect(state.snapshot().error?.phase).toBe('finalize');
  });

  it('wires only in wire steps: without them the websocket phase check fails, so no verify step wired in their place', async () => {
    const kinds = plan().flatMap(({ phase, steps }) => steps.filter((step) => step.kind === 'wire').map((step) => `${phase}/${step.name}`));
    expect(kinds).toEqual(['websocket/connectRegistry']);
    const verifyOnly = plan().map((entry) => ({ ...entry, steps: entry.steps.filter((step) => step.kind !== 'wire') }));
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(verifyOnly, { state, serve: unexpected })).rejects.toThrow(StartupError);
    expect(state.snapshot().error).toEqual({
      phase: 'websocket',
      message: 'verifyWiring: AgentRegistry does not reach the WebSocketManager through the AgentWebSocketBridge',
    });
  });

  it('runs a wire step like a verify step (builds nothing, publishes no component) and names it when it throws', async () => {
    const cases: { name: string; connect: () => void; want: string | undefined }[] = [
      { name: 'wires', connect: () => {}, want: undefined },
      { name: 'throws', connect: () => { throw new Error('bridge refused'); }, want: 'link: bridge refused' },
    ];
    for (const { connect, want } of cases) {
      const withWire = plan().map((entry) => (entry.phase === 'init' ? { ...entry, steps: [...entry.steps, wire('link', [], connect)] } : entry));
      const state = new PhaseState(COMPONENT_NAMES);
      const seqBefore = state.snapshot().seq;
      const got = await runStartup(withWire, { state, serve: () => {} }).then(() => undefined, (error: Error) => error.message);
      expect(got).toBe(want);
      if (want === undefined) expect(state.snapshot().seq - seqBefore).toBe(PHASES.length * 2 + COMPONENT_NAMES.length);
    }
  });

  it('rejects a step that builds nothing, and a plan that leaves a component unbuilt', async () => {
    const hollow = plan().map((entry) =>
      entry.phase === 'database' ? { ...entry, steps: [{ ...entry.steps[0]!, run: async () => null }] } : entry,
    );
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(hollow, { state, serve: unexpected })).rejects.toThrow('sessionFactory: step built nothing');

    // Everything from the cache phase on is skipped: every later step needs what the cache phase builds.
    const noCache = plan().map((entry) => (['cache', 'services', 'websocket', 'finalize'].includes(entry.phase) ? { ...entry, steps: [] } : entry));
    await expect(runStartup(noCache, { state: new PhaseState(COMPONENT_NAMES), serve: unexpected })).rejects.toThrow('startup plan never built cacheClient');
  });

  it('refuses a plan with phases missing or out of order', async () => {
    const swapped = plan();
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    await expect(runStartup(swapped, { state: new PhaseState(COMPONENT_NAMES), serve: unexpected })).rejects.toThrow(/must run init, dependencies, database/);
    await expect(runStartup(plan().slice(1), { state: new PhaseState(COMPONENT_NAMES), serve: unexpected })).rejects.toThrow(/got dependencies/);
  });

  it('records each phase duration from the injected clock, including the rehearsal delay', async () => {
    let now = 0;
    const sleep = async (ms: number) => {
      now += ms;
    };
    const durations: Partial<Record<PhaseName, number>> = {};
    const state = new PhaseState(COMPONENT_NAMES);
    await runStartup(plan(), { state, serve: () => {}, phaseDelayMs: Object.fromEntries(PHASES.map((phase) => [phase, 250])), sleep, monotonicMs: () => now, onPhaseComplete: (phase, ms) => (durations[phase] = ms) });
    const expected = Object.fromEntries(PHASES.map((phase) => [phase, 250]));
    expect(durations).toEqual(expected);
    expect(state.snapshot().phaseDurationsMs).toEqual(expected);
  });

  it('stops before the next step when aborted', async () => {
    const controller = new AbortController();
    const stopping = plan().map((entry) =>
      entry.phase === 'database' ? { ...entry, steps: [verify('abort', [], () => controller.abort()), ...entry.steps] } : entry,
    );
    const state = new PhaseState(COMPONENT_NAMES);
    await expect(runStartup(stopping, { state, signal: controller.signal, serve: unexpected })).rejects.toThrow('shutting down');
    expect(state.snapshot().components.sessionFactory).toBe(false);
  });
});
