/**
 * The startup progress that the phase endpoint publishes (contract 1). Every change bumps `seq`
 * and wakes long-poll waiters.
 *
 * `stopping` is final. Once stopping, progress (a phase begun or completed, a component built,
 * startup complete) is dropped: the app no longer heads for `ready`, and nobody may see it go
 * there. A failure is still recorded, in `error`, with the state left at `stopping`: a startup
 * that ended while the process stopped still says where and why.
 */
import { PHASE_CONTRACT_VERSION, type PhaseBody, type PhaseError, type StartupState } from '../../../common/phase-contract';
import { PHASES, type PhaseName } from './phases';

export type PhaseDurations = Partial<Record<PhaseName, number>>;

/** Contract 1 body plus this app's extension: how long each finished phase took. */
export type AppPhaseBody = PhaseBody & { phaseDurationsMs: PhaseDurations };

export class PhaseState {
  private state: StartupState = 'starting';
  private phase: PhaseName = PHASES[0];
  private readonly completed: PhaseName[] = [];
  private readonly durations: PhaseDurations = {};
  private readonly components: Record<string, boolean>;
  private error: PhaseError | null = null;
  private seq = 1;
  private readonly startedAt: string;
  private updatedAt: string;
  private readonly waiters = new Set<() => void>();

  constructor(
    componentNames: readonly string[],
    private readonly now: () => Date = () => new Date(),
  ) {
    this.components = Object.fromEntries(componentNames.map((name) => [name, false]));
    this.startedAt = this.updatedAt = this.now().toISOString();
  }

  get current(): StartupState {
    return this.state;
  }

  snapshot(): AppPhaseBody {
    return {
      contract: PHASE_CONTRACT_VERSION,
      state: this.state,
      phase: this.phase,
      completedPhases: [...this.completed],
      components: { ...this.components },
      error: this.error === null ? null : { ...this.error },
      seq: this.seq,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
      phaseDurationsMs: { ...this.durations },
    };
  }

  beginPhase(phase: PhaseName): void {
    this.change(() => {
      this.phase = phase;
    });
  }

  completePhase(phase: PhaseName, durationMs: number): void {
    this.change(() => {
      this.completed.push(phase);
      this.durations[phase] = durationMs;
    });
  }

  componentBuilt(name: string): void {
    this.change(() => {
      this.components[name] = true;
    });
  }

  fail(error: PhaseError): void {
    this.change(
      () => {
        if (this.state !== 'stopping') this.state = 'failed';
        this.error = { ...error };
      },
      { evenWhileStopping: true },
    );
  }

  /** The last phase completed and the app serves: one change, one answer to long-poll clients. */
  completeStartup(phase: PhaseName, durationMs: number): void {
    this.change(() => {
      this.completed.push(phase);
      this.durations[phase] = durationMs;
      this.state = 'ready';
    });
  }

  markStopping(): void {
    if (this.state === 'stopping') return;
    this.change(() => {
      this.state = 'stopping';
    });
  }

  /** Calls `listener` after every change; returns the function that stops it. */
  subscribe(listener: () => void): () => void {
    this.waiters.add(listener);
    return () => this.waiters.delete(listener);
  }

  /**
   * Resolves with the body as soon as seq > afterSeq, or after waitMs with the current body.
   * `signal` ends the wait early (the client went away).
   */
  waitForChange(afterSeq: number, waitMs: number, signal?: AbortSignal): Promise<AppPhaseBody> {
    if (this.seq > afterSeq || waitMs <= 0 || signal?.aborted) return Promise.resolve(this.snapshot());
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(onChange);
        signal?.removeEventListener('abort', finish);
        resolve(this.snapshot());
      };
      const onChange = () => {
        if (this.seq > afterSeq) finish();
      };
      const timer = setTimeout(finish, waitMs);
      this.waiters.add(onChange);
      signal?.addEventListener('abort', finish, { once: true });
    });
  }

  private change(apply: () => void, { evenWhileStopping = false } = {}): void {
    if (this.state === 'stopping' && !evenWhileStopping) return;
    apply();
    this.seq += 1;
    this.updatedAt = this.now().toISOString();
    for (const wake of [...this.waiters]) wake();
  }
}
