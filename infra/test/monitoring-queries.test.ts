/**
 * Every PromQL query the stacks deploy (the alert policies' conditions and the dashboard's charts)
 * against the metrics a running gate really exports: the compiled gate is spawned in front of a
 * ready phase endpoint and scraped; each query uses only metric names from that scrape and labels
 * the gate or the Managed Prometheus collector attach, parses with promtool, and runs on a real
 * Prometheus server that scrapes the gate with the collector's labels. Needs `tsc -p .` first and
 * Debian's prometheus package (missing tools fail with the fix).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GATE_ENV_VARS as V } from '../../common/revision';
import { waitFor } from '../../testkit/wait-for';
import { loadAlertRules } from '../alert-rules';
import { collectorLabels, METADATA_LABELS, PROMETHEUS_TARGET_LABELS, runMonitoring } from '../collector';
import type { Dashboard } from '../dashboard';
import { CHAT_SERVICE_NAME as SERVICE_NAME, STACKS } from '../../common/cloud-run-service';
import { renderedStack } from './stack-support';
import { freePort } from '../../common/local-ports';
import { type GateProcess, spawnGate } from '../../testkit/gate-process';
import { READY_BODY, sendPhase, startTarget, type Target } from '../../testkit/phase-endpoint';
import { requirePrometheusTool } from '../../testkit/prometheus';

/** Label names a query uses: in matchers and in by/without/on/ignoring/group_* clauses. */
function labelNamesIn(query: string): string[] {
  const names = new Set<string>();
  for (const [, list] of query.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const name of list!.split(',').map((part) => part.trim()).filter(Boolean)) names.add(name);
  }
  for (const [, body] of query.matchAll(/\{([^}]*)\}/g)) {
    for (const [, name] of body!.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) names.add(name!);
  }
  return [...names];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Metric names a query selects: identifiers that are not functions, keywords, labels or durations. */
function metricNamesIn(query: string): string[] {
  const bare = query
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map(([, name]) => name!).filter((name) => !KEYWORDS.has(name) && !/^[0-9]/.test(name));
  return [...new Set(names)];
}

/** Metric names and, per metric, label names of a Prometheus text exposition. */
function exposition(text: string): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!match) continue;
    const labels = metrics.get(match[1]!) ?? new Set<string>();
    for (const [, name] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(name!);
    metrics.set(match[1]!, labels);
  }
  return metrics;
}

interface Query {
  where: string;
  query: string;
}

/**
 * The queries a stack deploys over the gate's metrics, read from its rendered resources: the gate's
 * alert conditions (loadAlertRules) and dashboard charts. The chat app's own (app/alerts) are
 * checked against a running app in app/test/dependency-alerts.test.ts.
 */
function deployedQueries(stackName: string): { alerts: Query[]; charts: { title: string; queries: Query[] }[] } {
  const stack = renderedStack(stackName);
  const gateAlerts = new Set(loadAlertRules().map((rule) => rule.alert));
  const alerts = stack
    .all('gcp:monitoring/alertPolicy:AlertPolicy')
    .map(({ name, inputs }) => ({ name, condition: (inputs.conditions as { conditionPrometheusQueryLanguage: { query: string; alertRule: string } }[])[0]!.conditionPrometheusQueryLanguage }))
    .filter(({ condition }) => gateAlerts.has(condition.alertRule))
    .map(({ name, condition }) => ({ where: `${stackName} ${name}`, query: condition.query }));
  const dashboard = JSON.parse(stack.one('gcp:monitoring/dashboard:Dashboard').inputs.dashboardJson as string) as Dashboard;
  const charts = dashboard.mosaicLayout.tiles.map(({ widget }) => ({
    title: widget.title,
    queries: widget.xyChart.dataSets.map((dataSet) => ({ where: `${stackName} chart "${widget.title}"`, query: dataSet.timeSeriesQuery.prometheusQuery })),
  }));
  return { alerts, charts };
}

describe('the query helpers of this test', () => {
  it('find the metric names and labels of a query', () => {
    const query = 'sum by (instance, job) (rate(startup_gate_checks_total{result!="ok",job="chat"}[5m])) / on (instance) group_left (x) startup_gate_open > bool 0.5 and time() - y_seconds offset 5m';
    expect(metricNamesIn(query).sort()).toEqual(['startup_gate_checks_total', 'startup_gate_open', 'y_seconds']);
    expect(labelNamesIn(query).sort()).toEqual(['instance', 'job', 'result', 'x']);
  });
});

describe('the labels the collector attaches', () => {
  it("are Managed Prometheus's target labels and the metadata labels of the RunMonitoring config", () => {
    const metadata = runMonitoring(SERVICE_NAME).spec.targetLabels.metadata;
    expect(collectorLabels()).toEqual([...PROMETHEUS_TARGET_LABELS, ...metadata.map((entry) => METADATA_LABELS[entry])]);
    expect(collectorLabels()).toEqual(['project_id', 'location', 'cluster', 'namespace', 'job', 'instance', 'instanceId', 'revision_name']);
  });
});

