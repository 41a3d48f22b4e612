/** Tools an agent may call, looked up by name. */

export type Tool = (input: unknown) => Promise<unknown>;

export class ToolDispatcher {
  private readonly tools = new Map<string, Tool>();

  register(name: string, tool: Tool): this {
    if (this.tools.has(name)) throw new Error(`tool ${name} is registered twice`);
    this.tools.set(name, tool);
    return this;
  }

  names(): string[] {
    return [...this.tools.keys()];
  }

  async dispatch(name: string, input: unknown): Promise<unknown> {
    const tool = this.tools.get(name);
    if (tool === undefined) throw new Error(`unknown tool ${name}; registered: ${this.names().join(', ') || 'none'}`);
    return tool(input);
  }
}

/** Word and character counts of a text: deterministic, so tests and rehearsals see the same output. */
export const textStats: Tool = async (input) => {
  const text = typeof input === 'object' && input !== null ? (input as { text?: unknown }).text : undefined;
  if (typeof text !== 'string') throw new Error('text_stats needs {"text": string}');
  const words = text.trim() === '' ? 0 : text.trim().split(/\s+/).length;
  return { words, characters: [...text].length };
};

export function createToolDispatcher(): ToolDispatcher {
  return new ToolDispatcher().register('text_stats', textStats);
}
