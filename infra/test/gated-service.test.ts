/**
 * The GatedService component on its own, in this process under Pulumi's mocks (setMocks records
 * every input): an app it has never heard of, given as data, on another port, with its own
 * secrets, settings, alerting rules and metrics endpoint. It deploys the app with the gate and the
 * collector, scrapes the gate and the app's endpoint, makes the gate's alert policies and the
 * app's, grants exactly the app's secrets, and passes every generic policy; the chat app's
 * policies do not apply to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import type { CloudRunContainer, CloudRunService } from '../../common/cloud-run-service';
import { PROBE_NETWORK_MARGIN_MS, revisionProbes } from '../../common/probes';
import { GATE_PATHS, GATE_PORT } from '../../common/revision';
import { kebab, loadAlertRules } from '../alert-rules';
import { runMonitoringYaml } from '../collector';
import type { GatedService } from '../gated-service';
import { recordingMocks, type RecordedResource } from '../mocks';
import { violations } from '../policy/policies';
import { TYPES } from '../policy/rules';
import { normalize } from '../render';
import type { GatedApp } from '../revision-template';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const CHANNEL = 'projects/shop-prod/notificationChannels/1';
/** The app's own alerting rules, in a folder of its own outside this repository's. */
const APP_ALERTS = fs.mkdtempSync(path.join(os.tmpdir(), 'orders-alerts-'));
fs.writeFileSync(
  path.join(APP_ALERTS, 'orders.rules.yml'),
  'groups:\n  - name: orders\n    rules:\n      - alert: OrdersQueueBacklog\n        expr: orders_queue_depth > 100\n        for: 10m\n        labels:\n          severity: warning\n        annotations:\n          summary: Orders are queuing\n',
);
afterAll(() => fs.rmSync(APP_ALERTS, { recursive: true }));
const APP: GatedApp = {
  image: `europe-west1-docker.pkg.dev/shop-prod/apps/orders@${DIGEST}`,
  port: 3000,
  command: ['node'],
  args: ['server.js'],
  env: { ORDERS_REGION: 'eu', NODE_OPTIONS: '--enable-source-maps' },
  secrets: { ORDERS_DATABASE_URL: 'orders-database-url', PAYMENT_API_TOKEN: 'payment-api-token' },
  cpu: '0.84',
  memory: '1Gi',
  livenessPath: '/alive',
  startupHoldEnv: 'ORDERS_STARTUP_HOLD_MS',
  phaseUrl: 'http://127.0.0.1:7001/phase',
  requiredComponents: ['db', 'queue'],
  alertRulesDirs: [APP_ALERTS],
  metricsEndpoints: [{ port: 7001, path: '/internal/metrics' }],
};

const resources: RecordedResource[] = [];
let component: GatedService;
let service: CloudRunService & Record<string, unknown>;
let byName: Record<string, CloudRunContainer>;

beforeAll(async () => {
  await pulumi.runtime.setMocks(recordingMocks(resources), 'shop', 'prod', false);
  // Imported after setMocks, as a program's resources register with the mocked runtime.
  const { GatedService: Component } = await import('../gated-service');
  component = new Component('orders', {
    project: 'shop-prod',
    region: 'europe-west1',
    environment: 'prod',
    app: APP,
    gateImage: `europe-west1-docker.pkg.dev/shop-prod/apps/gate@${DIGEST}`,
    collectorImage: 'us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0',
    startupBudgetSeconds: 90,
    gateReadinessProbe: false,
    minInstances: 1,
    maxInstances: 4,
    concurrency: 200,
    vpc: { network: 'shop-vpc', subnetwork: 'shop-run' },
    publicAccess: false,
    deletionProtection: true,
    notificationChannels: [CHANNEL],
    labels: { app: 'orders' },
  });
  await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
  service = normalize(resources.find((resource) => resource.type === TYPES.service)!.inputs) as typeof service;
  byName = Object.fromEntries(service.template!.containers!.map((container) => [container.name, container]));
});

