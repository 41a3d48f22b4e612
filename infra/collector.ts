/**
 * Google Cloud Managed Service for Prometheus on Cloud Run: the run-gmp-sidecar container reads a
 * RunMonitoring config from /etc/rungmp/config.yaml and scrapes localhost. Its default target is
 * port 8080 /metrics, which is the app's public port and serves no metrics; the config names the
 * gate's port and the app's internal listener (its one metric: degraded dependencies).
 */
import { stringify } from 'yaml';
import { APP_METRICS_PATH, GATE_PATHS, GATE_PORT, PHASE_PORT } from '../common/revision';

/** How often the gate is scraped: its gauges change at most once per startup, so 30 s is ample. */
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

/** The RunMonitoring config as data; `name` identifies the scrape job in Cloud Monitoring. */
export function runMonitoring(name: string) {
  return {
    apiVersion: 'monitoring.googleapis.com/v1beta',
    kind: 'RunMonitoring',
    metadata: { name },
    spec: {
      // The gate's metrics, and the app's own (degraded dependencies) on its internal listener.
      endpoints: [
        { port: GATE_PORT, path: GATE_PATHS.metrics, interval: SCRAPE_INTERVAL },
        { port: PHASE_PORT, path: APP_METRICS_PATH, interval: SCRAPE_INTERVAL },
      ],
      // Per-instance series: a gate that never opens shows on its own instance and revision.
      targetLabels: { metadata: TARGET_METADATA },
    },
  };
}

/** The config file's text, as stored in Secret Manager. */
export function runMonitoringYaml(name: string): string {
  return stringify(runMonitoring(name));
}
