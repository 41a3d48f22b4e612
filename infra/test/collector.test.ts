import { parse } from 'yaml';
import { APP_METRICS_PATH, GATE_PATHS, GATE_PORT, PHASE_PORT } from '../../common/revision';
import { metricsEndpointProblem, runMonitoring, runMonitoringYaml } from '../collector';

const GATE_ENDPOINT = { port: GATE_PORT, path: GATE_PATHS.metrics, interval: '30s' };

describe('the RunMonitoring config', () => {
  it('scrapes the gate only by default, not the default port 8080 (the app)', () => {
    expect(runMonitoring('python-fastapi').spec.endpoints).toEqual([GATE_ENDPOINT]);
    expect(GATE_PORT).not.toBe(8080);
  });

  it("scrapes the app's own endpoints after the gate's, at the same interval", () => {
    expect(runMonitoring('chat', [{ port: PHASE_PORT, path: APP_METRICS_PATH }]).spec.endpoints).toEqual([GATE_ENDPOINT, { port: PHASE_PORT, path: APP_METRICS_PATH, interval: '30s' }]);
    expect(runMonitoring('orders', [{ port: 7001, path: '/a' }, { port: 7002, path: '/b' }]).spec.endpoints.map(({ port }) => port)).toEqual([GATE_PORT, 7001, 7002]);
  });

  it.each([
    [{ port: 0, path: '/metrics' }, 'port must be 1..65535, got 0'],
    [{ port: 70000, path: '/metrics' }, 'port must be 1..65535, got 70000'],
    [{ port: 8081.5, path: '/metrics' }, 'port must be 1..65535'],
    [{ port: 8081, path: 'metrics' }, 'path must start with /, got "metrics"'],
    [{ port: GATE_PORT, path: '/app-metrics' }, `port ${GATE_PORT} is the gate's`],
  ])('refuses the app endpoint %j, naming what is wrong', (endpoint, message) => {
    expect(metricsEndpointProblem(endpoint)).toContain(message);
    expect(() => runMonitoring('orders', [endpoint])).toThrow(message);
  });

  it('is YAML that reads back as the same config', () => {
    const endpoints = [{ port: PHASE_PORT, path: APP_METRICS_PATH }];
    expect(parse(runMonitoringYaml('chat', endpoints))).toEqual(runMonitoring('chat', endpoints));
    expect(runMonitoring('chat')).toMatchObject({ apiVersion: 'monitoring.googleapis.com/v1beta', kind: 'RunMonitoring', metadata: { name: 'chat' } });
  });
});
