/** Statistics and run-order helpers for the benchmarks: pure functions, tested in bench/test. */

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
