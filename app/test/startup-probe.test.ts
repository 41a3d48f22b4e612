/**
 * The app's own startup probe, GET /startup on the public port, in the real process over real
 * sockets: held while the phases run and answered 200 the moment the app is ready, 503 with the
 * reason (and no error message: the port is public) otherwise. Waits are on conditions only.
 */
import { APP_PATHS } from '../../common/revision';
import { waitFor } from '../../testkit/wait-for';
import { appLauncher } from '../../testkit/app-process';
import { tryUpgrade } from '../../testkit/chat-client';


const { launch, stopAll } = appLauncher();
afterEach(stopAll);

interface Answer {
  status: number;
  connection: string | null;
  body: { state?: string; phase?: string; reason?: string; missing?: string[]; error?: unknown };
}

const startupOf = async (port: number): Promise<Answer> => {
  const response = await fetch(`http://127.0.0.1:${port}${APP_PATHS.startup}`);
  return { status: response.status, connection: response.headers.get('connection'), body: (await response.json()) as Answer['body'] };
};

const probesHeld = async (port: number) => ((await (await fetch(`http://127.0.0.1:${port}${APP_PATHS.healthz}`)).json()) as { startupProbesHeld: number }).startupProbesHeld;

describe('GET /startup on the public port', () => {
  it('holds the probe through the phases and answers 200 the moment the app is ready', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: 'finalize=1500', APP_STARTUP_HOLD_MS: '60000' });
    const answer = startupOf(app.port);
    await waitFor('the probe held', async () => (await probesHeld(app.port)) === 1);
    expect((await app.phase()).body.state).toBe('starting');
    expect(await answer).toMatchObject({ status: 200, body: { state: 'ready', phase: 'finalize' } });
    expect(await probesHeld(app.port)).toBe(0);
    // Once ready it answers at once, and chat upgrades are accepted.
    expect((await startupOf(app.port)).status).toBe(200);
    const upgrade = await tryUpgrade(`ws://127.0.0.1:${app.port}/ws`);
    expect(upgrade.kind).toBe('open');
    if (upgrade.kind === 'open') upgrade.ws.close();
  });

  it('answers 503 with the reason when the hold runs out before ready', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: 'finalize=600000', APP_STARTUP_HOLD_MS: '20' });
    await waitFor('the finalize phase', async () => (await app.phase()).body.phase === 'finalize');
    expect(await startupOf(app.port)).toEqual({
      status: 503,
      connection: 'keep-alive',
      body: { state: 'starting', phase: 'finalize', reason: 'starting', missing: [] },
    });
  });

  it('answers a held probe with 503 at once when startup fails, without the error message', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: 'services=1500', APP_FAIL_PHASE: 'services', APP_STARTUP_HOLD_MS: '60000' });
    const answer = startupOf(app.port);
    await waitFor('the probe held', async () => (await probesHeld(app.port)) === 1);
    const failed = await answer;
    expect(failed).toMatchObject({ status: 503, body: { state: 'failed', phase: 'services', reason: 'failed', missing: ['agentSupervisor', 'websocketBridge'] } });
    expect(failed.body.error).toBeUndefined();
  });

  it('answers a held probe with 503 and connection: close on SIGTERM, then exits 0', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: 'finalize=600000', APP_STARTUP_HOLD_MS: '60000' });
    const answer = startupOf(app.port);
    await waitFor('the probe held', async () => (await probesHeld(app.port)) === 1);
    app.child.kill('SIGTERM');
    expect(await answer).toMatchObject({ status: 503, connection: 'close', body: { state: 'stopping', reason: 'stopping' } });
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it('lets go of a client that disconnects', async () => {
    const app = await launch({ APP_PHASE_DELAY_MS: 'finalize=600000', APP_STARTUP_HOLD_MS: '60000' });
    const leave = new AbortController();
    const answer = fetch(`http://127.0.0.1:${app.port}${APP_PATHS.startup}`, { signal: leave.signal });
    await waitFor('the probe held', async () => (await probesHeld(app.port)) === 1);
    leave.abort();
    await expect(answer).rejects.toThrow();
    await waitFor('the hold released', async () => (await probesHeld(app.port)) === 0);
  });
});
