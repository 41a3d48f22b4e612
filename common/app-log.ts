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
