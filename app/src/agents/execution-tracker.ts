/** Counts agent runs in flight so shutdown can wait for them to finish. */

export class ExecutionTracker {
  private readonly running = new Set<string>();
  private readonly idleWaiters = new Set<() => void>();

  get inFlight(): number {
    return this.running.size;
  }

  /** Marks a run as started; call the returned function when it ends, however it ends. */
  start(runId: string): () => void {
    this.running.add(runId);
    return () => {
      this.running.delete(runId);
      if (this.running.size === 0) for (const wake of [...this.idleWaiters]) wake();
    };
  }

  /** Resolves true once no run is in flight, or false when `timeoutMs` passes first. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (drained: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(drained);
      };
      const onIdle = () => finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.idleWaiters.add(onIdle);
    });
  }
}
