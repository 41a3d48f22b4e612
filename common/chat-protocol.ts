/**
 * The chat protocol on /ws: JSON text frames. docs/protocol.md is the prose version.
 * Client -> server: authenticate, user_message, resume, list_threads. Server -> client:
 * authenticated and token_expiring; the five agent events in order, then agent_response;
 * run_status (the answer to a resent user_message); history (the answer to resume); threads (the
 * answer to list_threads); or error.
 */
import { z } from 'zod';

export const MAX_USER_TEXT_CHARS = 8000;

const threadIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'threadId must be 1-64 letters, digits, _ or -');
/** The capability the server sent with the thread's first agent_started (app/src/chat/thread-tokens.ts). */
const threadTokenSchema = z.string().max(128);
/** The client's own id for one message, the same on every resend of it: unique per thread. */
export const clientMessageIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'clientMessageId must be 1-64 letters, digits, _ . : or -');

export const userMessageSchema = z.object({
  type: z.literal('user_message'),
  text: z.string().trim().min(1, 'text must not be empty').max(MAX_USER_TEXT_CHARS),
  threadId: threadIdSchema.optional(),
  threadToken: threadTokenSchema.optional(),
  clientMessageId: clientMessageIdSchema.optional(),
});
export type UserMessage = z.infer<typeof userMessageSchema>;

/**
 * A message's place, fixed when it is stored and counted from the start, not from the newest
 * (the embedded store's index, PostgreSQL's row id): appending never moves it, so paging
 * backwards is stable while the thread grows.
 */
const cursorSchema = z
  .number({ error: 'before must be a number: the nextBefore of a history answer' })
  // int() also refuses anything past Number.MAX_SAFE_INTEGER.
  .int('before must be a non-negative integer: the nextBefore of a history answer')
  .min(0, 'before must be a non-negative integer: the nextBefore of a history answer');

/**
 * Sent after (re)connecting, possibly to another instance: follow the thread and get its history.
 * With `before`, the page of messages older than that place instead of the newest page.
 */
export const resumeSchema = z.object({
  type: z.literal('resume'),
  threadId: threadIdSchema,
  threadToken: threadTokenSchema.optional(),
  before: cursorSchema.optional(),
});
export type Resume = z.infer<typeof resumeSchema>;

/** Larger than any real ID token (a Firebase one is about 1 KB), small enough to refuse junk unread. */
export const MAX_TOKEN_CHARS = 16 * 1024;

/** The first frame when sign-in is on, and a refresh on a live socket: a JWT from the app's issuer. */
export const authenticateSchema = z.object({
  type: z.literal('authenticate'),
  token: z.string().min(1, 'token must not be empty').max(MAX_TOKEN_CHARS),
});
export type Authenticate = z.infer<typeof authenticateSchema>;

/** The caller's own threads, newest first; `before` is the `nextBefore` of the previous page. */
export const listThreadsSchema = z.object({
  type: z.literal('list_threads'),
  before: z.string().regex(/^[0-9]{1,20}(\.[A-Za-z0-9_-]{1,64})?$/, 'before must be the nextBefore of a threads answer').optional(),
});
export type ListThreads = z.infer<typeof listThreadsSchema>;

/** Threads in one `threads` answer, at most. */
export const THREADS_PAGE_LIMIT = 20;

export type ClientMessage = UserMessage | Resume | Authenticate | ListThreads;

const CLIENT_SCHEMAS = { authenticate: authenticateSchema, user_message: userMessageSchema, resume: resumeSchema, list_threads: listThreadsSchema } as const;
const CLIENT_TYPES = Object.keys(CLIENT_SCHEMAS) as (keyof typeof CLIENT_SCHEMAS)[];

/** Messages of a thread sent in one history answer (a page), at most this many. */
export const RESUME_HISTORY_LIMIT = 100;
/** And at most this many bytes of message text (UTF-8), so one answer has a fixed upper size. */
export const RESUME_HISTORY_MAX_BYTES = 256 * 1024;

type HistoryEntry = History['messages'][number];

/**
 * The newest messages whose texts fit in `maxBytes`, oldest first; `truncated` when older ones
 * were left out. A newest message larger than the whole budget is cut to it.
 */
export function capHistory<T extends HistoryEntry>(messages: readonly T[], maxBytes: number): { messages: T[]; truncated: boolean } {
  const kept: T[] = [];
  let left = maxBytes;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i]!;
    const bytes = Buffer.byteLength(message.text);
    if (bytes > left) {
      if (kept.length === 0) kept.push({ ...message, text: Buffer.from(message.text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '') });
      return { messages: kept.reverse(), truncated: true };
    }
    kept.push(message);
    left -= bytes;
  }
  return { messages: kept.reverse(), truncated: false };
}

/**
 * One history page from the newest `limit + 1` stored messages before the requested place, oldest
 * first (the extra one only tells that older messages exist): at most `limit` messages and
 * `maxBytes` of text, and `nextBefore`, the place of its oldest message when anything older is
 * left, else null.
 */
export function historyPage(
  stored: readonly (HistoryEntry & { position: number })[],
  limit: number,
  maxBytes: number,
): Pick<History, 'messages' | 'truncated' | 'nextBefore'> {
  const window = stored.slice(Math.max(0, stored.length - limit));
  const capped = capHistory(window, maxBytes);
  const oldest = capped.messages[0];
  const olderLeft = stored.length > window.length || capped.messages.length < window.length;
  return {
    messages: capped.messages.map(({ role, text, at, runId, runState }) => ({ role, text, at, ...(runState === undefined ? {} : { runId, runState }) })),
    truncated: capped.truncated,
    nextBefore: olderLeft && oldest !== undefined ? oldest.position : null,
  };
}

