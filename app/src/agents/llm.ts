/**
 * The model the agent talks to: a deterministic built-in model for local runs and tests, or any
 * OpenAI-compatible chat-completions endpoint.
 */
import { z } from 'zod';
import { redactUrl } from '../../../common/env';
import type { LlmConfig } from '../config';
import { describeError } from '../errors';

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A reply and what it cost: the tokens the model reports (prompt and completion together). */
export interface Completion {
  text: string;
  totalTokens: number;
}

export interface LlmClient {
  readonly name: string;
  complete(turns: readonly ChatTurn[]): Promise<Completion>;
}

/**
 * About four characters a token, the usual rule of thumb for English: what the built-in model
 * reports, and the fallback for an endpoint that reports no usage, so a budget still holds.
 */
function estimateTokens(turns: readonly ChatTurn[], reply: string): number {
  const chars = turns.reduce((sum, turn) => sum + turn.content.length, 0) + reply.length;
  return Math.ceil(chars / 4);
}

/** Answers from the conversation alone, the same way every time: no network, no randomness. */
export class BuiltinModel implements LlmClient {
  readonly name = 'builtin';

  async complete(turns: readonly ChatTurn[]): Promise<Completion> {
    const lastUser = [...turns].reverse().find((turn) => turn.role === 'user');
    const notes = turns.filter((turn) => turn.role === 'system' && turn.content.startsWith('tool ')).map((turn) => turn.content);
    const userCount = turns.filter((turn) => turn.role === 'user').length;
    const said = lastUser ? `You said: "${lastUser.content}".` : 'You said nothing.';
    const text = [said, ...notes, `This is message ${userCount} in this thread.`].join(' ');
    return { text, totalTokens: estimateTokens(turns, text) };
  }
}

const completionSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string() }) })).min(1),
  // OpenAI-compatible endpoints report what the call cost; some proxies leave it out.
  usage: z.object({ total_tokens: z.number().int().nonnegative() }).optional(),
});

type OpenAiConfig = Extract<LlmConfig, { kind: 'openai-compatible' }>;

export class OpenAiCompatibleClient implements LlmClient {
  readonly name: string;

  constructor(
    private readonly config: OpenAiConfig,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.name = `openai-compatible:${config.model}`;
  }

  /** Proves the endpoint answers and accepts the key, so a bad key fails startup rather than the first user. */
  async verify(): Promise<void> {
    await this.request('models', { method: 'GET' });
  }

  async complete(turns: readonly ChatTurn[]): Promise<Completion> {
    const body = await this.request('chat/completions', {
      method: 'POST',
      body: JSON.stringify({ model: this.config.model, messages: turns }),
    });
    const parsed = completionSchema.safeParse(body);
    if (!parsed.success) throw new Error(`${redactUrl(this.endpoint('chat/completions'))} answered a body without choices[0].message.content`);
    const text = parsed.data.choices[0]!.message.content;
    return { text, totalTokens: parsed.data.usage?.total_tokens ?? estimateTokens(turns, text) };
  }

  private endpoint(path: string): string {
    const base = this.config.baseUrl.href.endsWith('/') ? this.config.baseUrl.href : `${this.config.baseUrl.href}/`;
    return new URL(path, base).href;
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    const url = new URL(this.endpoint(path));
    const shown = redactUrl(url);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    // fetch refuses URLs with credentials: those in LLM_BASE_URL go as Basic auth, unless there is a key.
    if (url.username !== '' || url.password !== '') headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    if (this.config.apiKey !== undefined) headers.authorization = `Bearer ${this.config.apiKey}`;
    url.username = '';
    url.password = '';
    // One deadline for the whole exchange, the body included: a server that sends headers and
    // then never ends the body fails here too.
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    let response: Response;
    try {
      response = await this.fetchFn(url, { ...init, headers, signal });
    } catch (error) {
      throw new Error(`${init.method} ${shown} failed: ${describeError(error)}`, { cause: error });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`${init.method} ${shown} answered HTTP ${response.status}`);
    }
    try {
      return await response.json();
    } catch {
      if (signal.aborted) throw new Error(`${init.method} ${shown} did not finish its answer within ${this.config.timeoutMs} ms`);
      throw new Error(`${init.method} ${shown} answered a body that is not JSON`);
    }
  }
}

export async function createLlmClient(config: LlmConfig, fetchFn: typeof fetch = fetch): Promise<LlmClient> {
  if (config.kind === 'builtin') return new BuiltinModel();
  const client = new OpenAiCompatibleClient(config, fetchFn);
  await client.verify();
  return client;
}
