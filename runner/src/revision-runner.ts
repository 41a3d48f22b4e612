/**
 * Runs one Cloud Run revision on this machine: starts containers in dependsOn order, runs their
 * startup probes with Cloud Run's semantics, opens the front door once every startup probe has
 * passed, then runs liveness probes and restarts a container that fails them.
 */
import { ContainerProcess, type Exit } from './container';
import type { FrontDoor } from './front-door';
import { parseAppLogLine } from '../../common/app-log';
import { defaultTcpStartupProbe, type ProbeSpec, startupWindowSeconds } from '../../common/probes';
import { type Clock, probeAttempt, realClock, runLivenessProbe, runStartupProbe } from './probe';
import type { ProbeModel } from './probe-model';
import type { Emit } from './timeline';

export interface LocalContainer {
  name: string;
  command: readonly string[];
  /** The command starts other processes (a shell): stop them all (ContainerProcessSpec.processGroup). */
  processGroup?: boolean;
  env: Readonly<Record<string, string>>;
  /** Set on the ingress container: the port Cloud Run sends traffic to. */
  ingressPort?: number;
  startupProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  dependsOn: readonly string[];
}

export interface LocalRevision {
  stack: string;
  containers: readonly LocalContainer[];
}

export type StartResult = { ok: true; trafficAtMs: number } | { ok: false; reason: string; atMs: number };

/** The containers whose startup probes let traffic in under a probe model. */
export function trafficWaitsFor(containers: readonly LocalContainer[], model: ProbeModel): LocalContainer[] {
  return model === 'all-containers' ? [...containers] : containers.filter((container) => container.ingressPort !== undefined);
}

/** The startup probe Cloud Run runs for a container: its own, the default TCP one for ingress, or none. */
export function effectiveStartupProbe(container: LocalContainer): ProbeSpec | undefined {
  if (container.startupProbe) return container.startupProbe;
  return container.ingressPort === undefined ? undefined : defaultTcpStartupProbe(container.ingressPort);
}

/** Start order from dependsOn; throws on unknown names and cycles, as the Cloud Run API would reject them. */
export function startOrder(containers: readonly LocalContainer[]): LocalContainer[][] {
  const byName = new Map(containers.map((container) => [container.name, container]));
  for (const container of containers) {
    for (const dependency of container.dependsOn) {
      if (!byName.has(dependency)) throw new Error(`container ${container.name} depends on unknown container ${dependency}`);
      if (effectiveStartupProbe(byName.get(dependency)!) === undefined) {
        throw new Error(`container ${container.name} depends on ${dependency}, which has no startup probe`);
      }
    }
  }
  const waves: LocalContainer[][] = [];
  const placed = new Set<string>();
  while (placed.size < containers.length) {
    const wave = containers.filter((c) => !placed.has(c.name) && c.dependsOn.every((d) => placed.has(d)));
    if (wave.length === 0) throw new Error(`dependsOn has a cycle among ${containers.filter((c) => !placed.has(c.name)).map((c) => c.name).join(', ')}`);
    for (const container of wave) placed.add(container.name);
    waves.push(wave);
  }
  return waves;
}

export class RevisionRunner {
  private readonly processes = new Map<string, ContainerProcess>();
  private readonly passed = new Map<string, Promise<boolean>>();
  private state: 'starting' | 'serving' | 'failed' | 'stopping' = 'starting';
  private readonly restarting = new Set<string>();
  /** The last ERROR or CRITICAL log message of each container, to explain an exit. */
  private readonly lastError = new Map<string, string>();
  private fail: (reason: string) => void = () => {};
  private readonly startedAtMs: number;

  constructor(
    private readonly revision: LocalRevision,
    private readonly frontDoor: FrontDoor,
    private readonly emit: Emit,
    private readonly clock: Clock = realClock,
    private readonly probeModel: ProbeModel = 'all-containers',
  ) {
    this.startedAtMs = clock.now();
    startOrder(revision.containers);
  }

  /** Starting or serving: neither failed nor stopping. */
  private get running(): boolean {
    return this.state === 'starting' || this.state === 'serving';
  }

  /** Resolves when traffic would flow, or when the revision fails to start. */
  start(): Promise<StartResult> {
    return new Promise<StartResult>((resolve) => {
      this.fail = (reason) => {
        if (this.state !== 'starting') return;
        this.state = 'failed';
        this.emit({ kind: 'failed', reason });
        resolve({ ok: false, reason, atMs: this.clock.now() - this.startedAtMs });
      };
      for (const container of this.revision.containers) this.passed.set(container.name, this.bringUp(container));
      const gating = trafficWaitsFor(this.revision.containers, this.probeModel);
      void Promise.all(gating.map((container) => this.passed.get(container.name)!)).then((results) => {
        if (!results.every(Boolean) || this.state !== 'starting') return;
        this.state = 'serving';
        this.emit({ kind: 'traffic', heldRequests: this.frontDoor.heldCount, probeModel: this.probeModel });
        this.frontDoor.open();
        resolve({ ok: true, trafficAtMs: this.clock.now() - this.startedAtMs });
        // Each container's liveness probe starts once its own startup probe passed.
        for (const container of this.revision.containers) {
          void this.passed.get(container.name)!.then(async (passed) => {
            if (passed) await this.watchLiveness(container);
          });
        }
      });
    });
  }

  /** SIGTERM to every container at once, as Cloud Run does, and wait for them. */
  async stop(): Promise<void> {
    if (this.state === 'stopping') return;
    this.state = 'stopping';
    this.frontDoor.hold();
    this.emit({ kind: 'stopping' });
    await Promise.all([...this.processes.values()].map((process) => process.stop()));
    this.emit({ kind: 'stopped' });
  }

