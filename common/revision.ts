/**
 * The shape of one Cloud Run revision as every part of this project sees it: ports, paths and
 * environment variable names. infra, the local runner, the app, the gate and the tests all read
 * these constants; nothing else spells a port or a path.
 */

export const APP_PORT = 8080;
export const PHASE_HOST = '127.0.0.1';
export const PHASE_PORT = 8081;
export const GATE_PORT = 9091;

export const APP_PATHS = {
  healthz: '/healthz',
  /** The ingress container's startup probe: contract 2's condition over the app's own state. */
  startup: '/startup',
  websocket: '/ws',
  chatPage: '/',
  /** Tells the chat page whether and where to sign in: `{"issuer": URL | null}`. */
  authConfig: '/auth/config',
} as const;

export const PHASE_PATH = '/phase';

/** Where an OpenID issuer publishes its discovery document (OpenID Connect Discovery 1.0): the app reads it, the local runner's issuer serves it. */
export const OIDC_DISCOVERY_PATH = '/.well-known/openid-configuration';
/** The app's own metrics, on the phase endpoint's internal listener: what the collector scrapes beside the gate. */
export const APP_METRICS_PATH = '/metrics';

export const GATE_PATHS = {
  startup: '/startup',
  ready: '/ready',
  live: '/live',
  metrics: '/metrics',
} as const;

/** Components the gate requires by default before it opens. */
export const DEFAULT_REQUIRED_COMPONENTS = ['agentSupervisor', 'websocketBridge'] as const;

export const DEFAULT_GATE_TARGET_URL = `http://${PHASE_HOST}:${PHASE_PORT}${PHASE_PATH}`;

/** Environment variables the app reads. Values are documented in the README's configuration table. */
export const APP_ENV_VARS = {
  port: 'PORT',
  phaseHost: 'PHASE_HOST',
  phasePort: 'PHASE_PORT',
  environment: 'APP_ENV',
  logLevel: 'LOG_LEVEL',
  llmBaseUrl: 'LLM_BASE_URL',
  llmApiKey: 'LLM_API_KEY',
  llmModel: 'LLM_MODEL',
  llmTimeoutMs: 'LLM_TIMEOUT_MS',
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  threadTokenKey: 'APP_THREAD_TOKEN_KEY',
  databaseBudgetMs: 'APP_DATABASE_BUDGET_MS',
  cacheBudgetMs: 'APP_CACHE_BUDGET_MS',
  databaseQueryTimeoutMs: 'APP_DATABASE_QUERY_TIMEOUT_MS',
  databaseConnectTimeoutMs: 'APP_DATABASE_CONNECT_TIMEOUT_MS',
  cacheCommandTimeoutMs: 'APP_CACHE_COMMAND_TIMEOUT_MS',
  shutdownDeadlineMs: 'APP_SHUTDOWN_DEADLINE_MS',
  wsMaxMessageBytes: 'APP_WS_MAX_MESSAGE_BYTES',
  wsPingIntervalMs: 'APP_WS_PING_INTERVAL_MS',
  rateLimitPerMinute: 'APP_RATE_LIMIT_PER_MINUTE',
  wsMaxBufferedBytes: 'APP_WS_MAX_BUFFERED_BYTES',
  trustProxyHops: 'APP_TRUST_PROXY_HOPS',
  maxConnections: 'APP_MAX_CONNECTIONS',
  allowedOrigins: 'APP_ALLOWED_ORIGINS',
  allowPublicPhaseHost: 'APP_ALLOW_PUBLIC_PHASE_HOST',
  wsMaxThreadsPerSocket: 'APP_WS_MAX_THREADS_PER_SOCKET',
  wsMaxRunsPerSocket: 'APP_WS_MAX_RUNS_PER_SOCKET',
  runLeaseMs: 'APP_RUN_LEASE_MS',
  authIssuer: 'APP_AUTH_ISSUER',
  authAudience: 'APP_AUTH_AUDIENCE',
  authJwksUrl: 'APP_AUTH_JWKS_URL',
  authClockToleranceS: 'APP_AUTH_CLOCK_TOLERANCE_S',
  authBudgetMs: 'APP_AUTH_BUDGET_MS',
  userMessagesPerMinute: 'APP_USER_MESSAGES_PER_MINUTE',
  userMaxConcurrentRuns: 'APP_USER_MAX_CONCURRENT_RUNS',
  userDailyLlmTokens: 'APP_USER_DAILY_LLM_TOKENS',
  wsMaxErrors: 'APP_WS_MAX_ERRORS',
  wsErrorWindowMs: 'APP_WS_ERROR_WINDOW_MS',
  wsUpgradesPerSecond: 'APP_WS_UPGRADES_PER_SECOND',
  wsUpgradeBurst: 'APP_WS_UPGRADE_BURST',
  startupHoldMs: 'APP_STARTUP_HOLD_MS',
  phaseDelayMs: 'APP_PHASE_DELAY_MS',
  failPhase: 'APP_FAIL_PHASE',
  crashPhase: 'APP_CRASH_PHASE',
} as const;

/** Deployment environments. In staging and production the app refuses its built-in stand-ins. */
export const APP_ENVIRONMENTS = ['development', 'test', 'staging', 'production'] as const;
export type AppEnvironment = (typeof APP_ENVIRONMENTS)[number];

/** Environment variables the gate reads. Values are documented in docs/gate.md. */
export const GATE_ENV_VARS = {
  port: 'GATE_PORT',
  targetUrl: 'GATE_TARGET_URL',
  require: 'GATE_REQUIRE',
  backoffMinMs: 'GATE_BACKOFF_MIN_MS',
  backoffMaxMs: 'GATE_BACKOFF_MAX_MS',
  backoffFactor: 'GATE_BACKOFF_FACTOR',
  checkTimeoutMs: 'GATE_CHECK_TIMEOUT_MS',
  longPollMs: 'GATE_LONG_POLL_MS',
  pollIntervalMs: 'GATE_POLL_INTERVAL_MS',
  maxBodyBytes: 'GATE_MAX_BODY_BYTES',
  minCheckIntervalMs: 'GATE_MIN_CHECK_INTERVAL_MS',
  failedLingerMs: 'GATE_FAILED_LINGER_MS',
  startupHoldMs: 'GATE_STARTUP_HOLD_MS',
  /** The revision's startup budget, exported as startup_gate_budget_seconds; infra sets it from the stack's startupBudgetSeconds. */
  startupBudgetSeconds: 'GATE_STARTUP_BUDGET_SECONDS',
  logLevel: 'LOG_LEVEL',
} as const;
