/** What `npm run budget` prints: the same figures as text for a person and as JSON for a script. */
import { MAX_STARTUP_BUDGET_SECONDS } from '../../common/probes';
import { BUDGET_STEP_SECONDS, type BootProfile, P99_MARGIN, type Recommendation, type Spread } from './budget';
import type { Rejected } from './budget-samples';
import { describeSchedule } from './timeline';

export interface BudgetReport {
  /** Where the boots came from, for the reader. */
  source: string;
  rejected: readonly Rejected[];
  profile: BootProfile;
  recommendation: Recommendation;
}

const ms = (seconds: number) => Math.round(seconds * 1000) / 1000;
const figures = ({ count, p50, p95, p99, max }: Spread) => ({ count, p50: ms(p50), p95: ms(p95), p99: ms(p99), max: ms(max) });

export function budgetJson(report: BudgetReport): Record<string, unknown> {
  const { profile, recommendation } = report;
  return {
    source: report.source,
    boots: profile.boots.count,
    rejected: report.rejected,
    boot: figures(profile.boots),
    phases: Object.fromEntries(Object.entries(profile.phases).map(([phase, spread]) => [phase, figures(spread)])),
    ...recommendation,
  };
}

const s = (seconds: number) => `${seconds.toFixed(1)} s`;

export function formatBudget(report: BudgetReport): string[] {
  const { profile, recommendation: r } = report;
  const lines = [`${profile.boots.count} boot${profile.boots.count === 1 ? '' : 's'} from ${report.source}`];
  if (report.rejected.length > 0) {
    lines.push(report.rejected.length === 1 ? 'skipped 1 entry that is not a boot:' : `skipped ${report.rejected.length} entries that are not boots:`);
    for (const { where, reason } of report.rejected.slice(0, 10)) lines.push(`  ${where}: ${reason}`);
    if (report.rejected.length > 10) lines.push(`  … and ${report.rejected.length - 10} more`);
  }
  const rows: [string, Spread][] = [['boot', profile.boots], ...Object.entries(profile.phases)];
  const width = Math.max(...rows.map(([name]) => name.length));
  lines.push('', `  ${''.padEnd(width)}  ${['p50', 'p95', 'p99', 'max'].map((h) => h.padStart(9)).join('')}`);
  for (const [name, spread] of rows) lines.push(`  ${name.padEnd(width)}  ${[spread.p50, spread.p95, spread.p99, spread.max].map((x) => s(x).padStart(9)).join('')}`);
  lines.push('');
  const rule = `the larger of the worst boot (${s(profile.boots.max)}) and p99 × ${P99_MARGIN} (${s(profile.boots.p99 * P99_MARGIN)}), rounded up to ${BUDGET_STEP_SECONDS} s`;
  if (r.fits) {
    lines.push(`Recommended startupBudgetSeconds: ${r.recommendedBudgetSeconds} (${rule})`);
  } else {
    lines.push(
      `These boots cannot fit: they need ${r.neededBudgetSeconds} s (${rule}), and Cloud Run allows at most ${MAX_STARTUP_BUDGET_SECONDS} s.`,
      r.shortenPhase
        ? `Shorten ${r.shortenPhase.phase} (p99 ${s(r.shortenPhase.p99)}), the phase with the largest p99. Until then the most Cloud Run allows is ${r.recommendedBudgetSeconds}:`
        : `No phase durations were observed; shorten the boot. Until then the most Cloud Run allows is ${r.recommendedBudgetSeconds}:`,
    );
  }
  const { initialDelaySeconds, periodSeconds, attempts } = r.schedule;
  lines.push(`Probes: ${describeSchedule({ initialDelaySeconds, periodSeconds, failureThreshold: attempts })}${initialDelaySeconds === 0 ? '; no initial delay, so a fast boot waits for nothing' : ''}`);
  if (r.fits && r.slowestPhase) lines.push(`Slowest phase: ${r.slowestPhase.phase} (p99 ${s(r.slowestPhase.p99)})`);
  for (const note of r.notes) lines.push(`Note: ${note}`);
  lines.push('', 'In Pulumi.STACK.yaml, under config:', `  ${r.configLine}`);
  return lines;
}
