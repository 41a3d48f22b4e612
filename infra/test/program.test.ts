/**
 * The program under Pulumi's mocks, for both stacks: every invariant of the deployment checked on
 * the inputs the engine would receive.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { DIST_DIR } from '../../common/paths';
import { MAX_STARTUP_WINDOW_SECONDS, MIN_DEPENDENCY_BUDGET_SECONDS, PROBE_NETWORK_MARGIN_MS, revisionProbes, startupCoverSeconds, startupProbeProblems, startupWindowSeconds, STARTUP_HEADROOM_SECONDS } from '../../common/probes';
import { APP_ENV_VARS, APP_METRICS_PATH, APP_PATHS, APP_PORT, DEFAULT_GATE_TARGET_URL, DEFAULT_REQUIRED_COMPONENTS, GATE_ENV_VARS, GATE_PATHS, GATE_PORT, PHASE_PORT } from '../../common/revision';
import { parseStackConfig, type StackConfig } from '../config';
import { type CloudRunContainer, type CloudRunService, type CloudRunTemplate, probeTiming, STACKS } from '../../common/cloud-run-service';
import { runMonitoringYaml } from '../collector';
import { programEntry, stackConfig } from '../mocks';
import { violations } from '../policy/policies';
import { PUBLIC_STACKS, TYPES } from '../policy/rules';
import { normalize } from '../render';
import { runStack, type RecordedStack } from './stack-support';

const SECRET_IAM_MEMBER = 'gcp:secretmanager/secretIamMember:SecretIamMember';
const DOCKER_IMAGE = 'docker-build:index:Image';

describe.each(STACKS)('stack %s', (stackName) => {
  let stack: RecordedStack;
  let config: StackConfig;
  let service: CloudRunService & Record<string, unknown>;
  let template: Required<Pick<CloudRunTemplate, 'containers' | 'volumes'>> & CloudRunTemplate;
  let byName: Record<string, CloudRunContainer>;
  const member = () => `serviceAccount:chat-sa@${config.project}.iam.gserviceaccount.com`;

  beforeAll(async () => {
    stack = await runStack(stackName);
    config = parseStackConfig(stackName, (key) => stackConfig(stackName)[key]);
    service = stack.one(TYPES.service, 'chat').inputs as typeof service;
    template = service.template as typeof template;
    byName = Object.fromEntries(template.containers.map((container) => [container.name, container]));
  });

  it('creates the service, its account, IAM, the collector config, an alert policy per rule and the dashboard, and nothing else', () => {
    const names = stack.resources.map(({ type, name }) => `${type} ${name}`).sort();
    expect(names).toEqual(
      [
        'cloud-run-startup-gate:index:GatedService chat',
        'cloud-run-startup-gate:index:Images chat-images',
        'docker-build:index:Image chat-images-app',
        'docker-build:index:Image chat-images-gate',
        'gcp:artifactregistry/repository:Repository chat-images',
        'gcp:cloudrunv2/service:Service chat',
        'gcp:projects/iAMMember:IAMMember chat-metric-writer',
        'gcp:secretmanager/secret:Secret chat-collector-config',
        'gcp:secretmanager/secretIamMember:SecretIamMember chat-collector-config-accessor',
        'gcp:secretmanager/secretIamMember:SecretIamMember chat-app-thread-token-key-accessor',
        'gcp:secretmanager/secretIamMember:SecretIamMember chat-database-url-accessor',
        'gcp:secretmanager/secretIamMember:SecretIamMember chat-llm-api-key-accessor',
        'gcp:secretmanager/secretIamMember:SecretIamMember chat-redis-url-accessor',
        'gcp:secretmanager/secretVersion:SecretVersion chat-collector-config',
        'gcp:serviceaccount/account:Account chat-sa',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-chat-dependency-degraded',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-startup-gate-app-failed',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-startup-gate-boot-near-budget',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-startup-gate-checks-failing',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-startup-gate-not-open',
        'gcp:monitoring/alertPolicy:AlertPolicy chat-alert-startup-gate-not-ready-after-open',
        'gcp:monitoring/dashboard:Dashboard chat-startup-dashboard',
        ...(config.publicAccess ? ['gcp:cloudrunv2/serviceIamMember:ServiceIamMember chat-public-invoker'] : []),
      ].sort(),
    );
  });

  it('passes every rule of the policy pack', () => {
    for (const { type, inputs } of stack.resources) expect(violations(type, normalize(inputs) as Record<string, unknown>, { stack: stackName })).toEqual([]);
  });

  it('names the containers app, gate and collector; app and gate run the images this stack built, by digest', () => {
    expect(template.containers.map((container) => container.name)).toEqual(['app', 'gate', 'collector']);
    const registry = `${config.region}-docker.pkg.dev/${config.project}/chat`;
    for (const [container, dockerfile] of [['app', 'app/Dockerfile'], ['gate', 'sidecar/Dockerfile']] as const) {
      const build = stack.one(DOCKER_IMAGE, `chat-images-${container}`).inputs;
      expect(build).toMatchObject({
        context: { location: '.' },
        dockerfile: { location: dockerfile },
        platforms: ['linux/amd64'],
        push: true,
        buildOnPreview: false,
        tags: [`${registry}/${container}:${stackName}`],
      });
      // The registry login carries the deploying identity's access token: a secret as a whole,
      // never in the state or the rendered files in clear.
      expect(normalize(build.registries)).toBe('[secret]');
      const [login] = (build.registries as { value: { address: string; username: string }[] }).value;
      expect(login).toMatchObject({ address: `${config.region}-docker.pkg.dev`, username: 'oauth2accesstoken' });
      expect(byName[container]!.image).toMatch(new RegExp(`^${registry}/${container}@sha256:[0-9a-f]{64}$`));
    }
    expect(byName.collector!.image).toBe(config.collectorImage);
  });

  it('owns the Artifact Registry repository it pushes to, in its own project and region', () => {
    expect(stack.one('gcp:artifactregistry/repository:Repository', 'chat-images').inputs).toMatchObject({
      project: config.project,
      location: config.region,
      repositoryId: 'chat',
      format: 'DOCKER',
      labels: { ...config.labels, environment: stackName },
    });
  });

  it('makes the app the only ingress container, on the app port (one ports object in @pulumi/gcp v9)', () => {
    expect(byName.app!.ports).toEqual({ containerPort: APP_PORT });
    expect(template.containers.filter((container) => container.ports !== undefined)).toHaveLength(1);
  });

  it('gives the app its environment and its API key from Secret Manager, never as a plain value', () => {
    const envs = Object.fromEntries(byName.app!.envs!.map((env) => [env.name, env]));
    expect(envs.APP_ENV).toEqual({ name: 'APP_ENV', value: stackName });
    expect(envs.LLM_BASE_URL!.value).toBe(config.llmBaseUrl);
    expect(envs.LLM_MODEL!.value).toBe(config.llmModel);
    expect(envs.LLM_API_KEY).toEqual({ name: 'LLM_API_KEY', valueSource: { secretKeyRef: { secret: config.llmApiKeySecret, version: 'latest' } } });
    // Cloud Run reserves PORT and sets it from containerPort.
    expect(envs.PORT).toBeUndefined();
  });

  it('gives the app DATABASE_URL and REDIS_URL from their secrets, and the dependency budgets in ms', () => {
    const envs = Object.fromEntries(byName.app!.envs!.map((env) => [env.name, env]));
    expect(envs.DATABASE_URL).toEqual({ name: 'DATABASE_URL', valueSource: { secretKeyRef: { secret: config.databaseUrlSecret, version: 'latest' } } });
    expect(envs.REDIS_URL).toEqual({ name: 'REDIS_URL', valueSource: { secretKeyRef: { secret: config.redisUrlSecret, version: 'latest' } } });
    expect(envs.APP_DATABASE_BUDGET_MS).toEqual({ name: 'APP_DATABASE_BUDGET_MS', value: String(config.databaseBudgetSeconds * 1000) });
    expect(envs.APP_CACHE_BUDGET_MS).toEqual({ name: 'APP_CACHE_BUDGET_MS', value: String(config.cacheBudgetSeconds * 1000) });
    // Direct VPC egress: each phase rides out a connection delay of a minute.
    expect(Math.min(config.databaseBudgetSeconds, config.cacheBudgetSeconds)).toBeGreaterThanOrEqual(MIN_DEPENDENCY_BUDGET_SECONDS);
    // The phases run one after the other, inside the startup window.
    expect(config.databaseBudgetSeconds + config.cacheBudgetSeconds).toBeLessThanOrEqual(config.startupBudgetSeconds - STARTUP_HEADROOM_SECONDS);
    const names = byName.app!.envs!.map((env) => env.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives the app who signs users in, and the key fetch budget in ms', () => {
    const envs = Object.fromEntries(byName.app!.envs!.map((env) => [env.name, env.value]));
    expect([envs.APP_AUTH_ISSUER, envs.APP_AUTH_AUDIENCE, envs.APP_AUTH_BUDGET_MS]).toEqual([config.auth.issuer, config.auth.audience, String(config.auth.budgetSeconds * 1000)]);
    // The key fetch runs in the dependencies phase, before the database and cache phases, inside the same window.
    expect(config.databaseBudgetSeconds + config.cacheBudgetSeconds + config.auth.budgetSeconds).toBeLessThanOrEqual(config.startupBudgetSeconds - STARTUP_HEADROOM_SECONDS);
  });

  it('reaches private IPs through Direct VPC egress on the configured network and subnet, private ranges only', () => {
    expect(template.vpcAccess).toEqual({ egress: 'PRIVATE_RANGES_ONLY', networkInterfaces: [{ network: config.network, subnetwork: config.subnetwork }] });
  });

  it('points the gate at the phase endpoint and the required components, holds probes within their timeout and exports the stack budget', () => {
    expect(byName.gate!.envs).toEqual([
      { name: 'GATE_PORT', value: String(GATE_PORT) },
      { name: 'GATE_TARGET_URL', value: DEFAULT_GATE_TARGET_URL },
      { name: 'GATE_REQUIRE', value: DEFAULT_REQUIRED_COMPONENTS.join(',') },
      { name: 'GATE_STARTUP_HOLD_MS', value: String(probeTiming(byName.gate!.startupProbe!).timeoutSeconds * 1000 - PROBE_NETWORK_MARGIN_MS) },
      { name: 'GATE_STARTUP_BUDGET_SECONDS', value: String(config.startupBudgetSeconds) },
    ]);
  });

  // Both startup probes pass only once the app is ready: the gate's on its /startup, the ingress container's on its own.
  it.each([
    ['gate', GATE_PATHS.startup, GATE_PORT, GATE_ENV_VARS.startupHoldMs],
    ['app', APP_PATHS.startup, APP_PORT, APP_ENV_VARS.startupHoldMs],
  ] as const)('holds traffic with the %s startup probe on %s: one attempt a second for the whole startup budget, held within its timeout', (name, path, port, holdEnv) => {
    const probe = byName[name]!.startupProbe!;
    const timing = probeTiming(probe);
    expect(probe).toEqual(revisionProbes(config.startupBudgetSeconds)[name].startup);
    expect(probe.httpGet).toEqual({ path, port });
    expect(timing.periodSeconds).toBe(1);
    expect(startupCoverSeconds(timing)).toBe(config.startupBudgetSeconds);
    expect(startupWindowSeconds(timing)).toBeLessThanOrEqual(MAX_STARTUP_WINDOW_SECONDS);
    expect(startupProbeProblems({ ...timing, ...probe })).toEqual([]);
    const hold = byName[name]!.envs!.find((env) => env.name === holdEnv);
    expect(hold).toEqual({ name: holdEnv, value: String(timing.timeoutSeconds * 1000 - PROBE_NETWORK_MARGIN_MS) });
  });

  it('checks liveness over HTTP: the app on /healthz, the gate on /live at its own port', () => {
    expect(byName.app!.livenessProbe!.httpGet).toEqual({ path: APP_PATHS.healthz, port: APP_PORT });
    expect(byName.gate!.livenessProbe!.httpGet).toEqual({ path: GATE_PATHS.live, port: GATE_PORT });
    expect(byName.app!.startupProbe).toEqual(revisionProbes(config.startupBudgetSeconds).app.startup);
  });

  it('adds the gate readiness probe exactly when the stack asks for it, at launch stage BETA', () => {
    if (config.gateReadinessProbe) {
      // Cloud Run's readiness probe has no initial delay.
      const { initialDelaySeconds: _none, ...readiness } = revisionProbes(config.startupBudgetSeconds).gate.readiness;
      expect(byName.gate!.readinessProbe).toEqual(readiness);
      expect(readiness.httpGet).toEqual({ path: GATE_PATHS.ready, port: GATE_PORT });
      expect(service.launchStage).toBe('BETA');
    } else {
      expect(byName.gate!.readinessProbe).toBeUndefined();
      expect(service.launchStage).toBeUndefined();
    }
  });

  it('has no container depend on the gate, and every dependency has a startup probe', () => {
    for (const container of template.containers) {
      expect(container.dependsOns ?? []).not.toContain('gate');
      for (const dependency of container.dependsOns ?? []) expect(byName[dependency]?.startupProbe).toBeDefined();
    }
  });

  it('keeps CPU allocated with a startup boost in every container', () => {
    for (const container of template.containers) expect(container.resources).toMatchObject({ cpuIdle: false, startupCpuBoost: true });
  });

  it('serves long WebSockets: session affinity, 3600 s timeout, gen2, configured concurrency and scaling', () => {
    expect(template).toMatchObject({
      sessionAffinity: true,
      timeout: '3600s',
      executionEnvironment: 'EXECUTION_ENVIRONMENT_GEN2',
      maxInstanceRequestConcurrency: config.concurrency,
      scaling: { minInstanceCount: config.minInstances, maxInstanceCount: config.maxInstances },
      serviceAccount: `chat-sa@${config.project}.iam.gserviceaccount.com`,
    });
    expect(service).toMatchObject({ name: 'chat', project: config.project, location: config.region, ingress: 'INGRESS_TRAFFIC_ALL' });
  });

  it('protects the service from deletion in production only', () => {
    expect(service.deletionProtection).toBe(stackName === 'production');
  });

  it('labels the service, its revisions and its secret with the stack', () => {
    const labels = { ...config.labels, environment: stackName };
    expect(service.labels).toEqual(labels);
    expect(template.labels).toEqual(labels);
    expect(stack.one('gcp:secretmanager/secret:Secret').inputs.labels).toEqual(labels);
  });

  it('mounts the collector config from Secret Manager where run-gmp-sidecar reads it', () => {
    expect(byName.collector!.volumeMounts).toEqual([{ name: 'collector-config', mountPath: '/etc/rungmp' }]);
    expect(template.volumes).toEqual([{ name: 'collector-config', secret: { secret: 'chat-collector-config', items: [{ path: 'config.yaml', version: '1' }] } }]);
    const version = stack.one('gcp:secretmanager/secretVersion:SecretVersion').inputs;
    expect(version.secret).toBe(`projects/${config.project}/secrets/chat-collector-config`);
    // The config is stored as a Pulumi secret (@pulumi/gcp marks secretData so): unwrap it to read it.
    expect(version.secretData).toMatchObject({ value: runMonitoringYaml('chat', [{ port: PHASE_PORT, path: APP_METRICS_PATH }]) });
    // The gate's metrics, and the chat app's own (chat_dependency_degraded) on its internal listener.
    expect(parse((version.secretData as { value: string }).value).spec.endpoints).toEqual([
      { port: GATE_PORT, path: GATE_PATHS.metrics, interval: '30s' },
      { port: PHASE_PORT, path: APP_METRICS_PATH, interval: '30s' },
    ]);
  });

  it('grants the service account metric writing on the project and nothing else project-wide', () => {
    expect(stack.all(TYPES.projectIamMember).map(({ inputs }) => inputs)).toEqual([{ project: config.project, role: 'roles/monitoring.metricWriter', member: member() }]);
  });

  it('grants secret access on exactly the secrets it reads, never project-wide', () => {
    const grants = stack.all(SECRET_IAM_MEMBER).map(({ inputs }) => inputs);
    const referenced = template.containers.flatMap((container) => (container.envs ?? []).flatMap((env) => (env.valueSource ? [env.valueSource.secretKeyRef!.secret] : [])));
    const mounted = template.volumes.flatMap((volume) => (volume.secret ? [volume.secret.secret] : []));
    expect(grants.map((grant) => grant.secretId).sort()).toEqual([...referenced, ...mounted].sort());
    const configured = [config.llmApiKeySecret, config.databaseUrlSecret, config.redisUrlSecret, config.threadTokenKeySecret, 'chat-collector-config'];
    expect(grants.map((grant) => grant.secretId).sort()).toEqual(configured.sort());
    for (const grant of grants) expect(grant).toMatchObject({ role: 'roles/secretmanager.secretAccessor', member: member(), project: config.project });
  });

  it('lets everyone invoke the service only when the stack is public', () => {
    const invokers = stack.all(TYPES.serviceInvoker).map(({ inputs }) => inputs);
    expect(invokers).toEqual(config.publicAccess ? [{ project: config.project, location: config.region, name: 'chat', role: 'roles/run.invoker', member: 'allUsers' }] : []);
  });
});

describe('the two stacks', () => {
  it('differ as designed: only public stacks are public, production is protected, warm and at least as large', () => {
    const [staging, production] = STACKS.map((stack) => parseStackConfig(stack, (key) => stackConfig(stack)[key]));
    for (const config of [staging!, production!]) expect(config.publicAccess).toBe((PUBLIC_STACKS as readonly string[]).includes(config.stack));
    expect(production!.deletionProtection).toBe(true);
    expect(production!.minInstances).toBeGreaterThanOrEqual(1);
    expect(production!.maxInstances).toBeGreaterThanOrEqual(staging!.maxInstances);
    expect(production!.concurrency).toBeGreaterThanOrEqual(staging!.concurrency);
  });
});

describe('the program as the Node.js language host loads it', () => {
  it('is package.json "main" of the project folder, compiled JavaScript run without ts-node', () => {
    expect(programEntry()).toBe(path.join(DIST_DIR, 'infra', 'index.js'));
  });

  it('refuses a Pulumi.yaml that would have the host compile TypeScript', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'project-'));
    fs.writeFileSync(path.join(root, 'Pulumi.yaml'), 'name: x\nruntime: nodejs\n');
    expect(() => programEntry(root)).toThrow('options.typescript false');
  });

  it('fails naming the build when "main" does not resolve', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'project-'));
    fs.writeFileSync(path.join(root, 'Pulumi.yaml'), 'name: x\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n');
    fs.writeFileSync(path.join(root, 'package.json'), '{"main": "dist/infra/index.js"}');
    expect(() => programEntry(root)).toThrow('npm run build');
  });
});
