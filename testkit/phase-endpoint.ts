/** A stand-in phase endpoint (contract 1) on loopback, and bodies that validate against it, for tests of the gate. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PHASE_CONTRACT_VERSION, type PhaseBody, phaseStatusCode } from '../common/phase-contract';

/** A body that validates against contract 1; overrides pick the state and components. */
export function phaseBody(overrides: Partial<PhaseBody> = {}): PhaseBody {
  const now = new Date().toISOString();
  return {
    contract: PHASE_CONTRACT_VERSION,
    state: 'starting',
    phase: 'init',
    completedPhases: [],
    components: { agentSupervisor: false, websocketBridge: false },
    error: null,
    seq: 1,
    startedAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export const READY_BODY = phaseBody({ state: 'ready', phase: 'finalize', components: { agentSupervisor: true, websocketBridge: true }, seq: 9 });

/** Answers with a body as contract 1 says: 200 when ready, else 503. */
export function sendPhase(res: http.ServerResponse, body: PhaseBody): void {
  res.writeHead(phaseStatusCode(body.state), { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export interface Target {
  url: URL;
  server: http.Server;
  close(): Promise<void>;
}

/** A phase endpoint on loopback whose every request is answered by `handler`. */
export async function startTarget(handler: http.RequestListener): Promise<Target> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/phase`),
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

