/**
 * The gate's Prometheus metrics in a registry the caller owns (tests get a fresh one each, no
 * globals). Only the gate's own metrics: prom-client's default Node metrics fail `promtool check
 * metrics`, and the scrape must pass it whole.
 */
import type { Registry } from 'prom-client';
// One module per class rather than the package's index, which also loads the cluster aggregator,
// default metrics, summaries and the push gateway: a quarter of the gate's time to listen.
import Counter from 'prom-client/lib/counter';
import Gauge from 'prom-client/lib/gauge';
import Histogram from 'prom-client/lib/histogram';
import { CHECK_RESULTS, type CheckResult } from '../../common/gate-contract';
import { STATES } from '../../common/phase-contract';
import { HOLD_OUTCOMES, type HoldOutcome } from '../../common/startup-hold';
import { MAX_PHASE_SERIES, OTHER_PHASE, componentSeries, PhaseLabels, phaseSeries } from './bounds';
import { type GateState, isReady } from './decision';

/**
 * Boot and phase durations: 0.5 s to Cloud Run's longest startup (480 s), closer together around
 * the 240 s window, where a budget's 80% line usually falls.
 */
export const BOOT_BUCKETS = [0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 150, 180, 210, 240, 300, 360, 420, 480];

export class GateMetrics {
  private readonly open: Gauge;
  private readonly ready: Gauge;
  private readonly checks: Counter<'result'>;
  private readonly duration: Histogram;
  private readonly timeToOpen: Gauge;
  private readonly component: Gauge<'component'>;
  private readonly appState: Gauge<'state'>;
  private readonly appPhase: Gauge<'phase'>;
  private readonly held: Histogram<'outcome'>;
  private readonly boot: Histogram;
  private readonly phaseSeconds: Histogram<'phase'>;
  private readonly budget: Gauge;
  private readonly phaseLabels = new PhaseLabels();
  /** Set by the Gate that owns the holds (countHolds); none are held before it exists. */
  private probesHeldNow: () => number = () => 0;
  /** Components that have a series now: one that vanishes from the body loses it (bounds.ts caps the rest). */
  private labelled = new Set<string>();

  constructor(
    registry: Registry,
    private readonly required: readonly string[],
    startTimeSeconds: number,
  ) {
    const probesHeld = (): number => this.probesHeldNow();
    const registers = [registry];
    this.open = new Gauge({ name: 'startup_gate_open', help: '1 once the gate has opened (latched), else 0.', registers });
    this.ready = new Gauge({ name: 'startup_gate_ready', help: '1 while /ready answers 200.', registers });
    this.checks = new Counter({ name: 'startup_gate_checks_total', help: 'Checks of the phase endpoint by result.', labelNames: ['result'], registers });
    this.duration = new Histogram({
      name: 'startup_gate_check_duration_seconds',
      help: 'Duration of one check, including the time a long-poll is held by the target.',
      // Loopback answers take about a millisecond; held long-polls take up to the wait.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.timeToOpen = new Gauge({ name: 'startup_gate_time_to_open_seconds', help: 'Seconds from gate start to open; 0 until it opens.', registers });
    this.component = new Gauge({ name: 'startup_gate_component_ready', help: '1 when the app reports the component as built.', labelNames: ['component'], registers });
    this.appState = new Gauge({ name: 'startup_gate_app_state', help: "1 for the app's current state (contract 1), 0 for the others.", labelNames: ['state'], registers });
    this.appPhase = new Gauge({ name: 'startup_gate_app_phase', help: "1 for the app's current phase, 0 for phases seen before.", labelNames: ['phase'], registers });
    new Gauge({
      name: 'startup_gate_probes_held',
      help: 'Startup probes /startup is holding now, waiting for the gate to open.',
      registers,
      collect() {
        this.set(probesHeld());
      },
    });
    this.held = new Histogram({
      name: 'startup_gate_probe_hold_seconds',
      help: 'How long /startup held a probe, by outcome: settled (open, failed or stopping), expired (503 before the timeout), gone (the client left) or full (answered at once: too many held already).',
      labelNames: ['outcome'],
      // A hold ends within the probe timeout (975 ms for a 1 s probe); most end early, when the gate opens.
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({ name: 'startup_gate_start_time_seconds', help: 'Unix time the gate started.', registers }).set(startTimeSeconds);
    this.boot = new Histogram({
      name: 'startup_gate_boot_seconds',
      help: 'Seconds from gate start to open, observed once per boot; summed across instances, the fleet boot distribution.',
      buckets: BOOT_BUCKETS,
      registers,
    });
    this.phaseSeconds = new Histogram({
      name: 'startup_gate_phase_seconds',
      help: `Duration of each completed startup phase as the gate saw it over the long-poll; at most ${MAX_PHASE_SERIES} phase names, later ones as ${OTHER_PHASE}.`,
      labelNames: ['phase'],
      buckets: BOOT_BUCKETS,
      registers,
    });
    this.budget = new Gauge({ name: 'startup_gate_budget_seconds', help: 'The startup budget in force (GATE_STARTUP_BUDGET_SECONDS): the startup probes give up this long after start.', registers });

    // Zero-valued series from the first scrape, so rates and alerts need no absent() tricks.
    for (const result of CHECK_RESULTS) this.checks.inc({ result }, 0);
    for (const state of STATES) this.appState.set({ state }, 0);
    for (const component of required) this.component.set({ component }, 0);
    this.labelled = new Set(required);
    for (const outcome of HOLD_OUTCOMES) this.held.zero({ outcome });
  }

  /** Where the probes-held gauge reads its value at each scrape: the Gate registers its holds here. */
  countHolds(count: () => number): void {
    this.probesHeldNow = count;
  }

  recordCheck(result: CheckResult, durationMs: number): void {
    this.checks.inc({ result });
    this.duration.observe(durationMs / 1000);
  }

  setBudget(seconds: number): void {
    this.budget.set(seconds);
  }

  recordBoot(seconds: number): void {
    this.boot.observe(seconds);
  }

  recordPhase(phase: string, seconds: number): void {
    this.phaseSeconds.observe({ phase: this.phaseLabels.label(phase) }, seconds);
  }

  recordHold(outcome: HoldOutcome, heldMs: number): void {
    this.held.observe({ outcome }, heldMs / 1000);
  }

  /** Sets every gauge from the state; idempotent, so call it after each change. */
  update(state: GateState, startedAtMs: number): void {
    this.open.set(state.openedAtMs === null ? 0 : 1);
    if (state.openedAtMs !== null) this.timeToOpen.set((state.openedAtMs - startedAtMs) / 1000);
    this.ready.set(isReady(state, this.required) ? 1 : 0);
    const observation = state.observation;
    if (observation === undefined) return;
    for (const s of STATES) this.appState.set({ state: s }, s === observation.state ? 1 : 0);
    this.appPhase.reset();
    for (const [phase, current] of phaseSeries(observation.phase, observation.completedPhases)) this.appPhase.set({ phase }, current);
    const series = componentSeries(observation.components, this.required);
    for (const component of this.labelled) if (!series.has(component)) this.component.remove({ component });
    for (const [component, built] of series) this.component.set({ component }, built);
    this.labelled = new Set(series.keys());
  }
}
