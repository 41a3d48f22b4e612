/** Every rule of the policy pack, with the rendered stacks as passing inputs and one failing input per invariant. */
import { renderedResources, renderedService, STACKS } from '../../common/cloud-run-service';
import { ALERT_RULES_DIRS } from '../../common/paths';
import { loadAlertRules } from '../alert-rules';
import { missingChatAppAlerts, publicChatServiceWithoutSignIn } from '../policy/chat-app-rules';
import { POLICIES, RESOURCE_POLICIES, RESOURCE_RULES as RULES, STACK_POLICY_RULES, violations } from '../policy/policies';
import { missingGateAlerts, stackOfUrn, TYPES, type StackResource } from '../policy/rules';
import { revisionProbes } from '../../common/probes';

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- mutated freely below

/** A fresh copy of a stack's rendered service, to break one invariant at a time. */
function service(stack = 'production'): Props {
  return structuredClone(renderedService(stack)) as Props;
}
const container = (props: Props, name: string) => (props.template.containers as Props[]).find((candidate) => candidate.name === name)!;
const envOf = (props: Props, name: string) => (container(props, 'app').envs as Props[]).find((env) => env.name === name)!;
const check = (rule: string, props: Props, stack = 'production') => RULES.find((candidate) => candidate.name === rule)!.check(props, { stack });

describe('the rendered stacks', () => {
  it.each(STACKS)('%s passes every rule', (stack) => {
    for (const resource of renderedResources(stack)) expect(violations(resource.type, resource.inputs, { stack })).toEqual([]);
    const resources = renderedResources(stack).map(({ type, inputs }) => ({ type, props: inputs }));
    for (const rule of STACK_POLICY_RULES) expect(rule.check(resources, { stack })).toEqual([]);
  });

  it('has one mandatory policy per rule, with a description', () => {
    expect(POLICIES.map((policy) => policy.name)).toEqual([...RULES, ...STACK_POLICY_RULES].map((rule) => rule.name));
    for (const policy of POLICIES) {
      expect(policy.enforcementLevel).toBe('mandatory');
      expect(policy.description.length).toBeGreaterThan(20);
    }
  });
});

