/** What the local revision did, in order, with times relative to the runner's start. */
import { type ProbeTiming, startupCoverSeconds } from '../../common/probes';
import { BUDGET_WARNING_SHARE, budgetShare } from './budget';
import type { ProbeModel } from './probe-model';

export type TimelineEvent =
  | { kind: 'front-door'; url: string }
  | { kind: 'container-started'; container: string; pid: number | undefined }
  | { kind: 'container-exited'; container: string; code: number | null; signal: string | null }
  | { kind: 'phase'; container: string; phase: string; durationMs: number }
  | { kind: 'app-log'; container: string; severity: string; message: string }
  | { kind: 'startup-schedule'; container: string; initialDelaySeconds: number; periodSeconds: number; failureThreshold: number }
  | { kind: 'probe'; container: string; probe: 'startup' | 'liveness'; attempt: number; ok: boolean; detail: string; durationMs: number }
  | { kind: 'startup-passed'; container: string; attempts: number }
  | { kind: 'traffic'; heldRequests: number; probeModel: ProbeModel }
  | { kind: 'request-held'; request: string }
  | { kind: 'request-expired'; request: string }
  | { kind: 'restart'; container: string; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'stopping' }
  | { kind: 'stopped' };

export type Stamped = TimelineEvent & { atMs: number };

export type Emit = (event: TimelineEvent) => void;

export function formatEvent(event: Stamped): string {
  const at = `+${(event.atMs / 1000).toFixed(3)}s`.padStart(10);
  const who = 'container' in event ? event.container.padEnd(6) : '      ';
  return `${at}  ${who}  ${describe(event)}`;
}

function describe(event: TimelineEvent): string {
  switch (event.kind) {
    case 'front-door':
      return `front door listening on ${event.url}: requests wait here until the instance is ready`;
    case 'container-started':
      return `started (pid ${event.pid ?? '?'})`;
    case 'container-exited':
      return `exited (${event.signal ?? `code ${event.code}`})`;
    case 'phase':
      return `phase ${event.phase} complete in ${event.durationMs} ms`;
    case 'app-log':
      return `${event.severity}: ${event.message}`;
    case 'startup-schedule':
      return describeSchedule(event);
    case 'probe':
      return `${event.probe} probe #${event.attempt} ${event.ok ? 'passed' : 'failed'}: ${event.detail} (${Math.round(event.durationMs)} ms)`;
    case 'startup-passed':
      return `startup probe passed after ${event.attempts} attempt${event.attempts === 1 ? '' : 's'}`;
    case 'traffic':
      return `${event.probeModel === 'ingress-only' ? "the ingress container's startup probe passed" : 'every startup probe passed'}: Cloud Run would now send traffic${event.heldRequests ? ` (releasing ${event.heldRequests} held requests)` : ''}`;
    case 'request-held':
      return `front door holds ${event.request} until the instance is ready`;
    case 'request-expired':
      return `front door gave up on ${event.request}: 503`;
    case 'restart':
      return `restarting: ${event.reason}`;
    case 'failed':
      return `REVISION FAILED: ${event.reason}`;
    case 'stopping':
      return 'stopping: SIGTERM to every container';
    case 'stopped':
      return 'stopped';
  }
}

/**
 * The startup probe's schedule, shown where the run starts: with an initial delay (a budget beyond
 * 240 s) no attempt runs before it ends, so a boot that is ready sooner still waits for it.
 */
export function describeSchedule(timing: Omit<ProbeTiming, 'timeoutSeconds'>): string {
  const { initialDelaySeconds: delay, periodSeconds: period, failureThreshold: attempts } = timing;
  const cover = startupCoverSeconds(timing);
  const tries = `up to ${attempts} attempt${attempts === 1 ? '' : 's'} ${period} s apart`;
  if (delay === 0) return `startup probe: ${tries}, ${cover} s to pass`;
  return `startup probe: first attempt after a ${delay} s initial delay, then ${tries}, ${cover} s to pass; a boot ready sooner still waits the ${delay} s`;
}

export interface BootAgainstBudget {
  readyAtMs: number;
  budgetSeconds: number;
  /** Phase completions in the order the app logged them. */
  phases: readonly { phase: string; durationMs: number }[];
}

/** The boot against the stack's budget, npm start's last line: a warning past BUDGET_WARNING_SHARE of it. */
export function describeBoot({ readyAtMs, budgetSeconds, phases }: BootAgainstBudget): { line: string; warn: boolean; share: number; slowestPhase: { phase: string; durationMs: number } | null } {
  const { share, warn } = budgetShare(readyAtMs / 1000, budgetSeconds);
  const slowestPhase = phases.reduce<{ phase: string; durationMs: number } | null>((slowest, p) => (slowest === null || p.durationMs > slowest.durationMs ? p : slowest), null);
  const slowest = slowestPhase === null ? '' : ` (slowest phase: ${slowestPhase.phase} ${(slowestPhase.durationMs / 1000).toFixed(1)} s)`;
  const figures = `ready at ${(readyAtMs / 1000).toFixed(1)} s: ${Math.round(share * 100)}% of the ${budgetSeconds} s budget${slowest}`;
  const line = warn
    ? `WARNING: ${figures}, past ${BUDGET_WARNING_SHARE * 100}%: a slower boot in the cloud would be killed; shorten the slowest phase or size startupBudgetSeconds with npm run budget`
    : figures;
  return { line, warn, share, slowestPhase };
}
