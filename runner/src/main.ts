/**
 * `npm start`: runs the revision that infra deploys on this machine, with Cloud Run's probe
 * semantics, and shows when Cloud Run would send it traffic. See docs/local-runner.md.
 */
import { parseArgs } from 'node:util';
import { RENDERED_STACKS, isChatAppStack } from '../../common/cloud-run-service';
import { APP_ENV_VARS, APP_PORT } from '../../common/revision';
import { EmbeddedIssuer } from './embedded-issuer';
import { FrontDoor } from './front-door';
import { localRevisionOf } from './local-images';
import { startupBudgetOf } from './local-revision';
import { PROBE_MODELS, type ProbeModel } from './probe-model';
import { RevisionRunner } from './revision-runner';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioName } from './scenarios';
import { describeBoot, formatEvent, type Stamped, type TimelineEvent } from './timeline';


/** The `aud` of the embedded issuer's tokens. */
const LOCAL_AUDIENCE = 'local-chat';

const USAGE = `usage: npm start -- [--stack ${RENDERED_STACKS.join('|')}] [--run CONTAINER=COMMAND]... [--scenario ${SCENARIO_NAMES.join('|')}] [--probe-model ${PROBE_MODELS.join('|')}] [--exit-after-ready] [--json] [--port N] [--hold-timeout-ms N]`;

