/**
 * The Python example's own Pulumi project (examples/python-fastapi/deploy) under Pulumi's mocks, as
 * the Node.js language host runs it: the same GatedService as the chat app with another app as
 * data. Its service has no chat-app setting, alert or metrics endpoint, and still has the gate, the
 * held startup probes, the gate's alerts and scrape, and every generic policy passing.
 */
import path from 'node:path';
import { type CloudRunContainer, type CloudRunService, STACKS } from '../../common/cloud-run-service';
import { ALERT_RULES_DIRS, DIST_DIR, pulumiProjectDir } from '../../common/paths';
import { PROBE_NETWORK_MARGIN_MS, revisionProbes } from '../../common/probes';
import { APP_ENV_VARS, DEFAULT_GATE_TARGET_URL, GATE_PATHS, GATE_PORT } from '../../common/revision';
import { parse } from 'yaml';
import { kebab, loadAlertRules } from '../alert-rules';
import { runMonitoringYaml } from '../collector';
import { programEntry, stackConfig } from '../mocks';
import { STACK_POLICY_RULES, violations } from '../policy/policies';
import { TYPES } from '../policy/rules';
import { normalize } from '../render';
import { runStack, type RecordedStack } from './stack-support';

const STACK = 'python-fastapi';
let stack: RecordedStack;
let service: CloudRunService;
let byName: Record<string, CloudRunContainer>;
const config = stackConfig(STACK);

beforeAll(async () => {
  stack = await runStack(STACK);
  service = normalize(stack.one(TYPES.service).inputs) as CloudRunService;
  byName = Object.fromEntries(service.template!.containers!.map((container) => [container.name, container]));
});

it('is its own project, loaded as the language host loads it: the compiled program of its folder', () => {
  expect(programEntry(pulumiProjectDir(STACK))).toBe(path.join(DIST_DIR, 'examples', 'python-fastapi', 'deploy', 'index.js'));
  expect(STACKS as readonly string[]).not.toContain(STACK);
});

it('creates one gated service, its account, the collector config and its grant, the alert policies and the dashboard; no images, no other secret', () => {
  expect(stack.resources.map(({ type, name }) => `${type} ${name}`).sort()).toEqual(
    [
      'cloud-run-startup-gate:index:GatedService python-fastapi',
      'gcp:cloudrunv2/service:Service python-fastapi',
      'gcp:projects/iAMMember:IAMMember python-fastapi-metric-writer',
      'gcp:secretmanager/secret:Secret python-fastapi-collector-config',
      'gcp:secretmanager/secretIamMember:SecretIamMember python-fastapi-collector-config-accessor',
      'gcp:secretmanager/secretVersion:SecretVersion python-fastapi-collector-config',
      'gcp:serviceaccount/account:Account python-fastapi-sa',
      ...loadAlertRules().map((rule) => `gcp:monitoring/alertPolicy:AlertPolicy python-fastapi-alert-${kebab(rule.alert)}`),
      'gcp:monitoring/dashboard:Dashboard python-fastapi-startup-dashboard',
    ].sort(),
  );
});

it('runs the example as the ingress container with its command, its own settings only and no chat-app setting', () => {
  const app = byName.app!;
  expect(app).toMatchObject({
    image: config['python-fastapi-gated:appImage'],
    ports: { containerPort: 8080 },
    command: ['python3', '-m', 'uvicorn'],
    args: ['app:app', '--host', '0.0.0.0', '--port', '8080', '--log-config', 'log-config.json'],
  });
  const hold = String(revisionProbes(120).app.startup.timeoutSeconds * 1000 - PROBE_NETWORK_MARGIN_MS);
  expect(app.envs).toEqual([
    { name: 'PYTHONUNBUFFERED', value: '1' },
    { name: 'STARTUP_HOLD_MS', value: hold },
  ]);
  const chatSettings = new Set<string>(Object.values(APP_ENV_VARS));
  for (const container of service.template!.containers!) {
    for (const env of container.envs ?? []) expect(chatSettings.has(env.name) || env.name.startsWith('LLM_')).toBe(false);
  }
  expect(service.template!.vpcAccess).toBeUndefined();
});

it('holds traffic with both startup probes for the 120 s budget: the app on its own /startup, the gate on its /startup', () => {
  const probes = revisionProbes(Number(config['python-fastapi-gated:startupBudgetSeconds']), { port: 8080, livenessPath: '/healthz' });
  expect(byName.app!.startupProbe).toEqual(probes.app.startup);
  expect(byName.app!.startupProbe!.httpGet).toEqual({ path: '/startup', port: 8080 });
  expect(byName.app!.livenessProbe).toEqual(probes.app.liveness);
  expect(byName.gate!.startupProbe).toEqual(probes.gate.startup);
  expect(byName.gate!.startupProbe!.httpGet).toEqual({ path: '/startup', port: GATE_PORT });
  expect(byName.gate!.envs).toEqual([
    { name: 'GATE_PORT', value: String(GATE_PORT) },
    { name: 'GATE_TARGET_URL', value: DEFAULT_GATE_TARGET_URL },
    { name: 'GATE_REQUIRE', value: 'database,model' },
    { name: 'GATE_STARTUP_HOLD_MS', value: String(1000 - PROBE_NETWORK_MARGIN_MS) },
    { name: 'GATE_STARTUP_BUDGET_SECONDS', value: config['python-fastapi-gated:startupBudgetSeconds'] },
  ]);
});

it("has the gate's alert policies and none of the chat app's, and its collector scrapes the gate only", () => {
  const alerts = stack.all(TYPES.alertPolicy).map(({ inputs }) => (inputs.conditions as { conditionPrometheusQueryLanguage: { alertRule: string } }[])[0]!.conditionPrometheusQueryLanguage.alertRule);
  expect(alerts.sort()).toEqual(loadAlertRules().map((rule) => rule.alert).sort());
  const chatAlerts = loadAlertRules(undefined, ALERT_RULES_DIRS.chatApp).map((rule) => rule.alert);
  expect(chatAlerts.length).toBeGreaterThan(0);
  for (const alert of chatAlerts) expect(alerts).not.toContain(alert);
  // The config is stored as a Pulumi secret: unwrap it to read it.
  const text = (stack.one('gcp:secretmanager/secretVersion:SecretVersion').inputs.secretData as { value: string }).value;
  expect(text).toBe(runMonitoringYaml(STACK));
  expect(parse(text).spec.endpoints).toEqual([{ port: GATE_PORT, path: GATE_PATHS.metrics, interval: '30s' }]);
});

it('passes every policy of the pack, resource and stack rules alike', () => {
  for (const { type, inputs } of stack.resources) expect(violations(type, normalize(inputs) as Record<string, unknown>, { stack: STACK })).toEqual([]);
  const resources = stack.resources.map(({ type, inputs }) => ({ type, props: normalize(inputs) as Record<string, unknown> }));
  for (const rule of STACK_POLICY_RULES) expect(rule.check(resources, { stack: STACK })).toEqual([]);
});
