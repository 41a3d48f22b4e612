/**
 * The local stand-in for Cloud Run's front end: one public port that forwards HTTP and WebSocket
 * traffic to the ingress container, but only while the instance is serving. Requests that arrive
 * before that are held, as Cloud Run holds them while an instance starts, and answered 503 if the
 * instance is not serving within the hold timeout. Like Cloud Run's front end it appends the
 * address it saw to X-Forwarded-For, so the app's `trust proxy` hop count behaves as in production.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface FrontDoorOptions {
  targetPort: number;
  holdTimeoutMs: number;
  onHeld?: (kind: 'http' | 'upgrade', url: string) => void;
  onExpired?: (kind: 'http' | 'upgrade', url: string) => void;
}

interface Held {
  release(): void;
  expire(): void;
  timer: NodeJS.Timeout;
}

const EXPIRED_BODY = JSON.stringify({
  error: 'no_ready_instance',
  message: 'no instance passed its startup probes within the hold timeout',
});

export class FrontDoor {
  readonly server: http.Server;
  private serving = false;
  private readonly held = new Set<Held>();
  private readonly tunnels = new Set<net.Socket>();

  constructor(private readonly options: FrontDoorOptions) {
    this.server = http.createServer((req, res) => this.admit('http', req.url ?? '/', () => this.forward(req, res), () => expireHttp(res)));
    this.server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      this.admit('upgrade', req.url ?? '/', () => this.tunnel(req, socket, head), () => expireUpgrade(socket));
    });
  }

  /** Listens on `host:port` (0: a free port) and resolves with the port; rejects with the listen error (EADDRINUSE). */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** The instance passed every startup probe: release what is held and forward from now on. */
  open(): void {
    this.serving = true;
    for (const entry of [...this.held]) this.settle(entry, 'release');
  }

  /** The instance stopped serving (a container restarts): hold new requests again. */
  hold(): void {
    this.serving = false;
  }

  /** Ends open WebSocket tunnels, as an instance that goes away ends its connections. */
  dropTunnels(): void {
    for (const socket of this.tunnels) socket.destroy();
  }

  async close(): Promise<void> {
    for (const entry of [...this.held]) this.settle(entry, 'expire');
    this.dropTunnels();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private admit(kind: 'http' | 'upgrade', url: string, release: () => void, expire: () => void): void {
    if (this.serving) return release();
    this.options.onHeld?.(kind, url);
    const entry: Held = {
      release,
      expire,
      timer: setTimeout(() => {
        this.options.onExpired?.(kind, url);
        this.settle(entry, 'expire');
      }, this.options.holdTimeoutMs),
    };
    this.held.add(entry);
  }

  private settle(entry: Held, how: 'release' | 'expire'): void {
    if (!this.held.delete(entry)) return;
    clearTimeout(entry.timer);
    entry[how]();
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upstream = http.request(
      { host: '127.0.0.1', port: this.options.targetPort, method: req.method, path: req.url, headers: { ...req.headers, [FORWARDED_FOR]: forwardedFor(req) } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad_gateway', message: 'the ingress container did not answer' }));
    });
    req.pipe(upstream);
  }

  private tunnel(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const upstream = net.connect(this.options.targetPort, '127.0.0.1', () => {
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i]?.toLowerCase() !== FORWARDED_FOR) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      headers.push(`${FORWARDED_FOR}: ${forwardedFor(req)}`);
      upstream.write(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n${headers.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    this.tunnels.add(upstream);
    const drop = () => {
      this.tunnels.delete(upstream);
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', drop);
    socket.on('error', drop);
    socket.on('close', drop);
    // The app closed its side: what it sent last (a 1012 close frame on SIGTERM) may still wait in
    // the client socket's buffer, so end it gracefully and destroy it only if the client never reads.
    upstream.on('close', () => {
      this.tunnels.delete(upstream);
      socket.end();
      setTimeout(() => socket.destroy(), TUNNEL_FLUSH_MS).unref();
    });
  }
}

const FORWARDED_FOR = 'x-forwarded-for';
/** How long a closed tunnel may take to flush its last bytes to a slow client. */
const TUNNEL_FLUSH_MS = 5000;

/** What the client sent (node joins repeated headers with ", "), then the address this hop saw. */
function forwardedFor(req: http.IncomingMessage): string {
  const sent = [req.headers[FORWARDED_FOR] ?? []].flat();
  return [...sent, req.socket.remoteAddress ?? 'unknown'].join(', ');
}

function expireHttp(res: http.ServerResponse): void {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(EXPIRED_BODY);
}

function expireUpgrade(socket: Duplex): void {
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(EXPIRED_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${EXPIRED_BODY}`,
  );
}
