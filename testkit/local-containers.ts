/** Containers for hand-built local revisions: the compiled app on its own ports, as the runner runs it. */
import { ENTRY_POINTS } from '../common/paths';
import type { ProbeSpec } from '../common/probes';
import { APP_ENV_VARS, GATE_ENV_VARS, GATE_PATHS, PHASE_HOST, PHASE_PATH } from '../common/revision';
import type { LocalContainer } from '../runner/src/revision-runner';

export interface AppPorts {
  port: number;
  phasePort: number;
}

/** The app as the ingress container of a test revision, with the probes the test chooses. */
export function appContainer(ports: AppPorts, env: Record<string, string>, probes: Pick<LocalContainer, 'startupProbe' | 'livenessProbe'>): LocalContainer {
  return {
    name: 'app',
    command: [process.execPath, ENTRY_POINTS.app],
    env: { [APP_ENV_VARS.port]: String(ports.port), [APP_ENV_VARS.phasePort]: String(ports.phasePort), ...env },
    ingressPort: ports.port,
    ...probes,
    dependsOn: [],
  };
}

/** The gate as a sidecar of a test revision, pointed at the app's phase endpoint, with its /startup as startup probe. */
export function gateContainer(gatePort: number, phasePort: number, schedule: Omit<ProbeSpec, 'httpGet' | 'tcpSocket'>, dependsOn: string[] = []): LocalContainer {
  return {
    name: 'gate',
    command: [process.execPath, ENTRY_POINTS.gate],
    env: { [GATE_ENV_VARS.port]: String(gatePort), [GATE_ENV_VARS.targetUrl]: `http://${PHASE_HOST}:${phasePort}${PHASE_PATH}` },
    startupProbe: { ...schedule, httpGet: { path: GATE_PATHS.startup, port: gatePort } },
    dependsOn,
  };
}