/** [rule, what breaks it, the change, a part of the expected violation] */
const failing: [string, string, (props: Props) => void, string][] = [
  ['ingress-startup-probe', 'no startup probe on the app (the TCP default)', (p) => delete container(p, 'app').startupProbe, "default TCP probe"],
  ['ingress-startup-probe', 'a TCP startup probe on the app', (p) => (container(p, 'app').startupProbe = { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120, tcpSocket: { port: 8080 } }), 'is TCP'],
  ['ingress-startup-probe', 'the liveness path as the startup probe', (p) => (container(p, 'app').startupProbe.httpGet.path = '/healthz'), 'its liveness path /healthz'],
  ['ingress-startup-probe', 'another path', (p) => (container(p, 'app').startupProbe.httpGet.path = '/'), 'HTTP GET of /startup on port 8080'],
  ['ingress-startup-probe', 'a 10 s period', (p) => Object.assign(container(p, 'app').startupProbe, { periodSeconds: 10, failureThreshold: 12 }), 'every 1 s'],
  ['ingress-startup-probe', 'a window beyond 240 s', (p) => (container(p, 'app').startupProbe.failureThreshold = 241), 'at most 240 s'],
  ['gate-startup-probe', 'no gate container', (p) => (p.template.containers = p.template.containers.filter((c: Props) => c.name !== 'gate')), 'no "gate" container'],
  ['gate-startup-probe', 'no startup probe on the gate', (p) => delete container(p, 'gate').startupProbe, 'no startup probe'],
  ['gate-startup-probe', 'the probe on the wrong path', (p) => (container(p, 'gate').startupProbe.httpGet.path = '/live'), 'HTTP GET of /startup on port 9091'],
  ['gate-startup-probe', 'a 10 s period', (p) => Object.assign(container(p, 'gate').startupProbe, { periodSeconds: 10, failureThreshold: 12 }), 'every 1 s'],
  ['gate-startup-probe', 'a window beyond 240 s', (p) => (container(p, 'gate').startupProbe.failureThreshold = 241), 'at most 240 s'],
  ['gate-startup-probe', 'a timeout longer than the period', (p) => (container(p, 'gate').startupProbe.timeoutSeconds = 2), 'timeoutSeconds must be 1..periodSeconds'],
  ['gate-startup-probe', 'an initial delay beyond 240 s', (p) => (container(p, 'gate').startupProbe.initialDelaySeconds = 241), 'initialDelaySeconds must be 0..240'],
  ['dependency-budgets-fit-startup-window', 'a 30 s database budget', (p) => (envOf(p, 'APP_DATABASE_BUDGET_MS').value = '30000'), 'APP_DATABASE_BUDGET_MS must be at least 60000'],
  ['dependency-budgets-fit-startup-window', 'no cache budget', (p) => (container(p, 'app').envs = container(p, 'app').envs.filter((e: Props) => e.name !== 'APP_CACHE_BUDGET_MS')), 'APP_CACHE_BUDGET_MS must be at least 60000'],
  ['dependency-budgets-fit-startup-window', 'a window shorter than the budgets', (p) => (container(p, 'gate').startupProbe.failureThreshold = 100), "(90 s + 60 s + 15 s, the last the identity provider's keys) plus 10 s need 175 s, but the gate's startup probe gives up after 100 s"],
  ['no-startup-deadlock', 'the app depending on the gate', (p) => (container(p, 'app').dependsOns = ['gate']), 'app depends on the gate'],
  ['no-startup-deadlock', 'the collector depending on the gate', (p) => (container(p, 'collector').dependsOns = ['gate']), 'collector depends on the gate'],
  ['no-startup-deadlock', 'a dependency without a startup probe', (p) => (container(p, 'gate').dependsOns = ['collector']), 'collector, which has no startup probe'],
  ['no-startup-deadlock', 'an unknown dependency', (p) => (container(p, 'gate').dependsOns = ['db']), 'not a container of the service'],
  ['no-startup-deadlock', 'a self-dependency', (p) => (container(p, 'app').dependsOns = ['app']), 'depends on itself'],
  ['single-ingress-app', 'a port on the gate too', (p) => (container(p, 'gate').ports = { containerPort: 9091 }), 'exactly one container'],
  ['single-ingress-app', 'no ingress container', (p) => delete container(p, 'app').ports, 'found none'],
  ['single-ingress-app', 'the ingress container naming no port', (p) => (container(p, 'app').ports = {}), 'must name its containerPort'],
  ['chat-app-port-and-liveness', 'the chat app on another port', (p) => (container(p, 'app').ports.containerPort = 3000), 'port 8080'],
  ['chat-app-port-and-liveness', 'the chat app live on another path', (p) => (container(p, 'app').livenessProbe.httpGet.path = '/'), 'liveness probe must be /healthz'],
  ['ingress-startup-probe', 'the probe on another port than the app listens on', (p) => (container(p, 'app').startupProbe.httpGet.port = 8081), 'HTTP GET of /startup on port 8080'],
  ['http-liveness-probes', "the app's liveness probe on another port", (p) => (container(p, 'app').livenessProbe.httpGet.port = 8081), "app's liveness probe must be an HTTP GET on the app's port 8080"],
  ['single-ingress-app', 'a sidecar probe without a port', (p) => delete container(p, 'gate').livenessProbe.httpGet.port, "gate's livenessProbe must name its port"],
  ['http-liveness-probes', 'no liveness probe on the app', (p) => delete container(p, 'app').livenessProbe, "app's liveness probe"],
  ['http-liveness-probes', 'a TCP liveness probe', (p) => (container(p, 'gate').livenessProbe = { tcpSocket: { port: 9091 } }), 'is TCP'],
  ['websocket-service-settings', 'no session affinity', (p) => (p.template.sessionAffinity = false), 'sessionAffinity'],
  ['websocket-service-settings', 'the default 300 s timeout', (p) => (p.template.timeout = '300s'), 'timeout must be 3600s'],
  ['websocket-service-settings', 'gen1', (p) => (p.template.executionEnvironment = 'EXECUTION_ENVIRONMENT_GEN1'), 'executionEnvironment'],
  ['websocket-service-settings', 'concurrency above 1000', (p) => (p.template.maxInstanceRequestConcurrency = 1001), 'maxInstanceRequestConcurrency'],
  ['websocket-service-settings', 'more minimum than maximum instances', (p) => (p.template.scaling = { minInstanceCount: 5, maxInstanceCount: 2 }), 'scaling.maxInstanceCount'],
  ['cpu-always-allocated', 'CPU throttled between requests', (p) => (container(p, 'gate').resources.cpuIdle = true), 'gate must set resources.cpuIdle false'],
  ['cpu-always-allocated', 'no startup boost', (p) => delete container(p, 'app').resources.startupCpuBoost, 'app must set resources.startupCpuBoost true'],
  ['instance-resources', 'a gate with a whole vCPU, as before', (p) => Object.assign(container(p, 'gate').resources.limits, { cpu: '1', memory: '512Mi' }), 'the containers reserve 1.92 vCPU per instance'],
  ['instance-resources', 'a collector at 512 MiB', (p) => (container(p, 'collector').resources.limits.memory = '512Mi'), 'sidecar collector reserves 0.08 vCPU and 512Mi'],
  ['instance-resources', 'no limits on the collector', (p) => delete container(p, 'collector').resources.limits, 'collector must set resources.limits cpu and memory'],
  ['pinned-images', 'the app by tag', (p) => (container(p, 'app').image = 'europe-west1-docker.pkg.dev/p/chat/app:v1'), 'app must run an image by digest'],
  ['pinned-images', 'the collector at latest', (p) => (container(p, 'collector').image = 'us-docker.pkg.dev/x/y/sidecar:latest'), 'collector must pin its image'],
  ['pinned-images', 'the collector untagged', (p) => (container(p, 'collector').image = 'us-docker.pkg.dev/x/y/sidecar'), 'collector must pin its image'],
  ['credentials-from-secret-manager', 'the API key as a plain value', (p) => (container(p, 'app').envs = [{ name: 'LLM_API_KEY', value: 'sk-123' }]), "app's LLM_API_KEY"],
  ['credentials-from-secret-manager', 'a plain value beside the reference', (p) => (container(p, 'app').envs.find((e: Props) => e.name === 'LLM_API_KEY').value = 'sk-123'), "app's LLM_API_KEY"],
  ['app-secrets-from-secret-manager', 'DATABASE_URL as a plain value', (p) => (envOf(p, 'DATABASE_URL').value = 'postgres://chat:pw@10.0.0.3/chat'), "app's DATABASE_URL must not have a plain value"],
  ['app-secrets-from-secret-manager', 'REDIS_URL without its secret reference', (p) => Object.assign(envOf(p, 'REDIS_URL'), { valueSource: undefined, value: 'redis://10.0.0.4' }), "app's REDIS_URL must come from Secret Manager"],
  ['app-secrets-from-secret-manager', 'a reference naming no secret', (p) => (envOf(p, 'LLM_API_KEY').valueSource.secretKeyRef.secret = ''), "app's LLM_API_KEY must come from Secret Manager"],
  ['app-secrets-from-secret-manager', 'REDIS_URL missing', (p) => (container(p, 'app').envs = container(p, 'app').envs.filter((e: Props) => e.name !== 'REDIS_URL')), 'must set REDIS_URL exactly once, found 0'],
  ['app-secrets-from-secret-manager', 'APP_THREAD_TOKEN_KEY missing', (p) => (container(p, 'app').envs = container(p, 'app').envs.filter((e: Props) => e.name !== 'APP_THREAD_TOKEN_KEY')), 'must set APP_THREAD_TOKEN_KEY exactly once, found 0'],
  ['app-secrets-from-secret-manager', 'DATABASE_URL twice', (p) => container(p, 'app').envs.push({ name: 'DATABASE_URL', valueSource: { secretKeyRef: { secret: 'other', version: 'latest' } } }), 'must set DATABASE_URL exactly once, found 2'],
  ['app-secrets-from-secret-manager', 'a sidecar with a plain DATABASE_URL', (p) => (container(p, 'collector').envs = [{ name: 'DATABASE_URL', value: 'postgres://x' }]), "collector's DATABASE_URL must not have a plain value"],
  ['direct-vpc-egress', 'no VPC access', (p) => delete p.template.vpcAccess, 'template.vpcAccess is missing'],
  ['direct-vpc-egress', 'all traffic through the VPC', (p) => (p.template.vpcAccess.egress = 'ALL_TRAFFIC'), 'egress must be PRIVATE_RANGES_ONLY'],
  ['direct-vpc-egress', 'egress left to the default', (p) => delete p.template.vpcAccess.egress, 'got unset'],
  ['direct-vpc-egress', 'a network without a subnet', (p) => delete p.template.vpcAccess.networkInterfaces[0].subnetwork, 'one interface naming its network and subnetwork'],
  ['direct-vpc-egress', 'no network interface', (p) => (p.template.vpcAccess.networkInterfaces = []), 'one interface naming its network and subnetwork'],
  ['direct-vpc-egress', 'a connector as well', (p) => (p.template.vpcAccess.connector = 'projects/p/locations/europe-west1/connectors/c'), 'connector must not be set'],
  ['preview-features-launch-stage', 'a readiness probe at GA', (p) => (container(p, 'gate').readinessProbe = { httpGet: { path: '/ready', port: 9091 } }), 'set launchStage BETA'],
  ['production-deletion-protection', 'production unprotected', (p) => (p.deletionProtection = false), 'deletionProtection true'],
];

