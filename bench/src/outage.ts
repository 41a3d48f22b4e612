/**
 * Comparison 7: a dependency that goes silent after ready, under load. Clients chat with the real
 * app on real PostgreSQL and Redis (testkit's throwaway servers) through the stall proxy; midway
 * the proxy black-holes one of them for the outage window, then forwards again. The same run
 * without a fault is the baseline: the app's RSS grows under load alone, and what the outage adds
 * is the difference. Reported per fault: recovery time after the dependency returns, RSS growth,
 * acknowledged messages lost and first frames later than the deadline.
 */
import { APP_ENV_VARS, APP_PATHS } from '../../common/revision';
import { createDatabase, startPostgres, startRedis, type TestServer } from '../../testkit/dependency-servers';
import { type ProxyMode, startStallProxy, type StallProxy } from '../../testkit/stall-proxy';
import { type Fault, type OutageResult, runOutage } from '../../reliability/outage';
import { observeStartup, startApp } from './app-process';

export interface OutagePlan {
  clients: number;
  warmupMs: number;
  outageMs: number;
  afterMs: number;
}

export const OUTAGE_VARIANTS = ['none', 'postgresBlackhole', 'redisBlackhole'] as const;
export type OutageVariant = (typeof OUTAGE_VARIANTS)[number];

export type OutageResults = Record<OutageVariant, OutageResult>;

/** The bound a user may wait for a first frame (the defaults answer within about 3 s). */
export const OUTAGE_DEADLINE_MS = 8000;

const proxyFault = (name: string, proxy: StallProxy | undefined, mode: ProxyMode): Fault => ({
  name,
  apply: () => proxy?.setMode(mode),
  mend: () => proxy?.setMode('forward'),
});

export async function runOutages(plan: OutagePlan, onResult: (result: OutageResult) => void = () => {}): Promise<OutageResults> {
  const servers: TestServer[] = [];
  try {
    const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    servers.push(postgres, redis);
    const results: Partial<OutageResults> = {};
    for (const variant of OUTAGE_VARIANTS) {
      const databaseUrl = await createDatabase(postgres);
      const [pgProxy, redisProxy] = await Promise.all([startStallProxy(postgres.port), startStallProxy(redis.port)]);
      const app = await startApp({
        [APP_ENV_VARS.databaseUrl]: pgProxy.proxied(databaseUrl),
        [APP_ENV_VARS.redisUrl]: redisProxy.proxied(redis.url),
        // Every client shares 127.0.0.1: the rate limit is not what this measures.
        [APP_ENV_VARS.rateLimitPerMinute]: '1000000',
      });
      try {
        await observeStartup(app);
        const fault =
          variant === 'postgresBlackhole' ? proxyFault('postgres black hole', pgProxy, 'blackhole') : variant === 'redisBlackhole' ? proxyFault('redis black hole', redisProxy, 'blackhole') : proxyFault('no fault', undefined, 'forward');
        const result = await runOutage(
          { url: `ws://127.0.0.1:${app.port}${APP_PATHS.websocket}`, pid: app.proc.pid, databaseUrl, clients: plan.clients, warmupMs: plan.warmupMs, outageMs: plan.outageMs, afterMs: plan.afterMs, deadlineMs: OUTAGE_DEADLINE_MS },
          fault,
        );
        onResult(result);
        results[variant] = result;
      } finally {
        await app.proc.stop();
        await Promise.all([pgProxy.close(), redisProxy.close()]);
      }
    }
    return results as OutageResults;
  } finally {
    await Promise.all(servers.map((server) => server.destroy()));
  }
}
