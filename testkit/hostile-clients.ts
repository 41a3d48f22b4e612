/**
 * Hostile clients, as bounded loopback runs against a real app process: each attack
 * stops itself and reports a figure (memory growth, agent runs accepted) that the security suite
 * asserts on and docs/protocol.md quotes.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { MAX_USER_TEXT_CHARS } from '../common/chat-protocol';
import { messages, openSocket, type Thread, tryUpgrade } from './chat-client';

/** Resident memory of a process in bytes, from /proc (Linux, like Cloud Run's gen2 environment). */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.replace(/\D+/g, '')) * 1024;
}

/** Builds a thread of `count` user messages of `textChars` characters each; waits for every reply. */
export async function buildThread(url: string, count: number, textChars: number): Promise<Thread> {
  const ws = await openSocket(url);
  const inbox = messages(ws);
  let thread: Thread | undefined;
  for (let i = 0; i < count; i += 1) {
    const text = `${i} ${'x'.repeat(textChars - 8)}`;
    ws.send(JSON.stringify({ type: 'user_message', text, ...thread }));
    for (;;) {
      const message = await inbox.next(10_000);
      if (message.type === 'error') throw new Error(`building the thread failed: ${JSON.stringify(message)}`);
      if (message.type === 'agent_started' && thread === undefined) {
        thread = { threadId: String(message.threadId), threadToken: message.threadToken as string | undefined };
      }
      if (message.type === 'agent_response') break;
    }
  }
  ws.close();
  if (thread === undefined) throw new Error('no thread was built');
  return thread;
}

/**
 * A socket that never reads sends `resumes` resume frames for the thread. Samples the app's RSS
 * every 50 ms until `until()` is true or `windowMs` passed; returns the peak growth over `baseline`.
 */
export async function slowReader(options: {
  url: string;
  pid: number;
  thread: Thread;
  resumes: number;
  windowMs: number;
  until?: () => boolean;
}): Promise<{ baselineBytes: number; peakGrowthBytes: number }> {
  const baselineBytes = rssBytes(options.pid);
  const ws = await openSocket(options.url);
  // Stop reading: the kernel buffers fill, then everything the app sends waits in its memory.
  ws.pause();
  const frame = JSON.stringify({ type: 'resume', ...options.thread });
  for (let i = 0; i < options.resumes; i += 1) ws.send(frame);
  let peak = baselineBytes;
  const deadline = Date.now() + options.windowMs;
  while (Date.now() < deadline && !(options.until?.() ?? false)) {
    peak = Math.max(peak, rssBytes(options.pid));
    await sleep(50);
  }
  // A little longer after the condition: growth that lags the log line still counts.
  for (let i = 0; i < 10; i += 1) {
    peak = Math.max(peak, rssBytes(options.pid));
    await sleep(50);
  }
  ws.terminate();
  return { baselineBytes, peakGrowthBytes: peak - baselineBytes };
}

/**
 * `sockets` clients each claim a different X-Forwarded-For (`addressOf`) and send user messages as fast as the
 * replies come, for `durationMs`. Returns how many agent runs the app accepted (agent_started).
 */
export async function forgedHeaderFlood(
  url: string,
  sockets: number,
  durationMs: number,
  addressOf: (i: number) => string = (i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
): Promise<{ accepted: number; limited: number }> {
  const tally = { accepted: 0, limited: 0 };
  const stopAt = Date.now() + durationMs;
  const client = async (i: number) => {
    const ws = await openSocket(url, { 'x-forwarded-for': addressOf(i) });
    const send = () => (Date.now() < stopAt ? ws.send(JSON.stringify({ type: 'user_message', text: `flood ${i}` })) : ws.close());
    await new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; code?: string };
        if (message.type === 'agent_started') tally.accepted += 1;
        if (message.type === 'agent_response') send();
        if (message.type === 'error') {
          if (message.code === 'rate_limited') tally.limited += 1;
          setTimeout(send, 20);
        }
      });
      ws.on('close', () => resolve());
      ws.on('error', () => resolve());
      send();
    });
  };
  await Promise.all(Array.from({ length: sockets }, (_, i) => client(i)));
  return tally;
}

/** Addresses of one IPv6 /64, as one host with privacy addresses would use them. */
export const sameSlash64 = (i: number) => `2001:db8:1:2:${(i + 1).toString(16)}:${((i * 7919) & 0xffff).toString(16)}::${(i + 3).toString(16)}`;

/** Valid JSON with a text far past MAX_USER_TEXT_CHARS: the costliest frame to refuse (parsed whole, then invalid_message). */
function overlongTextFrame(bytes = 63 * 1024): string {
  return JSON.stringify({ type: 'user_message', text: 'x'.repeat(Math.max(MAX_USER_TEXT_CHARS + 1, bytes - 40)) });
}

export interface InvalidFrameTally {
  connections: number;
  framesSent: number;
  errorsReceived: number;
  /** Sockets the app closed with 1008 (the error budget). */
  closed1008: number;
  /** Upgrades refused with 429 (the per-client upgrade limit). */
  refused429: number;
}

