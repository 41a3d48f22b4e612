/**
 * The invariants of every gated service, whatever app it runs, as pure rules over a resource's
 * properties, so the policy pack, its unit tests and the program's tests share one definition.
 * Each returns its violations, empty when the resource complies. Field names are @pulumi/gcp's.
 * The chat app's own rules are in chat-app-rules.ts.
 */
import { startupProbeProblems, STARTUP_PROBE_PERIOD_SECONDS } from '../../common/probes';
import { type CloudRunProbe, type CloudRunService, probeTiming, SERVICE_TYPE } from '../../common/cloud-run-service';
import { ALERT_RULES_DIRS } from '../../common/paths';
import { APP_PATHS, GATE_PATHS, GATE_PORT } from '../../common/revision';
import { loadAlertRules, type AlertingRule } from '../alert-rules';
import { ALERTING_STACKS } from '../config';
import { PLATFORM } from '../image-platform';
import { instanceProblems } from '../resources';
import { CONTAINER_NAMES, EXECUTION_ENVIRONMENT, REQUEST_TIMEOUT } from '../revision-template';

export const TYPES = {
  service: SERVICE_TYPE,
  serviceInvoker: 'gcp:cloudrunv2/serviceIamMember:ServiceIamMember',
  projectIamMember: 'gcp:projects/iAMMember:IAMMember',
  projectIamBinding: 'gcp:projects/iAMBinding:IAMBinding',
  alertPolicy: 'gcp:monitoring/alertPolicy:AlertPolicy',
  image: 'docker-build:index:Image',
} as const;

/** What a rule knows besides the properties: the stack, read from the resource's URN. */
export interface RuleContext {
  stack: string;
}

export interface Rule {
  name: string;
  description: string;
  /** The resource types the rule checks. */
  types: readonly string[];
  check(props: Record<string, unknown>, context: RuleContext): string[];
}

export const template = (props: Record<string, unknown>) => ((props as CloudRunService).template ?? {});
export const containers = (props: Record<string, unknown>) => template(props).containers ?? [];
export const named = (props: Record<string, unknown>, name: string) => containers(props).find((container) => container.name === name);
/** The port the app (the ingress container) listens on, as its ports say. */
const appPort = (props: Record<string, unknown>) => named(props, CONTAINER_NAMES.app)?.ports?.containerPort;

/** The stack of a URN: urn:pulumi:STACK::PROJECT::TYPE::NAME. */
export function stackOfUrn(urn: string): string {
  return urn.split('::')[0]?.split(':')[2] ?? '';
}

/** Cloud Run's maximum requests per instance. */
const MAX_CONCURRENCY = 1000;
const DIGEST = /@sha256:[a-f0-9]{64}$/;
/** Env names that carry credentials: their values must come from Secret Manager. */
const CREDENTIAL_NAME = /(KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)$/;
/** Project-wide roles the service account may hold; everything else is granted on a resource. */
export const PROJECT_ROLES_ALLOWED = ['roles/monitoring.metricWriter'] as const;
/** The stacks whose service may be invoked by anyone. */
export const PUBLIC_STACKS = ['production'] as const;
export const PUBLIC_MEMBERS = ['allUsers', 'allAuthenticatedUsers'];
function probeAt(probe: CloudRunProbe | undefined, path: string, port: number): string | undefined {
  if (probe?.httpGet?.path !== path || probe.httpGet.port !== port) return `must be an HTTP GET of ${path} on port ${port}`;
  return undefined;
}

/** A startup probe that passes only once the app is ready: HTTP on `path`, every second, within the API's limits. */
function readinessStartupProbeProblems(who: string, probe: CloudRunProbe, path: string, port: number): string[] {
  const problems: string[] = [];
  const target = probeAt(probe, path, port);
  if (target) problems.push(`${who} startup probe ${target}`);
  if (probe.periodSeconds !== STARTUP_PROBE_PERIOD_SECONDS) {
    problems.push(`${who} startup probe must run every ${STARTUP_PROBE_PERIOD_SECONDS} s so traffic flows within a second of ready even without the hold`);
  }
  problems.push(...startupProbeProblems({ ...probeTiming(probe), httpGet: probe.httpGet, tcpSocket: probe.tcpSocket }).map((problem) => `${who} startup probe: ${problem}`));
  return problems;
}

