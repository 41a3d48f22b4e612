/**
 * Throwaway PostgreSQL and Redis servers for integration tests: Debian's binaries, loopback, free
 * ports, a temporary directory, an unprivileged user (PostgreSQL refuses to run as root). Each
 * server can be stopped and started again on the same port and data, to rehearse outages.
 */
import { type ChildProcess, execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from '../common/local-ports';
import { waitFor } from './wait-for';

const INSTALL_HINT = 'npm test installs them (scripts/test-prerequisites.sh), or: apt-get install -y postgresql redis-server';
/** Passwords with characters that need URL encoding, so redaction of encoded forms is exercised. */
export const PG_PASSWORD = 'pg-s3cret/pw';
export const REDIS_PASSWORD = 'redis-s3cret@pw';

export interface TestServer {
  /** Connection URL with the password. */
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
}

/** Newest Debian PostgreSQL bin directory, or PG_BIN. */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  if (process.env.PG_BIN) {
    if (!existsSync(path.join(process.env.PG_BIN, 'initdb'))) throw new Error(`PG_BIN=${process.env.PG_BIN} has no initdb; ${INSTALL_HINT}`);
    return process.env.PG_BIN;
  }
  const versions = existsSync(root) ? readdirSync(root).filter((name) => existsSync(path.join(root, name, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error(`PostgreSQL server binaries not found (no ${root}/*/bin/initdb, PG_BIN unset); ${INSTALL_HINT}`);
  return path.join(root, newest, 'bin');
}

function redisBin(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`redis-server not found on PATH; ${INSTALL_HINT}`);
  }
}

/** Root runs the servers as `user`; anyone else runs them as themselves. */
function runAs(user: string): Pick<SpawnOptions, 'uid' | 'gid'> {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
  return { uid, gid };
}

function ownedTempDir(prefix: string, owner: Pick<SpawnOptions, 'uid' | 'gid'>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  if (owner.uid !== undefined) chownSync(dir, owner.uid, owner.gid ?? owner.uid);
  return dir;
}

function run(command: string, args: string[], options: SpawnOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}

/** A long-running server process that can be stopped and started again with the same arguments. */
function serverProcess(name: string, command: string, args: string[], options: SpawnOptions, ready: () => Promise<void>) {
  let child: ChildProcess | undefined;
  let output = '';
  const stop = async () => {
    const current = child;
    child = undefined;
    if (current === undefined || current.exitCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGINT');
    const timer = setTimeout(() => current.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const start = async () => {
    if (child !== undefined) return;
    output = '';
    const current = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    child = current;
    for (const stream of [current.stdout, current.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const failed = new Promise<never>((_, reject) => current.once('exit', (code) => reject(new Error(`${name} exited ${code} while starting:\n${output}`))));
    failed.catch(() => undefined);
    try {
      await Promise.race([ready(), failed]);
    } catch (error) {
      await stop();
      throw error;
    }
  };
  return { start, stop };
}


/** Sends one RESP command and resolves with the first reply line. */
function redisCommand(port: number, words: string[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`));
    socket.once('data', (data: string) => {
      socket.destroy();
      resolve(data.split('\r\n')[0] ?? '');
    });
    socket.once('error', () => resolve(''));
  });
}

export async function startPostgres(): Promise<TestServer> {
  const bin = postgresBin();
  const owner = runAs('postgres');
  const dir = ownedTempDir('test-pg-', owner);
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  if (owner.uid !== undefined) chownSync(pwfile, owner.uid, owner.gid ?? owner.uid);
  await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'chat', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions'], { ...owner, cwd: dir });
  const port = await freePort();
  const url = `postgres://chat:${encodeURIComponent(PG_PASSWORD)}@127.0.0.1:${port}/postgres`;
  // Durability off: these databases live for one test run.
  const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  // Every 100 ms, not 10: each poll spawns pg_isready while the server starts.
  const ready = () => waitFor('PostgreSQL', () => run(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], {}).then(() => true, () => false), { intervalMs: 100 });
  return launched(url, port, dir, serverProcess('postgres', path.join(bin, 'postgres'), args, { ...owner, cwd: dir }, ready));
}

export async function startRedis(): Promise<TestServer> {
  const bin = redisBin();
  const owner = runAs('redis');
  const dir = ownedTempDir('test-redis-', owner);
  const port = await freePort();
  const url = `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${port}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', REDIS_PASSWORD];
  const ready = () => waitFor('Redis', async () => (await redisCommand(port, ['AUTH', REDIS_PASSWORD])) === '+OK', { intervalMs: 100 });
  return launched(url, port, dir, serverProcess('redis-server', bin, args, { ...owner, cwd: dir }, ready));
}

async function launched(url: string, port: number, dir: string, server: ReturnType<typeof serverProcess>): Promise<TestServer> {
  await server.start();
  return {
    url,
    port,
    ...server,
    destroy: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let databases = 0;

/** Creates a fresh database on `server` and returns its URL: tests share a cluster, not tables. */
export async function createDatabase(server: TestServer): Promise<string> {
  databases += 1;
  const name = `test_${process.pid}_${databases}`;
  const client = new Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * One server for a test file: started before its tests, started again after each test (a test may
 * have stopped it), removed at the end. Returns a getter, valid inside tests.
 */
export function serverForFile(start: () => Promise<TestServer>): () => TestServer {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await start();
  });
  afterEach(async () => {
    await server?.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });
  return () => {
    if (server === undefined) throw new Error('the test server did not start (see beforeAll)');
    return server;
  };
}
