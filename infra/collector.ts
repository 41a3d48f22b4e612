/**
 * Google Cloud Managed Service for Prometheus on Cloud Run: the run-gmp-sidecar container reads a
 * RunMonitoring config from /etc/rungmp/config.yaml and scrapes localhost. Its default target is
 * port 8080 /metrics, which is the app; the metrics that matter are the gate's, so the config
 * names the gate's port.
 */
import { stringify } from 'yaml';
import { GATE_PATHS, GATE_PORT } from '../common/revision';

/** How often the gate is scraped: its gauges change at most once per startup, so 30 s is ample. */
export const SCRAPE_INTERVAL = '30s';

/** The RunMonitoring config as data; `name` identifies the scrape job in Cloud Monitoring. */
export function runMonitoring(name: string) {
  return {
    apiVersion: 'monitoring.googleapis.com/v1beta',
    kind: 'RunMonitoring',
    metadata: { name },
    spec: {
      endpoints: [{ port: GATE_PORT, path: GATE_PATHS.metrics, interval: SCRAPE_INTERVAL }],
      // Per-instance series: a gate that never opens shows on its own instance and revision.
      targetLabels: { metadata: ['instance', 'revision'] },
    },
  };
}

/** The config file's text, as stored in Secret Manager. */
export function runMonitoringYaml(name: string): string {
  return stringify(runMonitoring(name));
}
