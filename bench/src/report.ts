/**
 * From measurements to what `npm run bench` shows: bench/out/latest.json with a fixed set of
 * keys, the side-by-side tables, and each aim met or not. Pure functions of the results.
 */
import { type DetectionTrial, DETECTION_VARIANTS, latencyMs } from './detection';
import type { Endpoint, EndpointsRun } from './endpoints';
import type { Footprints, Subject } from './footprint';
import type { HostileResult } from './hostile';
import { OUTAGE_DEADLINE_MS, type OutageResults } from './outage';
import { percentile } from '../../common/percentile';
import { round } from './stats';
import { DEFAULT_FAULT_LOG_LIMITS } from '../../app/src/chat/client-faults';
import { DEFAULT_REQUIRED_COMPONENTS } from '../../common/revision';
import { MAX_EXTRA_COMPONENT_SERIES } from '../../sidecar/src/bounds';
import { mebibytes } from '../../infra/resources';
import { SIDECAR_LIMITS } from '../../infra/revision-template';
import { PROBE_MODELS } from '../../runner/src/probe-model';
import { CONFIGURATIONS, type TimeToTraffic } from './time-to-traffic';
import type { WebSocketResult } from './websockets';

/** What each comparison measured; a comparison that could not run is absent. */
export interface Results {
  detection?: DetectionTrial[];
  timeToTraffic?: TimeToTraffic;
  footprint?: { subjects: Footprints; windowMs: number };
  endpoints?: EndpointsRun;
  ws?: WebSocketResult;
  hostile?: HostileResult;
  outage?: OutageResults;
}

type Figure = number | null;

export interface LatestJson {
  detection: Record<(typeof DETECTION_VARIANTS)[number], { p50Ms: Figure; p99Ms: Figure }>;
  /** Under the all-containers reading of Cloud Run, except `ours.ingressOnly`. */
  timeToTraffic: {
    ours: { p50Ms: Figure; earlyRoutedShare: Figure; afterReadyP50Ms: Figure; afterReadyP99Ms: Figure; ingressOnly: { earlyRoutedShare: Figure } };
    oldConfig: { p50Ms: Figure };
    tcpDefault: { earlyRoutedShare: Figure };
  };
  footprint: { gate: { rssMb: Figure; cpuSeconds30s: Figure; listenMs: Figure }; bareNode: { rssMb: Figure; listenMs: Figure } };
  endpoints: { startup: { rps: Figure; p99Ms: Figure }; metrics: { rps: Figure; p99Ms: Figure; scrapeKb: Figure; scrapeSamples: Figure } };
  ws: {
    clients: Figure;
    eventP50Ms: Figure;
    eventP99Ms: Figure;
    kbPerConnection: Figure;
    refuseP99Ms: Figure;
    /** Signed in: `authenticate` to `authenticated`, and the agent events of signed-in clients. */
    authenticated: { clients: Figure; authenticateP50Ms: Figure; authenticateP99Ms: Figure; eventP99Ms: Figure };
  };
  /** The slow reader's largest growth over its attack sizes, the runs the app did not close, and the forged-header flood. */
  hostile: {
    slowReaderMaxGrowthMb: Figure;
    slowReaderNotClosed: Figure;
    floodAccepted: Figure;
    floodLimitPerMinute: Figure;
    /** Chat round-trip p50, quiet and with the invalid-frame sockets running. */
    invalidFrameQuietP50Ms: Figure;
    invalidFrameAttackedP50Ms: Figure;
    /** App log lines a second under the protocol-error storm: on average and the busiest second. */
    logFloodLinesPerSecond: Figure;
    logFloodPeakLinesPerSecond: Figure;
    /** The gate under a backend that renames its components on every answer. */
    gateComponentSeries: Figure;
    /** Its RSS halfway through the run and at the end: a gate whose memory levels off grows little in between. */
    gateRssHalfwayMb: Figure;
    gateRssMb: Figure;
  };
  /** Each dependency black-holed for the outage window under load, and the same run without a fault. */
  outage: {
    clients: Figure;
    outageSeconds: Figure;
    none: { rssGrowthMb: Figure };
    postgresBlackhole: OutageFigures;
    redisBlackhole: OutageFigures;
  };
}

