import net from 'node:net';
import { freePort } from '../local-ports';

it('hands out distinct ports below the ephemeral range that a server can bind on 0.0.0.0', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  expect(new Set(ports).size).toBe(ports.length);
  for (const port of ports) {
    expect(port).toBeGreaterThanOrEqual(20000);
    expect(port).toBeLessThan(32768);
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(ports[0], '0.0.0.0', resolve));
  await new Promise((resolve) => server.close(resolve));
});

