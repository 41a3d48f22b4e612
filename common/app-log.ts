/**
 * The app's log lines that another program reads: the local runner (runner/src/revision-runner.ts)
 * shows the app's phase completions and its warnings and errors. Every line is one JSON object
 * with `severity` and `message` (common/log.ts); a phase completion adds `phase` (the phase's name)
 * and `durationMs` (a number). The app writes that line with `phaseCompleteLog`, the runner reads
 * lines with `parseAppLogLine`, so the field names live here only. docs/local-runner.md says it in prose.
 */

export interface PhaseComplete {
  phase: string;
  durationMs: number;
}

/** The fields and message of the app's "phase X complete" line. */
export function phaseCompleteLog(phase: string, durationMs: number): { fields: PhaseComplete; message: string } {
  return { fields: { phase, durationMs }, message: `phase ${phase} complete` };
}

export type AppLogLine =
  /** Not JSON: a crash's stack trace, Node's own warnings. */
  | { kind: 'text'; text: string }
  | ({ kind: 'phase-complete' } & PhaseComplete)
  | { kind: 'entry'; severity: string | undefined; message: string };

/** Reads one line of the app's stdout; never throws. */
export function parseAppLogLine(line: string): AppLogLine {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return { kind: 'text', text: line };
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { kind: 'text', text: line };
  const { severity, message, phase, durationMs } = entry as Record<string, unknown>;
  if (typeof phase === 'string' && typeof durationMs === 'number') return { kind: 'phase-complete', phase, durationMs };
  return { kind: 'entry', severity: typeof severity === 'string' ? severity : undefined, message: String(message) };
}

/**
 * The app's two lines per dependency outage: one when it starts serving without the dependency
 * (WARNING), one when it has it back (INFO). The log-based metric behind the "degraded too long"
 * alert (infra/alert-rules.ts) matches these messages and reads `dependency` and `degraded`.
 */
export const DEPENDENCY_DEGRADED_MESSAGE = 'dependency degraded';
export const DEPENDENCY_RECOVERED_MESSAGE = 'dependency recovered';

export interface DependencyTransition {
  dependency: string;
  /** 1 from the degraded line, 0 from the recovered line: the metric's value. */
  degraded: 0 | 1;
  reason?: string;
  degradedMs?: number;
}

export function degradedLog(dependency: string, reason: string): { fields: DependencyTransition; message: string } {
  return { fields: { dependency, degraded: 1, reason }, message: DEPENDENCY_DEGRADED_MESSAGE };
}

export function recoveredLog(dependency: string, degradedMs: number): { fields: DependencyTransition; message: string } {
  return { fields: { dependency, degraded: 0, degradedMs }, message: DEPENDENCY_RECOVERED_MESSAGE };
}
