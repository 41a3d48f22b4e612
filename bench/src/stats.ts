/** Statistics and run-order helpers for the benchmarks: pure functions, tested in bench/test. */

/**
 * The nearest-rank percentile (the smallest sample with at least p% of samples at or below it):
 * it always returns a measured value, and with 50 samples p99 is the worst one, which is the
 * honest reading of a tail from a small run.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

export function mean(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('mean of no samples');
  return samples.reduce((sum, x) => sum + x, 0) / samples.length;
}

/** Rounds for display and JSON: sub-millisecond detail matters below 10 ms, not above. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * The run order of compared variants in round `by`: each round starts with a different one, so
 * none always runs first on a cold machine or last on a warm one.
 */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
