/**
 * The gate's state over time: takes each check's outcome, keeps the decision state, the metrics
 * and the logs in step, and reports a failed app once. Logs say what changed, never every check.
 */
import type { NotReadyBody, StartupOpenBody, StartupReason } from '../../common/gate-contract';
import type { Logger } from '../../common/log';
import type { PhaseBody, PhaseError } from '../../common/phase-contract';
import { decide } from '../../common/startup-decision';
import { ProbeHolds } from '../../common/startup-hold';
import { EMPTY_PHASE_CLOCK, observePhases } from './boot-timing';
import { ChangeLogBound } from './bounds';
import type { CheckTimings } from './config';
import { type CheckOutcome, type GateState, INITIAL_STATE, afterCheck, appError, isLive, isReady, startupPending, startupReason } from './decision';
import type { GateMetrics } from './metrics';

export interface LogEvent {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

const GATE_OPEN = 'gate open';

/** The body's fields whose change must move seq (contract 1). */
const BODY_FIELDS = ['state', 'phase', 'completedPhases', 'components', 'error'] as const;

/** Required components the body does not list at all: usually a name that differs between GATE_REQUIRE and the backend. */
const unlisted = (body: PhaseBody | undefined, required: readonly string[]) => required.filter((name) => body === undefined || !(name in body.components));

/** What is worth a log line between two states; the failure of the app always comes last. */
export function describeChanges(before: GateState, after: GateState, required: readonly string[], startedAtMs: number, wallNowMs: number): LogEvent[] {
  const events: LogEvent[] = [];
  const failure = after.lastCheckOk ? null : after.lastCheckError;
  const sameFailureAgain = !before.lastCheckOk && before.lastCheckError?.result === failure?.result;
  if (failure !== null && !sameFailureAgain) {
    events.push({ level: 'warn', message: `check failed (${failure.result}): ${failure.message}`, fields: { result: failure.result } });
  }
  if (after.lastCheckOk && !before.lastCheckOk && before.lastCheckError !== null) {
    events.push({ level: 'info', message: 'check succeeded again', fields: { previous: before.lastCheckError.result } });
  }
  const was = before.observation;
  const now = after.observation;
  if (now !== undefined && (was?.state !== now.state || was.phase !== now.phase)) {
    events.push({ level: 'info', message: `app ${now.state} in phase ${now.phase}`, fields: { state: now.state, phase: now.phase, seq: now.seq } });
  }
  if (was !== undefined && now !== undefined && was.startedAt === now.startedAt && was.seq === now.seq) {
    const changed = BODY_FIELDS.filter((field) => JSON.stringify(was[field]) !== JSON.stringify(now[field]));
    if (changed.length > 0) {
      events.push({
        level: 'warn',
        message: `the backend changed ${changed.join(', ')} while seq stayed ${now.seq}: contract 1 wants seq to grow on every change, or a long-poll hears of it only when its wait ends`,
        fields: { seq: now.seq, changed },
      });
    }
  }
  if (now?.state === 'ready' && before.openedAtMs === null && (was?.state !== 'ready' || unlisted(was, required).join() !== unlisted(now, required).join())) {
    const absent = unlisted(now, required);
    const down = required.filter((name) => name in now.components && now.components[name] !== true);
    if (absent.length > 0 || down.length > 0) {
      events.push({
        level: 'warn',
        message:
          absent.length > 0
            ? `the backend reports ready but does not list ${absent.join(', ')} in its components (it lists ${Object.keys(now.components).join(', ') || 'none'}): the gate stays closed; check GATE_REQUIRE against the names it publishes`
            : `the backend reports ready with ${down.join(', ')} false: the gate stays closed until they are true`,
        fields: { missing: absent, notReady: down },
      });
    }
  }
  if (before.openedAtMs === null && after.openedAtMs !== null) {
    events.push({
      level: 'info',
      message: GATE_OPEN,
      fields: {
        timeToOpenMs: Math.round(after.openedAtMs - startedAtMs),
        // Both containers of an instance share one clock, so this is the delay from ready to open.
        sinceAppUpdateMs: now === undefined ? null : wallNowMs - Date.parse(now.updatedAt),
      },
    });
  }
  const readyBefore = isReady(before, required);
  const readyAfter = isReady(after, required);
  if (after.openedAtMs !== null && before.openedAtMs !== null && readyBefore !== readyAfter) {
    events.push({ level: readyAfter ? 'info' : 'warn', message: readyAfter ? 'ready again' : 'no longer ready', fields: { state: now?.state ?? null } });
  }
  if (now?.state === 'failed' && was?.state !== 'failed') {
    const error = appError(now);
    events.push({ level: 'error', message: `app startup failed in phase ${error.phase}: ${error.message}`, fields: { phase: error.phase, appError: error.message } });
  }
  return events;
}

/** How long the check loop may go without finishing a check before /live fails. */
export function maxSilenceMs(timings: CheckTimings): number {
  return timings.checkTimeoutMs + timings.longPollMs + Math.max(timings.backoffMaxMs, timings.pollIntervalMs) + 1000;
}

export interface GateOptions {
  required: readonly string[];
  timings: CheckTimings;
  log: Logger;
  metrics: GateMetrics;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Called once, after the error line is logged, when the app reports `failed`. */
  onAppFailed: (error: PhaseError) => void;
}

export class Gate {
  /** Startup probes waiting for the gate to open; woken on every change of state. */
  readonly holds = new ProbeHolds();
  private state: GateState = INITIAL_STATE;
  private readonly startedAtMs: number;
  private lastProgressMs: number;
  private loopCrashed = false;
  private phaseClock = EMPTY_PHASE_CLOCK;
  private readonly changeLog = new ChangeLogBound();

