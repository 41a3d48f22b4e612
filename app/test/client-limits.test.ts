import { clientKey } from '../src/chat/client-key';
import { CLIENT_FAULTS, FaultTally, protocolFault } from '../src/chat/client-faults';
import { ErrorBudget } from '../src/chat/error-budget';
import { UpgradeLimiter } from '../src/chat/upgrade-limit';

describe('clientKey', () => {
  const cases: [string, string][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['unknown', 'unknown'],
  ];
  it.each(cases)('%s -> %s', (address, key) => expect(clientKey(address)).toBe(key));

  it('gives every address of one /64 the same key, and the next /64 another', () => {
    const keys = new Set(Array.from({ length: 20 }, (_, i) => clientKey(`2001:db8:1:2:${i.toString(16)}::${i + 1}`)));
    expect([...keys]).toEqual(['2001:db8:1:2::/64']);
    expect(clientKey('2001:db8:1:3::1')).not.toBe('2001:db8:1:2::/64');
  });
});

describe('ErrorBudget', () => {
  it('is spent by more than maxErrors within the window, and recovers as errors age out of it', () => {
    const budget = new ErrorBudget({ maxErrors: 3, windowMs: 1000 });
    expect([0, 100, 200].map((t) => budget.spend(t))).toEqual([false, false, false]);
    expect(budget.spend(300)).toBe(true);
    // At 1250 the errors at 0, 100 and 200 have aged out: one left (300) plus this one.
    expect(budget.spend(1250)).toBe(false);
  });

  it('one error a window never spends it', () => {
    const budget = new ErrorBudget({ maxErrors: 1, windowMs: 100 });
    expect(Array.from({ length: 50 }, (_, i) => budget.spend(i * 100))).not.toContain(true);
  });
});

describe('UpgradeLimiter', () => {
  it('allows a burst, then perSecond, per key, and says how long to wait', () => {
    const limiter = new UpgradeLimiter({ perSecond: 2, burst: 3 });
    expect([0, 0, 0].map(() => limiter.take('a', 0))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 0)).toBe(500);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.take('a', 500)).toBe(0);
    expect(limiter.take('a', 500)).toBe(500);
  });

  it('keeps a bounded number of keys under a spread of addresses', () => {
    const limiter = new UpgradeLimiter({ perSecond: 1000, burst: 1 });
    for (let i = 0; i < 60_000; i += 1) limiter.take(`k${i}`, i);
    expect(limiter.keys).toBeLessThanOrEqual(50_000);
  });
});

describe('FaultTally', () => {
  const limits = { windowMs: 60_000, maxLinesPerSecond: 3 };

  it('logs the first fault of a cause, counts the rest, and reports the count once the window ends', () => {
    const tally = new FaultTally(limits);
    const lines = Array.from({ length: 1000 }, (_, i) => tally.note('invalid_utf8', i, { connectionId: `c${i}` })).flat();
    expect(lines).toEqual([{ message: expect.stringContaining(CLIENT_FAULTS.invalid_utf8), fields: { cause: 'invalid_utf8', connectionId: 'c0' } }]);
    expect(tally.flush(59_999)).toEqual([]);
    expect(tally.flush(60_000)).toEqual([{ message: `1,000 times in the last 60 s a client ${CLIENT_FAULTS.invalid_utf8}`, fields: { cause: 'invalid_utf8', count: 1000, seconds: 60 } }]);
    expect(tally.flush(200_000)).toEqual([]);
  });

  it('a single fault gets one line and no count', () => {
    const tally = new FaultTally(limits);
    expect(tally.note('too_big', 0)).toHaveLength(1);
    expect(tally.flush(120_000)).toEqual([]);
  });

  it('never writes more than maxLinesPerSecond lines in a second, and the held-back counts come later', () => {
    const tally = new FaultTally({ windowMs: 1000, maxLinesPerSecond: 2 });
    const causes = Object.keys(CLIENT_FAULTS) as (keyof typeof CLIENT_FAULTS)[];
    const perSecond = new Map<number, number>();
    let total = 0;
    for (let t = 0; t < 10_000; t += 1) {
      const lines = tally.note(causes[t % causes.length]!, t);
      perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + lines.length);
      for (const line of lines) total += typeof line.fields.count === 'number' ? line.fields.count : 1;
    }
    for (let t = 10_000; t < 20_000; t += 1000) total += tally.flush(t).reduce((sum, line) => sum + (line.fields.count as number), 0);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(2);
    // Every fault is in some line: logged alone or in a count.
    expect(total).toBeGreaterThanOrEqual(10_000);
  });

  it('names ws protocol errors by their code', () => {
    const error = (code?: string) => Object.assign(new Error('x'), { code });
    expect([error('WS_ERR_INVALID_UTF8'), error('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'), error('WS_ERR_INVALID_OPCODE'), error()].map(protocolFault)).toEqual([
      'invalid_utf8',
      'too_big',
      'protocol_error',
      'protocol_error',
    ]);
  });
});
