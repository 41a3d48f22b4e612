/**
 * The images of the service as local processes (the compiled entry points in dist/), and the
 * local revision of a stack built from them: what `npm start` runs and what the reliability
 * suite restarts.
 */
import { randomBytes } from 'node:crypto';
import { ENTRY_POINTS } from '../../common/paths';
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
      command: [process.execPath, ENTRY_POINTS.gate],
      env: {
        [GATE_ENV_VARS.port]: local(GATE_PORT),
        [GATE_ENV_VARS.targetUrl]: `http://${PHASE_HOST}:${local(PHASE_PORT)}${PHASE_PATH}`,
      },
    },
  };
}

export interface PlacedRevision extends LocalRevisionResult {
  /** Declared port -> the free local port it runs on. */
  ports: Map<number, number>;
}

/** The stack's rendered service on free local ports, with the app's rehearsal settings. */
export async function localRevisionOf(stack: string, appEnv: Readonly<Record<string, string>> = {}): Promise<PlacedRevision> {
  const ports = new Map<number, number>();
  for (const port of [APP_PORT, PHASE_PORT, GATE_PORT]) ports.set(port, await freePort());
  const result = toLocalRevision({ stack, containers: renderedContainers(stack), images: localImages(ports, appEnv), ports });
  return { ...result, ports };
}
