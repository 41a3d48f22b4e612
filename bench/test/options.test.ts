import { parseOptions, SECTIONS, UsageError } from '../src/options';

describe('npm run bench options', () => {
  it.each([
    ['nothing: the full plan, every section', [], { plan: 'full', only: SECTIONS }],
    ['--quick', ['--quick'], { plan: 'quick', only: SECTIONS }],
    ['--only with one section', ['--only', 'ws'], { plan: 'full', only: ['ws'] }],
    ['--only=a,b and --quick in any order', ['--only=detection,endpoints', '--quick'], { plan: 'quick', only: ['detection', 'endpoints'] }],
  ])('%s', (_name, argv, want) => {
    expect(parseOptions(argv)).toEqual(want);
  });

  it.each([
    ['an unknown flag', ['--fast'], "Unknown option '--fast'"],
    ['a stray argument', ['ws'], 'ws'],
    ['an unknown section', ['--only', 'ws,disk'], 'unknown: disk'],
    ['--only without a value', ['--only'], "'--only <value>' argument missing"],
  ])('refuses %s with a usage error', (_name, argv, message) => {
    expect(() => parseOptions(argv)).toThrow(UsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
