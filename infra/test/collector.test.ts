import { parse } from 'yaml';
import { APP_METRICS_PATH, GATE_PATHS, GATE_PORT, PHASE_PORT } from '../../common/revision';
import { runMonitoring, runMonitoringYaml } from '../collector';

describe('the RunMonitoring config', () => {
  it("scrapes the gate and the app's internal listener, not the default port 8080 (the app's public port)", () => {
    expect(runMonitoring('chat').spec.endpoints).toEqual([
      { port: GATE_PORT, path: GATE_PATHS.metrics, interval: '30s' },
      { port: PHASE_PORT, path: APP_METRICS_PATH, interval: '30s' },
    ]);
    expect([GATE_PORT, PHASE_PORT]).not.toContain(8080);
  });

  it('is YAML that reads back as the same config', () => {
    expect(parse(runMonitoringYaml('chat'))).toEqual(runMonitoring('chat'));
    expect(runMonitoring('chat')).toMatchObject({ apiVersion: 'monitoring.googleapis.com/v1beta', kind: 'RunMonitoring', metadata: { name: 'chat' } });
  });
});
