/** The circuit breaker, the guarded store and the fallback cache, each over an in-process stand-in that fails on demand. */
import { Writable } from 'node:stream';
import { createLogger } from '../../common/log';
import { DEPENDENCY_DEGRADED_MESSAGE, DEPENDENCY_RECOVERED_MESSAGE } from '../../common/app-log';
import { afterFailure, afterSuccess, admits, CLOSED, retryAfterSeconds } from '../src/dependencies/circuit-breaker';
import { DependencyHealth } from '../src/dependencies/dependency-health';
import { FallbackCache } from '../src/dependencies/fallback-cache';
import { GuardedStore } from '../src/dependencies/guarded-store';
import { DependencyUnavailableError, retryAfterOf } from '../src/dependencies/unavailable';
import { runFailure } from '../src/agents/run-failure';
import { type CacheClient, EmbeddedCache } from '../src/storage/cache';
import { EmbeddedStore } from '../src/storage/store';
import { waitFor } from '../../testkit/wait-for';

/** A logger whose lines a test reads. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('test', 'debug', sink), lines };
}

const transitions = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => l.message === DEPENDENCY_DEGRADED_MESSAGE || l.message === DEPENDENCY_RECOVERED_MESSAGE).map((l) => `${String(l.severity)} ${String(l.message)} ${String(l.dependency)}`);

describe('circuit breaker', () => {
  const policy = { failuresToOpen: 2, probeIntervalMs: 1500 };

  it('opens after the failures in a row, refuses while open, and closes on a success', () => {
    const once = afterFailure(CLOSED, policy);
    expect(admits(once)).toBe(true);
    expect(admits(afterFailure(afterSuccess(), policy))).toBe(true);
    const open = afterFailure(once, policy);
    expect(open).toEqual({ kind: 'open' });
    expect(admits(open)).toBe(false);
    expect(afterFailure(open, policy)).toBe(open);
    expect(admits(afterSuccess())).toBe(true);
  });

  it('tells a refused caller the next probe, in whole seconds, at least 1', () => {
    expect(retryAfterSeconds(policy)).toBe(2);
    expect(retryAfterSeconds({ failuresToOpen: 1, probeIntervalMs: 10 })).toBe(1);
  });
});

describe('what a failed run tells the user', () => {
  const ids = { runId: 'r', threadId: 't' };

  it('unavailable with retryAfterSeconds and no run before the message was stored; agent_failed after', () => {
    const refused = runFailure(ids, false, new DependencyUnavailableError('postgresql', 3));
    expect(refused).toMatchObject({ type: 'error', code: 'unavailable', retryAfterSeconds: 3, threadId: 't' });
    expect(refused).not.toHaveProperty('runId');
    expect(runFailure(ids, false, new Error('anything'))).toMatchObject({ code: 'unavailable', retryAfterSeconds: retryAfterOf(undefined) });
    const failed = runFailure(ids, true, new DependencyUnavailableError('postgresql', 3));
    expect(failed).toMatchObject({ type: 'error', code: 'agent_failed', ...ids });
    expect(failed).not.toHaveProperty('retryAfterSeconds');
  });
});

/** An embedded store whose calls fail while `down` is set. */
function flakyStore() {
  const store = new EmbeddedStore();
  const control = { down: false, pings: 0 };
  const fail = () => Promise.reject(new Error('connection lost'));
  return {
    control,
    factory: Object.assign(Object.create(store) as EmbeddedStore, {
      session: () => {
        const inner = store.session();
        return {
          append: (...args: Parameters<typeof inner.append>) => (control.down ? fail() : inner.append(...args)),
          appendEvent: (...args: Parameters<typeof inner.appendEvent>) => (control.down ? fail() : inner.appendEvent(...args)),
          history: (...args: Parameters<typeof inner.history>) => (control.down ? fail() : inner.history(...args)),
        };
      },
      ping: () => {
        control.pings += 1;
        return control.down ? fail() : Promise.resolve();
      },
    }),
  };
}

