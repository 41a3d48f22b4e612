import { describeError } from '../src/errors';

describe('describeError', () => {
  const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
  const cases: { name: string; error: unknown; secrets?: string[]; want: string }[] = [
    { name: 'an Error: its message', error: new Error('boom'), want: 'boom' },
    { name: 'a thrown string', error: 'plain', want: 'plain' },
    { name: 'null', error: null, want: 'null' },
    {
      name: 'an AggregateError without a message: its parts, once each',
      error: new AggregateError([refused('::1:5432'), refused('127.0.0.1:5432'), refused('::1:5432')], ''),
      want: 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
    },
    { name: 'no message: the code', error: Object.assign(new Error(''), { code: 'ETIMEDOUT' }), want: 'ETIMEDOUT' },
    { name: 'a timeout (fetch with AbortSignal.timeout)', error: new DOMException('The operation was aborted due to timeout', 'TimeoutError'), want: 'timed out' },
    { name: "fetch's bare message: with its cause", error: new TypeError('fetch failed', { cause: refused('127.0.0.1:9') }), want: 'fetch failed: connect ECONNREFUSED 127.0.0.1:9' },
    {
      name: 'a wrapper whose message already says its cause: the message alone',
      error: new Error('GET http://llm/models failed: fetch failed: connect ECONNREFUSED 127.0.0.1:9', { cause: new TypeError('fetch failed', { cause: refused('127.0.0.1:9') }) }),
      want: 'GET http://llm/models failed: fetch failed: connect ECONNREFUSED 127.0.0.1:9',
    },
    { name: 'an error-like object from another realm', error: { message: 'from elsewhere' }, want: 'from elsewhere' },
    { name: 'credentials in a URL, even unannounced', error: new Error('cannot reach postgres://chat:hunter2@db/chat'), want: 'cannot reach postgres://chat:***@db/chat' },
    { name: 'the secrets named', error: new Error('WRONGPASS s3cret'), secrets: ['s3cret'], want: 'WRONGPASS ***' },
    { name: 'a secret in the cause', error: new Error('auth failed', { cause: new Error('key sk-123 refused') }), secrets: ['sk-123'], want: 'auth failed: key *** refused' },
  ];

  it.each(cases)('$name', ({ error, secrets, want }) => {
    expect(describeError(error, secrets)).toBe(want);
  });
});
