/**
 * The app's settings. Server settings (ports, knobs) are read before anything listens: a bad value
 * exits 2 with one line. Dependency settings (the LLM endpoint, DATABASE_URL, REDIS_URL) are
 * checked in the dependencies phase, so a missing secret shows up as a failed phase on the phase
 * endpoint.
 */
import { randomBytes } from 'node:crypto';
import { type Env, ConfigError, readEnum, readFlag, readList, readInt, readOptionalEnum, readOptionalString, readPort, readString, readUrl } from '../../common/env';
import { LOG_LEVELS, type LogLevel } from '../../common/log';
import { isLoopback } from '../../common/loopback';
import { PHASES, type PhaseName } from './startup/phases';
import { DEFAULT_DEPENDENCY_BUDGET_MS, DEFAULT_STARTUP_HOLD_MS, MAX_STARTUP_HOLD_MS } from '../../common/probes';
import { APP_ENV_VARS as V, APP_ENVIRONMENTS, APP_PORT, type AppEnvironment, PHASE_HOST, PHASE_PORT } from '../../common/revision';

export interface ServerConfig {
  environment: AppEnvironment;
  logLevel: LogLevel;
  port: number;
  phaseHost: string;
  phasePort: number;
  shutdownDeadlineMs: number;
  wsMaxMessageBytes: number;
  wsPingIntervalMs: number;
  rateLimitPerMinute: number;
  /** Bytes waiting to be sent to one socket past which the app stops sending and closes it. */
  wsMaxBufferedBytes: number;
  /** Threads one socket may follow. */
  wsMaxThreadsPerSocket: number;
  /** Agent runs one socket may have in flight; past it a user message gets `busy`. */
  wsMaxRunsPerSocket: number;
  /** How long a run counts as alive without its instance renewing it; a dead instance's runs are closed about this much later. */
  runLeaseMs: number;
  /** Invalid or refused frames one socket may send within `wsErrorWindowMs` before it is closed with 1008. */
  wsMaxErrors: number;
  wsErrorWindowMs: number;
  /** Upgrades per client (IPv6: per /64) a second, after a burst of `wsUpgradeBurst`; past it 429. */
  wsUpgradesPerSecond: number;
  wsUpgradeBurst: number;
  /** Origins besides the page's own whose browsers may open chat sockets. */
  allowedOrigins: string[];
  /** Open chat sockets past which upgrades are refused with 503. */
  maxConnections: number;
  /** Proxies in front of the app that append to X-Forwarded-For (Express `trust proxy`). */
  trustProxyHops: number;
  /** How long GET /startup holds a probe while startup is under way; 0 answers at once. */
  startupHoldMs: number;
  /** How long the database and cache phases keep retrying their connections before they fail. */
  databaseBudgetMs: number;
  cacheBudgetMs: number;
  /** Deadlines on each dependency call once ready, so a stalled dependency means an answer, not silence. */
  dependencyDeadlines: DependencyDeadlines;
  /** APP_AUTH_ISSUER as the chat page needs it (validated in the dependencies phase). */
  authIssuer: string | undefined;
  /** How long the dependencies phase keeps retrying the identity provider's keys before it fails. */
  authBudgetMs: number;
  /** Seconds of clock skew allowed on `exp` and `nbf`. */
  authClockToleranceS: number;
  /** Per signed-in person, across instances: messages a minute, runs at once, LLM tokens a day. */
  userMessagesPerMinute: number;
  userMaxConcurrentRuns: number;
  userDailyLlmTokens: number;
  /** Rehearsal knobs: extra delay per phase, the phase that fails, the phase that crashes the process. */
  phaseDelayMs: PhaseDelays;
  failPhase: PhaseName | undefined;
  crashPhase: PhaseName | undefined;
}

export interface DependencyDeadlines {
  /** PostgreSQL: how long one statement may run (statement_timeout, and pg's query_timeout a little later). */
  databaseQueryMs: number;
  /** PostgreSQL: how long getting a connection may take once ready (a new one, or a free one from the pool). */
  databaseConnectMs: number;
  /** Redis: how long one command may wait for its reply. */
  cacheCommandMs: number;
}

/**
 * A user should hear within about 5 s: a message's path to its acknowledgement is one rate-limit
 * command and two statements, each failing alone well inside that.
 */
const DEFAULT_DEPENDENCY_DEADLINES: DependencyDeadlines = { databaseQueryMs: 2000, databaseConnectMs: 2000, cacheCommandMs: 500 };
const DEADLINE_RANGE = { min: 50, max: 60_000 };

