/**
 * Contract 1's rules, judged over what a checker saw while following a backend: each answer with
 * the request that fetched it. Pure: `check-phase.ts` does the GETs, this decides what they show.
 * Each broken rule is reported once, at its first breach, with what was seen and what the
 * contract wants, so a team fixes one line at a time.
 */
import { type PhaseBody, phaseBodySchema, phaseStatusCode } from '../../common/phase-contract';
import { honoursLongPoll, type LongPoll } from './checker';
import type { CheckTimings } from './config';

/** One GET and its answer (`status` 0: no answer; `error` says why). */
export interface Observation {
  sent: LongPoll | null;
  status: number;
  contentType: string;
  text: string;
  elapsedMs: number;
  error?: string;
}

export interface Violation {
  rule: RuleName;
  seen: string;
  wants: string;
  docs: string;
}

const DOCS = 'docs/phase-contract.md';

export const RULES = {
  answers: { wants: 'an answer to GET within the gate\'s check timeout', docs: `${DOCS}#request` },
  status: { wants: 'HTTP 200 when state is ready, 503 otherwise', docs: `${DOCS}#response` },
  'content-type': { wants: 'Content-Type: application/json', docs: `${DOCS}#response` },
  schema: { wants: 'a JSON body with every field of contract 1 (RFC 3339 timestamps with a UTC offset)', docs: `${DOCS}#response` },
  'seq-grows': { wants: 'seq never goes back while the process lives (same startedAt)', docs: `${DOCS}#response` },
  'seq-moves': { wants: 'seq to grow on every change of the body', docs: `${DOCS}#response` },
  'long-poll': { wants: 'afterSeq=N&waitMs=M held until seq > N or M ms pass', docs: `${DOCS}#request` },
  'failed-error': { wants: 'state failed with error {phase, message}, both non-empty', docs: `${DOCS}#response` },
  'required-components': { wants: 'state ready only with every required component true', docs: `${DOCS}#response` },
  'reaches-end': { wants: 'state ready or failed before the checker\'s timeout', docs: `${DOCS}#response` },
} as const;
export type RuleName = keyof typeof RULES;

export interface Judgement {
  violations: Violation[];
  /** The bodies that parsed, in order. */
  bodies: PhaseBody[];
  /** The longest a long-poll with nothing new was held, when one was. */
  heldMs: number | null;
}

/** States after which a backend's startup is over: the checker stops following there. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['ready', 'failed', 'stopping']);

/** The fields whose change must move seq (updatedAt moves with it; unknown fields are ignored). */
const CHANGING_FIELDS = ['state', 'phase', 'completedPhases', 'components', 'error'] as const;

export function judge(observations: readonly Observation[], required: readonly string[], timings: CheckTimings): Judgement {
  const violations = new Map<RuleName, Violation>();
  const breach = (rule: RuleName, seen: string) => {
    if (!violations.has(rule)) violations.set(rule, { rule, seen, ...RULES[rule] });
  };
  const bodies: PhaseBody[] = [];
  let heldMs: number | null = null;

  for (const seen of observations) {
    if (seen.status === 0) {
      breach('answers', seen.error ?? 'no answer');
      continue;
    }
    const body = parse(seen, breach);
    if (seen.sent === null && seen.elapsedMs > timings.checkTimeoutMs) {
      breach('answers', `a plain GET took ${Math.round(seen.elapsedMs)} ms; the gate gives up after ${timings.checkTimeoutMs} ms`);
    }
    if (body === null) continue;

    const previous = bodies.at(-1);
    if (previous !== undefined && previous.startedAt === body.startedAt) {
      if (body.seq < previous.seq) breach('seq-grows', `seq went from ${previous.seq} to ${body.seq} (startedAt ${body.startedAt})`);
      const changed = CHANGING_FIELDS.filter((field) => JSON.stringify(previous[field]) !== JSON.stringify(body[field]));
      if (body.seq === previous.seq && changed.length > 0) breach('seq-moves', `${changed.join(', ')} changed while seq stayed ${body.seq}`);
    }
    if (seen.sent !== null) {
      const held = honoursLongPoll(seen.sent, body, seen.elapsedMs);
      if (held === false) {
        breach('long-poll', `afterSeq=${seen.sent.afterSeq}&waitMs=${seen.sent.waitMs} answered after ${Math.round(seen.elapsedMs)} ms with seq ${body.seq}, nothing new`);
      } else if (held === true) {
        heldMs = Math.max(heldMs ?? 0, seen.elapsedMs);
        if (seen.elapsedMs > seen.sent.waitMs + timings.checkTimeoutMs) {
          breach('long-poll', `waitMs=${seen.sent.waitMs} held ${Math.round(seen.elapsedMs)} ms; the gate gives up after waitMs + ${timings.checkTimeoutMs} ms`);
        }
      }
    }
    if (body.state === 'failed' && (body.error === null || body.error.phase === '' || body.error.message.trim() === '')) {
      breach('failed-error', `state failed with error ${JSON.stringify(body.error)}`);
    }
    if (body.state === 'ready') {
      const missing = required.filter((name) => !(name in body.components));
      const down = required.filter((name) => body.components[name] === false);
      if (missing.length > 0) breach('required-components', `state ready without ${missing.join(', ')} in components (has ${Object.keys(body.components).join(', ') || 'none'})`);
      else if (down.length > 0) breach('required-components', `state ready with ${down.join(', ')} false: the gate would never open`);
    }
    bodies.push(body);
  }
  const last = bodies.at(-1);
  if (last !== undefined && !FINAL_STATES.has(last.state)) breach('reaches-end', `still ${last.state} in ${last.phase} when the checker stopped`);
  return { violations: [...violations.values()], bodies, heldMs };
}

function parse(seen: Observation, breach: (rule: RuleName, seen: string) => void): PhaseBody | null {
  if (seen.status !== 200 && seen.status !== 503) {
    breach('status', `HTTP ${seen.status}`);
    return null;
  }
  if (!/^application\/json\s*(;|$)/i.test(seen.contentType)) breach('content-type', `Content-Type: ${seen.contentType || '(none)'}`);
  let json: unknown;
  try {
    json = JSON.parse(seen.text);
  } catch {
    breach('schema', `a body that is not JSON: ${JSON.stringify(seen.text.slice(0, 80))}`);
    return null;
  }
  const parsed = phaseBodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    breach('schema', `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    return null;
  }
  if (phaseStatusCode(parsed.data.state) !== seen.status) breach('status', `HTTP ${seen.status} with state ${parsed.data.state}`);
  return parsed.data;
}

/** One line per broken rule, as the checker prints it. */
export function violationLine(violation: Violation): string {
  return `FAIL ${violation.rule}: saw ${violation.seen}; contract 1 wants ${violation.wants} (${violation.docs})`;
}
