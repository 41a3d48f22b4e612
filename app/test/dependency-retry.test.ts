import { backoffMs, connectWithin, settleWithin, urlSecrets, urlTarget } from '../src/startup/dependency-retry';
import { redact } from '../src/errors';

/** A clock that only moves when the code under test sleeps or an attempt takes time. */
function fakeClock() {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('connectWithin', () => {
  it('retries with doubling delays until an attempt succeeds', async () => {
    const clock = fakeClock();
    const retries: number[] = [];
    let calls = 0;
    const value = await connectWithin(
      async () => {
        calls += 1;
        if (calls < 4) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return 'connected';
      },
      { name: 'PostgreSQL at 127.0.0.1:5432', budgetMs: 5000, secrets: [], onRetry: (_attempt, _reason, delay) => retries.push(delay), ...clock },
    );
    expect(value).toBe('connected');
    expect(retries).toEqual([100, 200, 400]);
  });

  it('fails once the budget is spent, naming the dependency, the attempts and the last error without secrets', async () => {
    const clock = fakeClock();
    const attempt = async (timeoutMs: number) => {
      expect(timeoutMs).toBeGreaterThanOrEqual(250);
      clock.advance(50);
      throw new Error('password authentication failed for postgres://chat:hunter2@db/chat');
    };
    await expect(connectWithin(attempt, { name: 'PostgreSQL at db/chat', budgetMs: 1000, secrets: ['hunter2'], ...clock })).rejects.toThrow(
      /^PostgreSQL at db\/chat not available after 4 attempts in \d+ ms: password authentication failed for postgres:\/\/chat:\*\*\*@db\/chat$/,
    );
  });

  it('stops at once when startup is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const clock = fakeClock();
    await expect(
      connectWithin(async () => Promise.reject(new Error('refused')), { name: 'Redis at r:6379', budgetMs: 60_000, secrets: [], signal: controller.signal, ...clock }),
    ).rejects.toThrow('Redis at r:6379: startup stopped while connecting (last error: refused)');
    expect(clock.now()).toBe(0);
  });

  it('settleWithin gives up on a stalled handshake, and ignores its later failure', async () => {
    let fail: (error: Error) => void = () => undefined;
    const stalled = new Promise<never>((_, reject) => (fail = reject));
    await expect(settleWithin(stalled, 20, 'no answer within 20 ms')).rejects.toThrow('no answer within 20 ms');
    fail(new Error('torn down'));
    expect(await settleWithin(Promise.resolve('fast'), 20, 'never')).toBe('fast');
  });

  it('caps the backoff at 2 s', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(backoffMs)).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });
});

describe('redaction', () => {
  const url = 'redis://:p%40ss%2Fword@10.0.0.4:6379/0';

  it('removes the URL, its password raw and decoded, and any user:password@ it did not know of', () => {
    const secrets = urlSecrets(url);
    expect(redact(`cannot reach ${url}`, secrets)).toBe('cannot reach ***');
    expect(redact('WRONGPASS p@ss/word and p%40ss%2Fword', secrets)).toBe('WRONGPASS *** and ***');
    expect(redact('see postgresql://u:other@host/db', [])).toBe('see postgresql://u:***@host/db');
  });

  it('names the target without credentials', () => {
    expect(urlTarget(url)).toBe('10.0.0.4:6379/0');
    expect(urlTarget('postgres://chat:pw@127.0.0.1:5432/chat')).toBe('127.0.0.1:5432/chat');
    expect(urlTarget('redis://cache:6379')).toBe('cache:6379');
  });

});
