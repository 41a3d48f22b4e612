/** A chat client for tests: WebSocket upgrades that may be refused, and the JSON messages of a socket. */
import { WebSocket } from 'ws';
import type { UserMessage } from '../common/chat-protocol';
import { DEFAULT_WAIT_TIMEOUT_MS } from './wait-for';

/** A client's thread: the server mints both with the thread's first agent_started. */
export type Thread = Pick<UserMessage, 'threadId' | 'threadToken'>;

/** Opens a chat socket on a ready app; fails the test when the upgrade is refused. */
export function openChat(app: { port: number }): Promise<WebSocket> {
  return openSocket(`ws://127.0.0.1:${app.port}/ws`);
}

/** Opens a WebSocket; rejects when the upgrade is refused (the error names the HTTP status) or fails. */
export async function openSocket(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const result = await tryUpgrade(url, { headers });
  if (result.kind === 'error') throw result.error;
  if (result.kind === 'refused') throw new Error(`upgrade refused with HTTP ${result.status}: ${result.body}`);
  return result.ws;
}

export type UpgradeResult =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; headers: Record<string, string | string[] | undefined>; body: string }
  | { kind: 'error'; error: Error };

/** Tries a WebSocket upgrade and reports whether it opened or was refused (with the HTTP answer). */
export function tryUpgrade(url: string, options: { maxPayload?: number; headers?: Record<string, string> } = {}): Promise<UpgradeResult> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.once('error', (error) => resolve({ kind: 'error', error }));
  });
}

/** Collects parsed JSON messages from a socket; `next` waits for the next one. */
export function messages(ws: WebSocket) {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((message: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, unknown>;
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  return {
    next(timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<Record<string, unknown>> {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      });
    },
    async take(count: number, timeoutMs = DEFAULT_WAIT_TIMEOUT_MS): Promise<Record<string, unknown>[]> {
      const taken: Record<string, unknown>[] = [];
      for (let i = 0; i < count; i += 1) taken.push(await this.next(timeoutMs));
      return taken;
    },
  };
}

export function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

