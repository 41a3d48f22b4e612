import { readCacheConfig, readDatabaseConfig, readLlmConfig, readPhaseDelays, readServerConfig, readThreadTokenKey } from '../src/config';
import { ThreadTokens } from '../src/chat/thread-tokens';

describe('app configuration', () => {
  it('has defaults that run anywhere', () => {
    const config = readServerConfig({});
    expect(config).toMatchObject({ port: 8080, phaseHost: '127.0.0.1', phasePort: 8081, environment: 'development', failPhase: undefined, startupHoldMs: 975 });
    expect(config).toMatchObject({ wsMaxErrors: 10, wsErrorWindowMs: 10_000, wsUpgradesPerSecond: 20, wsUpgradeBurst: 300 });
    expect(config).toMatchObject({ port: 8080, phaseHost: '127.0.0.1', phasePort: 8081, environment: 'development', failPhase: undefined, startupHoldMs: 975, wsMaxRunsPerSocket: 2, runLeaseMs: 30_000 });
    expect(Object.values(config.phaseDelayMs).every((ms) => ms === 0)).toBe(true);
    expect(readLlmConfig({}, 'development')).toEqual({ kind: 'builtin' });
  });

  it('reads one delay for every phase, or per-phase delays', () => {
    expect(readPhaseDelays({ APP_PHASE_DELAY_MS: '300' }).finalize).toBe(300);
    const delays = readPhaseDelays({ APP_PHASE_DELAY_MS: 'services=5000, finalize=600000' });
    expect(delays).toMatchObject({ init: 0, services: 5000, finalize: 600000 });
  });

  it.each([
    [{ APP_PHASE_DELAY_MS: 'warmup=10' }, /APP_PHASE_DELAY_MS names unknown phase "warmup"/],
    [{ APP_PHASE_DELAY_MS: 'services=soon' }, /APP_PHASE_DELAY_MS entry "services=soon"/],
    [{ APP_PHASE_DELAY_MS: '-5' }, /APP_PHASE_DELAY_MS must be an integer/],
    [{ APP_FAIL_PHASE: 'warmup' }, /APP_FAIL_PHASE must be one of init, dependencies/],
    [{ APP_ENV: 'prod' }, /APP_ENV must be one of/],
    [{ APP_STARTUP_HOLD_MS: '240001' }, /APP_STARTUP_HOLD_MS must be an integer from 0 to 240000/],
    [{ APP_WS_MAX_ERRORS: '0' }, /APP_WS_MAX_ERRORS must be an integer from 1/],
    [{ APP_WS_ERROR_WINDOW_MS: 'soon' }, /APP_WS_ERROR_WINDOW_MS must be an integer/],
    [{ APP_WS_UPGRADES_PER_SECOND: '0' }, /APP_WS_UPGRADES_PER_SECOND must be an integer from 1/],
    [{ APP_WS_UPGRADE_BURST: '-1' }, /APP_WS_UPGRADE_BURST must be an integer/],
    [{ APP_WS_MAX_RUNS_PER_SOCKET: '0' }, /APP_WS_MAX_RUNS_PER_SOCKET must be an integer from 1 to 100/],
    [{ APP_RUN_LEASE_MS: '100' }, /APP_RUN_LEASE_MS must be an integer from 300 to 600000/],
  ])('names the setting in errors: %j', (env, message) => {
    expect(() => readServerConfig(env)).toThrow(message);
  });

  it('reads allowed origins, and keeps the phase endpoint on loopback unless told otherwise', () => {
    expect(readServerConfig({ APP_ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000' }).allowedOrigins).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(() => readServerConfig({ APP_ALLOWED_ORIGINS: 'https://a.example/chat' })).toThrow(/APP_ALLOWED_ORIGINS lists "https:\/\/a.example\/chat", which is not an origin/);
    expect(() => readServerConfig({ PHASE_HOST: '10.0.0.5' })).toThrow(/PHASE_HOST is "10.0.0.5", not a loopback address/);
    expect(readServerConfig({ PHASE_HOST: '0.0.0.0', APP_ALLOW_PUBLIC_PHASE_HOST: 'true' }).phaseHost).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) expect(readServerConfig({ PHASE_HOST: host }).phaseHost).toBe(host);
  });

  it('requires the thread token key in staging and production, and a random one elsewhere', () => {
    const key = 'k'.repeat(32);
    expect(() => readThreadTokenKey({}, 'production')).toThrow('APP_THREAD_TOKEN_KEY is required when APP_ENV=production');
    expect(() => readThreadTokenKey({ APP_THREAD_TOKEN_KEY: 'short-secret' }, 'staging')).toThrow(/at least 32 characters \(value not shown/);
    expect(readThreadTokenKey({ APP_THREAD_TOKEN_KEY: key }, 'staging')).toEqual(Buffer.from(key));
    expect(readThreadTokenKey({}, 'development')).not.toEqual(readThreadTokenKey({}, 'development'));
  });

  it('checks a thread token against the id it was minted for, under the same key only', () => {
    const tokens = new ThreadTokens(Buffer.from('a'.repeat(32)));
    const token = tokens.mint('t1');
    expect(tokens.verify('t1', token)).toBe(true);
    expect(tokens.verify('t2', token)).toBe(false);
    expect(tokens.verify('t1', undefined)).toBe(false);
    expect(tokens.verify('t1', token.slice(1))).toBe(false);
    expect(new ThreadTokens(Buffer.from('b'.repeat(32))).verify('t1', token)).toBe(false);
  });

  it('requires the model endpoint and key in staging and production only', () => {
    expect(() => readLlmConfig({}, 'production')).toThrow('LLM_BASE_URL is required when APP_ENV=production');
    expect(() => readLlmConfig({ LLM_BASE_URL: 'https://llm.example/v1' }, 'staging')).toThrow('LLM_API_KEY is required when APP_ENV=staging');
    expect(() => readLlmConfig({ LLM_API_KEY: 'k' }, 'development')).toThrow('LLM_BASE_URL is required when LLM_API_KEY is set');
    expect(readLlmConfig({ LLM_BASE_URL: 'http://127.0.0.1:1/v1' }, 'development')).toMatchObject({ kind: 'openai-compatible', apiKey: undefined });
  });

  it('selects PostgreSQL and Redis by URL, the embedded ones without, and refuses the embedded ones in staging and production', () => {
    expect(readDatabaseConfig({}, 'development')).toEqual({ kind: 'embedded' });
    expect(readCacheConfig({}, 'test')).toEqual({ kind: 'embedded' });
    expect(readDatabaseConfig({ DATABASE_URL: 'postgresql://u:p@db/chat' }, 'production')).toEqual({ kind: 'postgres', url: 'postgresql://u:p@db/chat' });
    expect(readCacheConfig({ REDIS_URL: 'rediss://:p@cache:6378' }, 'staging')).toEqual({ kind: 'redis', url: 'rediss://:p@cache:6378' });
    expect(() => readDatabaseConfig({}, 'production')).toThrow('DATABASE_URL is required when APP_ENV=production');
    expect(() => readCacheConfig({}, 'staging')).toThrow('REDIS_URL is required when APP_ENV=staging');
  });

  it('rejects a malformed connection URL without echoing it', () => {
    expect(() => readDatabaseConfig({ DATABASE_URL: 'mysql://u:hunter2@db/chat' }, 'development')).toThrow('DATABASE_URL must start with postgres:// or postgresql://, got mysql://');
    expect(() => readCacheConfig({ REDIS_URL: 'hunter2 not a url' }, 'development')).toThrow(/^REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/ \(value not shown/);
    expect(() => readCacheConfig({ REDIS_URL: 'hunter2 not a url' }, 'development')).not.toThrow(/hunter2/);
  });

  it('reads one deadline per dependency for calls once running, defaults that answer a user within about 5 s', () => {
    expect(readServerConfig({}).dependencyDeadlines).toEqual({ databaseQueryMs: 2000, databaseConnectMs: 2000, cacheCommandMs: 500 });
    const env = { APP_DATABASE_QUERY_TIMEOUT_MS: '900', APP_DATABASE_CONNECT_TIMEOUT_MS: '700', APP_CACHE_COMMAND_TIMEOUT_MS: '250' };
    expect(readServerConfig(env).dependencyDeadlines).toEqual({ databaseQueryMs: 900, databaseConnectMs: 700, cacheCommandMs: 250 });
    expect(() => readServerConfig({ APP_DATABASE_QUERY_TIMEOUT_MS: '0' })).toThrow('APP_DATABASE_QUERY_TIMEOUT_MS must be an integer from 50 to 60000');
    expect(() => readServerConfig({ APP_CACHE_COMMAND_TIMEOUT_MS: 'soon' })).toThrow('APP_CACHE_COMMAND_TIMEOUT_MS must be an integer from 50 to 60000');
    expect(() => readServerConfig({ APP_DATABASE_CONNECT_TIMEOUT_MS: '60001' })).toThrow('APP_DATABASE_CONNECT_TIMEOUT_MS must be an integer');
  });

  it('reads the dependency budgets', () => {
    expect(readServerConfig({})).toMatchObject({ databaseBudgetMs: 30_000, cacheBudgetMs: 30_000 });
    expect(readServerConfig({ APP_DATABASE_BUDGET_MS: '5000', APP_CACHE_BUDGET_MS: '700' })).toMatchObject({ databaseBudgetMs: 5000, cacheBudgetMs: 700 });
    expect(() => readServerConfig({ APP_CACHE_BUDGET_MS: '0' })).toThrow('APP_CACHE_BUDGET_MS must be an integer from 100 to 230000');
  });
});
