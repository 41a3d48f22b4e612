/**
 * WebSocket clients hammer the front door of `npm start` while the revision starts (the services
 * phase takes 5 s): no client ever sees close code 1011, early clients wait at the door or get 503,
 * and once traffic flows every client signs in through the embedded issuer and gets the five agent
 * events and the reply.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { AGENT_EVENT_TYPES } from '../../common/chat-protocol';
import { setTimeout as sleep } from 'node:timers/promises';
import { messages, tryUpgrade } from '../../testkit/chat-client';
import { signInThrough } from '../../testkit/oidc-issuer';

const RUNNER = path.resolve(__dirname, '../../dist/runner/src/main.js');
const CLIENTS = 40;
/** Shorter than the 5 s services phase, so the earliest clients get 503 and later ones are released. */
const HOLD_TIMEOUT_MS = 1500;

jest.setTimeout(60_000);

interface Tally {
  refused: number;
  /** Upgrades that started before traffic flowed and opened once it did: held, then released. */
  released: number;
  closeCodes: number[];
  completed: number;
}

let runner: ChildProcess | undefined;
afterAll(() => {
  if (runner?.exitCode === null) runner.kill('SIGKILL');
});

function startRunner(): Promise<{ child: ChildProcess; url: string; trafficFlows: () => boolean; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [RUNNER, '--scenario', 'slow-services', '--json', '--port', '0', '--hold-timeout-ms', String(HOLD_TIMEOUT_MS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  runner = child;
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let traffic = false;
  return new Promise((resolve, reject) => {
    let rest = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as { kind: string; url?: string };
        if (event.kind === 'front-door') resolve({ child, url: event.url!.replace('localhost', '127.0.0.1'), trafficFlows: () => traffic, exit });
        if (event.kind === 'traffic') traffic = true;
      }
    });
    void exit.then((code) => reject(new Error(`runner exited early with ${code}`)));
  });
}

/** One client: retries refused upgrades until it gets in, then chats once and closes. */
async function client(wsUrl: string, trafficFlows: () => boolean, tally: Tally, index: number): Promise<void> {
  for (;;) {
    const startedBeforeTraffic = !trafficFlows();
    const result = await tryUpgrade(wsUrl);
    if (result.kind === 'error') throw result.error;
    if (result.kind === 'refused') {
      expect(result.status).toBe(503);
      expect(result.headers['retry-after']).toBeDefined();
      tally.refused += 1;
      await sleep(100 + (index % 5) * 40);
      continue;
    }
    const { ws } = result;
    if (startedBeforeTraffic) tally.released += 1;
    const closed = new Promise<void>((resolve) => ws.once('close', (code) => (tally.closeCodes.push(code), resolve())));
    const inbox = messages(ws);
    const token = await signInThrough(wsUrl.replace('ws', 'http').replace(/\/ws$/, ''), `client-${index}`);
    ws.send(JSON.stringify({ type: 'authenticate', token }));
    expect(await inbox.next()).toMatchObject({ type: 'authenticated', subject: `client-${index}` });
    ws.send(JSON.stringify({ type: 'user_message', text: `hello from client ${index}` }));
    const received = await inbox.take(AGENT_EVENT_TYPES.length + 1, 15_000);
    expect(received.map((message) => message.type)).toEqual([...AGENT_EVENT_TYPES, 'agent_response']);
    expect(String(received.at(-1)!.text)).toContain(`hello from client ${index}`);
    tally.completed += 1;
    ws.close(1000);
    await closed;
    return;
  }
}

it('no client sees 1011; early clients wait or get 503; every client then gets the five events', async () => {
  const { child, url, trafficFlows, exit } = await startRunner();
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const tally: Tally = { refused: 0, released: 0, closeCodes: [], completed: 0 };
  // Clients arrive spread over the startup, so some outwait the hold timeout and some do not.
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, index) => {
      await sleep((index % 20) * 200);
      await client(wsUrl, trafficFlows, tally, index);
    }),
  );
  expect(tally.completed).toBe(CLIENTS);
  expect(tally.closeCodes).not.toContain(1011);
  expect(tally.closeCodes.every((code) => code === 1000)).toBe(true);
  expect(tally.refused).toBeGreaterThan(0);
  expect(tally.released).toBeGreaterThan(0);
  child.kill('SIGTERM');
  expect(await exit).toBe(0);
});
