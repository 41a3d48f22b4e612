/**
 * The cache on Redis (Memorystore in production): rate-limit counters every instance shares, and
 * publish/subscribe so a thread's events reach whichever instance holds its socket. Two
 * connections, because a subscribed Redis connection accepts no other commands. The cache phase
 * opens it with `openRedis`: connect both, ping, retried with backoff inside the phase's budget.
 * Once running, every command has a deadline (`commandTimeoutMs`), nothing waits in a queue for a
 * connection (no offline queue, no retry of a command cut by a disconnect), and a connection that
 * stops answering is dropped after `socketTimeoutMs(commandTimeoutMs)`; ioredis reconnects by
 * itself and subscribes again. What the app does meanwhile is dependencies/fallback-cache.ts.
 */
import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from '../../../common/log';
import type { CacheClient, MessageHandler } from './cache';
import { connectWithin, settleWithin, urlSecrets, urlTarget } from '../startup/dependency-retry';
import { describeError } from '../errors';

// INCR and PEXPIRE in one step, so a key never lives without its expiry (works on any Redis).
const INCREMENT_WITH_EXPIRY = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count`;

// INCRBY and PEXPIRE in one step: the key lives ttl after its last change.
const ADD_WITH_EXPIRY = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return count`;

/**
 * A connection with a command waiting and no byte received for this long is dropped and
 * reconnected: long enough for a few commands to time out on their own first, bounded so a
 * connection that stalled does not keep its queue of unanswered commands.
 */
export function socketTimeoutMs(commandTimeoutMs: number): number {
  return commandTimeoutMs * 4;
}

/** Delay before reconnection attempt `times` once running: 100 ms more each time, at most 2 s. */
export function reconnectDelayMs(times: number): number {
  return Math.min(times * 100, 2000);
}

/** The deadlines a connection gets once the cache phase has connected it. */
function runningOptions(commandTimeoutMs: number): Pick<RedisOptions, 'commandTimeout' | 'socketTimeout' | 'connectTimeout'> {
  const stalledAfterMs = socketTimeoutMs(commandTimeoutMs);
  return { commandTimeout: commandTimeoutMs, socketTimeout: stalledAfterMs, connectTimeout: stalledAfterMs };
}

export class RedisCache implements CacheClient {
  readonly kind = 'redis';

  constructor(
    private readonly commands: Redis,
    private readonly subscriber: Redis,
  ) {}

  async increment(key: string, ttlMs: number): Promise<number> {
    return Number(await this.commands.eval(INCREMENT_WITH_EXPIRY, 1, key, ttlMs));
  }

  async add(key: string, amount: number, ttlMs: number): Promise<number> {
    return Number(await this.commands.eval(ADD_WITH_EXPIRY, 1, key, amount, ttlMs));
  }

  async publish(channel: string, payload: string): Promise<void> {
    await this.commands.publish(channel, payload);
  }

  async subscribe(channel: string): Promise<void> {
    await this.subscriber.subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.subscriber.unsubscribe(channel);
  }

  onMessage(handler: MessageHandler): void {
    this.subscriber.on('message', handler);
  }

  async ping(): Promise<void> {
    await Promise.all([this.commands.ping(), this.subscriber.ping()]);
  }

  /** QUIT lets replies to commands already sent arrive before the connection closes. */
  async close(): Promise<void> {
    await Promise.allSettled([this.commands.quit(), this.subscriber.quit()]);
  }
}

export interface OpenRedisOptions {
  url: string;
  budgetMs: number;
  /** The deadline of every command once running (APP_CACHE_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
  log: Logger;
  signal?: AbortSignal;
  createClient?: (url: string, options: RedisOptions) => Redis;
}

export function redisName(url: string): string {
  return `Redis at ${urlTarget(url)}`;
}

export async function openRedis({ url, budgetMs, commandTimeoutMs, log, signal, createClient = (u, o) => new Redis(u, o) }: OpenRedisOptions): Promise<RedisCache> {
  const name = redisName(url);
  const secrets = urlSecrets(url);
  return connectWithin(
    async (timeoutMs) => {
      const options: RedisOptions = {
        lazyConnect: true,
        connectTimeout: timeoutMs,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: reconnectDelayMs,
      };
      const clients = [createClient(url, options), createClient(url, options)] as const;
      // connect() rejects with a bare "Connection is closed."; the reason arrives as an error event.
      let lastError: unknown;
      const remember = (error: unknown) => (lastError = error);
      for (const client of clients) client.on('error', remember);
      const cache = new RedisCache(...clients);
      try {
        // connectTimeout covers only TCP; AUTH and PING can stall too.
        await settleWithin(
          Promise.all(clients.map((client) => client.connect())).then(() => cache.ping()),
          timeoutMs,
          `no answer within ${timeoutMs} ms`,
        );
        for (const client of clients) {
          client.off('error', remember);
          // The startup budget allowed for a network path still warming up. Once running, every
          // command and every reconnection has the deadlines of chat (ioredis reads them per use).
          Object.assign(client.options, runningOptions(commandTimeoutMs));
        }
        // From here on ioredis reconnects by itself. Each failed attempt is a DEBUG line: the outage
        // itself is one WARNING line when degraded mode starts (dependencies/fallback-cache.ts).
        clients.forEach((client, index) => {
          const connection = index === 0 ? 'commands' : 'subscriber';
          client.on('error', (error) => log.debug({ dependency: name, connection }, `${name}: ${connection} connection: ${describeError(error, secrets)}`));
          client.on('ready', () => log.info({ dependency: name, connection }, `${name}: ${connection} connection ready`));
        });
        return cache;
      } catch (error) {
        for (const client of clients) client.disconnect();
        throw lastError ?? error;
      }
    },
    {
      name,
      budgetMs,
      secrets,
      signal,
      onRetry: (attempt, reason, delayMs) => log.warn({ dependency: name, attempt, delayMs }, `${name}: attempt ${attempt} failed, retrying: ${reason}`),
    },
  );
}
