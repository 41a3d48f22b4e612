/**
 * Ports on this machine for the processes the local runner, the tests and the bench start, and
 * whether something listens on one. Not used by the images.
 */
import net from 'node:net';

/**
 * Ports below Linux's ephemeral range (32768-60999). A port the kernel hands out for `listen(0)`
 * comes from that range, and so do the source ports of outgoing connections: between choosing
 * such a port and a child process binding it, any client socket may take it (EADDRINUSE). Ports
 * from this range are only ever taken by processes that chose them, as this function does.
 */
const RANGE = { min: 20000, max: 32767 } as const;
const taken = new Set<number>();

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    // 0.0.0.0, as the app and the gate bind: a port free on loopback only is not free for them.
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** Whether a TCP connection to host:port opens now (something listens there). */
export function connects(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port nothing listens on right now, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = RANGE.min + Math.floor(Math.random() * (RANGE.max - RANGE.min + 1));
    if (taken.has(port)) continue;
    if (await listens(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${RANGE.min}-${RANGE.max} after 200 attempts`);
}
