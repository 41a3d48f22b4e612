import { percentile } from '../percentile';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);

  test.each([
    [50, 50],
    [99, 99],
    [100, 100],
    [1, 1],
  ])('p%d of 1..100 is %d, whatever the input order', (p, expected) => {
    expect(percentile(hundred, p)).toBe(expected);
  });

  test('p99 of 50 samples is the worst sample', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(percentile(fifty, 99)).toBe(50);
    expect(percentile(fifty, 50)).toBe(25);
  });

  test('one sample is every percentile', () => {
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  test('refuses no samples and out-of-range percentiles', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  test('does not reorder the caller’s array', () => {
    const samples = [3, 1, 2];
    percentile(samples, 50);
    expect(samples).toEqual([3, 1, 2]);
  });
});
