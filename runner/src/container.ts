/** One container of the local revision: a child process with Cloud Run's stop semantics. */
import { type ChildProcess, spawn } from 'node:child_process';

/** Cloud Run sends SIGTERM and, about 10 s later, SIGKILL. */
export const STOP_GRACE_MS = 10_000;

export interface ContainerProcessSpec {
  name: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
}

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
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...this.spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

  /** SIGTERM, then SIGKILL after the grace period; resolves with how the process ended. */
  async stop(graceMs = STOP_GRACE_MS): Promise<Exit> {
    const child = this.child;
    if (child === undefined || !this.running) return this.exitPromise;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const exit = await this.exitPromise;
    clearTimeout(timer);
    return exit;
  }

  exited(): Promise<Exit> {
    return this.exitPromise;
  }
}
