/**
 * The startup dashboard of a stack, in Cloud Monitoring where Cloud Run users look. Built as typed
 * data (a subset of the Dashboards API v1 `Dashboard` resource) and serialised for
 * gcp.monitoring.Dashboard's dashboardJson. Every chart is a PromQL query over the gate's metrics,
 * scoped to the service's scrape job; a test checks each against a real scrape and promtool.
 */
import { SCRAPE_INTERVAL } from './collector';

/** Dashboards API v1: XyChart.DataSet.PlotType. */
type PlotType = 'LINE' | 'STACKED_AREA' | 'STACKED_BAR';

interface DataSet {
  timeSeriesQuery: { prometheusQuery: string; unitOverride?: string };
  plotType: PlotType;
  /** `${label}` interpolations name each series. */
  legendTemplate?: string;
  minAlignmentPeriod: string;
}
interface XyChart {
  dataSets: DataSet[];
  yAxis: { label: string; scale: 'LINEAR' };
  chartOptions: { mode: 'COLOR' };
}
interface Widget {
  title: string;
  xyChart: XyChart;
}
interface Tile {
  xPos: number;
  yPos: number;
  width: number;
  height: number;
  widget: Widget;
}
export interface Dashboard {
  displayName: string;
  mosaicLayout: { columns: number; tiles: Tile[] };
  labels: Record<string, string>;
}

/** One chart: a title, what its axis counts, and one PromQL query per line or area. */
export interface Chart {
  title: string;
  yAxis: string;
  unit?: string;
  series: { query: string; legend?: string; plot: PlotType }[];
}

/**
 * The charts, for the gate scraped as job `job` (the RunMonitoring config's name). Labels beyond
 * the gate's own are the collector's: `job` and `instance` (Managed Prometheus) and
 * `revision_name` (run-gmp-sidecar's revision metadata).
 */
export function startupCharts(job: string): Chart[] {
  const sel = `job="${job}"`;
  return [
    {
      title: 'Time to open per revision (slowest instance)',
      yAxis: 'seconds',
      unit: 's',
      // 0 until a gate opens: only opened gates count.
      series: [{ query: `max by (revision_name) (startup_gate_time_to_open_seconds{${sel}} > 0)`, legend: '${revision_name}', plot: 'LINE' }],
    },
    {
      title: 'Boot time (gate start to open) against the startup budget, last hour',
      yAxis: 'seconds',
      unit: 's',
      // max_over_time counts each instance's one boot once, even when it opened before its first scrape.
      series: [
        ...[0.5, 0.95, 0.99].map((q) => ({
          query: `histogram_quantile(${q}, sum by (le) (max_over_time(startup_gate_boot_seconds_bucket{${sel}}[1h])))`,
          legend: `p${Math.round(q * 100)}`,
          plot: 'LINE' as const,
        })),
        { query: `max(startup_gate_budget_seconds{${sel}})`, legend: 'budget', plot: 'LINE' },
      ],
    },
    {
      title: 'Phase duration p95, last hour',
      yAxis: 'seconds',
      unit: 's',
      series: [{ query: `histogram_quantile(0.95, sum by (phase, le) (max_over_time(startup_gate_phase_seconds_bucket{${sel}}[1h])))`, legend: '${phase}', plot: 'LINE' }],
    },
    {
      title: 'Checks of the phase endpoint by result',
      yAxis: 'checks/s',
      series: [{ query: `sum by (result) (rate(startup_gate_checks_total{${sel}}[5m]))`, legend: '${result}', plot: 'STACKED_AREA' }],
    },
    {
      title: 'Instances by app state',
      yAxis: 'instances',
      series: [{ query: `sum by (state) (startup_gate_app_state{${sel}})`, legend: '${state}', plot: 'STACKED_AREA' }],
    },
    {
      title: 'Instances by current startup phase',
      yAxis: 'instances',
      series: [{ query: `count by (phase) (startup_gate_app_phase{${sel}} == 1)`, legend: '${phase}', plot: 'STACKED_AREA' }],
    },
    {
      title: 'Gate readiness after opening',
      yAxis: 'instances',
      series: [
        { query: `sum(startup_gate_open{${sel}})`, legend: 'open', plot: 'LINE' },
        { query: `count(startup_gate_open{${sel}} == 1 and on (instance, job) startup_gate_ready{${sel}} == 0)`, legend: 'open, no longer ready', plot: 'LINE' },
      ],
    },
  ];
}

/** The mosaic is 12 columns wide; charts go two to a row. */
const COLUMNS = 12;
const WIDTH = 6;
const HEIGHT = 4;

export function startupDashboard(args: { service: string; job: string; stack: string; labels: Record<string, string> }): Dashboard {
  const tiles = startupCharts(args.job).map((chart, index): Tile => ({
    xPos: (index % 2) * WIDTH,
    yPos: Math.floor(index / 2) * HEIGHT,
    width: WIDTH,
    height: HEIGHT,
    widget: {
      title: chart.title,
      xyChart: {
        dataSets: chart.series.map((series) => ({
          timeSeriesQuery: { prometheusQuery: series.query, ...(chart.unit ? { unitOverride: chart.unit } : {}) },
          plotType: series.plot,
          ...(series.legend ? { legendTemplate: series.legend } : {}),
          // New samples arrive once per scrape.
          minAlignmentPeriod: SCRAPE_INTERVAL,
        })),
        yAxis: { label: chart.yAxis, scale: 'LINEAR' },
        chartOptions: { mode: 'COLOR' },
      },
    },
  }));
  return { displayName: `Startup gate: ${args.service} (${args.stack})`, mosaicLayout: { columns: COLUMNS, tiles }, labels: args.labels };
}

/** The dashboardJson text: indented, so the rendered stacks show a chart change line by line. */
export function dashboardJson(dashboard: Dashboard): string {
  return JSON.stringify(dashboard, null, 2);
}