interface OutageFigures {
  recoveryMs: Figure;
  rssGrowthMb: Figure;
  lost: Figure;
  silences: Figure;
}

/** The JSON's footprint window: CPU over a shorter (--quick) window is scaled to it. */
export const CPU_WINDOW_MS = 30_000;

const pct = (samples: readonly number[] | undefined, p: number): Figure => (samples && samples.length > 0 ? round(percentile(samples, p)) : null);

export function latenciesOf(trials: readonly DetectionTrial[], variant: DetectionTrial['variant']): number[] {
  return trials.filter((t) => t.variant === variant).map(latencyMs);
}

export function buildJson(results: Results): LatestJson {
  const { detection, timeToTraffic: ttt, footprint, endpoints, ws, hostile, outage } = results;
  const slowReader = hostile?.slowReader;
  const outageOf = (variant: 'postgresBlackhole' | 'redisBlackhole'): OutageFigures => {
    const r = outage?.[variant];
    return { recoveryMs: r?.recoveryMs ?? null, rssGrowthMb: r ? r.rssGrowthMb : null, lost: r ? r.lost : null, silences: r ? r.silences : null };
  };
  const detectionOf = (variant: DetectionTrial['variant']) => {
    const samples = detection && latenciesOf(detection, variant);
    return { p50Ms: pct(samples, 50), p99Ms: pct(samples, 99) };
  };
  const all = ttt?.['all-containers'];
  const share = (result: { earlyRoutedShare: number } | undefined) => (result ? round(result.earlyRoutedShare, 4) : null);
  const subject = (name: Subject) => footprint?.subjects[name];
  const endpoint = (name: Endpoint) => ({ rps: endpoints ? round(endpoints[name].rps, 0) : null, p99Ms: endpoints ? endpoints[name].p99Ms : null });
  return {
    detection: { longPoll: detectionOf('longPoll'), polling: detectionOf('polling'), waitOn: detectionOf('waitOn') },
    timeToTraffic: {
      ours: {
        p50Ms: pct(all?.ours.trafficAtMs, 50),
        earlyRoutedShare: share(all?.ours),
        afterReadyP50Ms: pct(all?.ours.afterReadyMs, 50),
        afterReadyP99Ms: pct(all?.ours.afterReadyMs, 99),
        ingressOnly: { earlyRoutedShare: share(ttt?.['ingress-only'].ours) },
      },
      oldConfig: { p50Ms: pct(all?.oldConfig.trafficAtMs, 50) },
      tcpDefault: { earlyRoutedShare: share(all?.tcpDefault) },
    },
    footprint: {
      gate: {
        rssMb: subject('gate') ? round(subject('gate')!.rssAfterWindowMb, 1) : null,
        cpuSeconds30s: footprint ? round((footprint.subjects.gate.cpuSecondsInWindow * CPU_WINDOW_MS) / footprint.windowMs) : null,
        listenMs: pct(subject('gate')?.listenMs, 50),
      },
      bareNode: { rssMb: subject('bareNode') ? round(subject('bareNode')!.rssAfterWindowMb, 1) : null, listenMs: pct(subject('bareNode')?.listenMs, 50) },
    },
    endpoints: {
      startup: endpoint('startup'),
      metrics: { ...endpoint('metrics'), scrapeKb: endpoints ? round(endpoints.scrape.bytes / 1024, 1) : null, scrapeSamples: endpoints ? endpoints.scrape.samples : null },
    },
    ws: {
      clients: ws ? ws.clients : null,
      eventP50Ms: pct(ws?.eventLatenciesMs, 50),
      eventP99Ms: pct(ws?.eventLatenciesMs, 99),
      kbPerConnection: ws ? round(ws.kbPerConnection, 1) : null,
      refuseP99Ms: pct(ws?.refuseMs, 99),
      authenticated: {
        clients: ws ? ws.authenticated.clients : null,
        authenticateP50Ms: pct(ws?.authenticated.authenticateMs, 50),
        authenticateP99Ms: pct(ws?.authenticated.authenticateMs, 99),
        eventP99Ms: pct(ws?.authenticated.eventLatenciesMs, 99),
      },
    },
    hostile: {
      slowReaderMaxGrowthMb: slowReader && slowReader.length > 0 ? round(Math.max(...slowReader.map((r) => r.peakGrowthMb)), 1) : null,
      slowReaderNotClosed: slowReader && slowReader.length > 0 ? slowReader.filter((r) => !r.closed).length : null,
      floodAccepted: hostile ? hostile.flood.accepted : null,
      floodLimitPerMinute: hostile ? hostile.flood.limitPerMinute : null,
      invalidFrameQuietP50Ms: hostile ? round(hostile.invalidFrames.quietP50Ms) : null,
      invalidFrameAttackedP50Ms: hostile ? round(hostile.invalidFrames.attackedP50Ms) : null,
      logFloodLinesPerSecond: hostile ? round(hostile.logFlood.linesPerSecond) : null,
      logFloodPeakLinesPerSecond: hostile ? hostile.logFlood.peakLinesPerSecond : null,
      gateComponentSeries: hostile ? hostile.gateNames.componentSeries : null,
      gateRssHalfwayMb: hostile ? round(hostile.gateNames.rssHalfwayMb, 1) : null,
      gateRssMb: hostile ? round(hostile.gateNames.rssMb, 1) : null,
    },
    outage: {
      clients: outage ? outage.none.clients : null,
      outageSeconds: outage ? round(outage.none.outageMs / 1000, 0) : null,
      none: { rssGrowthMb: outage ? outage.none.rssGrowthMb : null },
      postgresBlackhole: outageOf('postgresBlackhole'),
      redisBlackhole: outageOf('redisBlackhole'),
    },
  };
}

