/** The model client's deadline against a real HTTP server on loopback that stalls at each step. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAiCompatibleClient } from '../src/agents/llm';

const TIMEOUT_MS = 300;

/** A model endpoint that answers chat completions with `respond`. */
async function endpoint(respond: (res: http.ServerResponse) => void) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => respond(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new OpenAiCompatibleClient({ kind: 'openai-compatible', baseUrl: new URL(`http://127.0.0.1:${port}/v1`), apiKey: 'k', model: 'm', timeoutMs: TIMEOUT_MS });
  const close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return { client, close };
}

describe.each([
  ['sends no headers', (_res: http.ServerResponse) => undefined, /failed: timed out$/],
  // Headers and the start of the body, then nothing: the deadline must cover reading the body too.
  ['sends headers and half a body, then nothing', (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).write('{"choices":['), /did not finish its answer within 300 ms$/],
])('a model endpoint that %s', (_, respond, reason) => {
  it('fails the request once LLM_TIMEOUT_MS has passed', async () => {
    const { client, close } = await endpoint(respond);
    try {
      const started = performance.now();
      const failure = await client.complete([{ role: 'user', content: 'hi' }]).catch((error: Error) => error);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toMatch(reason);
      // A timer fires late on a busy machine; what matters is that it fires.
      expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + 5000);
    } finally {
      await close();
    }
  });
});
