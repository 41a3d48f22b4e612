/**
 * The revision template of the gated service as plain data: containers, probes, scaling and
 * the settings long-lived WebSockets need. Pure, so the tests and the policy pack check the same
 * shape that the component deploys. Field names are @pulumi/gcp's (cloudrunv2.Service).
 */
import type * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import { revisionProbes, startupHoldMs, type ProbeSpec } from '../common/probes';
import {
  APP_ENV_VARS,
  APP_PORT,
  DEFAULT_GATE_TARGET_URL,
  DEFAULT_REQUIRED_COMPONENTS,
  GATE_ENV_VARS,
  GATE_PORT,
  PHASE_PORT,
} from '../common/revision';

type Container = gcp.types.input.cloudrunv2.ServiceTemplateContainer;
type Template = gcp.types.input.cloudrunv2.ServiceTemplate;

/** The container names; the local runner and the policies look containers up by them. */
export const CONTAINER_NAMES = { app: 'app', gate: 'gate', collector: 'collector' } as const;

/** Cloud Run's longest request timeout, which is also the longest a WebSocket can stay open. */
export const REQUEST_TIMEOUT = '3600s';
export const EXECUTION_ENVIRONMENT = 'EXECUTION_ENVIRONMENT_GEN2';

/** Where run-gmp-sidecar reads its RunMonitoring config, and the volume that puts it there. */
export const COLLECTOR_CONFIG_DIR = '/etc/rungmp';
export const COLLECTOR_CONFIG_FILE = 'config.yaml';
export const COLLECTOR_CONFIG_VOLUME = 'collector-config';

/**
 * CPU and memory per container (rules and sources in infra/resources.ts). Each container may take
 * a fraction of a vCPU as long as the instance's sum is a whole instance Cloud Run accepts with
 * CPU always allocated: one vCPU here. The gate answers in-memory probes (about 60 MiB resident,
 * measured) and the collector scrapes one endpoint every 30 s, so both take Cloud Run's smallest
 * CPU, 0.08 vCPU; the app gets the rest of the vCPU. Exceeding a memory limit ends the whole
 * instance, so the sidecars keep about twice what they use.
 */
export const CONTAINER_LIMITS = {
  app: { cpu: '0.84', memory: '1Gi' },
  gate: { cpu: '0.08', memory: '128Mi' },
  collector: { cpu: '0.08', memory: '256Mi' },
} as const;

/** How the app reaches PostgreSQL and Redis; the stack config holds the same fields. */
export interface DependencyArgs {
  /** Secret Manager secret ids holding DATABASE_URL and REDIS_URL (they carry passwords). */
  databaseUrlSecret: string;
  redisUrlSecret: string;
  /** How long the database and cache phases retry, one after the other inside the startup budget. */
  databaseBudgetSeconds: number;
  cacheBudgetSeconds: number;
  /** Direct VPC egress: the VPC network and the subnet (in the service's region) instances take addresses from. */
  network: string;
  subnetwork: string;
  /** Who signs users in: the OpenID issuer, the audience its tokens carry, and how long startup retries fetching its keys. */
  auth: { issuer: string; audience: string; budgetSeconds: number };
}

export interface RevisionArgs extends DependencyArgs {
  /** The app's environment (APP_ENV): the stack name. */
  environment: string;
  /** The app and gate images by digest: what `pulumi up` just built and pushed (infra/images.ts). */
  appImage: pulumi.Input<string>;
  gateImage: pulumi.Input<string>;
  collectorImage: string;
  /** The longest the app may take to become ready, 1..480 s: beyond 240 s the gate's probe starts after an initial delay. */
  startupBudgetSeconds: number;
  /** Adds the gate's readiness probe (Cloud Run Preview). */
  gateReadinessProbe: boolean;
  minInstances: number;
  maxInstances: number;
  concurrency: number;
  /** The runtime service account's email (known after the account exists). */
  serviceAccount: pulumi.Input<string>;
  /** Secret Manager secret id of the LLM API key, injected as LLM_API_KEY. */
  llmApiKeySecret: string;
  /** Secret Manager secret id of the thread token key, injected as APP_THREAD_TOKEN_KEY. */
  threadTokenKeySecret: string;
  llmBaseUrl: string;
  llmModel: string;
  /** The collector's RunMonitoring config: its secret id and the version to mount. */
  collectorConfig: { secret: pulumi.Input<string>; version: pulumi.Input<string> };
  labels: Record<string, string>;
}

/** A probe as @pulumi/gcp spells it; the shared spec and the API use the same field names. */
function probe(spec: ProbeSpec) {
  const { initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold, httpGet } = spec;
  return { initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold, httpGet };
}

/** Readiness probes take no initialDelaySeconds in Cloud Run; they start after the startup probe passes. */
function readinessProbe(spec: ProbeSpec) {
  const { periodSeconds, timeoutSeconds, failureThreshold, httpGet } = spec;
  return { periodSeconds, timeoutSeconds, failureThreshold, httpGet };
}

/** CPU always allocated: the app keeps WebSockets and agent runs alive between requests. */
function resources(limits: { cpu: string; memory: string }) {
  return { limits: { ...limits }, cpuIdle: false, startupCpuBoost: true };
}

const plain = (name: string, value: string | number) => ({ name, value: String(value) });

/**
 * The app's settings that are secrets, each from the Secret Manager secret its RevisionArgs field
 * names. The URLs carry passwords; the component grants access to exactly these secrets.
 */