describe.each(failing)('%s fails on %s', (rule, _what, change, message) => {
  it('and passes without the change', () => {
    expect(check(rule, service())).toEqual([]);
  });
  it('reports the violation', () => {
    const props = service();
    change(props);
    expect(check(rule, props).join('\n')).toContain(message);
    expect(violations(TYPES.service, props, { stack: 'production' }).map((violation) => violation.rule)).toContain(rule);
  });
});

describe('the chat app rules', () => {
  /** The chat service with none of the chat app's settings: no secrets, no budgets, no VPC, on another port and liveness path. */
  function withoutChatSettings(): Props {
    const props = service();
    const app = container(props, 'app');
    app.envs = app.envs.filter((env: Props) => env.name === 'APP_STARTUP_HOLD_MS');
    app.ports.containerPort = 8000;
    app.startupProbe.httpGet.port = 8000;
    app.livenessProbe.httpGet = { path: '/live', port: 8000 };
    delete props.template.vpcAccess;
    return props;
  }

  it('apply to the chat service only: another app without its settings passes every rule, the same service named chat fails each', () => {
    const chat = withoutChatSettings();
    expect(new Set(violations(TYPES.service, chat, { stack: 'production' }).map((violation) => violation.rule))).toEqual(
      new Set(['dependency-budgets-fit-startup-window', 'chat-app-port-and-liveness', 'app-secrets-from-secret-manager', 'direct-vpc-egress']),
    );
    expect(violations(TYPES.service, { ...withoutChatSettings(), name: 'python-fastapi' }, { stack: 'production' })).toEqual([]);
  });
});

