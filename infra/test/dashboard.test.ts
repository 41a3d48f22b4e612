/** The startup dashboard's shape; its queries are checked against a running gate in monitoring-queries.test.ts. */
import { STACKS } from '../../common/cloud-run-service';
import { dashboardJson, startupCharts, startupDashboard, type Dashboard } from '../dashboard';
import { renderedStack } from './stack-support';

const dashboard = startupDashboard({ service: 'chat', job: 'chat', stack: 'staging', labels: { app: 'chat' } });

describe('startupDashboard', () => {
  it('has one tile per chart, inside the grid, none overlapping', () => {
    const { columns, tiles } = dashboard.mosaicLayout;
    expect(tiles.map((tile) => tile.widget.title)).toEqual(startupCharts('chat').map((chart) => chart.title));
    const cells = new Set<string>();
    for (const tile of tiles) {
      expect(tile.xPos + tile.width).toBeLessThanOrEqual(columns);
      for (let x = tile.xPos; x < tile.xPos + tile.width; x += 1) {
        for (let y = tile.yPos; y < tile.yPos + tile.height; y += 1) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('queries only with PromQL, every query scoped to the scrape job', () => {
    const dataSets = dashboard.mosaicLayout.tiles.flatMap((tile) => tile.widget.xyChart.dataSets);
    for (const dataSet of dataSets) {
      expect(Object.keys(dataSet.timeSeriesQuery).filter((key) => key !== 'unitOverride')).toEqual(['prometheusQuery']);
      const selectors = [...dataSet.timeSeriesQuery.prometheusQuery.matchAll(/startup_gate_[a-z_]+(\{[^}]*\})?/g)];
      expect(selectors.length).toBeGreaterThan(0);
      for (const [selector, matchers] of selectors) expect({ selector, matchers }).toEqual({ selector, matchers: '{job="chat"}' });
    }
  });

  it('serialises to the JSON it was built from', () => {
    expect(JSON.parse(dashboardJson(dashboard))).toEqual(dashboard);
  });
});

describe.each(STACKS)('stack %s', (stackName) => {
  it("has one dashboard for the service's scrape job, named after the stack", () => {
    const { inputs } = renderedStack(stackName).one('gcp:monitoring/dashboard:Dashboard', 'chat-startup-dashboard');
    const deployed = JSON.parse(inputs.dashboardJson as string) as Dashboard;
    expect(deployed.displayName).toBe(`Startup gate: chat (${stackName})`);
    expect(deployed.mosaicLayout.tiles.map((tile) => tile.widget.xyChart.dataSets.map((dataSet) => dataSet.timeSeriesQuery.prometheusQuery))).toEqual(
      startupCharts('chat').map((chart) => chart.series.map((series) => series.query)),
    );
    expect(deployed.labels).toEqual({ app: 'chat', team: 'chat-platform', environment: stackName });
  });
});
