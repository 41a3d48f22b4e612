/** The chat agent: measures the message with a tool, asks the model, and narrates each step. */
import type { Agent, AgentRun } from './agent-registry';
import type { ChatTurn } from './llm';

const SYSTEM_PROMPT = 'You are a helpful assistant in a chat application. Answer briefly.';
const TOOL = 'text_stats';

export class ChatAgent implements Agent {
  readonly name = 'chat';

  constructor(private readonly now: () => number = Date.now) {}

  async run(run: AgentRun): Promise<string> {
    const started = this.now();
    const ids = { runId: run.runId, threadId: run.threadId };
    run.emit({ type: 'agent_started', ...ids, agent: this.name });
    run.emit({ type: 'agent_thinking', ...ids, text: `Reading the message with ${run.history.length} earlier messages in the thread` });
    const input = { text: run.text };
    run.emit({ type: 'tool_executing', ...ids, tool: TOOL, input });
    const output = await run.tools.dispatch(TOOL, input);
    run.emit({ type: 'tool_completed', ...ids, tool: TOOL, output });
    const turns: ChatTurn[] = [
      { role: 'system', content: SYSTEM_PROMPT },
      ...run.history.map((message): ChatTurn => ({ role: message.role, content: message.text })),
      { role: 'user', content: run.text },
      { role: 'system', content: `tool ${TOOL} returned ${JSON.stringify(output)}` },
    ];
    const { text: reply } = await run.llm.complete(turns);
    run.emit({ type: 'agent_completed', ...ids, durationMs: this.now() - started });
    return reply;
  }
}