describe('images-built-for-cloud-run', () => {
  const image = (stack = 'production') => structuredClone(renderedResources(stack).find((resource) => resource.type === TYPES.image)!.inputs) as Props;
  it('passes the rendered builds and names each broken setting', () => {
    expect(check('images-built-for-cloud-run', image())).toEqual([]);
    const broken = image();
    broken.platforms = ['linux/amd64', 'linux/arm64'];
    broken.push = false;
    delete broken.dockerfile;
    broken.tags = [];
    expect(check('images-built-for-cloud-run', broken)).toEqual([
      'platforms must be exactly linux/amd64, got ["linux/amd64","linux/arm64"]',
      'push must be true: Cloud Run pulls the image from the registry',
      'dockerfile.location must name the Dockerfile',
      'tags must name the push target',
    ]);
  });
});

describe('a startup budget beyond 240 s', () => {
  it('passes every rule with 400 s: a 160 s initial delay, then 240 one-second attempts, budgets inside', () => {
    const props = service();
    container(props, 'gate').startupProbe = { ...revisionProbes(400).gate.startup };
    envOf(props, 'APP_DATABASE_BUDGET_MS').value = '230000';
    envOf(props, 'APP_CACHE_BUDGET_MS').value = '145000';
    expect(container(props, 'gate').startupProbe).toMatchObject({ initialDelaySeconds: 160, periodSeconds: 1, failureThreshold: 240 });
    expect(violations(TYPES.service, props, { stack: 'production' })).toEqual([]);
    envOf(props, 'APP_CACHE_BUDGET_MS').value = '146000';
    expect(check('dependency-budgets-fit-startup-window', props)).toEqual([
      "the app's dependency budgets (230 s + 146 s + 15 s, the last the identity provider's keys) plus 10 s need 401 s, but the gate's startup probe gives up after 400 s",
    ]);
    // Without an issuer there is no key fetch to wait for.
    container(props, 'app').envs = container(props, 'app').envs.filter((env: Props) => env.name !== 'APP_AUTH_ISSUER');
    expect(check('dependency-budgets-fit-startup-window', props)).toEqual([]);
  });
});

