/**
 * Contract 1: the phase endpoint a backend serves so the startup gate can tell when it is ready.
 * Language-neutral: this module is the TypeScript statement of it; docs/phase-contract.md is the prose.
 * The app produces bodies of this shape, the gate trusts only bodies that parse with it.
 */
// zod/mini: the same validation with functions instead of methods, so a bundle carries only what
// this schema uses (about 20 KB instead of 450 KB): zod was most of the gate's memory above Node's.
// With English messages, so a rejected body says what is wrong, not just "Invalid input".
import { en } from 'zod/locales';
import * as z from 'zod/mini';

z.config(en());

export const PHASE_CONTRACT_VERSION = 1;

export const STATES = ['starting', 'ready', 'failed', 'stopping'] as const;
export type StartupState = (typeof STATES)[number];

/** Long-poll waits are capped so a client cannot park a request forever. */
export const MAX_LONG_POLL_MS = 30_000;

const rfc3339 = z.iso.datetime({ offset: true });

const name = () => z.string().check(z.minLength(1));

export const phaseErrorSchema = z.object({ phase: name(), message: z.string() });

export const phaseBodySchema = z.object({
  contract: z.literal(PHASE_CONTRACT_VERSION),
  state: z.enum(STATES),
  phase: name(),
  completedPhases: z.array(name()),
  components: z.record(name(), z.boolean()),
  error: z.nullable(phaseErrorSchema),
  seq: z.int().check(z.nonnegative()),
  startedAt: rfc3339,
  updatedAt: rfc3339,
});

export type PhaseBody = z.infer<typeof phaseBodySchema>;
export type PhaseError = z.infer<typeof phaseErrorSchema>;

/** Status code for a body: 200 only when the backend is ready. */
export function phaseStatusCode(state: StartupState): 200 | 503 {
  return state === 'ready' ? 200 : 503;
}

export interface LongPollQuery {
  afterSeq: number | null;
  waitMs: number;
}

/**
 * Parses `afterSeq` and `waitMs` from a query string. Missing or malformed values mean "answer now"
 * rather than an error, so a plain poller that sends nothing is always served.
 */
export function parseLongPollQuery(query: URLSearchParams): LongPollQuery {
  const afterSeq = toNonNegativeInt(query.get('afterSeq'));
  const waitMs = toNonNegativeInt(query.get('waitMs'));
  return {
    afterSeq,
    waitMs: afterSeq === null || waitMs === null ? 0 : Math.min(waitMs, MAX_LONG_POLL_MS),
  };
}

function toNonNegativeInt(raw: string | null): number | null {
  if (raw === null || !/^\d+$/.test(raw)) return null;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : null;
}