  private async bringUp(container: LocalContainer): Promise<boolean> {
    for (const dependency of container.dependsOn) if (!(await this.passed.get(dependency))) return false;
    if (!this.running) return false;
    const startedAt = this.launch(container);
    const probe = effectiveStartupProbe(container);
    if (probe === undefined) return true;
    const { initialDelaySeconds, periodSeconds, failureThreshold } = probe;
    this.emit({ kind: 'startup-schedule', container: container.name, initialDelaySeconds, periodSeconds, failureThreshold });
    const outcome = await runStartupProbe(
      probe,
      probeAttempt(probe),
      this.clock,
      startedAt,
      (attempt) => this.emit({ kind: 'probe', container: container.name, probe: 'startup', ...pickAttempt(attempt) }),
      () => !this.running || !this.processes.get(container.name)?.running,
    );
    if (outcome.passed) {
      this.emit({ kind: 'startup-passed', container: container.name, attempts: outcome.attempts.length });
      return true;
    }
    if (this.processes.get(container.name)?.running) {
      const last = outcome.attempts.at(-1)?.detail ?? 'no attempt';
      const reason =
        `container ${container.name} failed its startup probe ${outcome.attempts.length} times in its ${startupWindowSeconds(probe)} s window` +
        `${probe.initialDelaySeconds > 0 ? ` after a ${probe.initialDelaySeconds} s initial delay` : ''} (last: ${last})`;
      // Under ingress-only a sidecar may still be starting once traffic flows; Cloud Run fails the
      // instance when any container's startup probe fails, so the revision stops all the same.
      if (this.state === 'serving') {
        this.emit({ kind: 'failed', reason });
        await this.stop();
      } else this.fail(reason);
    }
    return false;
  }

  private launch(container: LocalContainer): number {
    const process = new ContainerProcess(
      { name: container.name, command: container.command, env: container.env, processGroup: container.processGroup },
      (line) => this.onLine(container.name, line),
      (exit) => this.onExit(container.name, exit),
    );
    this.processes.set(container.name, process);
    process.start();
    this.emit({ kind: 'container-started', container: container.name, pid: process.pid });
    return this.clock.now();
  }

  private onExit(name: string, exit: Exit): void {
    this.emit({ kind: 'container-exited', container: name, code: exit.code, signal: exit.signal });
    if (this.restarting.has(name)) return;
    const why = this.lastError.get(name);
    if (this.state === 'starting') this.fail(`container ${name} exited during startup (${exit.signal ?? `code ${exit.code}`})${why ? `: ${why}` : ''}`);
    if (this.state === 'serving') void this.restart(this.revision.containers.find((c) => c.name === name)!, 'the process exited');
  }

  /** Shows the app's phase completions and its warnings and errors; other log lines stay quiet. */
  private onLine(name: string, line: string): void {
    const entry = parseAppLogLine(line);
    if (entry.kind === 'text') {
      this.emit({ kind: 'app-log', container: name, severity: 'OUTPUT', message: entry.text });
    } else if (entry.kind === 'phase-complete') {
      this.emit({ kind: 'phase', container: name, phase: entry.phase, durationMs: entry.durationMs });
    } else if (entry.severity !== undefined && ['WARNING', 'ERROR', 'CRITICAL'].includes(entry.severity)) {
      this.emit({ kind: 'app-log', container: name, severity: entry.severity, message: entry.message });
      if (entry.severity !== 'WARNING') this.lastError.set(name, entry.message);
    }
  }

  private async watchLiveness(container: LocalContainer): Promise<void> {
    const probe = container.livenessProbe;
    if (probe === undefined) return;
    const process = this.processes.get(container.name);
    const failures = await runLivenessProbe(
      probe,
      probeAttempt(probe),
      this.clock,
      (attempt) => {
        if (!attempt.ok) this.emit({ kind: 'probe', container: container.name, probe: 'liveness', ...pickAttempt(attempt) });
      },
      () => this.state !== 'serving' || this.processes.get(container.name) !== process || !process?.running,
    );
    if (failures !== undefined && this.state === 'serving') {
      await this.restart(container, `liveness probe failed ${failures.length} times in a row (last: ${failures.at(-1)?.detail})`);
    }
  }

  /** Restarts one container; the front door holds traffic until it passes its startup probe again. */
  private async restart(container: LocalContainer, reason: string): Promise<void> {
    this.emit({ kind: 'restart', container: container.name, reason });
    this.restarting.add(container.name);
    this.frontDoor.hold();
    if (container.ingressPort !== undefined) this.frontDoor.dropTunnels();
    await this.processes.get(container.name)?.stop();
    this.restarting.delete(container.name);
    if (this.state !== 'serving') return;
    const startedAt = this.launch(container);
    const probe = effectiveStartupProbe(container);
    const outcome = probe && (await runStartupProbe(probe, probeAttempt(probe), this.clock, startedAt, undefined, () => this.state !== 'serving'));
    if (this.state !== 'serving') return;
    if (outcome && !outcome.passed) {
      this.emit({ kind: 'failed', reason: `container ${container.name} did not pass its startup probe after a restart` });
      return;
    }
    this.emit({ kind: 'traffic', heldRequests: this.frontDoor.heldCount, probeModel: this.probeModel });
    this.frontDoor.open();
    void this.watchLiveness(container);
  }
}

function pickAttempt(attempt: { attempt: number; ok: boolean; detail: string; durationMs: number }) {
  return { attempt: attempt.attempt, ok: attempt.ok, detail: attempt.detail, durationMs: attempt.durationMs };
}