describe('rules that depend on the stack', () => {
  it('production-deletion-protection applies to production only', () => {
    expect(check('production-deletion-protection', { deletionProtection: false }, 'staging')).toEqual([]);
  });

  const allUsers = { role: 'roles/run.invoker', member: 'allUsers', name: 'chat' };
  it('public-invoker-only-in-public-stacks allows production, refuses staging, ignores named members', () => {
    expect(check('public-invoker-only-in-public-stacks', allUsers, 'production')).toEqual([]);
    expect(check('public-invoker-only-in-public-stacks', allUsers, 'staging')).toEqual(['stack staging must not grant roles/run.invoker to allUsers']);
    expect(check('public-invoker-only-in-public-stacks', { ...allUsers, member: 'allAuthenticatedUsers' }, 'staging')).toHaveLength(1);
    expect(check('public-invoker-only-in-public-stacks', { ...allUsers, member: 'group:qa@example.com' }, 'staging')).toEqual([]);
  });

  it('least-privilege-project-roles allows metric writing only', () => {
    expect(check('least-privilege-project-roles', { role: 'roles/monitoring.metricWriter' })).toEqual([]);
    expect(check('least-privilege-project-roles', { role: 'roles/secretmanager.secretAccessor' })).toEqual([
      'roles/secretmanager.secretAccessor must not be granted project-wide: grant it on the resource',
    ]);
    expect(violations(TYPES.projectIamBinding, { role: 'roles/owner' }, { stack: 'staging' })).toHaveLength(1);
  });

  it('reads the stack from a URN', () => {
    expect(stackOfUrn('urn:pulumi:production::cloud-run-startup-gate::gcp:cloudrunv2/service:Service::chat')).toBe('production');
  });
});