it('runs the app as the ingress container with its command, port, resources and settings, then the hold, then its secrets', () => {
  const hold = String(revisionProbes(90).app.startup.timeoutSeconds * 1000 - PROBE_NETWORK_MARGIN_MS);
  expect(byName.app).toMatchObject({ image: APP.image, command: ['node'], args: ['server.js'], ports: { containerPort: 3000 } });
  expect(byName.app!.resources).toEqual({ cpuIdle: false, startupCpuBoost: true, limits: { cpu: '0.84', memory: '1Gi' } });
  expect(byName.app!.envs).toEqual([
    { name: 'ORDERS_REGION', value: 'eu' },
    { name: 'NODE_OPTIONS', value: '--enable-source-maps' },
    { name: 'ORDERS_STARTUP_HOLD_MS', value: hold },
    { name: 'ORDERS_DATABASE_URL', valueSource: { secretKeyRef: { secret: 'orders-database-url', version: 'latest' } } },
    { name: 'PAYMENT_API_TOKEN', valueSource: { secretKeyRef: { secret: 'payment-api-token', version: 'latest' } } },
  ]);
});

it("probes the app on its own port: the held /startup for the startup budget, liveness on its path; the gate waits for the app's components", () => {
  const probes = revisionProbes(90, { port: 3000, livenessPath: '/alive' });
  expect(byName.app!.startupProbe).toEqual(probes.app.startup);
  expect(byName.app!.startupProbe!.httpGet).toEqual({ path: '/startup', port: 3000 });
  expect(byName.app!.livenessProbe!.httpGet).toEqual({ path: '/alive', port: 3000 });
  expect(byName.gate!.startupProbe).toEqual(probes.gate.startup);
  expect(byName.gate!.envs).toEqual(
    expect.arrayContaining([
      { name: 'GATE_TARGET_URL', value: 'http://127.0.0.1:7001/phase' },
      { name: 'GATE_REQUIRE', value: 'db,queue' },
    ]),
  );
  expect(service.template!.vpcAccess).toEqual({ egress: 'PRIVATE_RANGES_ONLY', networkInterfaces: [{ network: 'shop-vpc', subnetwork: 'shop-run' }] });
});

it("grants the service account exactly the app's secrets and the collector's config", () => {
  const grants = resources.filter((resource) => resource.type === 'gcp:secretmanager/secretIamMember:SecretIamMember');
  expect(grants.map(({ name, inputs }) => [name, inputs.secretId]).sort()).toEqual([
    ['orders-collector-config-accessor', 'orders-collector-config'],
    ['orders-orders-database-url-accessor', 'orders-database-url'],
    ['orders-payment-api-token-accessor', 'payment-api-token'],
  ]);
});

it("scrapes the gate and the app's own endpoint, every 30 s", () => {
  const version = resources.find((resource) => resource.type === 'gcp:secretmanager/secretVersion:SecretVersion')!;
  // The config is stored as a Pulumi secret: unwrap it to read it.
  const text = (version.inputs.secretData as { value: string }).value;
  expect(text).toBe(runMonitoringYaml('orders', APP.metricsEndpoints));
  expect(parse(text).spec.endpoints).toEqual([
    { port: GATE_PORT, path: GATE_PATHS.metrics, interval: '30s' },
    { port: 7001, path: '/internal/metrics', interval: '30s' },
  ]);
});

it("makes an alert policy for every rule of the gate's, then the app's own, notifying the given channels", () => {
  const policies = resources.filter((resource) => resource.type === TYPES.alertPolicy);
  const alerts = [...loadAlertRules().map((rule) => rule.alert), 'OrdersQueueBacklog'];
  expect(policies.map((policy) => policy.name)).toEqual(alerts.map((alert) => `orders-alert-${kebab(alert)}`));
  expect(component.alertPolicies).toHaveLength(alerts.length);
  expect(policies.at(-1)!.inputs).toMatchObject({
    displayName: 'orders/OrdersQueueBacklog',
    conditions: [{ conditionPrometheusQueryLanguage: { query: 'orders_queue_depth > 100', duration: '600s', alertRule: 'OrdersQueueBacklog' } }],
    notificationChannels: [CHANNEL],
  });
});

it('exposes the service URL', async () => {
  const url = await new Promise((resolve) => component.url.apply(resolve));
  expect(url).toBe('https://orders-mock-europe-west1.a.run.app');
});

it("passes every generic policy; the chat app's apply to the service named chat only", () => {
  for (const { type, inputs } of resources) expect(violations(type, normalize(inputs) as Record<string, unknown>, { stack: 'production' })).toEqual([]);
  expect(violations(TYPES.service, { ...service, name: 'chat' }, { stack: 'production' }).map((violation) => violation.rule)).toContain('app-secrets-from-secret-manager');
});