/**
 * `sockets` attackers each send over-long frames as fast as the socket drains, and reconnect at
 * once whenever the app closes them (a 429 is retried after 20 ms), until `durationMs` passed.
 */
export async function invalidFrameSockets(options: {
  url: string;
  sockets: number;
  durationMs: number;
  headers?: Record<string, string>;
  /** Stops the attack early once true. */
  until?: () => boolean;
}): Promise<InvalidFrameTally> {
  const tally: InvalidFrameTally = { connections: 0, framesSent: 0, errorsReceived: 0, closed1008: 0, refused429: 0 };
  const frame = overlongTextFrame();
  const deadline = Date.now() + options.durationMs;
  const over = () => Date.now() >= deadline || (options.until?.() ?? false);
  const attacker = async () => {
    while (!over()) {
      const result = await tryUpgrade(options.url, { headers: options.headers });
      if (result.kind !== 'open') {
        if (result.kind === 'refused' && result.status === 429) tally.refused429 += 1;
        await sleep(20);
        continue;
      }
      tally.connections += 1;
      const ws = result.ws;
      await new Promise<void>((resolve) => {
        const pump = () => {
          if (ws.readyState !== WebSocket.OPEN) return;
          if (over()) return ws.terminate();
          while (ws.bufferedAmount < 256 * 1024) {
            ws.send(frame);
            tally.framesSent += 1;
          }
          setTimeout(pump, 2);
        };
        ws.on('message', () => (tally.errorsReceived += 1));
        ws.on('close', (code) => {
          if (code === 1008) tally.closed1008 += 1;
          resolve();
        });
        ws.on('error', () => resolve());
        pump();
      });
    }
  };
  await Promise.all(Array.from({ length: options.sockets }, attacker));
  return tally;
}

/**
 * Milliseconds from each user message to its agent_response, one after another in one thread on
 * one socket: at least `count` of them, and for at least `minMs`.
 */
export async function chatRoundTrips(url: string, count: number, headers: Record<string, string> = {}, minMs = 0): Promise<number[]> {
  const ws = await openSocket(url, headers);
  const inbox = messages(ws);
  const samples: number[] = [];
  let thread: Thread | undefined;
  const until = performance.now() + minMs;
  try {
    for (let i = 0; i < count || performance.now() < until; i += 1) {
      const sent = performance.now();
      ws.send(JSON.stringify({ type: 'user_message', text: `round trip ${i}`, ...thread }));
      for (;;) {
        const message = await inbox.next(30_000);
        if (message.type === 'error') throw new Error(`round trip refused: ${JSON.stringify(message)}`);
        if (message.type === 'agent_started' && thread === undefined) thread = { threadId: String(message.threadId), threadToken: message.threadToken as string };
        if (message.type === 'agent_response') break;
      }
      samples.push(performance.now() - sent);
    }
  } finally {
    ws.close();
  }
  return samples;
}

/** One masked client text frame with any payload: ws itself refuses to send invalid UTF-8. */
export function rawTextFrame(payload: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!))]);
}

/**
 * A connection storm: `concurrency` loops each open a socket, send one frame of invalid UTF-8
 * (the app closes it with 1007: a protocol error) and go again at once, until `durationMs`.
 * `addressOf` gives each connection its X-Forwarded-For, or none.
 */
export async function protocolErrorStorm(options: { url: string; concurrency: number; durationMs: number; addressOf?: (n: number) => string }): Promise<{ connections: number; refused: number }> {
  const tally = { connections: 0, refused: 0 };
  const stopAt = Date.now() + options.durationMs;
  let n = 0;
  const loop = async () => {
    while (Date.now() < stopAt) {
      const headers = options.addressOf === undefined ? undefined : { 'x-forwarded-for': options.addressOf((n += 1)) };
      const result = await tryUpgrade(options.url, { headers });
      if (result.kind !== 'open') {
        tally.refused += 1;
        continue;
      }
      tally.connections += 1;
      const closed = new Promise<void>((resolve) => result.ws.once('close', () => resolve()).once('error', () => resolve()));
      (result.ws as WebSocket & { _socket: { write(data: Buffer): void } })._socket.write(rawTextFrame(Buffer.from([0xc3, 0x28])));
      await closed;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  return tally;
}

/** Log lines by the second they were written (their `time` field), for lines-per-second figures. */
export function linesPerSecond(lines: readonly string[], fromMs: number, toMs: number): { total: number; peak: number; perSecond: number } {
  const counts = new Map<number, number>();
  let total = 0;
  for (const line of lines) {
    const time = Date.parse((/"time":"([^"]+)"/.exec(line) ?? [])[1] ?? '');
    if (!(time >= fromMs && time < toMs)) continue;
    total += 1;
    const second = Math.floor(time / 1000);
    counts.set(second, (counts.get(second) ?? 0) + 1);
  }
  return { total, peak: Math.max(0, ...counts.values()), perSecond: total / ((toMs - fromMs) / 1000) };
}
