/**
 * Reading settings from the environment. Every reader names the variable in its error, so bad
 * configuration ends in one line a person can act on (see `exitOnConfigError`).
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function readString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function readOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function readInt(env: Env, name: string, fallback: number, range: { min: number; max: number }): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < range.min || parsed > range.max) {
    throw new ConfigError(name, `must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function readNumber(env: Env, name: string, fallback: number, range: { min: number; max: number }): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < range.min || parsed > range.max) {
    throw new ConfigError(name, `must be a number from ${range.min} to ${range.max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}

export function readPort(env: Env, name: string, fallback: number): number {
  return readInt(env, name, fallback, { min: 1, max: 65535 });
}

export function readEnum<const T extends readonly string[]>(env: Env, name: string, allowed: T, fallback: T[number]): T[number] {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function readOptionalEnum<const T extends readonly string[]>(env: Env, name: string, allowed: T): T[number] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  return readEnum(env, name, allowed, value);
}

/**
 * `scheme://user:password@` anywhere in a text: the one pattern for credentials in URLs. The user
 * info is everything up to the authority's end (`/`, `?`, `#`), spaces included, so a value that
 * failed to parse (a space in its host, say) still has its password found.
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^:/?#@]*)(:[^/?#@]*)?@/gi;

/**
 * Credentials of every URL in `text` replaced by `***`: the whole user info, or with `keepUser`
 * only a password (errors keep the user name, which says which account failed).
 */
export function redactCredentials(text: string, { keepUser = false } = {}): string {
  return text.replace(URL_CREDENTIALS, (match, scheme: string, user: string, password: string | undefined) => {
    if (!keepUser) return `${scheme}***@`;
    return password === undefined ? match : `${scheme}${user}:***@`;
  });
}

/** A URL as it may be logged or published: any user name and password replaced by `***`. */
export function redactUrl(url: string | URL): string {
  return redactCredentials(new URL(url).href);
}

export function readUrl(env: Env, name: string, fallback?: string): URL | undefined {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got ${JSON.stringify(redactCredentials(value))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must use http or https, got ${JSON.stringify(url.protocol)}`);
  }
  return url;
}

/** `true` or `false`. */
export function readFlag(env: Env, name: string, fallback: boolean): boolean {
  return readEnum(env, name, ['true', 'false'], fallback ? 'true' : 'false') === 'true';
}

export function readList(env: Env, name: string, fallback: readonly string[]): string[] {
  const value = raw(env, name);
  if (value === undefined) return [...fallback];
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new ConfigError(name, `must be a comma-separated list without empty items, got ${JSON.stringify(value)}`);
  }
  return [...new Set(items)];
}

/**
 * Runs `read`; on a ConfigError writes one JSON line naming the setting to stderr and exits 2.
 * Any other error is a bug and propagates.
 */
export function exitOnConfigError<T>(component: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(
      `${JSON.stringify({ severity: 'ERROR', component, message: `invalid configuration: ${error.message}`, setting: error.setting })}\n`,
    );
    process.exit(2);
  }
}
