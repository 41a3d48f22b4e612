/**
 * Closes the runs whose instance died. Every run row holds a lease (`lease_until`): this instance
 * renews the leases of its runs in flight on a timer, and on the same timer (and once at startup)
 * any instance marks every running run whose lease ran out `interrupted` (whichever instance looks
 * first; the others find nothing). A crash, an OOM kill or Cloud Run ending the instance past its
 * SIGTERM grace therefore leaves no run `running` for longer than the lease plus one tick.
 */
import type { Logger } from '../../../common/log';
import { describeError } from '../errors';
import { INTERRUPTED_CODES, type SessionFactory } from '../storage/store';

/** A run and the thread it belongs to. */
export interface ThreadRun {
  runId: string;
  threadId: string;
}

export interface RunLeaseOptions {
  /** How long a run counts as alive without a renewal. */
  leaseMs: number;
  log: Logger;
  /** Told about runs this instance marked interrupted, so their threads hear it. */
  onInterrupted: (runs: ThreadRun[]) => void;
}

/** Renewals per lease: two may fail (a slow or restarting database) before a live run looks dead. */
const RENEWALS_PER_LEASE = 3;

/** The longest `stop` waits for the database: with the drain (8 s), the close handshakes and closing the connections, shutdown stays inside Cloud Run's ~10 s grace. */
const STOP_DEADLINE_MS = 500;

export class RunLeases {
  /** Runs in flight here: run id -> thread id. */
  private readonly held = new Map<string, string>();
  /** Runs that failed here while their failure could not be stored, with the code to store. */
  private readonly unsettled = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly store: SessionFactory,
    private readonly options: RunLeaseOptions,
  ) {}

  get intervalMs(): number {
    return Math.floor(this.options.leaseMs / RENEWALS_PER_LEASE);
  }

  hold({ runId, threadId }: ThreadRun): void {
    this.held.set(runId, threadId);
  }

  release(runId: string): void {
    this.held.delete(runId);
  }

  /** True once `stop` began: the runs in flight were, or are being, ended as interrupted. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** Keeps the run's lease and stores its failure on a later tick. */
  failLater(runId: string, errorCode: string): void {
    this.unsettled.set(runId, errorCode);
  }

  /** The startup sweep, then the timer. A sweep that fails here fails the phase that calls it. */
  async start(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One renewal and sweep; never overlaps the previous one, never throws. */
  tick(): Promise<void> {
    this.beating ??= this.beat().finally(() => (this.beating = undefined));
    return this.beating;
  }

  /**
   * Stops the timer and marks the runs still in flight here `interrupted` (the instance stops):
   * their threads hear it now rather than after the lease. Bounded by STOP_DEADLINE_MS.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.beating;
    const runs = [...this.held].map(([runId, threadId]) => ({ runId, threadId }));
    const runIds = [...this.held.keys(), ...this.unsettled.keys()];
    if (runIds.length === 0) return;
    const stopped = this.store.session().interruptRuns(runIds, INTERRUPTED_CODES.shutdown);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${STOP_DEADLINE_MS} ms`)), STOP_DEADLINE_MS)));
    try {
      await Promise.race([stopped, deadline]);
      this.options.onInterrupted(runs);
    } catch (error) {
      this.options.log.warn({ runs: runIds.length }, `could not mark the runs in flight interrupted; another instance's sweep will: ${describeError(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private async beat(): Promise<void> {
    const session = this.store.session();
    try {
      await session.renewLeases([...this.held.keys(), ...this.unsettled.keys()], this.options.leaseMs);
      for (const [runId, errorCode] of this.unsettled) {
        await session.failRun(runId, errorCode);
        this.unsettled.delete(runId);
      }
      await this.sweep();
    } catch (error) {
      this.options.log.warn({ held: this.held.size, unsettled: this.unsettled.size }, `renewing run leases failed: ${describeError(error)}`);
    }
  }

  private async sweep(): Promise<void> {
    const interrupted = await this.store.session().sweepExpired();
    if (interrupted.length === 0) return;
    // No thread ids: WARNING lines reach more readers than the threads' owners.
    this.options.log.warn({ runIds: interrupted.map((run) => run.runId) }, `marked ${interrupted.length} runs interrupted: their instance stopped renewing them`);
    this.options.onInterrupted(interrupted);
  }
}