export const RULES: readonly Rule[] = [
  {
    name: 'ingress-startup-probe',
    description: `The app's (ingress) startup probe is HTTP ${APP_PATHS.startup} on the app's port (contract 2's ingress side), which passes only once the app is ready with its required components: never the liveness path, never TCP, so traffic waits for ready even if Cloud Run routes once the ingress container passes.`,
    types: [TYPES.service],
    check(props) {
      const app = named(props, CONTAINER_NAMES.app);
      if (!app) return [`the service has no "${CONTAINER_NAMES.app}" container`];
      const probe = app.startupProbe;
      if (!probe) return ["the app has no startup probe: Cloud Run's default TCP probe would pass as soon as the port listens, long before the app is ready"];
      if (probe.tcpSocket) return ["the app's startup probe is TCP, which passes as soon as the port listens, long before the app is ready"];
      if (probe.grpc) return [`the app's startup probe must be an HTTP GET of ${APP_PATHS.startup}, not gRPC`];
      const livenessPath = app.livenessProbe?.httpGet?.path;
      if (livenessPath !== undefined && probe.httpGet?.path === livenessPath) {
        return [`the app's startup probe is its liveness path ${livenessPath}, which passes as soon as the process listens; use ${APP_PATHS.startup}`];
      }
      return readinessStartupProbeProblems("the app's", probe, APP_PATHS.startup, appPort(props) ?? Number.NaN);
    },
  },
  {
    name: 'gate-startup-probe',
    description: "The gate's startup probe holds traffic back until the app is ready: HTTP /startup on the gate port, one attempt a second, within Cloud Run's limits (window at most 240 s, initial delay at most 240 s).",
    types: [TYPES.service],
    check(props) {
      const gate = named(props, CONTAINER_NAMES.gate);
      if (!gate) return [`the service has no "${CONTAINER_NAMES.gate}" container`];
      const probe = gate.startupProbe;
      if (!probe) return ['the gate has no startup probe, so traffic would reach instances whose app is not ready'];
      return readinessStartupProbeProblems("the gate's", probe, GATE_PATHS.startup, GATE_PORT);
    },
  },
  {
    name: 'no-startup-deadlock',
    description: 'No container depends on the gate (the gate waits for the app: deadlock), and every container named in dependsOns exists and has a startup probe.',
    types: [TYPES.service],
    check(props) {
      const byName = new Map(containers(props).map((container) => [container.name, container]));
      return containers(props).flatMap((container) =>
        (container.dependsOns ?? []).flatMap((dependency) => {
          if (dependency === CONTAINER_NAMES.gate) return [`${container.name} depends on the gate, which waits for the app: the instance never starts`];
          if (dependency === container.name) return [`${container.name} depends on itself`];
          const target = byName.get(dependency);
          if (!target) return [`${container.name} depends on ${dependency}, which is not a container of the service`];
          if (!target.startupProbe) return [`${container.name} depends on ${dependency}, which has no startup probe`];
          return [];
        }),
      );
    },
  },
  {
    name: 'single-ingress-app',
    description: 'The app is the only ingress container and names its port; sidecars have no ports, so their probes name the port explicitly.',
    types: [TYPES.service],
    check(props) {
      const problems: string[] = [];
      const ingress = containers(props).filter((container) => container.ports !== undefined);
      if (ingress.length !== 1 || ingress[0]!.name !== CONTAINER_NAMES.app) {
        problems.push(`exactly one container, "${CONTAINER_NAMES.app}", must have ports; found ${ingress.map((container) => container.name).join(', ') || 'none'}`);
      } else if (ingress[0]!.ports?.containerPort === undefined) {
        problems.push('the app must name its containerPort');
      }
      for (const container of containers(props).filter((candidate) => candidate.ports === undefined)) {
        for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
          const probe = container[kind];
          if (probe?.httpGet && probe.httpGet.port === undefined) problems.push(`${container.name}'s ${kind} must name its port: a sidecar has no default port`);
        }
      }
      return problems;
    },
  },
  {
    name: 'http-liveness-probes',
    description: `The app (on its own port) and the gate (${GATE_PATHS.live}) have HTTP liveness probes; Cloud Run liveness probes cannot be TCP.`,
    types: [TYPES.service],
    check(props) {
      const problems: string[] = [];
      const app = named(props, CONTAINER_NAMES.app)?.livenessProbe;
      if (!app?.httpGet?.path || app.httpGet.port !== appPort(props)) problems.push(`app's liveness probe must be an HTTP GET on the app's port ${appPort(props) ?? '(none)'}`);
      const gate = probeAt(named(props, CONTAINER_NAMES.gate)?.livenessProbe, GATE_PATHS.live, GATE_PORT);
      if (gate) problems.push(`gate's liveness probe ${gate}`);
      for (const container of containers(props)) {
        if (container.livenessProbe?.tcpSocket) problems.push(`${container.name}'s liveness probe is TCP, which Cloud Run does not support`);
      }
      return problems;
    },
  },
  {
    name: 'websocket-service-settings',
    description: 'Long-lived WebSockets: session affinity, the 3600 s request timeout, gen2, concurrency 1..1000 and a sane scaling range.',
    types: [TYPES.service],
    check(props) {
      const t = template(props);
      const problems: string[] = [];
      if (t.sessionAffinity !== true) problems.push('sessionAffinity must be true so reconnecting clients return to their instance');
      if (t.timeout !== REQUEST_TIMEOUT) problems.push(`timeout must be ${REQUEST_TIMEOUT}, the longest a WebSocket can live`);
      if (t.executionEnvironment !== EXECUTION_ENVIRONMENT) problems.push(`executionEnvironment must be ${EXECUTION_ENVIRONMENT}`);
      const concurrency = t.maxInstanceRequestConcurrency;
      if (concurrency === undefined || concurrency < 1 || concurrency > MAX_CONCURRENCY) problems.push(`maxInstanceRequestConcurrency must be set, 1..${MAX_CONCURRENCY}`);
      const { minInstanceCount = 0, maxInstanceCount } = t.scaling ?? {};
      if (maxInstanceCount === undefined || maxInstanceCount < 1 || minInstanceCount > maxInstanceCount) {
        problems.push('scaling.maxInstanceCount must be set, at least 1 and at least minInstanceCount');
      }
      return problems;
    },
  },
  {
    name: 'cpu-always-allocated',
    description: 'CPU stays allocated between requests (WebSockets, agent runs, the gate\'s polling) and startup gets a CPU boost, in every container.',
    types: [TYPES.service],
    check(props) {
      return containers(props).flatMap((container) => [
        ...(container.resources?.cpuIdle === false ? [] : [`${container.name} must set resources.cpuIdle false`]),
        ...(container.resources?.startupCpuBoost === true ? [] : [`${container.name} must set resources.startupCpuBoost true`]),
      ]);
    },
  },
  {
    name: 'instance-resources',
    description: "Every container states its CPU and memory within Cloud Run's rules; the instance reserves a whole number of vCPUs (1, 2, 4, 6 or 8) with memory in that range; no sidecar takes more than 0.25 vCPU or 256 MiB.",
    types: [TYPES.service],
    check(props) {
      const unset = containers(props).filter((container) => !container.resources?.limits?.cpu || !container.resources.limits.memory);
      if (unset.length > 0) return unset.map((container) => `${container.name} must set resources.limits cpu and memory: unset, each container would reserve Cloud Run's default`);
      const limits = containers(props).map((container) => ({ name: container.name ?? '', cpu: container.resources!.limits!.cpu!, memory: container.resources!.limits!.memory! }));
      return instanceProblems(limits, CONTAINER_NAMES.app);
    },
  },
  {
    name: 'pinned-images',
    description: 'The app and the gate run images by digest (exactly what `pulumi up` built and pushed); no container runs a floating :latest or untagged image.',
    types: [TYPES.service],
    check(props) {
      return containers(props).flatMap((container) => {
        const image = container.image ?? '';
        const mustDigest = container.name === CONTAINER_NAMES.app || container.name === CONTAINER_NAMES.gate;
        if (mustDigest && !DIGEST.test(image)) return [`${container.name} must run an image by digest, got ${image}`];
        const lastSegment = image.split('/').pop() ?? '';
        if (!DIGEST.test(image) && (!lastSegment.includes(':') || lastSegment.endsWith(':latest'))) return [`${container.name} must pin its image, got ${image}`];
        return [];
      });
    },
  },
  {
    name: 'images-built-for-cloud-run',
    description: `Every image the program builds is for ${PLATFORM} only (what Cloud Run runs), from a named Dockerfile, and pushed to a tagged target, so the service can run it by digest.`,
    types: [TYPES.image],
    check(props) {
      const problems: string[] = [];
      const platforms = props.platforms as string[] | undefined;
      if (platforms?.length !== 1 || platforms[0] !== PLATFORM) problems.push(`platforms must be exactly ${PLATFORM}, got ${JSON.stringify(platforms ?? [])}`);
      if (props.push !== true) problems.push('push must be true: Cloud Run pulls the image from the registry');
      if (!(props.dockerfile as { location?: string } | undefined)?.location) problems.push('dockerfile.location must name the Dockerfile');
      if (!((props.tags as string[] | undefined)?.length ?? 0)) problems.push('tags must name the push target');
      return problems;
    },
  },
  {
    name: 'credentials-from-secret-manager',
    description: 'Environment variables that carry credentials (…KEY, …SECRET, …TOKEN, …PASSWORD) come from Secret Manager, never as plain values in the template.',
    types: [TYPES.service],
    check(props) {
      return containers(props).flatMap((container) =>
        (container.envs ?? [])
          .filter((env) => CREDENTIAL_NAME.test(env.name) && (env.value !== undefined || !env.valueSource?.secretKeyRef?.secret))
          .map((env) => `${container.name}'s ${env.name} must come from Secret Manager (valueSource.secretKeyRef)`),
      );
    },
  },
  {
    name: 'preview-features-launch-stage',
    description: 'Readiness probes are a Cloud Run Preview feature: a service that uses them declares launchStage BETA.',
    types: [TYPES.service],
    check(props) {
      const uses = containers(props).filter((container) => container.readinessProbe !== undefined);
      if (uses.length === 0 || props.launchStage === 'BETA' || props.launchStage === 'ALPHA') return [];
      return [`${uses.map((container) => container.name).join(', ')} use a readiness probe (Preview): set launchStage BETA`];
    },
  },
  {
    name: 'production-deletion-protection',
    description: 'The production service cannot be deleted or replaced by accident.',
    types: [TYPES.service],
    check(props, { stack }) {
      return stack === 'production' && props.deletionProtection !== true ? ['the production service must set deletionProtection true'] : [];
    },
  },
  {
    name: 'public-invoker-only-in-public-stacks',
    description: `Only ${PUBLIC_STACKS.join(', ')} may let everyone invoke the service; other stacks stay private.`,
    types: [TYPES.serviceInvoker],
    check(props, { stack }) {
      const member = String(props.member ?? '');
      if (!PUBLIC_MEMBERS.includes(member) || (PUBLIC_STACKS as readonly string[]).includes(stack)) return [];
      return [`stack ${stack} must not grant ${props.role} to ${member}`];
    },
  },
  {
    name: 'least-privilege-project-roles',
    description: `Project-wide, the service account holds only ${PROJECT_ROLES_ALLOWED.join(', ')}; secret access is granted on each secret, never on the project.`,
    types: [TYPES.projectIamMember, TYPES.projectIamBinding],
    check(props) {
      const role = String(props.role ?? '');
      return (PROJECT_ROLES_ALLOWED as readonly string[]).includes(role) ? [] : [`${role} must not be granted project-wide: grant it on the resource`];
    },
  },
  {
    name: 'production-alert-channels',
    description: `In ${ALERTING_STACKS.join(', ')}, every alert policy notifies at least one notification channel.`,
    types: [TYPES.alertPolicy],
    check(props, { stack }) {
      const channels = (props.notificationChannels ?? []) as unknown[];
      if (!(ALERTING_STACKS as readonly string[]).includes(stack) || channels.length > 0) return [];
      return [`alert policy ${String(props.displayName ?? '')} notifies no channel in ${stack}: its incidents would reach no one`];
    },
  },
];