/** What an outage may add to the app's RSS over the same load without one: no queue, no promise per message. */
export const OUTAGE_MAX_EXTRA_GROWTH_MB = 32;
/** A message sent after the dependency returns is answered within this. */
export const OUTAGE_MAX_RECOVERY_MS = 3000;

/** The most a socket that never reads may grow the app by: its 1 MiB send buffer and what serving it costs, far below the instance's memory. */
export const SLOW_READER_MAX_GROWTH_MB = 32;

export interface AimCheck {
  aim: string;
  value: string;
  /** null when a figure it needs was not measured. */
  met: boolean | null;
}

/** The benchmarks' aims, each read from the JSON alone, so the table and latest.json cannot disagree. */
export function checkAims(json: LatestJson): AimCheck[] {
  const { detection: d, timeToTraffic: t, footprint: f, endpoints: e, ws, hostile: h, outage: o } = json;
  const [pg, redis] = [o.postgresBlackhole, o.redisBlackhole];
  const check = (aim: string, figures: Figure[], value: (...x: number[]) => string, met: (...x: number[]) => boolean): AimCheck =>
    figures.some((x) => x === null) ? { aim, value: 'not measured', met: null } : { aim, value: value(...(figures as number[])), met: met(...(figures as number[])) };
  return [
    check('long-poll detection p99 under 10 ms', [d.longPoll.p99Ms], (p99) => `${p99} ms`, (p99) => p99 < 10),
    check('long-poll at least 20x faster than wait-on at p50', [d.waitOn.p50Ms, d.longPoll.p50Ms], (w, l) => `${round(w / l, 1)}x`, (w, l) => w >= 20 * l),
    check(
      'zero early routing for ours under both probe models',
      [t.ours.earlyRoutedShare, t.ours.ingressOnly.earlyRoutedShare],
      (a, i) => `all-containers ${a}, ingress-only ${i}`,
      (a, i) => a === 0 && i === 0,
    ),
    check('traffic after ready p99 at most 50 ms for ours', [t.ours.afterReadyP99Ms], (p99) => `${p99} ms`, (p99) => p99 <= 50),
    check('gate RSS within 1.3x the bare Node floor', [f.gate.rssMb, f.bareNode.rssMb], (g, b) => `${round(g / b)}x (${g} / ${b} MB)`, (g, b) => g <= 1.3 * b),
    check('gate RSS within 1.15x the bare Node floor', [f.gate.rssMb, f.bareNode.rssMb], (g, b) => `${round(g / b)}x (${g} / ${b} MB)`, (g, b) => g <= 1.15 * b),
    check('gate listens within 2x the bare Node time', [f.gate.listenMs, f.bareNode.listenMs], (g, b) => `${round(g / b)}x (${g} / ${b} ms)`, (g, b) => g <= 2 * b),
    check('/startup above 5,000 requests per second', [e.startup.rps], (rps) => `${rps} rps`, (rps) => rps > 5000),
    check(
      '1000 WebSocket clients with event p99 under 50 ms',
      [ws.clients, ws.eventP99Ms],
      (clients, p99) => `${clients} clients, p99 ${p99} ms`,
      (clients, p99) => clients >= 1000 && p99 < 50,
    ),
    check(
      `a socket that never reads grows the app at most ${SLOW_READER_MAX_GROWTH_MB} MB and is closed`,
      [h.slowReaderMaxGrowthMb, h.slowReaderNotClosed],
      (growth, notClosed) => `+${growth} MB at most, ${notClosed} not closed`,
      (growth, notClosed) => growth <= SLOW_READER_MAX_GROWTH_MB && notClosed === 0,
    ),
    // A flood that straddles the start of a minute meets two windows of the limit.
    check(
      'forged X-Forwarded-For: agent runs accepted within the limit',
      [h.floodAccepted, h.floodLimitPerMinute],
      (accepted, limit) => `${accepted} (limit ${limit} a minute)`,
      (accepted, limit) => accepted <= 2 * limit,
    ),
    check(
      `black-holed PostgreSQL and Redis: nothing acknowledged lost, every message heard within ${OUTAGE_DEADLINE_MS / 1000} s`,
      [pg.lost, pg.silences, redis.lost, redis.silences],
      (pl, ps, rl, rs) => `lost ${pl + rl}, silences ${ps + rs}`,
      (pl, ps, rl, rs) => pl + rl + ps + rs === 0,
    ),
    check(
      `chat recovers within ${OUTAGE_MAX_RECOVERY_MS / 1000} s of the dependency's return`,
      [pg.recoveryMs, redis.recoveryMs],
      (p, r) => `PostgreSQL ${p} ms, Redis ${r} ms`,
      (p, r) => Math.max(p, r) <= OUTAGE_MAX_RECOVERY_MS,
    ),
    check(
      `an outage grows the app at most ${OUTAGE_MAX_EXTRA_GROWTH_MB} MB more than the same load without one`,
      [pg.rssGrowthMb, redis.rssGrowthMb, o.none.rssGrowthMb],
      (p, r, n) => `PostgreSQL +${p} MB, Redis +${r} MB, no fault +${n} MB`,
      (p, r, n) => Math.max(p, r) - n <= OUTAGE_MAX_EXTRA_GROWTH_MB,
    ),
    check(
      'chat round-trip p50 with 10 invalid-frame sockets within 2x of quiet',
      [h.invalidFrameAttackedP50Ms, h.invalidFrameQuietP50Ms],
      (attacked, quiet) => `${round(attacked / quiet, 1)}x (${attacked} / ${quiet} ms)`,
      (attacked, quiet) => attacked <= 2 * quiet,
    ),
    check(
      `protocol-error storm: at most ${DEFAULT_FAULT_LOG_LIMITS.maxLinesPerSecond} log lines a second`,
      [h.logFloodLinesPerSecond, h.logFloodPeakLinesPerSecond],
      (average, peak) => `${average} a second, busiest second ${peak}`,
      (average) => average <= DEFAULT_FAULT_LOG_LIMITS.maxLinesPerSecond,
    ),
    check(
      `changing component names: gate series bounded, RSS within ${GATE_MEMORY_MB} MB`,
      [h.gateComponentSeries, h.gateRssMb, h.gateRssHalfwayMb],
      (series, rss, halfway) => `${series} component series, ${halfway} MB halfway, ${rss} MB at the end`,
      (series, rss) => series <= DEFAULT_REQUIRED_COMPONENTS.length + MAX_EXTRA_COMPONENT_SERIES && rss <= GATE_MEMORY_MB,
    ),
  ];
}

