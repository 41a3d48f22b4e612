/** The check loop's requests and waits, with an injected GET and sleep. */
import { type CheckDeps, delayAfter, type HttpAnswer, runCheckLoop } from '../src/checker';
import { TEST_TIMINGS } from './support';
import { phaseBody } from '../../testkit/phase-endpoint';

describe('check loop requests', () => {
  it('long-polls after the first answer, asks plainly after a failure, falls back to the poll interval', async () => {
    const stop = new AbortController();
    const answer = (seq: number): HttpAnswer => ({ status: 503, text: JSON.stringify(phaseBody({ seq })) });
    const script: (() => HttpAnswer)[] = [
      () => answer(3),
      () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' });
      },
      // The target restarted: its seq starts again, and it ignores long-poll.
      () => answer(1),
      () => answer(1),
    ];
    const queries: string[] = [];
    const sleeps: number[] = [];
    const longPoll: boolean[] = [];
    const deps: CheckDeps = {
      now: () => 0,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      get: async (url) => {
        queries.push(url.search);
        const next = script.shift();
        if (next === undefined) {
          stop.abort();
          throw new Error('script finished');
        }
        return next();
      },
    };
    await runCheckLoop(new URL('http://target.invalid/phase'), TEST_TIMINGS, deps, { onCheck: () => {}, onLongPoll: (h) => longPoll.push(h) }, stop.signal);
    expect(queries).toEqual(['', '?afterSeq=3&waitMs=2000', '', '?afterSeq=1&waitMs=2000', '?afterSeq=1&waitMs=2000']);
    expect(sleeps).toEqual([TEST_TIMINGS.pollIntervalMs]);
    expect(longPoll).toEqual([false]);
  });

  it.each([
    ['first plain check, long-poll on: at once', null, 1, 0, 0],
    ['news: at once', { afterSeq: 1, waitMs: 1000 }, 2, 5, 0],
    ['held for the wait: at once (long-poll honoured)', { afterSeq: 1, waitMs: 1000 }, 1, 1000, 0],
    ['nothing new at once: the poll interval', { afterSeq: 1, waitMs: 1000 }, 1, 3, TEST_TIMINGS.pollIntervalMs],
  ])('delayAfter: %s', (_name, sent, seq, elapsedMs, expected) => {
    expect(delayAfter(sent, phaseBody({ seq }), elapsedMs, TEST_TIMINGS)).toBe(expected);
  });

  it('delayAfter: long-poll off polls at the interval', () => {
    expect(delayAfter(null, phaseBody(), 1, { ...TEST_TIMINGS, longPollMs: 0 })).toBe(TEST_TIMINGS.pollIntervalMs);
  });
});