function readDependencyDeadlines(env: Env): DependencyDeadlines {
  return {
    databaseQueryMs: readInt(env, V.databaseQueryTimeoutMs, DEFAULT_DEPENDENCY_DEADLINES.databaseQueryMs, DEADLINE_RANGE),
    databaseConnectMs: readInt(env, V.databaseConnectTimeoutMs, DEFAULT_DEPENDENCY_DEADLINES.databaseConnectMs, DEADLINE_RANGE),
    cacheCommandMs: readInt(env, V.cacheCommandTimeoutMs, DEFAULT_DEPENDENCY_DEADLINES.cacheCommandMs, DEADLINE_RANGE),
  };
}

export type PhaseDelays = Record<PhaseName, number>;

const MAX_PHASE_DELAY_MS = 600_000;

/**
 * APP_PHASE_DELAY_MS is either one number for every phase ("300") or per-phase values
 * ("services=5000,finalize=600000"); a delay longer than Cloud Run's 240 s window rehearses a hang.
 */
export function readPhaseDelays(env: Env): PhaseDelays {
  const delays = Object.fromEntries(PHASES.map((phase) => [phase, 0])) as PhaseDelays;
  const value = readOptionalString(env, V.phaseDelayMs);
  if (value === undefined) return delays;
  if (!value.includes('=')) {
    const all = readInt(env, V.phaseDelayMs, 0, { min: 0, max: MAX_PHASE_DELAY_MS });
    for (const phase of PHASES) delays[phase] = all;
    return delays;
  }
  for (const entry of value.split(',')) {
    const [phase, ms] = entry.split('=').map((part) => part.trim());
    if (!PHASES.includes(phase as PhaseName)) {
      throw new ConfigError(V.phaseDelayMs, `names unknown phase ${JSON.stringify(phase)}; phases are ${PHASES.join(', ')}`);
    }
    const delay = ms !== undefined && /^\d+$/.test(ms) ? Number(ms) : NaN;
    if (!(delay <= MAX_PHASE_DELAY_MS)) {
      throw new ConfigError(V.phaseDelayMs, `entry ${JSON.stringify(entry)} needs a delay in ms from 0 to ${MAX_PHASE_DELAY_MS}`);
    }
    delays[phase as PhaseName] = delay;
  }
  return delays;
}

/** Leaves room for the other phases inside Cloud Run's 240 s startup window. */
const DEFAULT_BUDGET_MS = DEFAULT_DEPENDENCY_BUDGET_MS;
const BUDGET_RANGE = { min: 100, max: 230_000 };

export type LlmConfig = { kind: 'builtin' } | { kind: 'openai-compatible'; baseUrl: URL; apiKey: string | undefined; model: string; timeoutMs: number };

/** Origins as browsers send them: scheme, host and port, nothing else. */
function readOrigins(env: Env): string[] {
  const origins = readList(env, V.allowedOrigins, []);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed?.origin !== origin) throw new ConfigError(V.allowedOrigins, `lists ${JSON.stringify(origin)}, which is not an origin such as https://chat.example.com`);
  }
  return origins;
}

/** The phase endpoint reports the app's insides: only on loopback unless someone says otherwise. */
function readPhaseHost(env: Env): string {
  const host = readString(env, V.phaseHost, PHASE_HOST);
  if (!isLoopback(host) && !readFlag(env, V.allowPublicPhaseHost, false)) {
    throw new ConfigError(V.phaseHost, `is ${JSON.stringify(host)}, not a loopback address: that exposes the phase endpoint; set ${V.allowPublicPhaseHost}=true if you mean it`);
  }
  return host;
}

