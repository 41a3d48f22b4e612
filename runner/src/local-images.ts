/**
 * The images of the service as local processes (the compiled entry points in dist/), and the
 * local revision of a stack built from them: what `npm start` runs and what the reliability
 * suite restarts.
 */
import { randomBytes } from 'node:crypto';
import { isChatAppStack } from '../../common/cloud-run-service';
import { ENTRY_POINTS, NODE_FLAGS } from '../../common/paths';
import { APP_ENV_VARS, APP_PORT, GATE_ENV_VARS, GATE_PORT, PHASE_HOST, PHASE_PATH, PHASE_PORT } from '../../common/revision';
import { type LocalImage, type LocalRevisionResult, renderedContainers, toLocalRevision } from './local-revision';
import { freePort } from '../../common/local-ports';


export function localImages(
  ports: ReadonlyMap<number, number>,
  appEnv: Readonly<Record<string, string>>,
  threadTokenKey: string = randomBytes(32).toString('base64url'),
): Record<string, LocalImage> {
  const local = (port: number) => String(ports.get(port));
  return {
    app: {
      command: [process.execPath, ENTRY_POINTS.app],
      // No Secret Manager here: the built-in model, store and cache stand in for the LLM endpoint, PostgreSQL and Redis;
      // the stack's identity provider is replaced by the embedded one the caller passes in `appEnv`, or by none.
      omitEnv: [APP_ENV_VARS.llmBaseUrl, APP_ENV_VARS.llmModel, APP_ENV_VARS.authIssuer, APP_ENV_VARS.authAudience, APP_ENV_VARS.authJwksUrl],
      env: {
        [APP_ENV_VARS.environment]: 'development',
        [APP_ENV_VARS.port]: local(APP_PORT),
        [APP_ENV_VARS.phasePort]: local(PHASE_PORT),
        // Stands in for the Secret Manager key: one per local revision, so thread tokens survive restarts.
        [APP_ENV_VARS.threadTokenKey]: threadTokenKey,
        ...appEnv,
      },
    },
    gate: {
      command: [process.execPath, ...NODE_FLAGS.gate, ENTRY_POINTS.gate],
      env: {
        [GATE_ENV_VARS.port]: local(GATE_PORT),
        [GATE_ENV_VARS.targetUrl]: `http://${PHASE_HOST}:${local(PHASE_PORT)}${PHASE_PATH}`,
      },
    },
  };
}

/**
 * A container run from a command given for its image (`npm start -- --run NAME=COMMAND`): through
 * /bin/sh in the current folder, with the container's declared settings and, as Cloud Run sets
 * them, PORT on the ingress container's local port; PHASE_PORT names the phase endpoint's local port.
 */
export function commandImage(command: string, ports: ReadonlyMap<number, number>, ingressPort: number | undefined): LocalImage {
  return {
    command: ['/bin/sh', '-c', command],
    processGroup: true,
    env: {
      ...(ingressPort === undefined ? {} : { [APP_ENV_VARS.port]: String(ports.get(ingressPort)) }),
      [APP_ENV_VARS.phasePort]: String(ports.get(PHASE_PORT)),
    },
  };
}

export interface PlacedRevision extends LocalRevisionResult {
  /** Declared port -> the free local port it runs on. */
  ports: Map<number, number>;
  /** Whether the stack is the chat app's, whose app runs with local stand-ins for its cloud settings. */
  chatApp: boolean;
}

/**
 * The stack's rendered service on free local ports. The chat app's stacks run the chat app and
 * the gate from dist/ with the app's rehearsal settings; any stack's container runs a command
 * given for it instead (`run`: container name → command), keeping the local settings this
 * repository gives it. Throws naming a container that is not in the stack, and the app when
 * nothing can run it.
 */
export async function localRevisionOf(stack: string, appEnv: Readonly<Record<string, string>> = {}, run: Readonly<Record<string, string>> = {}): Promise<PlacedRevision> {
  const containers = renderedContainers(stack);
  const app = containers.find((container) => container.ports !== undefined);
  const ports = new Map<number, number>();
  for (const port of new Set([APP_PORT, PHASE_PORT, GATE_PORT, ...(app?.ports?.containerPort === undefined ? [] : [app.ports.containerPort])])) ports.set(port, await freePort());
  const defaults = localImages(ports, appEnv);
  // Only the chat app's stacks run the chat app's image; the gate is the same in every stack.
  const chatStack = isChatAppStack(stack);
  const images: Record<string, LocalImage> = chatStack ? { ...defaults } : { gate: defaults.gate! };
  for (const [name, command] of Object.entries(run)) {
    const container = containers.find((candidate) => candidate.name === name);
    if (!container) throw new Error(`--run ${name}: stack ${stack} has no container ${name} (it has ${containers.map((c) => c.name).join(', ')})`);
    // Only the command changes: a container this repository runs keeps its local ports and stand-ins.
    const given = commandImage(command, ports, container.ports?.containerPort);
    const known = images[name];
    images[name] = known ? { ...known, ...given, env: { ...given.env, ...known.env } } : given;
  }
  if (app && images[app.name] === undefined) {
    throw new Error(`stack ${stack}'s ingress container ${app.name} (${app.image}) runs here only from a command given for it: --run ${app.name}=COMMAND`);
  }
  const result = toLocalRevision({ stack, containers, images, ports });
  return { ...result, ports, chatApp: chatStack };
}
