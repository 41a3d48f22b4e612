/**
 * Google Cloud Managed Service for Prometheus on Cloud Run: the run-gmp-sidecar container reads a
 * RunMonitoring config from /etc/rungmp/config.yaml and scrapes localhost. Its default target is
 * port 8080 /metrics, which is usually the app's public port; the config names the gate's port, and
 * the app's own metrics endpoints when its GatedApp names them (the chat app's internal listener).
 */
import { stringify } from 'yaml';
import { GATE_PATHS, GATE_PORT } from '../common/revision';

/** The gate's metrics: what every gated service's collector scrapes. */
const GATE_ENDPOINT: MetricsEndpoint = { port: GATE_PORT, path: GATE_PATHS.metrics };

/** How often each endpoint is scraped: the gate's gauges change at most once per startup, so 30 s is ample. */
export const SCRAPE_INTERVAL = '30s';

/**
 * The labels Managed Prometheus puts on every series: the prometheus_target monitored resource's.
 * On Cloud Run, run-gmp-sidecar sets job to the RunMonitoring config's name, cluster to
 * `__run__`, namespace to the service name and instance to `<instance id>:<port>`.
 */
export const PROMETHEUS_TARGET_LABELS = ['project_id', 'location', 'cluster', 'namespace', 'job', 'instance'] as const;

/**
 * The metric label run-gmp-sidecar adds for each `targetLabels.metadata` entry (the only allowed
 * entries; see confgenerator/config.go in GoogleCloudPlatform/run-gmp-sidecar).
 */
export const METADATA_LABELS = { instance: 'instanceId', revision: 'revision_name', service: 'service_name', configuration: 'configuration_name' } as const;
export type TargetMetadata = keyof typeof METADATA_LABELS;

/** The metadata this config asks for: per-instance series, and the revision for per-revision charts. */
const TARGET_METADATA: TargetMetadata[] = ['instance', 'revision'];

/** Every label the collector attaches to the gate's series with the config below, beside the gate's own. */
export function collectorLabels(): string[] {
  return [...PROMETHEUS_TARGET_LABELS, ...TARGET_METADATA.map((entry) => METADATA_LABELS[entry])];
}

/** An app's own Prometheus endpoint inside the instance: the collector scrapes it over localhost. */
export interface MetricsEndpoint {
  port: number;
  /** Starts with `/`. */
  path: string;
}

/** Why the collector cannot scrape an app's endpoint: not a port, not a path, or the gate's own port. */
export function metricsEndpointProblem({ port, path }: MetricsEndpoint): string | undefined {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `app metrics endpoint port must be 1..65535, got ${port}`;
  if (!path.startsWith('/')) return `app metrics endpoint path must start with /, got ${JSON.stringify(path)}`;
  if (port === GATE_PORT) return `app metrics endpoint port ${port} is the gate's: the app cannot listen on it`;
  return undefined;
}

/**
 * The RunMonitoring config as data; `name` identifies the scrape job in Cloud Monitoring. The gate
 * is always scraped; `appEndpoints` (GatedApp.metricsEndpoints) after it, none by default.
 */
export function runMonitoring(name: string, appEndpoints: readonly MetricsEndpoint[] = []) {
  for (const endpoint of appEndpoints) {
    const problem = metricsEndpointProblem(endpoint);
    if (problem) throw new Error(problem);
  }
  return {
    apiVersion: 'monitoring.googleapis.com/v1beta',
    kind: 'RunMonitoring',
    metadata: { name },
    spec: {
      endpoints: [GATE_ENDPOINT, ...appEndpoints].map(({ port, path }) => ({ port, path, interval: SCRAPE_INTERVAL })),
      // Per-instance series: a gate that never opens shows on its own instance and revision.
      targetLabels: { metadata: TARGET_METADATA },
    },
  };
}

/** The config file's text, as stored in Secret Manager. */
export function runMonitoringYaml(name: string, appEndpoints: readonly MetricsEndpoint[] = []): string {
  return stringify(runMonitoring(name, appEndpoints));
}
