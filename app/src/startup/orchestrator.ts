/**
 * Deterministic startup: runs the seven phases in order, each a list of named steps of three
 * kinds: `build` makes one component from components built before it, `wire` connects components
 * already built to each other (the only step that changes them), `verify` checks and changes
 * nothing, so a verify step can be dropped or repeated without changing what starts. The first
 * failure ends startup: no later step runs, and no component is ever replaced by a stand-in.
 */
import type { PhaseError } from '../../../common/phase-contract';
import { PHASES, type PhaseName } from './phases';
import { COMPONENT_NAMES, type ComponentName, type Components } from './components';
import { describeError } from '../errors';
import type { PhaseState } from './phase-state';

type Needs<N extends ComponentName> = Pick<Components, N>;

type StepKind = 'build' | 'wire' | 'verify';

export interface Step {
  readonly kind: StepKind;
  readonly name: string;
  readonly needs: readonly ComponentName[];
  readonly provides: ComponentName | undefined;
  run(deps: Partial<Components>): Promise<unknown>;
}

/** A step that builds the component `provides` from the components it `needs`. */
export function build<K extends ComponentName, N extends ComponentName = never>(
  provides: K,
  needs: readonly N[],
  create: (deps: Needs<N>) => Components[K] | Promise<Components[K]>,
): Step {
  return { kind: 'build', name: provides, needs, provides, run: async (deps) => create(deps as Needs<N>) };
}

/** A step that connects the components it `needs` to each other and builds nothing; it fails by throwing. */
export function wire<N extends ComponentName>(name: string, needs: readonly N[], connect: (deps: Needs<N>) => void | Promise<void>): Step {
  return { kind: 'wire', name, needs, provides: undefined, run: async (deps) => connect(deps as Needs<N>) };
}

/** A step that checks the components it `needs` and changes nothing; it fails by throwing. */
export function verify<N extends ComponentName>(name: string, needs: readonly N[], check: (deps: Readonly<Needs<N>>) => void | Promise<void>): Step {
  return { kind: 'verify', name, needs, provides: undefined, run: async (deps) => check(deps as Needs<N>) };
}

export interface PhasePlan {
  phase: PhaseName;
  steps: readonly Step[];
}

export class StartupError extends Error {
  constructor(
    readonly phase: PhaseName,
    readonly step: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }

  toPhaseError(): PhaseError {
    return { phase: this.phase, message: this.message };
  }
}

export interface StartupOptions {
  state: PhaseState;
  /** Rehearsal knob: extra time spent at the start of a phase. */
  phaseDelayMs?: Partial<Record<PhaseName, number>>;
  /** Rehearsal knob: the phase that fails on purpose. */
  failPhase?: PhaseName;
  monotonicMs?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onPhaseStart?: (phase: PhaseName) => void;
  onPhaseComplete?: (phase: PhaseName, durationMs: number) => void;
  /**
   * Starts serving the built components. Called once every phase passed, before the state turns
   * ready: the last phase's completion and `ready` are published as one change, so a long-poll
   * client learns both from one answer, and nobody sees `ready` before chat is served.
   */
  serve: (components: Components) => void;
  /** Aborting stops startup before the next step (shutdown during startup). */
  signal?: AbortSignal;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Checks that a plan runs exactly the seven phases, in order. */
export function assertPlanOrder(plan: readonly PhasePlan[]): void {
  const names = plan.map((entry) => entry.phase);
  if (names.length !== PHASES.length || names.some((name, index) => name !== PHASES[index])) {
    throw new Error(`startup plan must run ${PHASES.join(', ')} in order, got ${names.join(', ')}`);
  }
}

/**
 * Runs the plan. Once all phases pass, hands the components to `serve`, marks the state ready and
 * resolves with them. On the first failure marks the state failed and rejects with a
 * StartupError.
 */
export async function runStartup(plan: readonly PhasePlan[], options: StartupOptions): Promise<Components> {
  assertPlanOrder(plan);
  const { state, phaseDelayMs = {}, failPhase, monotonicMs = () => performance.now(), sleep = defaultSleep, signal } = options;
  const built: Partial<Components> = {};
  for (const { phase, steps } of plan) {
    const started = monotonicMs();
    state.beginPhase(phase);
    options.onPhaseStart?.(phase);
    try {
      const delay = phaseDelayMs[phase] ?? 0;
      if (delay > 0) await sleep(delay);
      if (phase === failPhase) throw new StartupError(phase, 'rehearsal', `rehearsed failure (APP_FAIL_PHASE=${phase})`);
      for (const step of steps) {
        if (signal?.aborted) throw new StartupError(phase, step.name, 'startup stopped: the process is shutting down');
        await runStep(phase, step, built, state);
      }
      if (phase === PHASES[PHASES.length - 1]) assertAllBuilt(built, phase);
    } catch (error) {
      const failure = error instanceof StartupError ? error : new StartupError(phase, 'unknown', describeError(error));
      state.fail(failure.toPhaseError());
      throw failure;
    }
    const durationMs = Math.round(monotonicMs() - started);
    if (phase === PHASES[PHASES.length - 1]) {
      options.serve(built as Components);
      state.completeStartup(phase, durationMs);
    } else {
      state.completePhase(phase, durationMs);
    }
    options.onPhaseComplete?.(phase, durationMs);
  }
  return built as Components;
}

async function runStep(phase: PhaseName, step: Step, built: Partial<Components>, state: PhaseState): Promise<void> {
  const missing = step.needs.filter((name) => built[name] === undefined || built[name] === null);
  if (missing.length > 0) {
    throw new StartupError(phase, step.name, `${step.name}: missing dependencies ${missing.join(', ')} (no earlier step built them)`);
  }
  let value: unknown;
  try {
    value = await step.run(built);
  } catch (error) {
    throw new StartupError(phase, step.name, `${step.name}: ${describeError(error)}`);
  }
  if (step.provides === undefined) return;
  if (value === undefined || value === null) throw new StartupError(phase, step.name, `${step.name}: step built nothing`);
  (built as Record<ComponentName, unknown>)[step.provides] = value;
  state.componentBuilt(step.provides);
}

function assertAllBuilt(built: Partial<Components>, phase: PhaseName): void {
  const never = COMPONENT_NAMES.filter((name) => built[name] === undefined);
  if (never.length > 0) throw new StartupError(phase, 'complete', `startup plan never built ${never.join(', ')}`);
}