interface Options {
  stack: string;
  /** Container name → the command that stands for its image here. */
  run: Record<string, string>;
  scenario: ScenarioName;
  probeModel: ProbeModel;
  exitAfterReady: boolean;
  json: boolean;
  port: number;
  holdTimeoutMs: number;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      stack: { type: 'string', default: 'staging' },
      run: { type: 'string', multiple: true, default: [] },
      scenario: { type: 'string', default: 'normal' },
      'probe-model': { type: 'string', default: 'all-containers' },
      'exit-after-ready': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      port: { type: 'string', default: String(APP_PORT) },
      // Cloud Run queues requests for up to 60 s while it waits for an instance.
      'hold-timeout-ms': { type: 'string', default: '60000' },
    },
    strict: true,
  });
  const stack = values.stack;
  if (!RENDERED_STACKS.includes(stack)) throw new Error(`--stack must be one of ${RENDERED_STACKS.join(', ')}, got ${JSON.stringify(values.stack)}`);
  const run = parseRun(values.run);
  const scenario = values.scenario as ScenarioName;
  if (!SCENARIO_NAMES.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIO_NAMES.join(', ')}, got ${JSON.stringify(values.scenario)}`);
  if (scenario !== 'normal' && !isChatAppStack(stack)) {
    throw new Error(`--scenario rehearses the chat app, which stack ${stack} does not run; put the rehearsal settings in the --run command`);
  }
  const probeModel = values['probe-model'] as ProbeModel;
  if (!PROBE_MODELS.includes(probeModel)) throw new Error(`--probe-model must be one of ${PROBE_MODELS.join(', ')}, got ${JSON.stringify(values['probe-model'])}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${JSON.stringify(values.port)}`);
  const holdTimeoutMs = Number(values['hold-timeout-ms']);
  if (!Number.isInteger(holdTimeoutMs) || holdTimeoutMs < 1) throw new Error(`--hold-timeout-ms must be a positive integer`);
  return { stack, run, scenario, probeModel, exitAfterReady: values['exit-after-ready'], json: values.json, port, holdTimeoutMs };
}

/** `--run NAME=COMMAND`, once per container: the name is a container's, the command what runs for its image. */
function parseRun(values: readonly string[]): Record<string, string> {
  const run: Record<string, string> = {};
  for (const value of values) {
    const match = /^([a-z0-9-]+)=(.*\S.*)$/s.exec(value);
    if (!match) throw new Error(`--run must be CONTAINER=COMMAND, got ${JSON.stringify(value)}`);
    if (run[match[1]!] !== undefined) throw new Error(`--run names ${match[1]} twice`);
    run[match[1]!] = match[2]!;
  }
  return run;
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const scenario = SCENARIOS[options.scenario];
  // In the chat app's stacks an OpenID issuer on loopback stands in for the stack's identity provider: the app verifies its tokens for real.
  const issuer = isChatAppStack(options.stack) ? await EmbeddedIssuer.start({ audience: LOCAL_AUDIENCE, signIn: true }) : undefined;
  const signIn: Record<string, string> = issuer === undefined ? {} : { [APP_ENV_VARS.authIssuer]: issuer.url, [APP_ENV_VARS.authAudience]: LOCAL_AUDIENCE };
  let placed: Awaited<ReturnType<typeof localRevisionOf>>;
  try {
    placed = await localRevisionOf(options.stack, { ...signIn, ...scenario.appEnv }, options.run);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { revision, skipped, chatApp } = placed;
  const budgetSeconds = startupBudgetOf(revision);
  const ingress = revision.containers.find((container) => container.ingressPort !== undefined);

  const startedAt = performance.now();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const phases: { phase: string; durationMs: number }[] = [];
  const record = (event: TimelineEvent) => {
    if (event.kind === 'phase') phases.push({ phase: event.phase, durationMs: event.durationMs });
    const stamped = { ...event, atMs: Math.round((performance.now() - startedAt) * 10) / 10 } as Stamped;
    out(options.json ? JSON.stringify(stamped) : formatEvent(stamped));
  };

  const frontDoor = new FrontDoor({
    targetPort: ingress?.ingressPort ?? 0,
    holdTimeoutMs: options.holdTimeoutMs,
    onHeld: (kind, url) => record({ kind: 'request-held', request: `${kind === 'upgrade' ? 'WebSocket' : 'HTTP'} ${url}` }),
    onExpired: (kind, url) => record({ kind: 'request-expired', request: `${kind === 'upgrade' ? 'WebSocket' : 'HTTP'} ${url}` }),
  });
  let port: number;
  try {
    port = await frontDoor.listen(options.port);
  } catch (error) {
    process.stderr.write(`--port ${options.port} cannot be used for the front door: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const url = `http://localhost:${port}`;

  if (!options.json) {
    out(`Local revision of stack ${options.stack} (infra/rendered/${options.stack}.yaml), scenario ${options.scenario}: ${scenario.description}`);
    out(`Probe model ${options.probeModel}: traffic once ${options.probeModel === 'all-containers' ? "every container's startup probe passed" : "the ingress container's startup probe passed"}.`);
    out(`Containers: ${revision.containers.map((c) => c.name).join(', ')}${skipped.length ? `; not run locally: ${skipped.join(', ')}` : ''}. Front door: ${url}`);
    for (const [name, command] of Object.entries(options.run)) out(`Container ${name} runs: ${command}`);
    if (chatApp) out('Local stand-ins: APP_ENV=development, the built-in model and the in-process store and cache replace the LLM endpoint, PostgreSQL and Redis, whose settings come from Secret Manager.');
    if (issuer) out(`Sign-in: an OpenID issuer on loopback (${issuer.url}) stands in for the stack's identity provider; the chat page asks for a user name.`);
  }
  record({ kind: 'front-door', url });

  const runner = new RevisionRunner(revision, frontDoor, record, undefined, options.probeModel);
  const shutdown = async (code: number) => {
    await runner.stop();
    await Promise.all([frontDoor.close(), issuer?.stop()]);
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  const result = await runner.start();
  const boot = result.ok ? describeBoot({ readyAtMs: result.trafficAtMs, budgetSeconds, phases }) : undefined;
  const summary = result.ok
    ? {
        kind: 'result',
        ok: true,
        stack: options.stack,
        scenario: options.scenario,
        probeModel: options.probeModel,
        trafficAtMs: Math.round(result.trafficAtMs),
        url,
        budgetSeconds,
        budgetShare: Math.round(boot!.share * 1000) / 1000,
        budgetWarning: boot!.warn,
        slowestPhase: boot!.slowestPhase,
      }
    : { kind: 'result', ok: false, stack: options.stack, scenario: options.scenario, probeModel: options.probeModel, reason: result.reason, atMs: Math.round(result.atMs) };
  const exiting = options.exitAfterReady || !result.ok;
  // The summary is the last line, after the containers stopped, so scripts can read it with tail -1.
  if (exiting) {
    await runner.stop();
    await Promise.all([frontDoor.close(), issuer?.stop()]);
  }
  if (options.json) out(JSON.stringify(summary));
  else if (result.ok) {
    const next = exiting ? 'Stopped (--exit-after-ready).' : `Open ${url}${chatApp ? ' to chat' : ''}; Ctrl-C stops the revision.`;
    out(`\nTraffic would flow ${(result.trafficAtMs / 1000).toFixed(2)} s after start. ${next}`);
    out(boot!.line);
  }
  else out(`\nThe revision would fail: ${result.reason}`);
  if (exiting) process.exit(result.ok ? 0 : 1);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