describe('the policies', () => {
  it('report through reportViolation only for their resource types', () => {
    const reported: string[] = [];
    const args = { type: TYPES.projectIamMember, props: { role: 'roles/editor' }, urn: 'urn:pulumi:staging::p::t::n' };
    for (const policy of RESOURCE_POLICIES) {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the validator needs only these fields
      void (policy.validateResource as (a: any, r: (m: string) => void) => void)(args, (message) => reported.push(`${policy.name}: ${message}`));
    }
    expect(reported).toEqual(['least-privilege-project-roles: roles/editor must not be granted project-wide: grant it on the resource']);
  });
});

describe('production-alert-channels', () => {
  const policy = () => structuredClone(renderedResources('production').find((resource) => resource.type === TYPES.alertPolicy)!.inputs) as Props;
  it('passes a production policy with a channel and a staging policy without', () => {
    expect(check('production-alert-channels', policy())).toEqual([]);
    expect(check('production-alert-channels', { ...policy(), notificationChannels: [] }, 'staging')).toEqual([]);
  });

  it.each([
    ['an empty list', (p: Props) => (p.notificationChannels = [])],
    ['no list', (p: Props) => delete p.notificationChannels],
  ])('refuses a production policy with %s of channels', (_what, change) => {
    const props = policy();
    change(props);
    expect(violations(TYPES.alertPolicy, props, { stack: 'production' })).toEqual([
      { rule: 'production-alert-channels', message: `alert policy ${props.displayName} notifies no channel in production: its incidents would reach no one` },
    ]);
  });
});

const stackResources = (stack = 'staging'): StackResource[] => renderedResources(stack).map(({ type, inputs }) => ({ type, props: structuredClone(inputs) }));
const alertRuleOf = (resource: StackResource) => (resource.props.conditions as Props[] | undefined)?.[0]?.conditionPrometheusQueryLanguage?.alertRule as string | undefined;
const stackRule = (name: string) => STACK_POLICY_RULES.find((rule) => rule.name === name)!;

describe('gate-alert-policies', () => {
  const rules = loadAlertRules();

  it('finds a policy for every rule of sidecar/alerts in the rendered stacks, the Python example included', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const stack of [...STACKS, 'python-fastapi']) expect(missingGateAlerts(stackResources(stack), rules)).toEqual([]);
  });

  it("is a mandatory violation for a stack whose gate has no alert policies; it asks for the gate's rules only", () => {
    const resources = stackResources().filter((resource) => resource.type !== TYPES.alertPolicy);
    const problems = stackRule('gate-alert-policies').check(resources, { stack: 'staging' });
    expect(problems).toEqual(rules.map((rule) => `the gate has no alert policy for ${rule.alert} (${rule.file}): nothing evaluates that rule on Cloud Run`));
    expect(rules.every((rule) => rule.file.startsWith(ALERT_RULES_DIRS.gate))).toBe(true);
  });

  it('names a dropped rule and a changed expression', () => {
    const [first, second] = rules;
    const resources = stackResources().filter((resource) => alertRuleOf(resource) !== first!.alert);
    const other = resources.find((resource) => alertRuleOf(resource) === second!.alert)!;
    (other.props.conditions as Props[])[0]!.conditionPrometheusQueryLanguage.query = 'vector(1)';
    expect(missingGateAlerts(resources, rules)).toEqual([
      `the gate has no alert policy for ${first!.alert} (${first!.file}): nothing evaluates that rule on Cloud Run`,
      `the alert policy for ${second!.alert} does not evaluate the rule's expression from ${second!.file}`,
    ]);
  });

  it('asks nothing of a stack without the gate', () => {
    expect(missingGateAlerts([{ type: TYPES.service, props: { template: { containers: [{ name: 'app' }] } } }], rules)).toEqual([]);
  });
});

