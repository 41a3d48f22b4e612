/**
 * The budget advisor's decisions, pure: the spread of observed boots (overall and per phase) and
 * the `startupBudgetSeconds` they call for, with the probe schedule that budget yields (from
 * common/probes.ts, the same function infra deploys). docs/local-runner.md explains the rule.
 */
import { STARTUP_BUDGET_CONFIG_KEY } from '../../common/cloud-run-service';
import { percentile } from '../../common/percentile';
import { MAX_STARTUP_BUDGET_SECONDS, MIN_DEPENDENCY_BUDGET_SECONDS, MIN_KEY_FETCH_BUDGET_SECONDS, STARTUP_HEADROOM_SECONDS, revisionProbes, startupCoverSeconds } from '../../common/probes';

/** One observed boot: gate start to open, and each phase's duration as the gate saw it. */
export interface BootSample {
  bootSeconds: number;
  phases: Readonly<Record<string, number>>;
}

export interface Spread {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface BootProfile {
  boots: Spread;
  /** Per phase, in the order phases first appear in the samples. */
  phases: Record<string, Spread>;
}

/** p99 times this leaves room for the boots the samples did not catch. */
export const P99_MARGIN = 1.2;
/** Budgets are recommended in steps of this many seconds. */
export const BUDGET_STEP_SECONDS = 10;
/** Past this share of the budget a boot is close enough to warn about (the alert's line too). */
export const BUDGET_WARNING_SHARE = 0.8;
/**
 * This project's stacks also need databaseBudgetSeconds + cacheBudgetSeconds (each at least 60 s)
 * + auth.budgetSeconds (the issuer's key fetch, at least 1 s) + 10 s within the budget
 * (infra/config.ts): the smallest budget they accept.
 */
export const STACK_MINIMUM_BUDGET_SECONDS = 2 * MIN_DEPENDENCY_BUDGET_SECONDS + MIN_KEY_FETCH_BUDGET_SECONDS + STARTUP_HEADROOM_SECONDS;

export function spread(values: readonly number[]): Spread {
  return { count: values.length, p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: Math.max(...values) };
}

export function profile(samples: readonly BootSample[]): BootProfile {
  if (samples.length === 0) throw new RangeError('no boots to profile');
  const byPhase = new Map<string, number[]>();
  for (const sample of samples) {
    for (const [phase, seconds] of Object.entries(sample.phases)) byPhase.set(phase, [...(byPhase.get(phase) ?? []), seconds]);
  }
  return { boots: spread(samples.map((sample) => sample.bootSeconds)), phases: Object.fromEntries([...byPhase].map(([phase, values]) => [phase, spread(values)])) };
}

/** The phase with the largest p99: the one whose shortening moves the budget most. */
export function slowestPhase(phases: Readonly<Record<string, Spread>>): { phase: string; p99: number } | null {
  let slowest: { phase: string; p99: number } | null = null;
  for (const [phase, { p99 }] of Object.entries(phases)) if (slowest === null || p99 > slowest.p99) slowest = { phase, p99 };
  return slowest;
}

/** The budget the boots need: the larger of the worst boot and p99 × 1.2, rounded up to 10 s. */
export function neededBudgetSeconds(boots: Spread): number {
  const needed = Math.max(boots.max, boots.p99 * P99_MARGIN);
  // Round the product to the millisecond first, so 100 × 1.2 = 120.00000000000001 stays 120.
  return Math.max(BUDGET_STEP_SECONDS, Math.ceil(Math.round(needed * 1000) / 1000 / BUDGET_STEP_SECONDS) * BUDGET_STEP_SECONDS);
}

export interface ProbeSchedule {
  initialDelaySeconds: number;
  periodSeconds: number;
  /** Attempts after the initial delay: the startup probe's failureThreshold. */
  attempts: number;
  /** How long after start the probe gives up: the budget. */
  coverSeconds: number;
  /** What every boot waits at least, however fast: the initial delay, only for a budget beyond 240 s. */
  fastBootWaitsSeconds: number;
}

export function scheduleFor(budgetSeconds: number): ProbeSchedule {
  const probe = revisionProbes(budgetSeconds).gate.startup;
  const { initialDelaySeconds, periodSeconds, failureThreshold } = probe;
  return {
    initialDelaySeconds,
    periodSeconds,
    attempts: failureThreshold,
    coverSeconds: startupCoverSeconds(probe),
    fastBootWaitsSeconds: initialDelaySeconds,
  };
}

export interface Recommendation {
  /** What to set: the needed budget, or Cloud Run's 480 s when the boots need more. */
  recommendedBudgetSeconds: number;
  neededBudgetSeconds: number;
  /** Whether the needed budget is within Cloud Run's 480 s. */
  fits: boolean;
  slowestPhase: { phase: string; p99: number } | null;
  /** When the boots do not fit: the phase to shorten, the one with the largest p99. */
  shortenPhase: { phase: string; p99: number } | null;
  schedule: ProbeSchedule;
  configLine: string;
  notes: string[];
}

export function recommend(boots: BootProfile): Recommendation {
  const needed = neededBudgetSeconds(boots.boots);
  const fits = needed <= MAX_STARTUP_BUDGET_SECONDS;
  const recommended = Math.min(needed, MAX_STARTUP_BUDGET_SECONDS);
  const slowest = slowestPhase(boots.phases);
  const notes: string[] = [];
  if (recommended < STACK_MINIMUM_BUDGET_SECONDS) {
    notes.push(
      `this project's stacks also need databaseBudgetSeconds + cacheBudgetSeconds + auth.budgetSeconds + ${STARTUP_HEADROOM_SECONDS} s within the budget ` +
        `(at least ${STACK_MINIMUM_BUDGET_SECONDS} s with the database's and the cache's ${MIN_DEPENDENCY_BUDGET_SECONDS} s minimum each, for Direct VPC egress, ` +
        `and the key fetch's ${MIN_KEY_FETCH_BUDGET_SECONDS} s)`,
    );
  }
  return {
    recommendedBudgetSeconds: recommended,
    neededBudgetSeconds: needed,
    fits,
    slowestPhase: slowest,
    shortenPhase: fits ? null : slowest,
    schedule: scheduleFor(recommended),
    configLine: `${STARTUP_BUDGET_CONFIG_KEY}: ${recommended}`,
    notes,
  };
}

/** A boot's share of the budget, and whether it is past the warning line. */
export function budgetShare(bootSeconds: number, budgetSeconds: number): { share: number; warn: boolean } {
  const share = bootSeconds / budgetSeconds;
  return { share, warn: share > BUDGET_WARNING_SHARE };
}
