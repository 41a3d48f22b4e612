import { busy, RunEndings, RunSlots } from '../src/chat/socket-runs';

describe('RunSlots', () => {
  it('is full at its maximum and frees a slot once per release', () => {
    const slots = new RunSlots(2);
    const first = slots.take();
    slots.take();
    expect(slots.full).toBe(true);
    first();
    first();
    expect(slots.full).toBe(false);
    slots.take();
    expect(slots.full).toBe(true);
    expect(busy(2)).toMatchObject({ type: 'error', code: 'busy' });
  });
});

describe('RunEndings', () => {
  const failed = (runId: string) => ({ type: 'error', code: 'agent_failed', message: 'failed', runId, threadId: 't' }) as const;
  const interrupted = (runId: string) => ({ type: 'error', code: 'interrupted', message: 'interrupted', runId, threadId: 't' }) as const;
  const completed = (runId: string) => ({ type: 'agent_completed', runId, threadId: 't', at: '2026-01-01T00:00:00Z', durationMs: 1 }) as const;

  it('lets one ending per run through: agent_failed then a sweep interrupted is heard once', () => {
    const endings = new RunEndings();
    expect(endings.admit(failed('r1'))).toBe(true);
    expect(endings.admit(interrupted('r1'))).toBe(false);
    expect(endings.admit(interrupted('r2'))).toBe(true);
    expect(endings.admit(failed('r2'))).toBe(false);
  });

  it('lets the reply after agent_completed through, but no failure', () => {
    const endings = new RunEndings();
    expect(endings.admit(completed('r1'))).toBe(true);
    expect(endings.admit({ type: 'agent_response', runId: 'r1', threadId: 't', text: 'hi' })).toBe(true);
    expect(endings.admit(failed('r1'))).toBe(false);
  });

  it('passes what is not an ending, and errors that name no run', () => {
    const endings = new RunEndings();
    const unavailable = { type: 'error', code: 'unavailable', message: 'later', retryAfterSeconds: 1, threadId: 't' } as const;
    expect(endings.admit(unavailable)).toBe(true);
    expect(endings.admit(unavailable)).toBe(true);
  });

  it('remembers a bounded number of runs, forgetting the oldest first', () => {
    const endings = new RunEndings();
    for (let i = 0; i <= 256; i += 1) endings.admit(failed(`r${i}`));
    expect(endings.admit(interrupted('r256'))).toBe(false);
    expect(endings.admit(interrupted('r0'))).toBe(true);
  });
});
