/**
 * The Cloud Run v2 service as infra renders it (infra/rendered/STACK.yaml) and Pulumi names its
 * inputs (@pulumi/gcp cloudrunv2.Service): one typed view for the policy pack, the local runner
 * and the tests. Every field is optional where a rule must cope with its absence.
 */
import fs from 'node:fs';
import { parse } from 'yaml';
import { EXAMPLE_PROJECT_DIRS, REPO_ROOT, renderedStackPath } from './paths';
import { CLOUD_RUN_PROBE_DEFAULTS, type ProbeTiming } from './probes';

/** The Pulumi type token of the service. */
export const SERVICE_TYPE = 'gcp:cloudrunv2/service:Service';

/** The project name in Pulumi.yaml: the namespace of the program's own stack config keys. */
export const PULUMI_PROJECT = 'cloud-run-startup-gate';

/** The chat app's Cloud Run service name (its policies apply to the service of this name); also the collector's scrape job, so the gate's series carry job="chat". */
export const CHAT_SERVICE_NAME = 'chat';

/** The stack config key of the startup budget, as Pulumi.STACK.yaml spells it. */
export const STARTUP_BUDGET_CONFIG_KEY = `${PULUMI_PROJECT}:startupBudgetSeconds`;

/** The stacks infra deploys and renders, and the local runner runs; each is also the app's APP_ENV. */
export const STACKS = ['staging', 'production'] as const;
export type StackName = (typeof STACKS)[number];

/** Whether a stack is one of the chat app's (not the example's): only those run the chat app. */
export function isChatAppStack(stack: string): stack is StackName {
  return (STACKS as readonly string[]).includes(stack);
}

/** The Python example's stack (its own Pulumi project, examples/python-fastapi/deploy), rendered and run beside them. */
export const EXAMPLE_STACKS = Object.keys(EXAMPLE_PROJECT_DIRS) as (keyof typeof EXAMPLE_PROJECT_DIRS)[];
/** Every stack with a rendered file in infra/rendered/. */
export const RENDERED_STACKS: readonly string[] = [...STACKS, ...EXAMPLE_STACKS];

export interface CloudRunProbe {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  httpGet?: { path?: string; port?: number };
  tcpSocket?: { port?: number };
  grpc?: unknown;
}

export interface CloudRunEnv {
  name: string;
  value?: string;
  valueSource?: { secretKeyRef?: { secret?: string; version?: string } };
}

export interface CloudRunContainer {
  name: string;
  image: string;
  /** One object in @pulumi/gcp v9, not a list; only the ingress container has it. */
  ports?: { containerPort?: number };
  envs?: CloudRunEnv[];
  startupProbe?: CloudRunProbe;
  livenessProbe?: CloudRunProbe;
  readinessProbe?: CloudRunProbe;
  dependsOns?: string[];
  resources?: { cpuIdle?: boolean; startupCpuBoost?: boolean; limits?: { cpu?: string; memory?: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface CloudRunTemplate {
  containers?: CloudRunContainer[];
  sessionAffinity?: boolean;
  timeout?: string;
  executionEnvironment?: string;
  maxInstanceRequestConcurrency?: number;
  scaling?: { minInstanceCount?: number; maxInstanceCount?: number };
  vpcAccess?: { connector?: string; egress?: string; networkInterfaces?: { network?: string; subnetwork?: string }[] };
  volumes?: { name: string; secret?: { secret: string; items: { path: string; version: string }[] } }[];
  serviceAccount?: string;
  labels?: Record<string, string>;
}

export interface CloudRunService {
  name?: string;
  template?: CloudRunTemplate;
  launchStage?: string;
  deletionProtection?: boolean;
}

/** A probe's timing with Cloud Run's value for every field left out. */
export function probeTiming(probe: CloudRunProbe): ProbeTiming {
  const d = CLOUD_RUN_PROBE_DEFAULTS;
  return {
    initialDelaySeconds: probe.initialDelaySeconds ?? d.initialDelaySeconds,
    periodSeconds: probe.periodSeconds ?? d.periodSeconds,
    timeoutSeconds: probe.timeoutSeconds ?? d.timeoutSeconds,
    failureThreshold: probe.failureThreshold ?? d.failureThreshold,
  };
}

/** A rendered stack's resources as `npm run render` writes them. */
export interface RenderedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

export function renderedResources(stack: string, root = REPO_ROOT): RenderedResource[] {
  return (parse(fs.readFileSync(renderedStackPath(stack, root), 'utf8')) as { resources?: RenderedResource[] }).resources ?? [];
}

/** The one Cloud Run service of a rendered stack; throws naming the file when there is not exactly one. */
export function renderedService(stack: string, root = REPO_ROOT): CloudRunService {
  const services = renderedResources(stack, root).filter((resource) => resource.type === SERVICE_TYPE);
  if (services.length !== 1) throw new Error(`${renderedStackPath(stack, root)} must hold exactly one ${SERVICE_TYPE}, found ${services.length}`);
  return services[0]!.inputs as CloudRunService;
}
