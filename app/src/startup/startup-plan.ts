/**
 * What each startup phase builds, in order. The order follows the incidents this project exists
 * to prevent: the supervisor only after the model, the database, the tools and the bridge; the
 * registry wired to the WebSocket manager and verified before the event self-test; ready last.
 */
import type { Env } from '../../../common/env';
import { AgentRegistry } from '../agents/agent-registry';
import { AgentSupervisor } from '../agents/agent-supervisor';
import type { Logger } from '../../../common/log';
import { type CacheClient, EmbeddedCache } from '../storage/cache';
import { ChatAgent } from '../agents/chat-agent';
import type { DependencyDeadlines, ServerConfig } from '../config';
import { DependencyHealth } from '../dependencies/dependency-health';
import { CACHE_CHECK_INTERVAL_MS, FallbackCache } from '../dependencies/fallback-cache';
import { DATABASE_BREAKER, GuardedStore } from '../dependencies/guarded-store';
import { describeError } from '../errors';
import { urlSecrets } from './dependency-retry';
import { openAuthentication } from '../auth/authentication';
import { type CacheConfig, type DatabaseConfig, readAuthConfig, readCacheConfig, readDatabaseConfig, readLlmConfig, readThreadTokenKey } from '../config';
import { ExecutionTracker } from '../agents/execution-tracker';
import { createLlmClient } from '../agents/llm';
import { build, type PhasePlan, verify, wire } from './orchestrator';
import { runEventSelfTest } from './self-test';
import { EmbeddedStore, type SessionFactory } from '../storage/store';
import { ThreadRelay } from '../chat/thread-relay';
import { createToolDispatcher } from '../agents/tools';
import { AgentWebSocketBridge } from '../chat/websocket-bridge';
import { WebSocketManager } from '../chat/websocket-manager';

export interface PlanInputs {
  env: Env;
  config: ServerConfig;
  log: Logger;
  fetch?: typeof fetch;
  /** Aborted on SIGTERM: dependency retries stop waiting. */
  signal?: AbortSignal;
  /** Where the database and cache report degraded mode (shown on /healthz); a private one by default. */
  health?: DependencyHealth;
}

/**
 * The Node.js the images run (node:26) and the bundle targets (esbuild --target=node26), as
 * package.json's engines says; a constant because the bundle does not carry package.json.
 */
const MIN_NODE_MAJOR = 26;