describe('chat-app-alert-policies', () => {
  const rules = loadAlertRules(undefined, ALERT_RULES_DIRS.chatApp);

  it('finds a policy for every rule of app/alerts in the chat stacks', () => {
    expect(rules.map((rule) => rule.alert)).toContain('ChatDependencyDegraded');
    for (const stack of STACKS) expect(missingChatAppAlerts(stackResources(stack), rules)).toEqual([]);
  });

  it("is a violation for the chat service's stack without them, naming the dropped rule and a changed expression", () => {
    const dropped = stackResources('production').filter((resource) => !rules.some((rule) => rule.alert === alertRuleOf(resource)));
    expect(stackRule('chat-app-alert-policies').check(dropped, { stack: 'production' })).toEqual(
      rules.map((rule) => `the chat service "chat" has no alert policy for ${rule.alert} (${rule.file}): nothing evaluates that rule on Cloud Run`),
    );
    const changed = stackResources('production');
    (changed.find((resource) => alertRuleOf(resource) === rules[0]!.alert)!.props.conditions as Props[])[0]!.conditionPrometheusQueryLanguage.query = 'vector(1)';
    expect(missingChatAppAlerts(changed, rules)).toEqual([`the alert policy for ${rules[0]!.alert} does not evaluate the rule's expression from ${rules[0]!.file}`]);
  });

  it("asks nothing of a stack without the chat service: the Python example's has none of them and passes", () => {
    const python = stackResources('python-fastapi');
    expect(python.filter((resource) => rules.some((rule) => rule.alert === alertRuleOf(resource)))).toEqual([]);
    expect(stackRule('chat-app-alert-policies').check(python, { stack: 'python-fastapi' })).toEqual([]);
    const renamed = stackResources('staging').filter((resource) => !rules.some((rule) => rule.alert === alertRuleOf(resource)));
    renamed.find((resource) => resource.type === TYPES.service)!.props.name = 'orders';
    expect(missingChatAppAlerts(renamed, rules)).toEqual([]);
  });
});

describe('public-service-signs-users-in', () => {
  const appEnvs = (resources: StackResource[]) => (resources.find((resource) => resource.type === TYPES.service)!.props as Props).template.containers.find((c: Props) => c.name === 'app').envs as Props[];

  it('passes both rendered stacks: production is public and signs users in', () => {
    expect(stackResources('production').some((resource) => resource.type === TYPES.serviceInvoker && resource.props.member === 'allUsers')).toBe(true);
    for (const stack of STACKS) expect(publicChatServiceWithoutSignIn(stackResources(stack))).toEqual([]);
  });

  it('names what a public service lacks, and asks nothing of a private one', () => {
    const production = stackResources('production');
    const envs = appEnvs(production);
    envs.splice(envs.findIndex((env) => env.name === 'APP_AUTH_ISSUER'), 1);
    envs.find((env) => env.name === 'APP_AUTH_AUDIENCE')!.value = '';
    expect(stackRule('public-service-signs-users-in').check(production, { stack: 'production' })).toEqual([
      'the service is public but its app has no APP_AUTH_ISSUER and APP_AUTH_AUDIENCE: anyone could chat and spend the LLM budget',
    ]);
    const staging = stackResources('staging');
    const stagingEnvs = appEnvs(staging);
    stagingEnvs.splice(stagingEnvs.findIndex((env) => env.name === 'APP_AUTH_ISSUER'), 1);
    expect(publicChatServiceWithoutSignIn(staging)).toEqual([]);
  });

  it("asks nothing of another app's service, public or not: the Python example's stack has no sign-in settings and passes", () => {
    const python = stackResources('python-fastapi');
    expect(appEnvs(python).some((env) => env.name.startsWith('APP_AUTH_'))).toBe(false);
    expect(stackRule('public-service-signs-users-in').check(python, { stack: 'python-fastapi' })).toEqual([]);
    const renamed = stackResources('production');
    const renamedEnvs = appEnvs(renamed);
    renamedEnvs.splice(renamedEnvs.findIndex((env) => env.name === 'APP_AUTH_ISSUER'), 1);
    for (const resource of renamed.filter((r) => r.type === TYPES.service || r.type === TYPES.serviceInvoker)) resource.props.name = 'orders';
    expect(publicChatServiceWithoutSignIn(renamed)).toEqual([]);
  });
});
