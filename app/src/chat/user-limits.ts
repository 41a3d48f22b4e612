/**
 * Limits per signed-in person, counted in the cache so they hold across instances (Redis; the
 * in-process cache on the embedded default): messages a minute, runs at once, and LLM tokens a UTC
 * day, counted from the usage the model reports. A run is admitted only when all three allow it,
 * before anything is stored or the model is called. Keys carry the subject's hash, never the
 * subject.
 */
import type { ErrorMessage } from '../../../common/chat-protocol';
import { APP_ENV_VARS as V } from '../../../common/revision';
import { subjectHash } from '../auth/subject-hash';
import type { Identity } from '../auth/token-verifier';
import type { CacheClient } from '../storage/cache';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** A run-count key outlives the longest run; an instance that died mid-run leaks its count for at most this long. */
const RUNS_TTL_MS = 10 * MINUTE_MS;
/** Told to a person at the run cap: runs last seconds. */
const RUNS_RETRY_AFTER_S = 5;

export interface UserLimitSettings {
  messagesPerMinute: number;
  maxConcurrentRuns: number;
  dailyLlmTokens: number;
}

/** A run admitted: call `release` when it ends, `spent` with each model call's tokens. */
export interface Admission {
  release(): void;
  spent(tokens: number): void;
}

export type Admitted = { ok: true; admission: Admission } | { ok: false; error: ErrorMessage };

export class UserLimits {
  constructor(
    private readonly cache: CacheClient,
    private readonly settings: UserLimitSettings,
    private readonly now: () => number = Date.now,
    private readonly onCountFailed: (error: unknown) => void = () => undefined,
  ) {}

  async admit(identity: Identity): Promise<Admitted> {
    const who = subjectHash(identity);
    const now = this.now();
    const { messagesPerMinute, maxConcurrentRuns, dailyLlmTokens } = this.settings;
    const day = Math.floor(now / DAY_MS);
    const tokensKey = `user:${who}:llm-tokens:${day}`;
    const dayLeftMs = (day + 1) * DAY_MS - now;
    const used = await this.cache.add(tokensKey, 0, dayLeftMs + MINUTE_MS);
    if (used >= dailyLlmTokens) {
      const resetsAt = (day + 1) * DAY_MS;
      return { ok: false, error: { type: 'error', code: 'quota_exceeded', message: `the daily budget of ${dailyLlmTokens} LLM tokens is spent (${V.userDailyLlmTokens}); it resets at 00:00 UTC`, resetsAt } };
    }
    const minute = Math.floor(now / MINUTE_MS);
    if ((await this.cache.increment(`user:${who}:messages:${minute}`, MINUTE_MS)) > messagesPerMinute) {
      const retryAfterSeconds = Math.ceil(((minute + 1) * MINUTE_MS - now) / 1000);
      return { ok: false, error: { type: 'error', code: 'rate_limited', message: `more than ${messagesPerMinute} messages a minute from one person`, retryAfterSeconds, retryAfterMs: retryAfterSeconds * 1000 } };
    }
    const runsKey = `user:${who}:runs`;
    if ((await this.cache.add(runsKey, 1, RUNS_TTL_MS)) > maxConcurrentRuns) {
      await this.cache.add(runsKey, -1, RUNS_TTL_MS);
      return {
        ok: false,
        error: { type: 'error', code: 'rate_limited', message: `${maxConcurrentRuns} runs of yours are in progress; wait for one to finish`, retryAfterSeconds: RUNS_RETRY_AFTER_S, retryAfterMs: RUNS_RETRY_AFTER_S * 1000 },
      };
    }
    let released = false;
    return {
      ok: true,
      admission: {
        // Once, however often it is called: a second release would free another run's count.
        release: () => {
          if (released) return;
          released = true;
          void this.cache.add(runsKey, -1, RUNS_TTL_MS).catch(this.onCountFailed);
        },
        spent: (tokens) => void this.cache.add(tokensKey, tokens, dayLeftMs + MINUTE_MS).catch(this.onCountFailed),
      },
    };
  }
}
