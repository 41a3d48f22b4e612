/**
 * A socket's budget of errors: every frame that the app refuses or cannot parse costs one, and a
 * socket that spends more than `maxErrors` within `windowMs` is closed. Parsing and answering a bad
 * frame costs CPU that no rate limit counted: without a budget one socket of 63 KB garbage frames
 * kept the app busy. Pure: the caller passes the clock.
 */

/** 1008 (policy violation): the socket sent too many frames that were refused or invalid. */
export const ERROR_BUDGET_CLOSE = { code: 1008, reason: 'too many invalid or refused frames' } as const;

export interface ErrorBudgetLimits {
  maxErrors: number;
  windowMs: number;
}

export class ErrorBudget {
  /** When each error in the window happened, oldest first; never longer than maxErrors + 1. */
  private readonly errors: number[] = [];

  constructor(private readonly limits: ErrorBudgetLimits) {}

  /** Counts one error at `nowMs`; true when the socket is now over its budget. */
  spend(nowMs: number): boolean {
    while (this.errors.length > 0 && this.errors[0]! <= nowMs - this.limits.windowMs) this.errors.shift();
    this.errors.push(nowMs);
    if (this.errors.length > this.limits.maxErrors + 1) this.errors.shift();
    return this.errors.length > this.limits.maxErrors;
  }
}
