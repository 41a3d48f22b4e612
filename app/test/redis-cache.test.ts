/** The Redis cache and its startup retries, against a real local redis-server. */
import net from 'node:net';
import { createLogger } from '../../common/log';
import { EmbeddedCache } from '../src/storage/cache';
import { openRedis, reconnectDelayMs, type RedisCache } from '../src/storage/redis-cache';
import { waitFor } from '../../testkit/wait-for';
import { REDIS_PASSWORD, serverForFile, startRedis } from '../../testkit/dependency-servers';
import { startStallProxy } from '../../testkit/stall-proxy';

const log = createLogger('test', 'silent');
const COMMAND_TIMEOUT_MS = 300;
const redis = serverForFile(startRedis);
const opened: RedisCache[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()));
});

async function open(budgetMs = 3000, url = redis().url): Promise<RedisCache> {
  const cache = await openRedis({ url, budgetMs, commandTimeoutMs: COMMAND_TIMEOUT_MS, log });
  opened.push(cache);
  return cache;
}

/** Collects what a cache's subscriptions receive. */
function received(cache: { onMessage: EmbeddedCache['onMessage'] }): [string, string][] {
  const got: [string, string][] = [];
  cache.onMessage((channel, payload) => got.push([channel, payload]));
  return got;
}

describe('Redis cache', () => {
  it('shares counters between instances, and they expire', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const key = `count-${Date.now()}`;
    expect(await a.increment(key, 1000)).toBe(1);
    expect(await b.increment(key, 1000)).toBe(2);
    // The window is fixed from the first increment, so counting on does not keep it alive.
    await waitFor('the counter to expire', async () => (await a.increment(key, 1000)) === 1);
  });

  it('adds any amount, shared between instances, each change extending the expiry', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const key = `sum-${Date.now()}`;
    expect(await a.add(key, 150, 60_000)).toBe(150);
    expect(await b.add(key, -1, 60_000)).toBe(149);
    expect(await a.add(key, 0, 60_000)).toBe(149);
    // Each look is a change too: looking with a 1 ms expiry lets it lapse.
    await waitFor('the sum to expire', async () => (await a.add(key, 0, 1)) === 0);
  });

  it('delivers a publication to subscribers in other instances, and stops after unsubscribe', async () => {
    const [publisher, subscriber] = await Promise.all([open(), open()]);
    const got = received(subscriber);
    await subscriber.subscribe('thread:a');
    await publisher.publish('thread:a', 'one');
    await publisher.publish('thread:b', 'not subscribed');
    await waitFor('the publication', () => got.length === 1);
    await subscriber.unsubscribe('thread:a');
    await publisher.publish('thread:a', 'two');
    await publisher.ping();
    expect(got).toEqual([['thread:a', 'one']]);
  });

  it('fails a command at once while Redis is down, then reconnects and subscribes again after it restarts', async () => {
    const [publisher, subscriber] = await Promise.all([open(), open()]);
    const got = received(subscriber);
    await subscriber.subscribe('thread:r');
    await redis().stop();
    // No offline queue: nothing waits for the connection to come back.
    await expect(publisher.increment(`outage-${Date.now()}`, 10_000)).rejects.toThrow(/enableOfflineQueue|Connection is closed/);
    await redis().start();
    await waitFor('a publication after the restart', async () => {
      await publisher.publish('thread:r', 'after restart').catch(() => undefined);
      return got.length > 0;
    });
    expect(got[0]).toEqual(['thread:r', 'after restart']);
  });

  it('a black-holed Redis: each command fails within its deadline, and once Redis answers again a new connection serves', async () => {
    const proxy = await startStallProxy(redis().port);
    try {
      const cache = await open(3000, proxy.proxied(redis().url));
      expect(await cache.increment(`bh-${Date.now()}`, 10_000)).toBe(1);
      proxy.setMode('blackhole');
      const started = performance.now();
      await expect(cache.increment(`bh-${Date.now()}`, 10_000)).rejects.toThrow('Command timed out');
      // The deadline plus a timer's lateness; far below the reconnection's seconds.
      expect(performance.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
      proxy.setMode('forward');
      // The stalled connection is dropped after socketTimeoutMs; the next one goes through.
      await waitFor('a command to succeed again', () => cache.increment(`bh-after-${Date.now()}`, 10_000).then(() => true, () => false), { intervalMs: 100 });
    } finally {
      await proxy.close();
    }
  });

  it('fails within the budget naming Redis and the last error, never the password', async () => {
    const url = new URL(redis().url);
    url.port = '1';
    const failure = await openRedis({ url: url.toString(), budgetMs: 500, commandTimeoutMs: COMMAND_TIMEOUT_MS, log }).catch((error: Error) => error);
    expect((failure as Error).message).toMatch(/^Redis at 127\.0\.0\.1:1 not available after \d+ attempts in \d+ ms: connect ECONNREFUSED 127\.0\.0\.1:1$/);
  });

  it('gives up on a server that accepts and never answers (TLS expected, a proxy hanging)', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const failure = await openRedis({ url: `redis://127.0.0.1:${port}`, budgetMs: 600, commandTimeoutMs: COMMAND_TIMEOUT_MS, log }).catch((error: Error) => error);
      expect((failure as Error).message).toMatch(/^Redis at 127\.0\.0\.1:\d+ not available after 1 attempt in \d+ ms: no answer within \d+ ms$/);
      // Ends after the budget rather than waiting on; the slack is for a busy machine.
      expect(Date.now() - started).toBeLessThan(600 + 10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reports a wrong password without echoing either password', async () => {
    const url = new URL(redis().url);
    url.password = 'wrong-s3cret';
    const failure = await openRedis({ url: url.toString(), budgetMs: 300, commandTimeoutMs: COMMAND_TIMEOUT_MS, log }).catch((error: Error) => error);
    expect((failure as Error).message).toMatch(/^Redis at 127\.0\.0\.1:\d+ not available after \d+ attempts? in \d+ ms: WRONGPASS/);
    expect((failure as Error).message).not.toMatch(/s3cret/);
    expect((failure as Error).message).not.toContain(REDIS_PASSWORD);
  });

  it('backs off reconnections up to 2 s', () => {
    expect([1, 5, 20, 100].map(reconnectDelayMs)).toEqual([100, 500, 2000, 2000]);
  });
});

describe('embedded cache pub/sub', () => {
  it('delivers only on subscribed channels', async () => {
    const cache = new EmbeddedCache();
    const got = received(cache);
    await cache.publish('x', 'before');
    await cache.subscribe('x');
    await cache.publish('x', 'during');
    await cache.unsubscribe('x');
    await cache.publish('x', 'after');
    expect(got).toEqual([['x', 'during']]);
  });
});