export const APP_SECRETS = [
  { env: APP_ENV_VARS.llmApiKey, secret: 'llmApiKeySecret' },
  { env: APP_ENV_VARS.databaseUrl, secret: 'databaseUrlSecret' },
  { env: APP_ENV_VARS.redisUrl, secret: 'redisUrlSecret' },
  { env: APP_ENV_VARS.threadTokenKey, secret: 'threadTokenKeySecret' },
] as const satisfies readonly { env: string; secret: keyof RevisionArgs }[];

/** Rotation adds a version to the secret; instances started after it read the new one. */
const SECRET_VERSION = 'latest';

/**
 * Direct VPC egress sends only private ranges (Cloud SQL, Memorystore) through the subnet; the
 * public LLM API goes out directly, so the network needs no Cloud NAT.
 */
export const VPC_EGRESS = 'PRIVATE_RANGES_ONLY';

const secretEnv = (args: RevisionArgs) => ({ env, secret }: (typeof APP_SECRETS)[number]) => ({
  name: env,
  valueSource: { secretKeyRef: { secret: args[secret], version: SECRET_VERSION } },
});

/** The ingress container: the only one with a port. Cloud Run sets PORT from containerPort itself. */
export function appContainer(args: RevisionArgs): Container {
  const probes = revisionProbes(args.startupBudgetSeconds).app;
  return {
    name: CONTAINER_NAMES.app,
    image: args.appImage,
    ports: { containerPort: APP_PORT },
    envs: [
      plain(APP_ENV_VARS.environment, args.environment),
      plain(APP_ENV_VARS.phasePort, PHASE_PORT),
      plain(APP_ENV_VARS.llmBaseUrl, args.llmBaseUrl),
      plain(APP_ENV_VARS.llmModel, args.llmModel),
      plain(APP_ENV_VARS.databaseBudgetMs, args.databaseBudgetSeconds * 1000),
      plain(APP_ENV_VARS.cacheBudgetMs, args.cacheBudgetSeconds * 1000),
      plain(APP_ENV_VARS.authIssuer, args.auth.issuer),
      plain(APP_ENV_VARS.authAudience, args.auth.audience),
      plain(APP_ENV_VARS.authBudgetMs, args.auth.budgetSeconds * 1000),
      // /startup holds each attempt of the startup probe below until just before it times out.
      plain(APP_ENV_VARS.startupHoldMs, startupHoldMs(probes.startup)),
      ...APP_SECRETS.map(secretEnv(args)),
    ],
    resources: resources(CONTAINER_LIMITS.app),
    startupProbe: probe(probes.startup),
    livenessProbe: probe(probes.liveness),
  };
}

/**
 * The gate: its startup probe holds traffic back from the whole instance until the app reports
 * ready. It depends on nothing and nothing depends on it (the gate waits for the app, so the
 * app waiting for the gate would deadlock).
 */
export function gateContainer(args: RevisionArgs): Container {
  const probes = revisionProbes(args.startupBudgetSeconds).gate;
  return {
    name: CONTAINER_NAMES.gate,
    image: args.gateImage,
    envs: [
      plain(GATE_ENV_VARS.port, GATE_PORT),
      plain(GATE_ENV_VARS.targetUrl, DEFAULT_GATE_TARGET_URL),
      plain(GATE_ENV_VARS.require, DEFAULT_REQUIRED_COMPONENTS.join(',')),
      // /startup holds each attempt of the startup probe below until just before it times out.
      plain(GATE_ENV_VARS.startupHoldMs, startupHoldMs(probes.startup)),
    ],
    resources: resources(CONTAINER_LIMITS.gate),
    startupProbe: probe(probes.startup),
    livenessProbe: probe(probes.liveness),
    ...(args.gateReadinessProbe ? { readinessProbe: readinessProbe(probes.readiness) } : {}),
  };
}

/** Managed Prometheus: scrapes the gate over localhost as its RunMonitoring config says. */
export function collectorContainer(args: RevisionArgs): Container {
  return {
    name: CONTAINER_NAMES.collector,
    image: args.collectorImage,
    resources: resources(CONTAINER_LIMITS.collector),
    volumeMounts: [{ name: COLLECTOR_CONFIG_VOLUME, mountPath: COLLECTOR_CONFIG_DIR }],
  };
}

/** The whole revision template. */
export function revisionTemplate(args: RevisionArgs): Template {
  return {
    serviceAccount: args.serviceAccount,
    executionEnvironment: EXECUTION_ENVIRONMENT,
    // Best effort: a reconnecting client returns to the instance that holds its session.
    sessionAffinity: true,
    timeout: REQUEST_TIMEOUT,
    maxInstanceRequestConcurrency: args.concurrency,
    scaling: { minInstanceCount: args.minInstances, maxInstanceCount: args.maxInstances },
    labels: args.labels,
    // Cloud SQL and Memorystore answer on private IPs only.
    vpcAccess: { networkInterfaces: [{ network: args.network, subnetwork: args.subnetwork }], egress: VPC_EGRESS },
    containers: [appContainer(args), gateContainer(args), collectorContainer(args)],
    volumes: [
      {
        name: COLLECTOR_CONFIG_VOLUME,
        secret: { secret: args.collectorConfig.secret, items: [{ version: args.collectorConfig.version, path: COLLECTOR_CONFIG_FILE }] },
      },
    ],
  };
}