  constructor(private readonly options: GateOptions) {
    this.startedAtMs = this.lastProgressMs = options.now();
    options.metrics.countHolds(() => this.holds.count);
    options.metrics.update(this.state, this.startedAtMs);
  }

  get current(): GateState {
    return this.state;
  }

  recordCheck(outcome: CheckOutcome, durationMs: number): void {
    const { metrics, now, required } = this.options;
    const before = this.state;
    this.lastProgressMs = now();
    this.state = afterCheck(before, outcome, this.lastProgressMs, required);
    metrics.recordCheck(outcome.ok ? 'ok' : outcome.failure.result, durationMs);
    if (outcome.ok) this.timePhases(outcome.body);
    if (before.openedAtMs === null && this.state.openedAtMs !== null) metrics.recordBoot((this.state.openedAtMs - this.startedAtMs) / 1000);
    metrics.update(this.state, this.startedAtMs);
    for (const event of describeChanges(before, this.state, required, this.startedAtMs, Date.now())) this.write(event);
    this.holds.wake();
    const app = this.state.observation;
    if (app?.state === 'failed' && before.observation?.state !== 'failed') this.options.onAppFailed(appError(app));
  }

  private timePhases(body: PhaseBody): void {
    const { clock, completed } = observePhases(this.phaseClock, body, this.lastProgressMs);
    this.phaseClock = clock;
    for (const { phase, seconds } of completed) this.options.metrics.recordPhase(phase, seconds);
  }

  /** A change line, within the bound on change lines; the app's failure and the opening always get theirs. */
  private write(event: LogEvent): void {
    const { log, now } = this.options;
    if (event.level !== 'error' && event.message !== GATE_OPEN) {
      const verdict = this.changeLog.admit(now());
      if (verdict.before !== undefined) log[verdict.before.level](verdict.before.fields, verdict.before.message);
      if (!verdict.write) return;
    }
    log[event.level](event.fields, event.message);
  }

  recordLongPoll(honoured: boolean): void {
    const { log, timings } = this.options;
    if (honoured) log.info({ waitMs: timings.longPollMs }, 'target honours long-poll');
    else log.info({ pollIntervalMs: timings.pollIntervalMs }, `target ignores long-poll; polling every ${timings.pollIntervalMs} ms`);
  }

  loopFailed(error: unknown): void {
    this.loopCrashed = true;
    this.options.log.error({ err: error }, 'check loop crashed');
  }

  /** SIGTERM: /ready answers 503 from now on, and held startup probes get their answer now. */
  beginShutdown(): void {
    this.state = { ...this.state, stopping: true };
    this.options.metrics.update(this.state, this.startedAtMs);
    this.holds.wake();
  }

  /** Whether a startup probe is worth holding: closed, and neither the app nor the gate is done. */
  startupPending(): boolean {
    return startupPending(this.state, this.options.required);
  }

  /** /startup's body: open (200) or why not (503). */
  startup(): StartupOpenBody | StartupReason {
    if (this.state.openedAtMs !== null) return { state: 'open', openedAfterMs: Math.round(this.state.openedAtMs - this.startedAtMs) };
    return startupReason(this.state, this.options.required);
  }

  ready(): boolean {
    return isReady(this.state, this.options.required);
  }

  /** Why /ready answers 503: shutting down, the latest check failed, or the app is not ready; with the messages when `withDetail`. */
  readyReason(withDetail = false): NotReadyBody {
    const { stopping, lastCheckOk, observation, lastCheckError } = this.state;
    const body: NotReadyBody = { ready: false, stopping, lastCheckOk, reason: decide(observation, this.options.required).reason };
    return withDetail ? { ...body, detail: { error: observation?.error ?? null, lastCheckError } } : body;
  }

  live(): boolean {
    return isLive(this.options.now(), this.lastProgressMs, maxSilenceMs(this.options.timings), this.loopCrashed);
  }
}
