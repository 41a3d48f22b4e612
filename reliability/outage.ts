/**
 * One dependency outage after ready, under load, through real processes: well-behaved clients
 * (clients.ts) chat with the app while a fault is applied and then mended. Counted: acknowledged
 * messages missing from the store (lost), messages that waited longer than the deadline for a
 * first frame (silences), 1011 closes, how long after the mend a message sent then got its reply
 * (recovery), and the app's RSS over the run. The fault matrix and the bench both run it.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { emptyTally, runClient, sumTallies } from './clients';

export interface Fault {
  name: string;
  apply(): void | Promise<void>;
  mend(): void | Promise<void>;
}

export interface OutagePlan {
  /** The app's chat socket URL and process id. */
  url: string;
  pid: number;
  /** The database the app stores in, read directly to check what was acknowledged. */
  databaseUrl: string;
  clients: number;
  /** Chat before the fault, during it, and after the mend. */
  warmupMs: number;
  outageMs: number;
  afterMs: number;
  /** A first frame later than this is a silence. */
  deadlineMs: number;
}

export interface OutageResult {
  fault: string;
  clients: number;
  outageMs: number;
  sent: number;
  acknowledged: number;
  completed: number;
  unavailable: number;
  agentFailed: number;
  lost: number;
  silences: number;
  slowestFirstFrameMs: number;
  closes1011: number;
  /** From the mend until the reply to the first message sent after it; null when none came. */
  recoveryMs: number | null;
  rssAtFaultMb: number;
  rssPeakMb: number;
  rssGrowthMb: number;
}

function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb ?? 0) / 1024;
}

/** Acknowledged texts the store does not hold. */
async function missingFromStore(databaseUrl: string, texts: readonly string[]): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ text: string }>("SELECT DISTINCT text FROM messages WHERE role = 'user'");
    const stored = new Set(rows.map((row) => row.text));
    return texts.filter((text) => !stored.has(text));
  } finally {
    await client.end();
  }
}

export async function runOutage(plan: OutagePlan, fault: Fault): Promise<OutageResult> {
  const tallies = Array.from({ length: plan.clients }, emptyTally);
  let stopped = false;
  const giveUp = new AbortController();
  const clients = tallies.map((tally, i) =>
    runClient({ url: plan.url, tally, stopped: () => stopped, thinkMs: 50, name: `${fault.name} client ${i}`, maxWaitMs: 1000, signal: giveUp.signal }),
  );
  let rssPeakMb = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      rssPeakMb = Math.max(rssPeakMb, rssMb(plan.pid));
      await sleep(250);
    }
  })();

  await sleep(plan.warmupMs);
  const rssAtFaultMb = rssMb(plan.pid);
  rssPeakMb = rssAtFaultMb;
  await fault.apply();
  await sleep(plan.outageMs);
  await fault.mend();
  const mendedAt = performance.now();
  await sleep(plan.afterMs);
  stopped = true;
  // Clients stop after their current reply; one still waiting past the deadline is given up on.
  const gaveUp = setTimeout(() => giveUp.abort(), plan.deadlineMs);
  await Promise.all(clients);
  clearTimeout(gaveUp);
  sampling = false;
  await sampler;

  const total = sumTallies(tallies);
  const lost = (await missingFromStore(plan.databaseUrl, total.acknowledgedTexts)).length + total.lost;
  const firstReplyAfterMend = total.replies.filter((reply) => reply.sentAt >= mendedAt).sort((a, b) => a.at - b.at)[0];
  const waits = [...total.firstFrameMs, ...total.unansweredAtStopMs];
  return {
    fault: fault.name,
    clients: plan.clients,
    outageMs: plan.outageMs,
    sent: total.sent,
    acknowledged: total.acknowledged,
    completed: total.completed,
    unavailable: total.unavailable,
    agentFailed: total.failed,
    lost,
    silences: waits.filter((ms) => ms > plan.deadlineMs).length,
    slowestFirstFrameMs: Math.round(Math.max(0, ...waits)),
    closes1011: total.closeCodes[1011] ?? 0,
    recoveryMs: firstReplyAfterMend === undefined ? null : Math.round(firstReplyAfterMend.at - mendedAt),
    rssAtFaultMb: Math.round(rssAtFaultMb),
    rssPeakMb: Math.round(rssPeakMb),
    rssGrowthMb: Math.round(rssPeakMb - rssAtFaultMb),
  };
}
