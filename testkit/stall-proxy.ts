/**
 * A TCP proxy that rehearses the failures a restart does not: it goes between the app and a real
 * PostgreSQL or Redis and can
 * - `forward`: pass bytes both ways;
 * - `stall`: stop reading both ways (TCP backpressure, nothing lost) until `forward` again, like a
 *   network path that pauses and recovers; new connections wait too;
 * - `blackhole`: accept, then never forward nor answer: every connection open now, and every one
 *   accepted while black-holed, swallows what it is sent and stays silent for good (no reset, no
 *   close), as after a failover or a path that drops packets. Only connections made after
 *   returning to `forward` work.
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'stall' | 'blackhole';

export interface StallProxy {
  port: number;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): void;
  /** `url` with its port replaced by the proxy's: what the app is given instead. */
  proxied(url: string): string;
  /** Connections accepted and not yet closed. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | undefined;
  dead: boolean;
}

export async function startStallProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<StallProxy> {
  let mode: ProxyMode = 'forward';
  const links = new Set<Link>();

  const bury = (link: Link) => {
    link.dead = true;
    // Read and drop, so the sender never sees backpressure either.
    link.client.resume();
    link.upstream?.resume();
  };
  const connectUpstream = (link: Link) => {
    const upstream = net.connect(targetPort, targetHost);
    link.upstream = upstream;
    upstream.on('data', (chunk) => {
      if (!link.dead) link.client.write(chunk);
    });
    upstream.on('error', () => undefined);
    // A dead link stays silent: the client is not told the upstream went away.
    upstream.on('close', () => {
      if (!link.dead) link.client.destroy();
    });
    if (mode === 'stall') upstream.pause();
  };

  const server = net.createServer((client) => {
    const link: Link = { client, upstream: undefined, dead: false };
    links.add(link);
    client.on('error', () => undefined);
    client.on('close', () => {
      links.delete(link);
      link.upstream?.destroy();
    });
    client.on('data', (chunk) => {
      if (!link.dead) link.upstream?.write(chunk);
    });
    if (mode === 'blackhole') return bury(link);
    if (mode === 'stall') return void client.pause();
    connectUpstream(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    port,
    get mode() {
      return mode;
    },
    get connections() {
      return links.size;
    },
    setMode(next) {
      mode = next;
      for (const link of links) {
        if (link.dead) continue;
        if (next === 'blackhole') bury(link);
        else if (next === 'stall') {
          link.client.pause();
          link.upstream?.pause();
        } else {
          if (link.upstream === undefined) connectUpstream(link);
          link.client.resume();
          link.upstream?.resume();
        }
      }
    },
    proxied(url) {
      const parsed = new URL(url);
      parsed.port = String(port);
      parsed.hostname = '127.0.0.1';
      return parsed.toString();
    },
    close: async () => {
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
