/**
 * The app's one metric, on the internal listener's GET /metrics for the collector (Managed
 * Prometheus) to scrape: `chat_dependency_degraded{dependency}`, 1 while the app serves without
 * that dependency. The alert "degraded for more than 5 minutes" (app/alerts) reads it. Only this
 * metric: prom-client's default Node metrics fail promtool's lint.
 */
import type { Registry } from 'prom-client';
import Gauge from 'prom-client/lib/gauge';
import type { DependencyHealth } from './dependency-health';

const DEGRADED_METRIC = 'chat_dependency_degraded';

export function registerDependencyMetrics(registry: Registry, health: Pick<DependencyHealth, 'states'>): void {
  new Gauge({
    name: DEGRADED_METRIC,
    help: 'Whether the app is serving without this dependency (1) or with it (0): a database refusing fast, a cache counting in process.',
    labelNames: ['dependency'],
    registers: [registry],
    collect() {
      for (const [dependency, degraded] of health.states()) this.set({ dependency }, degraded ? 1 : 0);
    },
  });
}
