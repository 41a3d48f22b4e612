/**
 * A Cloud Run v2 service whose instances get traffic only once the app is ready: any app as the
 * ingress container (given as data, a GatedApp), the startup gate as a sidecar whose startup probe
 * holds traffic back, and Managed Prometheus scraping the gate. Plus exactly the identity and
 * access it needs, the gate's alert policies and its dashboard. It knows nothing of any one app:
 * an app's own alerting rules and metrics endpoints come in its GatedApp, which infra/chat-app.ts
 * builds for the chat app and examples/python-fastapi/deploy for a Python app.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { alertPolicyArgs, kebab, serviceAlertRules } from './alert-rules';
import { runMonitoringYaml } from './collector';
import { dashboardJson, startupDashboard } from './dashboard';
import { revisionTemplate, type RevisionArgs } from './revision-template';

export const COMPONENT_TYPE = 'cloud-run-startup-gate:index:GatedService';

export const ROLES = {
  metricWriter: 'roles/monitoring.metricWriter',
  secretAccessor: 'roles/secretmanager.secretAccessor',
  invoker: 'roles/run.invoker',
} as const;

/**
 * Everything a gated service needs. The app (`app`, a GatedApp: with its own alerting rules and
 * metrics endpoints, if any) and the revision's settings are documented on RevisionArgs; the
 * service account, the collector's config and the alert policies the component makes. The gate's
 * alerting rules (sidecar/alerts) are the component's, so every gated service gets them.
 */
export interface GatedServiceArgs extends Omit<RevisionArgs, 'serviceAccount' | 'collectorConfig'> {
  project: string;
  region: string;
  /** The deployment environment (the stack's name): the dashboard's filter. */
  environment: string;
  /** Lets anyone on the internet invoke the service (roles/run.invoker for allUsers). */
  publicAccess: boolean;
  /** Refuses `pulumi destroy` and replacements of the service until turned off. */
  deletionProtection: boolean;
  /** Channels every alert policy notifies (resource names). */
  notificationChannels: readonly string[];
}

/** An env name as a resource name part: LLM_API_KEY → llm-api-key. */
const secretKey = (env: string) => env.toLowerCase().replaceAll('_', '-');

export class GatedService extends pulumi.ComponentResource {
  public readonly service: gcp.cloudrunv2.Service;
  public readonly serviceAccount: gcp.serviceaccount.Account;
  public readonly url: pulumi.Output<string>;
  public readonly alertPolicies: gcp.monitoring.AlertPolicy[];
  public readonly dashboard: gcp.monitoring.Dashboard;

  /** `name` is the Cloud Run service name; the service account is `NAME-sa`. */
  constructor(name: string, args: GatedServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPE, name, {}, opts);
    const parent = { parent: this };
    const { project, region: location, labels } = args;

    // One account per service, so its roles and secret grants belong to this service alone.
    this.serviceAccount = new gcp.serviceaccount.Account(`${name}-sa`, {
      project,
      accountId: `${name}-sa`,
      displayName: `Cloud Run service ${name}`,
    }, parent);
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;

    // The collector writes the gate's metrics to Cloud Monitoring.
    const metricWriter = new gcp.projects.IAMMember(`${name}-metric-writer`, { project, role: ROLES.metricWriter, member }, parent);

    const collectorConfig = new gcp.secretmanager.Secret(`${name}-collector-config`, {
      project,
      secretId: `${name}-collector-config`,
      replication: { auto: {} },
      labels,
    }, parent);
    const collectorConfigVersion = new gcp.secretmanager.SecretVersion(`${name}-collector-config`, {
      secret: collectorConfig.id,
      secretData: runMonitoringYaml(name, args.app.metricsEndpoints),
    }, parent);

    // Access on each secret, never project-wide: the account reads exactly its own secrets.
    const accessors = [
      { key: 'collector-config', secretId: collectorConfig.secretId },
      ...Object.entries(args.app.secrets).map(([env, secretId]) => ({ key: secretKey(env), secretId })),
    ].map(({ key, secretId }) =>
      new gcp.secretmanager.SecretIamMember(`${name}-${key}-accessor`, { project, secretId, role: ROLES.secretAccessor, member }, parent),
    );

    this.service = new gcp.cloudrunv2.Service(name, {
      name,
      project,
      location,
      ingress: 'INGRESS_TRAFFIC_ALL',
      // Readiness probes are a Preview feature; the API accepts them only at launch stage BETA.
      ...(args.gateReadinessProbe ? { launchStage: 'BETA' } : {}),
      deletionProtection: args.deletionProtection,
      labels,
      template: revisionTemplate({
        ...args,
        serviceAccount: this.serviceAccount.email,
        // A config change mounts a new version, which makes a new revision.
        collectorConfig: { secret: collectorConfig.secretId, version: collectorConfigVersion.version },
      }),
    }, {
      ...parent,
      // The first revision starts only after it may read its secrets and write metrics.
      dependsOn: [...accessors, metricWriter],
    });

    if (args.publicAccess) {
      new gcp.cloudrunv2.ServiceIamMember(`${name}-public-invoker`, {
        project,
        location,
        name: this.service.name,
        role: ROLES.invoker,
        member: 'allUsers',
      }, parent);
    }

    // Nothing evaluates Prometheus rules beside Cloud Run: Cloud Monitoring does, from the same
    // rules, read when the program runs so a new rule is a new policy with no second copy.
    this.alertPolicies = serviceAlertRules(args.app.alertRulesDirs).map(
      (rule) =>
        new gcp.monitoring.AlertPolicy(`${name}-alert-${kebab(rule.alert)}`, alertPolicyArgs(rule, { project, notificationChannels: args.notificationChannels, userLabels: labels }), parent),
    );
    // The collector's scrape job is named after the service (runMonitoring(name)).
    this.dashboard = new gcp.monitoring.Dashboard(`${name}-startup-dashboard`, {
      project,
      dashboardJson: dashboardJson(startupDashboard({ service: name, job: name, stack: args.environment, labels })),
    }, parent);

    this.url = this.service.uri;
    this.registerOutputs({ url: this.url, serviceAccount: this.serviceAccount.email });
  }
}