export function readServerConfig(env: Env): ServerConfig {
  return {
    environment: readEnum(env, V.environment, APP_ENVIRONMENTS, 'development'),
    logLevel: readEnum(env, V.logLevel, LOG_LEVELS, 'info'),
    port: readPort(env, V.port, APP_PORT),
    phaseHost: readPhaseHost(env),
    phasePort: readPort(env, V.phasePort, PHASE_PORT),
    shutdownDeadlineMs: readInt(env, V.shutdownDeadlineMs, 8000, { min: 0, max: 600_000 }),
    wsMaxMessageBytes: readInt(env, V.wsMaxMessageBytes, 64 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    wsPingIntervalMs: readInt(env, V.wsPingIntervalMs, 30_000, { min: 100, max: 600_000 }),
    rateLimitPerMinute: readInt(env, V.rateLimitPerMinute, 60, { min: 1, max: 1_000_000 }),
    // Above the largest history answer (RESUME_HISTORY_MAX_BYTES), so one resume never trips it.
    wsMaxBufferedBytes: readInt(env, V.wsMaxBufferedBytes, 1024 * 1024, { min: 512 * 1024, max: 64 * 1024 * 1024 }),
    wsMaxThreadsPerSocket: readInt(env, V.wsMaxThreadsPerSocket, 8, { min: 1, max: 1000 }),
    // Two: a user may send the next message while the reply to the last is on its way.
    wsMaxRunsPerSocket: readInt(env, V.wsMaxRunsPerSocket, 2, { min: 1, max: 100 }),
    runLeaseMs: readInt(env, V.runLeaseMs, 30_000, { min: 300, max: 600_000 }),
    wsMaxErrors: readInt(env, V.wsMaxErrors, 10, { min: 1, max: 100_000 }),
    wsErrorWindowMs: readInt(env, V.wsErrorWindowMs, 10_000, { min: 100, max: 3_600_000 }),
    // A burst above the stacks' concurrency (250): every socket of a NAT'd office reconnects at
    // once after a deploy. A storm from one address then gets 20 a second.
    wsUpgradesPerSecond: readInt(env, V.wsUpgradesPerSecond, 20, { min: 1, max: 100_000 }),
    wsUpgradeBurst: readInt(env, V.wsUpgradeBurst, 300, { min: 1, max: 1_000_000 }),
    // 800 sockets that each hold APP_WS_MAX_BUFFERED_BYTES (1 MiB) still fit the app's 1 GiB, and
    // stay below the common 1024 open-file limit with room for the listeners, database and Redis.
    allowedOrigins: readOrigins(env),
    maxConnections: readInt(env, V.maxConnections, 800, { min: 1, max: 100_000 }),
    // Cloud Run's front end appends the address it saw; an external load balancer is a second hop.
    trustProxyHops: readInt(env, V.trustProxyHops, 1, { min: 0, max: 10 }),
    startupHoldMs: readInt(env, V.startupHoldMs, DEFAULT_STARTUP_HOLD_MS, { min: 0, max: MAX_STARTUP_HOLD_MS }),
    databaseBudgetMs: readInt(env, V.databaseBudgetMs, DEFAULT_BUDGET_MS, BUDGET_RANGE),
    cacheBudgetMs: readInt(env, V.cacheBudgetMs, DEFAULT_BUDGET_MS, BUDGET_RANGE),
    dependencyDeadlines: readDependencyDeadlines(env),
    authIssuer: readOptionalString(env, V.authIssuer),
    authBudgetMs: readInt(env, V.authBudgetMs, DEFAULT_BUDGET_MS, BUDGET_RANGE),
    authClockToleranceS: readInt(env, V.authClockToleranceS, 30, { min: 0, max: 300 }),
    userMessagesPerMinute: readInt(env, V.userMessagesPerMinute, 20, { min: 1, max: 1_000_000 }),
    userMaxConcurrentRuns: readInt(env, V.userMaxConcurrentRuns, 2, { min: 1, max: 1000 }),
    userDailyLlmTokens: readInt(env, V.userDailyLlmTokens, 200_000, { min: 1, max: 1_000_000_000_000 }),
    phaseDelayMs: readPhaseDelays(env),
    failPhase: readOptionalEnum(env, V.failPhase, PHASES),
    crashPhase: readOptionalEnum(env, V.crashPhase, PHASES),
  };
}

/** Staging and production must talk to a real model; the built-in one is for local runs and tests. */
const NEEDS_REAL_DEPENDENCIES: readonly AppEnvironment[] = ['staging', 'production'];

/** Validates the dependency settings; throws ConfigError naming the first missing or bad one. */
export function readLlmConfig(env: Env, environment: AppEnvironment): LlmConfig {
  const baseUrl = readUrl(env, V.llmBaseUrl);
  const apiKey = readOptionalString(env, V.llmApiKey);
  if (NEEDS_REAL_DEPENDENCIES.includes(environment)) {
    if (baseUrl === undefined) throw new ConfigError(V.llmBaseUrl, `is required when ${V.environment}=${environment}`);
    if (apiKey === undefined) throw new ConfigError(V.llmApiKey, `is required when ${V.environment}=${environment}`);
  }
  if (baseUrl === undefined) {
    if (apiKey !== undefined) throw new ConfigError(V.llmBaseUrl, `is required when ${V.llmApiKey} is set`);
    return { kind: 'builtin' };
  }
  return {
    kind: 'openai-compatible',
    baseUrl,
    apiKey,
    model: readString(env, V.llmModel, 'gpt-4o-mini'),
    timeoutMs: readInt(env, V.llmTimeoutMs, 30_000, { min: 100, max: 600_000 }),
  };
}

/** Long enough for HMAC-SHA256 (RFC 2104 asks for at least the hash length, 32 bytes). */
export const MIN_THREAD_TOKEN_KEY_CHARS = 32;

/**
 * The key thread tokens are signed with (chat/thread-tokens.ts). Every instance of a service must share
 * it, so staging and production read it from Secret Manager; elsewhere an unset key is a random
 * one per process (tokens then hold only on that process).
 */
export function readThreadTokenKey(env: Env, environment: AppEnvironment, random: () => Buffer = () => randomBytes(32)): Buffer {
  const value = readOptionalString(env, V.threadTokenKey);
  if (value === undefined) {
    if (NEEDS_REAL_DEPENDENCIES.includes(environment)) throw new ConfigError(V.threadTokenKey, `is required when ${V.environment}=${environment}`);
    return random();
  }
  if (value.length < MIN_THREAD_TOKEN_KEY_CHARS) {
    throw new ConfigError(V.threadTokenKey, `must be at least ${MIN_THREAD_TOKEN_KEY_CHARS} characters (value not shown: it is a secret)`);
  }
  return Buffer.from(value, 'utf8');
}

/**
 * Who may chat. With APP_AUTH_ISSUER every socket proves a person with a JWT the issuer signed;
 * without it sockets are anonymous, which only development and test accept.
 */
export type AuthConfig = { kind: 'anonymous' } | { kind: 'oidc'; issuer: string; audience: string; jwksUrl: URL | undefined };

/** Plain http only where nothing sits between the app and the issuer. */
function readIssuer(env: Env): string | undefined {
  const url = readUrl(env, V.authIssuer);
  if (url === undefined) return undefined;
  if (url.protocol !== 'https:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) throw new ConfigError(V.authIssuer, `must use https unless the issuer is on loopback, got ${url.protocol}//${url.host}`);
  // The `iss` claim is compared as the exact string the issuer publishes: no normalising.
  return readOptionalString(env, V.authIssuer);
}

export function readAuthConfig(env: Env, environment: AppEnvironment): AuthConfig {
  const issuer = readIssuer(env);
  const audience = readOptionalString(env, V.authAudience);
  const jwksUrl = readUrl(env, V.authJwksUrl);
  if (NEEDS_REAL_DEPENDENCIES.includes(environment)) {
    if (issuer === undefined) throw new ConfigError(V.authIssuer, `is required when ${V.environment}=${environment}: anonymous sockets are for development and test only`);
    if (audience === undefined) throw new ConfigError(V.authAudience, `is required when ${V.environment}=${environment}`);
  }
  if (issuer === undefined) {
    for (const name of [V.authAudience, V.authJwksUrl]) if (readOptionalString(env, name) !== undefined) throw new ConfigError(V.authIssuer, `is required when ${name} is set`);
    return { kind: 'anonymous' };
  }
  if (audience === undefined) throw new ConfigError(V.authAudience, `is required when ${V.authIssuer} is set`);
  return { kind: 'oidc', issuer, audience, jwksUrl };
}

export type DatabaseConfig = { kind: 'embedded' } | { kind: 'postgres'; url: string };
export type CacheConfig = { kind: 'embedded' } | { kind: 'redis'; url: string };

/** DATABASE_URL selects PostgreSQL; without it the in-process store (refused in staging and production). */
export function readDatabaseConfig(env: Env, environment: AppEnvironment): DatabaseConfig {
  const url = readSecretUrl(env, V.databaseUrl, ['postgres:', 'postgresql:'], environment);
  return url === undefined ? { kind: 'embedded' } : { kind: 'postgres', url };
}

/** REDIS_URL selects Redis; without it in-process counters and delivery (refused in staging and production). */
export function readCacheConfig(env: Env, environment: AppEnvironment): CacheConfig {
  const url = readSecretUrl(env, V.redisUrl, ['redis:', 'rediss:'], environment);
  return url === undefined ? { kind: 'embedded' } : { kind: 'redis', url };
}

/** A connection URL that may hold a password: errors name the setting, never echo the value. */
function readSecretUrl(env: Env, name: string, protocols: readonly string[], environment: AppEnvironment): string | undefined {
  const value = readOptionalString(env, name);
  if (value === undefined) {
    if (NEEDS_REAL_DEPENDENCIES.includes(environment)) throw new ConfigError(name, `is required when ${V.environment}=${environment}`);
    return undefined;
  }
  const expected = protocols.map((protocol) => `${protocol}//`).join(' or ');
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new ConfigError(name, `must be a URL starting with ${expected} (value not shown: it may hold a password)`);
  }
  if (!protocols.includes(protocol)) throw new ConfigError(name, `must start with ${expected}, got ${protocol}//`);
  return value;
}