/** The five events every agent run emits, in this order. */
export const AGENT_EVENT_TYPES = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
export type AgentEventType = (typeof AGENT_EVENT_TYPES)[number];

interface RunIds {
  runId: string;
  threadId: string;
}

export type AgentEvent =
  /**
   * `threadToken` only on the first agent_started of a new thread, and only to the socket that
   * started it; `clientMessageId` when the user message carried one.
   */
  | (RunIds & { type: 'agent_started'; agent: string; threadToken?: string; clientMessageId?: string })
  | (RunIds & { type: 'agent_thinking'; text: string })
  | (RunIds & { type: 'tool_executing'; tool: string; input: unknown })
  | (RunIds & { type: 'tool_completed'; tool: string; output: unknown })
  | (RunIds & { type: 'agent_completed'; durationMs: number });

export type AgentResponse = RunIds & { type: 'agent_response'; text: string };

/**
 * What a run is: `running` until it ends `completed` (agent_completed, then agent_response),
 * `failed` (agent_failed) or `interrupted` (its instance died, or stopped, before it ended).
 */
export const RUN_STATES = ['running', 'completed', 'failed', 'interrupted'] as const;
export type RunState = (typeof RUN_STATES)[number];

/**
 * The answer to a user_message whose clientMessageId the thread already has: nothing was stored
 * and no run started; this is the run the first copy started, with its reply once completed.
 */
export interface RunStatus {
  type: 'run_status';
  runId: string;
  threadId: string;
  clientMessageId: string;
  state: RunState;
  /** The reply, when `state` is `completed`. */
  text?: string;
}

export interface History {
  type: 'history';
  threadId: string;
  /**
   * Oldest first. A user message stored with its run carries `runId` and `runState`: `interrupted`
   * or `failed` means it got no answer (send it again); `running` means the answer is coming.
   */
  messages: { role: 'user' | 'assistant'; text: string; at: string; runId?: string; runState?: RunState }[];
  /** True when older messages were left out to keep the answer within RESUME_HISTORY_MAX_BYTES. */
  truncated: boolean;
  /** The `before` of the resume this answers: null for the newest page. */
  before: number | null;
  /** Send this as `before` to get the page before this one; null when there is nothing older. */
  nextBefore: number | null;
}

export const ERROR_CODES = [
  'invalid_json',
  'invalid_message',
  'unknown_type',
  'rate_limited',
  'agent_failed',
  'shutting_down',
  'unavailable',
  'too_many_threads',
  'forbidden',
  'busy',
  'interrupted',
  'unauthenticated',
  'quota_exceeded',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  runId?: string;
  threadId?: string;
  /** rate_limited: when the window ends. */
  retryAfterMs?: number;
  /** unavailable: seconds after which sending the message again may succeed; rate_limited per person: whole seconds to wait. */
  retryAfterSeconds?: number;
  /** quota_exceeded: when the budget starts again, in ms since the epoch. */
  resetsAt?: number;
}

/** The answer to a good `authenticate` (or the first frame after a good `Authorization: Bearer` upgrade). */
export interface Authenticated {
  type: 'authenticated';
  subject: string;
  /** The token's `exp`, in ms since the epoch. */
  expiresAt: number;
}

/** About a minute before the token expires: send a fresh `authenticate` to keep the socket. */
export interface TokenExpiring {
  type: 'token_expiring';
  expiresAt: number;
}

/** The answer to list_threads. */
export interface Threads {
  type: 'threads';
  threads: { threadId: string; updatedAt: string; preview: string }[];
  /** Send as `before` for the next (older) page; null when there is none. */
  nextBefore: string | null;
}

/** Close codes of a socket that is not, or no longer, signed in. */
export const UNAUTHENTICATED_CLOSE_CODE = 4401;
export const TOKEN_EXPIRED_REASON = 'token expired';

export type ServerMessage = AgentEvent | AgentResponse | RunStatus | History | ErrorMessage | Authenticated | TokenExpiring | Threads;

export type ParsedClientMessage = { ok: true; message: ClientMessage } | { ok: false; error: ErrorMessage };

const UNKNOWN_TYPE_MESSAGE = `type must be ${CLIENT_TYPES.map((name) => JSON.stringify(name)).join(' or ')}`;

/** Turns one text frame into a user message or the error to send back; never throws. */
export function parseClientFrame(frame: string): ParsedClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return { ok: false, error: { type: 'error', code: 'invalid_json', message: 'frame is not valid JSON' } };
  }
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (!CLIENT_TYPES.includes(type as keyof typeof CLIENT_SCHEMAS)) {
    // Never the client's own value: an echo doubles what a client can make the server send.
    return { ok: false, error: { type: 'error', code: 'unknown_type', message: UNKNOWN_TYPE_MESSAGE } };
  }
  const parsed = CLIENT_SCHEMAS[type as keyof typeof CLIENT_SCHEMAS].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'message';
    return { ok: false, error: { type: 'error', code: 'invalid_message', message: `${where}: ${issue?.message ?? 'invalid'}` } };
  }
  return { ok: true, message: parsed.data };
}
