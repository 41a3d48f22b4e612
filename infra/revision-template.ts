/**
 * The revision template of a gated service as plain data: any app as the ingress container, the
 * gate and the collector beside it, probes, scaling and the settings long-lived WebSockets need.
 * Pure, so the tests and the policy pack check the same shape that the component deploys. Field
 * names are @pulumi/gcp's (cloudrunv2.Service). It knows no app: the app comes in as a GatedApp.
 */
import type * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import { revisionProbes, startupHoldMs, type ProbeSpec } from '../common/probes';
import { GATE_ENV_VARS, GATE_PORT } from '../common/revision';
import type { MetricsEndpoint } from './collector';

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
 * CPU and memory of the two sidecars (rules and sources in infra/resources.ts). Each container may
 * take a fraction of a vCPU as long as the instance's sum is a whole instance Cloud Run accepts
 * with CPU always allocated. The gate answers in-memory probes (about 60 MiB resident, measured)
 * and the collector scrapes the gate (and an app's own few endpoints) every 30 s, so both take
 * Cloud Run's smallest CPU, 0.08 vCPU, and the app gets the rest: APP_CPU_OF_ONE_VCPU on a
 * one-vCPU instance. Exceeding a memory limit ends the whole instance, so the sidecars keep about
 * twice what they use.
 */
export const SIDECAR_LIMITS = {
  gate: { cpu: '0.08', memory: '128Mi' },
  collector: { cpu: '0.08', memory: '256Mi' },
} as const;

/** The app's share of a one-vCPU instance beside the two sidecars. */
export const APP_CPU_OF_ONE_VCPU = '0.84';

/**
 * The app behind the gate, as data: what runs in the ingress container and what the gate waits
 * for. Nothing here is specific to one app; infra/chat-app.ts builds this for the chat app.
 */
export interface GatedApp {
  /** The image, by digest (`REGISTRY/REPO/NAME@sha256:…`): the policy pack refuses a tag. */
  image: pulumi.Input<string>;
  /** The port the app serves on; Cloud Run sets PORT from it. Its `/startup` and liveness probe use it too. */
  port: number;
  /** Overrides the image's ENTRYPOINT / CMD. */
  command?: string[];
  args?: string[];
  /** Plain settings, in the order the container lists them. Never credentials: those go in `secrets`. */
  env: Readonly<Record<string, string>>;
  /** Settings read from Secret Manager: env name → secret id (its latest version). The service account may read exactly these. */
  secrets: Readonly<Record<string, string>>;
  /** CPU and memory limits, e.g. `0.84` and `1Gi`: with the sidecars, the instance must reserve a whole number of vCPUs. */
  cpu: string;
  memory: string;
  /** The liveness probe's path on `port`: answers while the process is healthy, whatever its startup. */
  livenessPath: string;
  /**
   * Contract 2's ingress side: the app serves a held `GET /startup` on `port`. This env var tells it
   * how long it may hold one attempt (the probe's timeout less a network margin).
   */
  startupHoldEnv: string;
  /** The gate's `GATE_TARGET_URL`: the app's phase endpoint (contract 1), on loopback. */
  phaseUrl: string;
  /** The components the app must report before the gate opens (`GATE_REQUIRE`); at least one. */
  requiredComponents: readonly string[];
  /**
   * The app's own Prometheus alerting rules: folders of `*.rules.yml`, relative to the repository
   * root (or absolute). Each alerting rule becomes an alert policy beside the gate's, which every
   * gated service gets; a named folder without one is refused. None when absent.
   */
  alertRulesDirs?: readonly string[];
  /**
   * The app's own Prometheus metrics endpoints (port and path), which the collector scrapes over
   * localhost beside the gate's, so loopback is enough; the metrics the app's alerting rules select
   * come from here. None when absent: the collector scrapes the gate only.
   */
  metricsEndpoints?: readonly MetricsEndpoint[];
}

/** Direct VPC egress: the VPC network and the subnet (in the service's region) instances take addresses from. */
export interface VpcArgs {
  network: string;
  subnetwork: string;
}

export interface RevisionArgs {
  /** The ingress container's app. */
  app: GatedApp;
  /** The gate image by digest, and Managed Prometheus's image pinned to a version. */
  gateImage: pulumi.Input<string>;
  collectorImage: string;
  /** The longest the app may take to become ready, 1..480 s: beyond 240 s the startup probes start after an initial delay. */
  startupBudgetSeconds: number;
  /** Adds the gate's readiness probe (Cloud Run Preview). */
  gateReadinessProbe: boolean;
  minInstances: number;
  maxInstances: number;
  concurrency: number;
  /** Private ranges through this VPC (Direct VPC egress); none when absent. */
  vpc?: VpcArgs;
  /** The runtime service account's email (known after the account exists). */
  serviceAccount: pulumi.Input<string>;
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

/** Rotation adds a version to the secret; instances started after it read the new one. */
const SECRET_VERSION = 'latest';

/**
 * Direct VPC egress sends only private ranges (a database, a cache) through the subnet; public
 * APIs go out directly, so the network needs no Cloud NAT.
 */
export const VPC_EGRESS = 'PRIVATE_RANGES_ONLY';

const secretEnv = ([name, secret]: [string, string]) => ({
  name,
  valueSource: { secretKeyRef: { secret, version: SECRET_VERSION } },
});

/** The ingress container: the only one with a port. Cloud Run sets PORT from containerPort itself. */
export function appContainer(args: RevisionArgs): Container {
  const { app } = args;
  const probes = revisionProbes(args.startupBudgetSeconds, { port: app.port, livenessPath: app.livenessPath }).app;
  return {
    name: CONTAINER_NAMES.app,
    image: app.image,
    ...(app.command ? { command: [...app.command] } : {}),
    ...(app.args ? { args: [...app.args] } : {}),
    ports: { containerPort: app.port },
    envs: [
      ...Object.entries(app.env).map(([name, value]) => plain(name, value)),
      // /startup holds each attempt of the startup probe below until just before it times out.
      plain(app.startupHoldEnv, startupHoldMs(probes.startup)),
      ...Object.entries(app.secrets).map(secretEnv),
    ],
    resources: resources({ cpu: app.cpu, memory: app.memory }),
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
      plain(GATE_ENV_VARS.targetUrl, args.app.phaseUrl),
      plain(GATE_ENV_VARS.require, args.app.requiredComponents.join(',')),
      // /startup holds each attempt of the startup probe below until just before it times out.
      plain(GATE_ENV_VARS.startupHoldMs, startupHoldMs(probes.startup)),
      // Exported as startup_gate_budget_seconds, the line boots are measured and alerted against.
      plain(GATE_ENV_VARS.startupBudgetSeconds, args.startupBudgetSeconds),
    ],
    resources: resources(SIDECAR_LIMITS.gate),
    startupProbe: probe(probes.startup),
    livenessProbe: probe(probes.liveness),
    ...(args.gateReadinessProbe ? { readinessProbe: readinessProbe(probes.readiness) } : {}),
  };
}

/** Managed Prometheus: scrapes the gate (and the app's own endpoints) over localhost as its RunMonitoring config says. */
export function collectorContainer(args: RevisionArgs): Container {
  return {
    name: CONTAINER_NAMES.collector,
    image: args.collectorImage,
    resources: resources(SIDECAR_LIMITS.collector),
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
    ...(args.vpc ? { vpcAccess: { networkInterfaces: [{ network: args.vpc.network, subnetwork: args.vpc.subnetwork }], egress: VPC_EGRESS } } : {}),
    containers: [appContainer(args), gateContainer(args), collectorContainer(args)],
    volumes: [
      {
        name: COLLECTOR_CONFIG_VOLUME,
        secret: { secret: args.collectorConfig.secret, items: [{ version: args.collectorConfig.version, path: COLLECTOR_CONFIG_FILE }] },
      },
    ],
  };
}
