import { mean, rotate, round } from '../src/stats';

test('mean and round', () => {
  expect(mean([1, 2, 3, 4])).toBe(2.5);
  expect(() => mean([])).toThrow(RangeError);
  expect(round(1.23456)).toBe(1.23);
  expect(round(1234.5, 0)).toBe(1235);
});

test('rotate starts each round with the next variant', () => {
  expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
  expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
  expect(rotate(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
});
