/**
 * The one percentile the project reports, in the bench and the budget advisor: the nearest rank
 * (the smallest sample with at least p% of samples at or below it). It always returns a measured
 * value, and with 50 samples p99 is the worst one, which is the honest reading of a tail from a
 * small run.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}
