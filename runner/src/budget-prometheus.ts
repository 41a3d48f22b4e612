/**
 * Boots for the budget advisor from a Prometheus-compatible query API (a local Prometheus, or
 * Managed Service for Prometheus through its frontend). Each gate observes one boot, so per
 * series (per instance) the `_sum` of startup_gate_boot_seconds over its `_count` is that boot's
 * exact time, and the same for each phase of startup_gate_phase_seconds: the advisor gets every
 * boot, not bucket estimates. Answers are validated; a series that is not a boot is counted.
 */
import type { BootSample } from './budget';
import type { Boots, Rejected } from './budget-samples';

export interface PrometheusSource {
  /** The query API's base, e.g. http://localhost:9090. */
  url: URL;
  /** The scrape job: on Cloud Run, the service name (the collector's RunMonitoring config). */
  service: string;
  /** How far back to look, a Prometheus duration. */
  window: string;
  /** Deadline of each query. */
  timeoutMs: number;
}

export const PROMETHEUS_DURATION = /^(\d+(ms|[smhdwy]))+$/;

/** The two instant queries: per series, the mean of what it observed over the window (one boot: that boot). */
export function bootQueries(service: string, window: string): { boots: string; phases: string } {
  const per = (metric: string) => {
    const sel = `{job=${JSON.stringify(service)}}`;
    return `max_over_time(${metric}_sum${sel}[${window}]) / (max_over_time(${metric}_count${sel}[${window}]) > 0)`;
  };
  return { boots: per('startup_gate_boot_seconds'), phases: per('startup_gate_phase_seconds') };
}

interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

/** The `result` of an instant vector answer; throws one line on an error answer or another shape. */
export function vectorOf(answer: unknown): { samples: VectorSample[]; rejected: Rejected[] } {
  const body = answer as { status?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } } | null;
  if (typeof body !== 'object' || body === null) throw new Error('the answer is not a JSON object');
  if (body.status !== 'success') throw new Error(`the query failed: ${typeof body.error === 'string' ? body.error : JSON.stringify(body).slice(0, 200)}`);
  if (body.data?.resultType !== 'vector' || !Array.isArray(body.data.result)) throw new Error('the answer is not an instant vector');
  const samples: VectorSample[] = [];
  const rejected: Rejected[] = [];
  for (const entry of body.data.result as unknown[]) {
    const { metric, value } = (entry ?? {}) as { metric?: unknown; value?: unknown };
    const labels = typeof metric === 'object' && metric !== null ? (metric as Record<string, string>) : {};
    const seconds = Array.isArray(value) ? Number(value[1]) : NaN;
    if (typeof metric !== 'object' || metric === null || !Number.isFinite(seconds) || seconds < 0) {
      rejected.push({ where: seriesName(labels), reason: `not a number of seconds: ${JSON.stringify(value)}` });
    } else samples.push({ metric: labels, value: seconds });
  }
  return { samples, rejected };
}

/** A series by its labels, for messages and to join a boot with its phases. */
function seriesName(labels: Record<string, string>): string {
  return `{${Object.keys(labels)
    .sort()
    .map((name) => `${name}=${JSON.stringify(labels[name])}`)
    .join(',')}}`;
}

/** Each boot series with the phase series of the same gate (same labels but `phase`). */
export function joinBoots(boots: readonly VectorSample[], phases: readonly VectorSample[]): BootSample[] {
  const byGate = new Map<string, Record<string, number>>();
  for (const { metric, value } of phases) {
    const { phase, ...gate } = metric;
    if (phase === undefined) continue;
    const key = seriesName(gate);
    byGate.set(key, { ...byGate.get(key), [phase]: value });
  }
  return boots.map(({ metric, value }) => ({ bootSeconds: value, phases: byGate.get(seriesName(metric)) ?? {} }));
}

async function instantQuery(source: PrometheusSource, query: string, fetchFn: typeof fetch): Promise<unknown> {
  const url = new URL('api/v1/query', source.url.href.endsWith('/') ? source.url : `${source.url.href}/`);
  url.searchParams.set('query', query);
  const response = await fetchFn(url, { signal: AbortSignal.timeout(source.timeoutMs) });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** Every boot the gates of `service` observed within the window. */
export async function readPrometheusBoots(source: PrometheusSource, fetchFn: typeof fetch = fetch): Promise<Boots> {
  const queries = bootQueries(source.service, source.window);
  const [boots, phases] = await Promise.all([queries.boots, queries.phases].map(async (query) => vectorOf(await instantQuery(source, query, fetchFn))));
  return { samples: joinBoots(boots!.samples, phases!.samples), rejected: [...boots!.rejected, ...phases!.rejected] };
}