describe('the deployed queries against a running gate', () => {
  let target: Target;
  let gate: GateProcess;
  let scraped: Map<string, Set<string>>;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  const logs: string[] = [];
  let api: string;

  beforeAll(async () => {
    target = await startTarget((_req, res) => sendPhase(res, READY_BODY));
    const gatePort = await freePort();
    gate = spawnGate({ [V.targetUrl]: target.url.href, [V.longPollMs]: '0', [V.pollIntervalMs]: '50' }, gatePort);
    let text = '';
    await waitFor('the gate to open', async () => {
      text = await fetch(`${gate.base}/metrics`).then((response) => response.text(), () => '');
      return /^startup_gate_open 1$/m.test(text);
    });
    scraped = exposition(text);

    // A real Prometheus scraping the gate as the collector does: job named after the service, the
    // collector's other labels as target labels (instance is Prometheus's own).
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-queries-'));
    const labels = { project_id: 'chat-gate-staging', location: 'europe-west1', cluster: '__run__', namespace: SERVICE_NAME, instanceId: '00f46b', revision_name: `${SERVICE_NAME}-00001-abc` };
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 250ms, scrape_timeout: 200ms }',
        'scrape_configs:',
        `  - job_name: ${SERVICE_NAME}`,
        `    static_configs: [{ targets: ['127.0.0.1:${gatePort}'], labels: ${JSON.stringify(labels)} }]`,
        '',
      ].join('\n'),
    );
    const promPort = await freePort();
    prometheus = spawn(requirePrometheusTool('prometheus'), [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [prometheus.stdout, prometheus.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
    api = `http://127.0.0.1:${promPort}`;
    // Two scrapes at least, so rate() over the checks counter has something to say.
    await waitFor('Prometheus to scrape the gate twice', async () => Number((await evaluate('count_over_time(startup_gate_open[1m])')).result[0]?.value[1] ?? 0) >= 2, { timeoutMs: 40_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\nprometheus said:\n${logs.join('')}`);
    });
  }, 45_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGKILL');
      await exited;
    }
    await gate?.stop();
    await target?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function evaluate(query: string): Promise<{ status: string; error?: string; result: { metric: Record<string, string>; value: [number, string] }[] }> {
    try {
      const body = (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { status: string; error?: string; data?: { result: [] } };
      return { status: body.status, error: body.error, result: body.data?.result ?? [] };
    } catch {
      return { status: 'unreachable', result: [] };
    }
  }

  it.each(STACKS)('%s: every query selects only metrics the gate exports', (stackName) => {
    const { alerts, charts } = deployedQueries(stackName);
    const queries = [...alerts, ...charts.flatMap((chart) => chart.queries)];
    expect(alerts.length).toBe(loadAlertRules().length);
    expect(charts.length).toBeGreaterThanOrEqual(5);
    for (const { where, query } of queries) {
      const names = metricNamesIn(query);
      expect({ where, names: names.length > 0 && names.every((name) => name.startsWith('startup_gate_')) }).toEqual({ where, names: true });
      expect({ where, missing: names.filter((name) => !scraped.has(name)) }).toEqual({ where, missing: [] });
    }
  });

  it.each(STACKS)("%s: every label a query or an alert's text uses is the gate's or the collector's", (stackName) => {
    const { alerts, charts } = deployedQueries(stackName);
    const provided = new Set([...collectorLabels(), ...[...scraped.values()].flatMap((labels) => [...labels])]);
    const templates = loadAlertRules().flatMap((rule) => Object.values(rule.annotations).flatMap((text) => [...text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)].map(([, name]) => name!)));
    const used = [...alerts, ...charts.flatMap((chart) => chart.queries)].flatMap(({ where, query }) => labelNamesIn(query).map((label) => ({ where, label })));
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter(({ label }) => !provided.has(label))).toEqual([]);
    expect(templates.filter((label) => !provided.has(label))).toEqual([]);
    // The labels the queries group and join by are the collector's, not the gate's.
    expect(used.map(({ label }) => label)).toEqual(expect.arrayContaining(['instance', 'job', 'revision_name']));
  });

  it("parses every chart's query with promtool", () => {
    const { charts } = deployedQueries('production');
    const queries = charts.flatMap((chart) => chart.queries);
    const file = path.join(dir, 'charts.rules.yml');
    const rules = queries.map(({ query }, index) => `      - record: dashboard:chart_${index}\n        expr: ${JSON.stringify(query)}`);
    fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const output = execFileSync(requirePrometheusTool('promtool'), ['check', 'rules', file], { encoding: 'utf8' });
    expect(output).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('gives every chart data from an opened gate, and fires no alert for it', async () => {
    const { alerts, charts } = deployedQueries('production');
    for (const chart of charts) {
      const results = await Promise.all(chart.queries.map(({ query }) => evaluate(query)));
      for (const [index, result] of results.entries()) expect({ query: chart.queries[index]!.query, status: result.status, error: result.error }).toEqual({ query: chart.queries[index]!.query, status: 'success', error: undefined });
      expect({ chart: chart.title, series: results.reduce((sum, result) => sum + result.result.length, 0) > 0 }).toEqual({ chart: chart.title, series: true });
    }
    for (const { where, query } of alerts) {
      const result = await evaluate(query);
      expect({ where, status: result.status, firing: result.result }).toEqual({ where, status: 'success', firing: [] });
    }
    const perRevision = await evaluate(charts[0]!.queries[0]!.query);
    expect(perRevision.result.map((series) => series.metric.revision_name)).toEqual([`${SERVICE_NAME}-00001-abc`]);
  });
});