/** The gate container's memory limit in the stacks (exceeding it ends the instance). */
const GATE_MEMORY_MB = mebibytes(SIDECAR_LIMITS.gate.memory);

/** A plain-text table: the first column left-aligned, the figures right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const show = (x: Figure | undefined, unit = '') => (x === null || x === undefined ? 'n/a' : `${x}${unit}`);

/** The side-by-side tables, one per comparison that ran, then the aims. */
export function formatReport(results: Results, json: LatestJson): string {
  const parts: string[] = [];
  const { detection, timeToTraffic: ttt, footprint, endpoints, ws, hostile, outage } = results;
  if (detection) {
    const count = (variant: DetectionTrial['variant']) => latenciesOf(detection, variant).length;
    const early = (variant: DetectionTrial['variant']) => (variant === 'waitOn' ? '-' : String(latenciesOf(detection, variant).filter((ms) => ms < 0).length));
    parts.push(
      '1. Detection latency: app ready -> detector reports it (ms)',
      formatTable(
        ['', 'gate long-poll', 'gate polling 250 ms', 'wait-on 250 ms'],
        [
          ['p50', ...DETECTION_VARIANTS.map((v) => show(json.detection[v].p50Ms))],
          ['p99', ...DETECTION_VARIANTS.map((v) => show(json.detection[v].p99Ms))],
          ['startups', ...DETECTION_VARIANTS.map((v) => String(count(v)))],
          ['opened before ready', ...DETECTION_VARIANTS.map(early)],
        ],
      ),
    );
  }
  if (ttt) {
    const rows = PROBE_MODELS.flatMap((model) => {
      const r = ttt[model];
      return [
        [`${model}: traffic p50 ms`, ...CONFIGURATIONS.map((c) => show(pct(r[c].trafficAtMs, 50)))],
        [`${model}: after ready p50 / p99 ms`, ...CONFIGURATIONS.map((c) => `${show(pct(r[c].afterReadyMs, 50))} / ${show(pct(r[c].afterReadyMs, 99))}`)],
        [`${model}: early routed share`, ...CONFIGURATIONS.map((c) => show(round(r[c].earlyRoutedShare, 4)))],
        [`${model}: failed startups`, ...CONFIGURATIONS.map((c) => String(r[c].failed))],
      ];
    });
    parts.push(
      '2. Time to traffic under Cloud Run probe semantics, both readings (virtual clock, the long-poll startups above, ready spread over a probe period)',
      formatTable(['', 'ours (held, 1 s)', 'before held probes', 'old config (delay 45 s)', 'Cloud Run TCP default'], rows),
    );
  }
  if (footprint) {
    const { gate, gateTsc, bareNode } = footprint.subjects;
    const seconds = round(footprint.windowMs / 1000, 0);
    const ratio = (a: number, b: number) => `${round(a / b)}x`;
    const tscColumn = <T,>(cell: (b: NonNullable<typeof gateTsc>) => T): T[] => (gateTsc ? [cell(gateTsc)] : []);
    parts.push(
      `3. Footprint (gate as its image runs it, one bundle; as tsc compiles it; a bare Node HTTP server; same ${seconds} s window, probed once a second)`,
      formatTable(
        ['', 'gate (bundle)', ...tscColumn(() => 'gate (tsc)'), 'bare Node', 'gate / bare', ...tscColumn(() => 'tsc / bare')],
        [
          [
            'exec to listening p50 ms',
            show(json.footprint.gate.listenMs),
            ...tscColumn((b) => show(pct(b.listenMs, 50))),
            show(json.footprint.bareNode.listenMs),
            ratio(pct(gate.listenMs, 50)!, pct(bareNode.listenMs, 50)!),
            ...tscColumn((b) => ratio(pct(b.listenMs, 50)!, pct(bareNode.listenMs, 50)!)),
          ],
          [
            'RSS after start MB',
            show(round(gate.rssAfterStartMb, 1)),
            ...tscColumn((b) => show(round(b.rssAfterStartMb, 1))),
            show(round(bareNode.rssAfterStartMb, 1)),
            ratio(gate.rssAfterStartMb, bareNode.rssAfterStartMb),
            ...tscColumn((b) => ratio(b.rssAfterStartMb, bareNode.rssAfterStartMb)),
          ],
          [
            `RSS after ${seconds} s MB`,
            show(round(gate.rssAfterWindowMb, 1)),
            ...tscColumn((b) => show(round(b.rssAfterWindowMb, 1))),
            show(round(bareNode.rssAfterWindowMb, 1)),
            ratio(gate.rssAfterWindowMb, bareNode.rssAfterWindowMb),
            ...tscColumn((b) => ratio(b.rssAfterWindowMb, bareNode.rssAfterWindowMb)),
          ],
          [
            `CPU s in ${seconds} s`,
            show(round(gate.cpuSecondsInWindow)),
            ...tscColumn((b) => show(round(b.cpuSecondsInWindow))),
            show(round(bareNode.cpuSecondsInWindow)),
            '-',
            ...tscColumn(() => '-'),
          ],
        ],
      ),
    );
  }
  if (endpoints) {
    parts.push(
      '4. Gate endpoints under fixed load (autocannon, 10 connections, loopback)',
      formatTable(
        ['', '/startup', '/metrics'],
        [
          ['requests/s', show(json.endpoints.startup.rps), show(json.endpoints.metrics.rps)],
          ['p99 ms', show(json.endpoints.startup.p99Ms), show(json.endpoints.metrics.p99Ms)],
          ['non-2xx / errors', `${endpoints.startup.non2xx} / ${endpoints.startup.errors}`, `${endpoints.metrics.non2xx} / ${endpoints.metrics.errors}`],
          ['one answer', '', `${show(json.endpoints.metrics.scrapeKb)} KB, ${show(json.endpoints.metrics.scrapeSamples)} samples`],
        ],
      ),
    );
  }
  if (ws) {
    parts.push(
      '5. App WebSockets at Cloud Run maximum concurrency',
      formatTable(
        ['', 'value'],
        [
          ['clients connected', String(ws.clients)],
          ['messages completed / sent', `${ws.messagesCompleted} / ${ws.messagesSent}`],
          ['agent event p50 / p99 ms', `${show(json.ws.eventP50Ms)} / ${show(json.ws.eventP99Ms)}`],
          ['KB per idle connection', show(json.ws.kbPerConnection)],
          ['refused upgrade before ready p50 / p99 ms', `${show(pct(ws.refuseMs, 50))} / ${show(json.ws.refuseP99Ms)}`],
          ['upgrades accepted before ready', String(ws.acceptedBeforeReady)],
          ['signed in: clients, messages completed / sent', `${ws.authenticated.clients}, ${ws.authenticated.messagesCompleted} / ${ws.authenticated.messagesSent}`],
          ['signed in: authenticate p50 / p99 ms', `${show(json.ws.authenticated.authenticateP50Ms)} / ${show(json.ws.authenticated.authenticateP99Ms)}`],
          ['signed in: agent event p50 / p99 ms', `${show(pct(ws.authenticated.eventLatenciesMs, 50))} / ${show(json.ws.authenticated.eventP99Ms)}`],
        ],
      ),
    );
  }
  if (hostile) {
    const runs = hostile.slowReader;
    const { flood } = hostile;
    parts.push(
      `6. Hostile clients: a socket that never reads resumes a thread of ${hostile.threadMessages} messages of ${hostile.messageChars / 1000} KB (each size against a fresh app, rate limit out of the way)`,
      formatTable(
        ['', ...runs.map((r) => `${r.resumes.toLocaleString('en')} resumes`)],
        [
          ['app RSS before MB', ...runs.map((r) => show(round(r.baselineMb, 1)))],
          ['peak growth MB', ...runs.map((r) => show(round(r.peakGrowthMb, 1)))],
          ['closed with 1008, logged', ...runs.map((r) => (r.closed ? 'yes' : 'NO'))],
        ],
      ),
      `   ${flood.sockets} sockets, each forging its own X-Forwarded-For through the front door for ${flood.seconds} s: ` +
        `${flood.accepted} agent runs accepted (limit ${flood.limitPerMinute} a minute), ${flood.limited} refused with rate_limited`,
    );
    const { invalidFrames: i, logFlood: l, gateNames: g } = hostile;
    parts.push(
      'Abuse that costs CPU, logs and metrics',
      formatTable(
        ['', 'figure'],
        [
          [`chat round-trip p50 ms, quiet / with ${i.sockets} invalid-frame sockets (${i.seconds} s, ${i.roundTrips} round trips)`, `${show(json.hostile.invalidFrameQuietP50Ms)} / ${show(json.hostile.invalidFrameAttackedP50Ms)}`],
          ['  their connections / closed with 1008 / upgrades refused with 429', `${i.tally.connections} / ${i.tally.closed1008} / ${i.tally.refused429}`],
          [`protocol-error storm (${l.concurrency} loops, ${round(l.seconds, 1)} s): connections`, String(l.connections)],
          ['  app log lines a second, average / busiest second', `${show(json.hostile.logFloodLinesPerSecond)} / ${show(json.hostile.logFloodPeakLinesPerSecond)}`],
          [`gate, component names changing on every answer for ${round(g.seconds, 1)} s: component / all series`, `${g.componentSeries} / ${g.series}`],
          ['  /metrics KB, gate RSS MB halfway / at the end, checks a second', `${round(g.metricsBytes / 1024, 1)}, ${round(g.rssHalfwayMb, 1)} / ${round(g.rssMb, 1)}, ${round(g.checksPerSecond, 1)}`],
        ],
      ),
    );
  }
  if (outage) {
    const runs = [outage.none, outage.postgresBlackhole, outage.redisBlackhole];
    parts.push(
      `7. A dependency black-holed after ready: ${outage.none.clients} clients chatting, ${round(outage.none.outageMs / 1000, 0)} s of outage, then back (real PostgreSQL and Redis behind the stall proxy)`,
      formatTable(
        ['', 'no fault', 'PostgreSQL black hole', 'Redis black hole'],
        [
          ['messages acknowledged / sent', ...runs.map((r) => `${r.acknowledged} / ${r.sent}`)],
          ['refused with unavailable', ...runs.map((r) => String(r.unavailable))],
          ['acknowledged and lost', ...runs.map((r) => String(r.lost))],
          [`first frames later than ${OUTAGE_DEADLINE_MS / 1000} s`, ...runs.map((r) => String(r.silences))],
          ['slowest first frame ms', ...runs.map((r) => String(r.slowestFirstFrameMs))],
          ['1011 closes', ...runs.map((r) => String(r.closes1011))],
          ['recovery after return ms', ...runs.map((r) => show(r.recoveryMs))],
          ['app RSS at fault MB', ...runs.map((r) => String(r.rssAtFaultMb))],
          ['RSS growth to peak MB', ...runs.map((r) => String(r.rssGrowthMb))],
        ],
      ),
    );
  }
  const aims = checkAims(json).map((a) => [a.aim, a.value, a.met === null ? 'not measured' : a.met ? 'met' : 'NOT MET']);
  parts.push('Aims', formatTable(['aim', 'measured', ''], aims));
  return parts.join('\n\n');
}
