import { MAX_LONG_POLL_MS, parseLongPollQuery, phaseBodySchema, phaseStatusCode } from '../phase-contract';

const valid = {
  contract: 1,
  state: 'starting',
  phase: 'database',
  completedPhases: ['init', 'dependencies'],
  components: { agentSupervisor: false, websocketBridge: false },
  error: null,
  seq: 4,
  startedAt: '2026-11-22T05:00:00.000Z',
  updatedAt: '2026-11-22T05:00:01.250+00:00',
};

describe('phase body schema', () => {
  it('accepts a contract body', () => {
    expect(phaseBodySchema.parse(valid)).toEqual(valid);
  });

  it.each([
    ['wrong contract version', { contract: 2 }],
    ['unknown state', { state: 'warming' }],
    ['negative seq', { seq: -1 }],
    ['fractional seq', { seq: 1.5 }],
    ['non-boolean component', { components: { agentSupervisor: 'yes' } }],
    ['error without phase', { error: { message: 'boom' } }],
    ['timestamp without zone', { updatedAt: '2026-11-22T05:00:00' }],
    ['missing phase', { phase: undefined }],
  ])('rejects %s', (_label, change) => {
    expect(phaseBodySchema.safeParse({ ...valid, ...change }).success).toBe(false);
  });

  it('answers 200 only when ready', () => {
    expect(phaseStatusCode('ready')).toBe(200);
    for (const state of ['starting', 'failed', 'stopping'] as const) expect(phaseStatusCode(state)).toBe(503);
  });
});

describe('long-poll query', () => {
  const parse = (query: string) => parseLongPollQuery(new URLSearchParams(query));

  it('waits only when both afterSeq and waitMs are given', () => {
    expect(parse('afterSeq=3&waitMs=500')).toEqual({ afterSeq: 3, waitMs: 500 });
    expect(parse('waitMs=500')).toEqual({ afterSeq: null, waitMs: 0 });
    expect(parse('afterSeq=3')).toEqual({ afterSeq: 3, waitMs: 0 });
    expect(parse('')).toEqual({ afterSeq: null, waitMs: 0 });
  });

  it('caps the wait and ignores malformed numbers', () => {
    expect(parse('afterSeq=0&waitMs=999999999')).toEqual({ afterSeq: 0, waitMs: MAX_LONG_POLL_MS });
    expect(parse('afterSeq=-1&waitMs=100')).toEqual({ afterSeq: null, waitMs: 0 });
    expect(parse('afterSeq=1&waitMs=1e3')).toEqual({ afterSeq: 1, waitMs: 0 });
  });
});