export function createStartupPlan({ env, config, log, fetch: fetchFn = fetch, signal, health = new DependencyHealth(log) }: PlanInputs): PhasePlan[] {
  const { dependencyDeadlines: deadlines } = config;
  return [
    {
      phase: 'init',
      steps: [
        verify('runtime', [], () => {
          const major = Number(process.versions.node.split('.')[0]);
          if (major < MIN_NODE_MAJOR) throw new Error(`Node.js ${MIN_NODE_MAJOR} or newer is required, running ${process.versions.node}`);
        }),
      ],
    },
    {
      phase: 'dependencies',
      steps: [
        build('settings', [], () => ({
          llm: readLlmConfig(env, config.environment),
          database: readDatabaseConfig(env, config.environment),
          cache: readCacheConfig(env, config.environment),
          threadTokenKey: readThreadTokenKey(env, config.environment),
          auth: readAuthConfig(env, config.environment),
        })),
        build('authentication', ['settings'], ({ settings }) =>
          openAuthentication(settings.auth, {
            budgetMs: config.authBudgetMs,
            clockToleranceS: config.authClockToleranceS,
            log: log.child({ module: 'authentication' }),
            fetch: fetchFn,
            signal,
          }),
        ),
        build('llmClient', ['settings'], ({ settings }) => createLlmClient(settings.llm, fetchFn)),
      ],
    },
    {
      phase: 'database',
      steps: [
        build('sessionFactory', ['settings'], ({ settings }) =>
          openSessionFactory(settings.database, { budgetMs: config.databaseBudgetMs, deadlines, health, log: log.child({ module: 'database' }), signal }),
        ),
      ],
    },
    {
      phase: 'cache',
      steps: [
        build('cacheClient', ['settings'], ({ settings }) =>
          openCache(settings.cache, { budgetMs: config.cacheBudgetMs, deadlines, health, log: log.child({ module: 'cache' }), signal }),
        ),
      ],
    },
    {
      phase: 'services',
      steps: [
        build('toolDispatcher', [], () => createToolDispatcher()),
        build('executionTracker', [], () => new ExecutionTracker()),
        build('websocketManager', [], () => new WebSocketManager()),
        build('agentRegistry', [], () => new AgentRegistry().register(new ChatAgent())),
        build(
          'threadRelay',
          ['cacheClient', 'websocketManager'],
          ({ cacheClient, websocketManager }) => new ThreadRelay(cacheClient, websocketManager, log.child({ module: 'threadRelay' })),
        ),
        build('websocketBridge', ['websocketManager', 'threadRelay'], ({ websocketManager, threadRelay }) => new AgentWebSocketBridge(websocketManager, threadRelay)),
        build(
          'agentSupervisor',
          ['llmClient', 'sessionFactory', 'toolDispatcher', 'websocketBridge', 'agentRegistry', 'executionTracker'],
          async (deps) => {
            const supervisor = new AgentSupervisor(deps, log.child({ module: 'agentSupervisor' }), { leaseMs: config.runLeaseMs });
            // Runs left running by instances that died are closed before this one serves.
            await supervisor.startLeases();
            return supervisor;
          },
        ),
      ],
    },
    {
      phase: 'websocket',
      steps: [
        wire('connectRegistry', ['agentRegistry', 'websocketBridge'], ({ agentRegistry, websocketBridge }) => {
          agentRegistry.connect(websocketBridge);
        }),
        verify(
          'verifyWiring',
          ['agentRegistry', 'websocketBridge', 'websocketManager', 'agentSupervisor'],
          ({ agentRegistry, websocketBridge, websocketManager, agentSupervisor }) => {
            if (!agentRegistry.deliversThrough(websocketBridge, websocketManager)) {
              throw new Error('AgentRegistry does not reach the WebSocketManager through the AgentWebSocketBridge');
            }
            if (agentSupervisor.bridge !== websocketBridge) throw new Error('AgentSupervisor delivers through a different bridge than the registry');
          },
        ),
      ],
    },
    {
      phase: 'finalize',
      steps: [verify('eventSelfTest', ['agentRegistry', 'websocketManager'], ({ agentRegistry, websocketManager }) => runEventSelfTest(agentRegistry, websocketManager))],
    },
  ];
}

interface OpenOptions {
  budgetMs: number;
  deadlines: DependencyDeadlines;
  health: DependencyHealth;
  log: Logger;
  signal?: AbortSignal;
}

// pg and ioredis are in the bundle, but their modules run only when their URL is set (a dynamic
// import): the embedded defaults skip that initialisation. Each is wrapped in its degraded mode.
async function openSessionFactory(database: DatabaseConfig, { deadlines, health, ...options }: OpenOptions): Promise<SessionFactory> {
  if (database.kind === 'postgres') {
    const { url } = database;
    const store = await (await import('../storage/pg-store')).openPostgres({ url, deadlines: { queryMs: deadlines.databaseQueryMs, connectMs: deadlines.databaseConnectMs }, ...options });
    return new GuardedStore(store, { dependency: 'postgresql', health, policy: DATABASE_BREAKER, describe: (error) => describeError(error, urlSecrets(url)) });
  }
  const store = new EmbeddedStore();
  await store.ping();
  return store;
}

async function openCache(cache: CacheConfig, { deadlines, health, ...options }: OpenOptions): Promise<CacheClient> {
  if (cache.kind === 'redis') {
    const { url } = cache;
    const redis = await (await import('../storage/redis-cache')).openRedis({ url, commandTimeoutMs: deadlines.cacheCommandMs, ...options });
    return new FallbackCache(redis, { dependency: 'redis', health, checkIntervalMs: CACHE_CHECK_INTERVAL_MS, describe: (error) => describeError(error, urlSecrets(url)) });
  }
  const embedded = new EmbeddedCache();
  await embedded.ping();
  return embedded;
}
