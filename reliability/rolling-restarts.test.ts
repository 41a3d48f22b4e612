/**
 * Rolling restarts through the local runner: 200 chat clients stay connected to the front door
 * while the revision is stopped (SIGTERM to every container, as Cloud Run does) and started again
 * ten times. No client may see 1011, and every acknowledged message either gets its reply or a
 * close that tells the client to resend it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { APP_ENV_VARS, APP_PORT } from '../common/revision';
import { FrontDoor } from '../runner/src/front-door';
import { localRevisionOf } from '../runner/src/local-images';
import { RevisionRunner } from '../runner/src/revision-runner';
import type { TimelineEvent } from '../runner/src/timeline';
import { waitFor } from '../testkit/wait-for';
import { counts, emptyTally, runClient, sumTallies } from './clients';

const CLIENTS = 200;
const CYCLES = 10;
/** How long each revision serves before the next restart. */
const SERVE_MS = 1500;

it(`${CLIENTS} clients across ${CYCLES} restarts of the revision: no 1011, nothing acknowledged is lost`, async () => {
  const { revision, ports } = await localRevisionOf('staging', { [APP_ENV_VARS.rateLimitPerMinute]: '1000000' });
  const events: TimelineEvent[] = [];
  const frontDoor = new FrontDoor({ targetPort: ports.get(APP_PORT)!, holdTimeoutMs: 30_000 });
  const url = `ws://127.0.0.1:${await frontDoor.listen()}/ws`;

  let stopped = false;
  const tallies = Array.from({ length: CLIENTS }, emptyTally);
  const clients = tallies.map((tally) => runClient({ url, tally, stopped: () => stopped, thinkMs: 50 }));

  const trafficAt: number[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
      const runner = new RevisionRunner(revision, frontDoor, (event) => events.push(event));
      const result = await runner.start();
      if (!result.ok) throw new Error(`cycle ${cycle}: the revision did not start: ${result.reason}`);
      trafficAt.push(result.trafficAtMs);
      // Every client reaches this revision before it stops, however slowly a busy machine runs them.
      await waitFor(`every client connected in cycle ${cycle}`, () => tallies.every((tally) => tally.connects > cycle), { timeoutMs: 60_000 });
      await sleep(SERVE_MS);
      if (cycle === CYCLES - 1) stopped = true;
      await runner.stop();
    }
    await Promise.all(clients);
  } finally {
    stopped = true;
    await frontDoor.close();
  }

  const total = sumTallies(tallies);
  process.stdout.write(`rolling restarts: ${JSON.stringify({ ...counts(total), trafficAtMs: trafficAt.map(Math.round) })}\n`);
  expect(total.closeCodes[1011] ?? 0).toBe(0);
  expect(total.lost).toBe(0);
  expect(total.acknowledged).toBe(total.completed + total.toldToResend);
  // Every client went through every restart: connected once per revision, and got replies.
  for (const tally of tallies) {
    expect(tally.connects).toBeGreaterThanOrEqual(CYCLES);
    expect(tally.completed).toBeGreaterThan(0);
  }
  // Each restart ends every connection with 1012 and the resend reason, never with 1006.
  expect(total.closeCodes[1012]).toBeGreaterThanOrEqual(CLIENTS * (CYCLES - 1));
  expect(events.filter((event) => event.kind === 'failed')).toEqual([]);
}, 600_000);
