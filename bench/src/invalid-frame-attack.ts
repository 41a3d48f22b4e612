/**
 * The invalid-frame attackers in a process of their own, so the chat client whose round trips the
 * bench times does not share an event loop with them. Reads its plan from ATTACK (JSON: url,
 * sockets, address), attacks until SIGTERM, then prints its tally as one JSON line.
 */
import { invalidFrameSockets } from '../../testkit/hostile-clients';

const { url, sockets, address } = JSON.parse(process.env.ATTACK ?? '{}') as { url: string; sockets: number; address: string };
let stopped = false;
process.once('SIGTERM', () => (stopped = true));
void invalidFrameSockets({ url, sockets, durationMs: 600_000, headers: { 'x-forwarded-for': address }, until: () => stopped }).then((tally) => {
  process.stdout.write(`${JSON.stringify(tally)}\n`);
  process.exit(0);
});