/** A resource as a stack rule sees it. */
export interface StackResource {
  type: string;
  props: Record<string, unknown>;
}

/** A rule over the whole stack: for what must exist, which no single resource can tell. */
export interface StackRule {
  name: string;
  description: string;
  check(resources: readonly StackResource[], context: RuleContext): string[];
}

interface PromqlCondition {
  conditionPrometheusQueryLanguage?: { query?: string; alertRule?: string };
}

/**
 * The alerting rules the stack lacks as alert policies: for each rule, a policy whose PromQL
 * condition names the rule (alertRule) and evaluates its expression. Pure; `owner` names whose
 * rules they are in the messages.
 */
export function missingAlertPolicies(resources: readonly StackResource[], rules: readonly AlertingRule[], owner: string): string[] {
  const conditions = resources
    .filter((resource) => resource.type === TYPES.alertPolicy)
    .flatMap((resource) => ((resource.props.conditions ?? []) as PromqlCondition[]).map((condition) => condition.conditionPrometheusQueryLanguage ?? {}));
  return rules.flatMap((rule) => {
    const condition = conditions.find((candidate) => candidate.alertRule === rule.alert);
    if (!condition) return [`${owner} has no alert policy for ${rule.alert} (${rule.file}): nothing evaluates that rule on Cloud Run`];
    if (condition.query?.trim() !== rule.expr) return [`the alert policy for ${rule.alert} does not evaluate the rule's expression from ${rule.file}`];
    return [];
  });
}

/** The gate's rules (sidecar/alerts) the stack lacks as alert policies, if it runs the gate at all. */
export function missingGateAlerts(resources: readonly StackResource[], rules: readonly AlertingRule[]): string[] {
  const hasGate = resources.some((resource) => resource.type === TYPES.service && named(resource.props, CONTAINER_NAMES.gate) !== undefined);
  return hasGate ? missingAlertPolicies(resources, rules, 'the gate') : [];
}

export const STACK_RULES: readonly StackRule[] = [
  {
    name: 'gate-alert-policies',
    description: `A stack that runs the gate has a Cloud Monitoring alert policy for every alerting rule in ${ALERT_RULES_DIRS.gate}, with the same PromQL expression.`,
    check: (resources) => missingGateAlerts(resources, loadAlertRules()),
  },
];
