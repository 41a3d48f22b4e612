/**
 * Turns the Cloud Run service that infra deploys (as rendered in infra/rendered/STACK.yaml) into
 * a revision this machine can run: each container becomes a local process, probes move to the
 * local ports the runner picked, and values that come from Secret Manager are left out.
 */
import { type CloudRunContainer, type CloudRunProbe, probeTiming, renderedService } from '../../common/cloud-run-service';
import { REPO_ROOT, renderedStackPath } from '../../common/paths';
import { MAX_STARTUP_BUDGET_SECONDS, type ProbeSpec } from '../../common/probes';
import { GATE_ENV_VARS } from '../../common/revision';
import type { LocalContainer, LocalRevision } from './revision-runner';

/** How each container of the service runs here: the compiled entry point of its image. */
export interface LocalImage {
  command: readonly string[];
  /** The command is a shell that starts the server: signal its whole process group. */
  processGroup?: boolean;
  /** Local values that replace the declared ones: local ports, stand-ins for cloud-only settings. */
  env?: Readonly<Record<string, string>>;
  /** Declared settings that only work in the cloud and are left out here. */
  omitEnv?: readonly string[];
}

/** The containers of a stack's rendered service, as the runner runs them. */
export function renderedContainers(stack: string, root = REPO_ROOT): CloudRunContainer[] {
  const containers = renderedService(stack, root).template?.containers;
  if (!containers?.length) throw new Error(`${renderedStackPath(stack, root)}: the service has no containers`);
  return containers;
}

export function toProbeSpec(probe: CloudRunProbe | undefined, ports: ReadonlyMap<number, number>): ProbeSpec | undefined {
  if (probe === undefined) return undefined;
  const timing = probeTiming(probe);
  const local = (port: number | undefined) => {
    if (port === undefined || !ports.has(port)) throw new Error(`probe port ${port} is not a port of this revision`);
    return ports.get(port)!;
  };
  if (probe.httpGet) return { ...timing, httpGet: { path: probe.httpGet.path ?? '/', port: local(probe.httpGet.port) } };
  if (probe.tcpSocket) return { ...timing, tcpSocket: { port: local(probe.tcpSocket.port) } };
  throw new Error('only HTTP and TCP probes can run locally');
}

export interface LocalRevisionOptions {
  stack: string;
  containers: readonly CloudRunContainer[];
  /** Local stand-ins per container name; containers without one are not run here. */
  images: Readonly<Record<string, LocalImage>>;
  /** Declared port -> local port, for every port the containers use. */
  ports: ReadonlyMap<number, number>;
}

export interface LocalRevisionResult {
  revision: LocalRevision;
  skipped: string[];
}

export function toLocalRevision(options: LocalRevisionOptions): LocalRevisionResult {
  const run = options.containers.filter((container) => options.images[container.name] !== undefined);
  const skipped = options.containers.filter((container) => options.images[container.name] === undefined).map((container) => container.name);
  const running = new Set(run.map((container) => container.name));
  const containers: LocalContainer[] = run.map((container) => {
    const image = options.images[container.name]!;
    // Values from Secret Manager (valueSource) cannot be read here; the image's stand-ins replace them.
    const declared = Object.fromEntries(
      (container.envs ?? []).filter((env) => env.value !== undefined && !image.omitEnv?.includes(env.name)).map((env) => [env.name, env.value!]),
    );
    const ingressPort = container.ports?.containerPort;
    return {
      name: container.name,
      command: image.command,
      ...(image.processGroup ? { processGroup: true } : {}),
      env: { ...declared, ...image.env },
      ingressPort: ingressPort === undefined ? undefined : options.ports.get(ingressPort),
      startupProbe: toProbeSpec(container.startupProbe, options.ports),
      livenessProbe: toProbeSpec(container.livenessProbe, options.ports),
      dependsOn: (container.dependsOns ?? []).filter((name) => running.has(name)),
    };
  });
  return { revision: { stack: options.stack, containers }, skipped };
}

/**
 * The stack's startup budget as infra rendered it for the gate (GATE_STARTUP_BUDGET_SECONDS), so
 * the runner measures boots against the number the cloud's probes and alert use.
 */
export function startupBudgetOf(revision: LocalRevision): number {
  const name = GATE_ENV_VARS.startupBudgetSeconds;
  const value = revision.containers.map((container) => container.env[name]).find((v) => v !== undefined);
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_STARTUP_BUDGET_SECONDS) {
    throw new Error(`infra/rendered/${revision.stack}.yaml: no container sets ${name} to 1..${MAX_STARTUP_BUDGET_SECONDS} (got ${JSON.stringify(value)}); run npm run render`);
  }
  return seconds;
}