describe('guarded store', () => {
  it('refuses at once while open, probes, and serves again once the database answers; two log lines', async () => {
    const { log, lines } = recordingLog();
    const health = new DependencyHealth(log);
    const { control, factory } = flakyStore();
    const guarded = new GuardedStore(factory, { dependency: 'postgresql', health, policy: { failuresToOpen: 2, probeIntervalMs: 20 }, describe: (e) => String(e) });
    const session = guarded.session();
    const message = { threadId: 't', role: 'user' as const, text: 'x', at: '2026-01-01T00:00:00.000Z' };
    await session.append(message);
    control.down = true;
    for (let i = 0; i < 2; i += 1) await expect(session.append(message)).rejects.toThrow(DependencyUnavailableError);
    expect(health.snapshot()).toEqual([{ dependency: 'postgresql', since: expect.any(String), reason: 'Error: connection lost' }]);
    // Open: refused without reaching the store, with when to try again.
    const refused = await session.history('t', 10).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DependencyUnavailableError);
    expect(retryAfterOf(refused)).toBe(1);
    expect((refused as Error).cause).toBeUndefined();
    await waitFor('a probe', () => control.pings >= 2);
    control.down = false;
    await waitFor('the breaker to close', () => health.snapshot().length === 0);
    expect((await session.history('t', 10)).map((m) => m.text)).toEqual(['x']);
    expect(transitions(lines)).toEqual(['WARNING dependency degraded postgresql', 'INFO dependency recovered postgresql']);
    await guarded.close();
  });
});

/** An embedded cache that fails every call while `down` is set, as a Redis that went away would. */
function flakyCache() {
  const inner = new EmbeddedCache();
  const control = { down: false, subscribed: new Set<string>() };
  const guard = <T>(run: () => Promise<T>) => (control.down ? Promise.reject(new Error('Command timed out')) : run());
  const cache: CacheClient = {
    kind: 'redis',
    increment: (key, ttl) => guard(() => inner.increment(key, ttl)),
    add: (key, amount, ttl) => guard(() => inner.add(key, amount, ttl)),
    publish: (channel, payload) => guard(() => inner.publish(channel, payload)),
    subscribe: (channel) => guard(async () => void control.subscribed.add(channel)).then(() => inner.subscribe(channel)),
    unsubscribe: (channel) => guard(async () => void control.subscribed.delete(channel)).then(() => inner.unsubscribe(channel)),
    onMessage: (handler) => inner.onMessage(handler),
    ping: () => guard(() => inner.ping()),
    close: () => inner.close(),
  };
  return { control, cache };
}

describe('fallback cache', () => {
  it('counts in process and skips publications while the cache fails, then restores subscriptions and shared counting', async () => {
    const { log, lines } = recordingLog();
    const health = new DependencyHealth(log);
    const { control, cache } = flakyCache();
    const fallback = new FallbackCache(cache, { dependency: 'redis', health, checkIntervalMs: 20, describe: (e) => String(e) });
    await fallback.subscribe('a');
    expect(await fallback.increment('k', 60_000)).toBe(1);
    control.down = true;
    // The first failure falls back at once; the call still answers.
    expect(await fallback.increment('k', 60_000)).toBe(1);
    expect(await fallback.increment('k', 60_000)).toBe(2);
    expect(health.isDegraded('redis')).toBe(true);
    await expect(fallback.publish('a', 'lost')).resolves.toBeUndefined();
    await fallback.subscribe('b');
    await fallback.unsubscribe('a');
    control.down = false;
    await waitFor('degraded mode to end', () => !health.isDegraded('redis'));
    expect([...control.subscribed]).toEqual(['b']);
    // Shared counting again: the shared counter went on from where it was.
    expect(await fallback.increment('k', 60_000)).toBe(2);
    expect(transitions(lines)).toEqual(['WARNING dependency degraded redis', 'INFO dependency recovered redis']);
    expect(lines.find((l) => l.message === DEPENDENCY_RECOVERED_MESSAGE)).toMatchObject({ degraded: 0, degradedMs: expect.any(Number) });
    await fallback.close();
  });

  it('adds to counters in process while the cache fails, and to the shared ones again once it is back', async () => {
    const health = new DependencyHealth(createLogger('test', 'silent'));
    const { control, cache } = flakyCache();
    const fallback = new FallbackCache(cache, { dependency: 'redis', health, checkIntervalMs: 20, describe: (e) => String(e) });
    expect(await fallback.add('runs', 1, 60_000)).toBe(1);
    control.down = true;
    expect(await fallback.add('runs', 1, 60_000)).toBe(1);
    expect(await fallback.add('runs', 2, 60_000)).toBe(3);
    expect(health.isDegraded('redis')).toBe(true);
    control.down = false;
    await waitFor('degraded mode to end', () => !health.isDegraded('redis'));
    expect(await fallback.add('runs', 0, 60_000)).toBe(1);
    await fallback.close();
  });

  it('finds an outage with no traffic at all, by its own check', async () => {
    const health = new DependencyHealth(createLogger('test', 'silent'));
    const { control, cache } = flakyCache();
    const fallback = new FallbackCache(cache, { dependency: 'redis', health, checkIntervalMs: 20, describe: (e) => String(e) });
    control.down = true;
    await waitFor('the check to notice', () => health.isDegraded('redis'));
    await fallback.close();
  });
});
