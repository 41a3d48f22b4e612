/** One container of the local revision: a child process with Cloud Run's stop semantics. */
import { type ChildProcess, spawn } from 'node:child_process';

/** Cloud Run sends SIGTERM and, about 10 s later, SIGKILL. */
export const STOP_GRACE_MS = 10_000;

export interface ContainerProcessSpec {
  name: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  /**
   * Runs the command in a process group of its own and signals the whole group: for a command run
   * through a shell, whose children (the server it starts) do not get the shell's signals.
   */
  processGroup?: boolean;
}

/** How often a stopping process group is checked for members left after its leader exited. */
const GROUP_POLL_MS = 20;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ContainerProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<Exit> = Promise.resolve({ code: null, signal: null });

  constructor(
    readonly spec: ContainerProcessSpec,
    private readonly onLine: (line: string) => void,
    private readonly onExit: (exit: Exit) => void,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const [command, ...args] = this.spec.command;
    if (command === undefined) throw new Error(`container ${this.spec.name} has no command`);
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...this.spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: this.spec.processGroup === true });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') this.onLine(line);
      });
    }
    this.exitPromise = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        const exit = { code, signal };
        this.onExit(exit);
        resolve(exit);
      }),
    );
  }

  /**
   * SIGTERM, then SIGKILL after the grace period; resolves with how the process ended. A process
   * group is signalled as a whole and waited for until its last member is gone.
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<Exit> {
    const child = this.child;
    if (child === undefined || !this.running) return this.exitPromise;
    const deadline = Date.now() + graceMs;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const exit = await this.exitPromise;
    if (this.spec.processGroup) {
      while (this.groupAlive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
      if (this.groupAlive()) this.signal('SIGKILL');
    }
    clearTimeout(timer);
    return exit;
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    if (!this.spec.processGroup) {
      this.child!.kill(signal);
      return;
    }
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }

  private groupAlive(): boolean {
    const pid = this.child?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  exited(): Promise<Exit> {
    return this.exitPromise;
  }
}
