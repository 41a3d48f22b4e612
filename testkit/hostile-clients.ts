/**
 * Hostile clients, as bounded loopback runs against a real app process: each attack
 * stops itself and reports a figure (memory growth, agent runs accepted) that the security suite
 * asserts on and docs/protocol.md quotes.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { messages, openSocket, type Thread } from './chat-client';

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
 * `sockets` clients each claim a different X-Forwarded-For and send user messages as fast as the
 * replies come, for `durationMs`. Returns how many agent runs the app accepted (agent_started).
 */
export async function forgedHeaderFlood(url: string, sockets: number, durationMs: number): Promise<{ accepted: number; limited: number }> {
  const tally = { accepted: 0, limited: 0 };
  const stopAt = Date.now() + durationMs;
  const client = async (i: number) => {
    const ws = await openSocket(url, { 'x-forwarded-for': `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` });
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
