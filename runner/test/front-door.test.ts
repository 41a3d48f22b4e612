import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { openSocket as openDoorSocket } from '../../testkit/chat-client';
import { waitFor } from '../../testkit/wait-for';
import { FrontDoor } from '../src/front-door';

let backend: http.Server;
let wss: WebSocketServer;
let door: FrontDoor;
let doorPort: number;
let backendPort: number;
const events: string[] = [];
/** Long enough that a held request never expires on a busy machine before the test opens the door. */
const HOLD_MS = 30_000;
/** The X-Forwarded-For header the backend saw on each request and upgrade. */
const forwarded: (string | string[] | undefined)[] = [];

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeEach(async () => {
  events.length = 0;
  forwarded.length = 0;
  backend = http.createServer((req, res) => {
    forwarded.push(req.headers['x-forwarded-for']);
    res.writeHead(200, { 'x-backend': 'yes' }).end(`hello ${req.url}`);
  });
  wss = new WebSocketServer({ server: backend });
  wss.on('connection', (ws, req) => {
    forwarded.push(req.headers['x-forwarded-for']);
    ws.on('message', (data) => ws.send(`echo ${String(data)}`));
  });
  backendPort = await listen(backend);
  door = makeDoor(HOLD_MS);
  doorPort = await listen(door.server);
});

function makeDoor(holdTimeoutMs: number): FrontDoor {
  return new FrontDoor({
    targetPort: backendPort,
    holdTimeoutMs,
    onHeld: (kind, url) => events.push(`held ${kind} ${url}`),
    onExpired: (kind, url) => events.push(`expired ${kind} ${url}`),
  });
}

afterEach(async () => {
  await door.close();
  for (const client of wss.clients) client.terminate();
  wss.close();
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
});

const openSocket = (headers: Record<string, string> = {}) => openDoorSocket(`ws://127.0.0.1:${doorPort}/ws`, headers);

describe('front door', () => {
  it('appends the address it saw to X-Forwarded-For, as Cloud Run does, after whatever the client sent', async () => {
    door.open();
    await (await fetch(`http://127.0.0.1:${doorPort}/plain`)).text();
    await (await fetch(`http://127.0.0.1:${doorPort}/forged`, { headers: { 'x-forwarded-for': '6.6.6.6' } })).text();
    (await openSocket()).close();
    (await openSocket({ 'X-Forwarded-For': '6.6.6.6, 7.7.7.7' })).close();
    expect(forwarded).toEqual(['127.0.0.1', '6.6.6.6, 127.0.0.1', '127.0.0.1', '6.6.6.6, 7.7.7.7, 127.0.0.1']);
  });

  it('holds requests until the instance serves, then forwards them', async () => {
    const pending = fetch(`http://127.0.0.1:${doorPort}/early`);
    const socket = openSocket();
    await waitFor('both requests held', () => door.heldCount === 2);
    door.open();
    const response = await pending;
    expect(await response.text()).toBe('hello /early');
    expect(response.headers.get('x-backend')).toBe('yes');
    const ws = await socket;
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('ping');
    expect(await echoed).toBe('echo ping');
    ws.close();
    expect(events.sort()).toEqual(['held http /early', 'held upgrade /ws']);
  });

  it('answers 503 with Retry-After when the hold times out', async () => {
    await door.close();
    door = makeDoor(300);
    doorPort = await listen(door.server);
    const response = await fetch(`http://127.0.0.1:${doorPort}/late`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ error: 'no_ready_instance' });
    await expect(openSocket()).rejects.toThrow('HTTP 503');
    expect(events).toEqual(['held http /late', 'expired http /late', 'held upgrade /ws', 'expired upgrade /ws']);
  });

  it('holds again after hold(), and drops open tunnels on request', async () => {
    door.open();
    const ws = await openSocket();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    door.hold();
    door.dropTunnels();
    expect(await closed).toBe(1006);
    const pending = fetch(`http://127.0.0.1:${doorPort}/again`);
    await waitFor('the request held', () => door.heldCount === 1);
    door.open();
    expect((await pending).status).toBe(200);
  });
});
