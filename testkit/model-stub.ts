/** A stand-in for the LLM endpoint the app calls. */
import http from 'node:http';

/**
 * An OpenAI-compatible endpoint on loopback that answers slowly, so a run is in flight on SIGTERM;
 * with `totalTokens`, each answer reports that usage.
 */
export async function slowModel(delayMs: number, modelsStatus = 200, totalTokens?: number) {
  const requests: { path: string; auth: string | undefined }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', auth: req.headers.authorization });
    if (req.url === '/v1/models') {
      res.writeHead(modelsStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [] }));
      return;
    }
    req.resume();
    req.on('end', () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(200, { 'content-type': 'application/json' });
        const usage = totalTokens === undefined ? {} : { usage: { prompt_tokens: totalTokens - 1, completion_tokens: 1, total_tokens: totalTokens } };
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'slow answer' } }], ...usage }));
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = () => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return { url: `http://127.0.0.1:${port}/v1`, requests, close };
}
