/**
 * `npm run bench`: runs the seven comparisons one after another on loopback, prints the
 * side-by-side tables with the aims, and writes bench/out/latest.json.
 * `--quick` runs a smaller plan (a smoke run, not figures to quote); `--only a,b` runs some.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DetectionTrial, latencyMs, runDetection } from './detection';
import { runEndpoints } from './endpoints';
import { runFootprint } from './footprint';
import { runHostile } from './hostile';
import { runOutages } from './outage';
import { parseOptions, type Section, UsageError } from './options';
import { killAll } from './processes';
import { buildJson, formatReport, type Results } from './report';
import { round } from './stats';
import { modelTimeToTraffic, spreadOverPeriod } from './time-to-traffic';
import { CLOUD_RUN_MAX_CONCURRENCY, runWebSockets } from './websockets';
import { ENTRY_POINTS } from '../../common/paths';

const OUT_FILE = path.resolve(__dirname, '../../../bench/out/latest.json');

const PLANS = {
  full: {
    startupsPerVariant: 50,
    footprint: { starts: 5, windowMs: 30_000 },
    endpoints: { rounds: 3, secondsPerRound: 5 },
    ws: { clients: CLOUD_RUN_MAX_CONCURRENCY, messagesPerClient: 5, messageIntervalMs: 1000, refusals: 1000 },
    hostile: { resumes: [100, 1000, 10_000], threadMessages: 100, messageChars: 8000, floodSockets: 200, floodMs: 3000, roundTrips: 100, invalidFrameSockets: 10, invalidFrameMs: 10_000, logFloodMs: 10_000, gateNamesMs: 90_000 },
    outage: { clients: 50, warmupMs: 5000, outageMs: 60_000, afterMs: 5000 },
  },
  quick: {
    startupsPerVariant: 10,
    footprint: { starts: 3, windowMs: 5_000 },
    endpoints: { rounds: 1, secondsPerRound: 2 },
    ws: { clients: CLOUD_RUN_MAX_CONCURRENCY, messagesPerClient: 2, messageIntervalMs: 1000, refusals: 200 },
    hostile: { resumes: [1000], threadMessages: 100, messageChars: 8000, floodSockets: 200, floodMs: 3000, roundTrips: 30, invalidFrameSockets: 10, invalidFrameMs: 3000, logFloodMs: 3000, gateNamesMs: 5000 },
    outage: { clients: 20, warmupMs: 2000, outageMs: 10_000, afterMs: 3000 },
  },
} as const;

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Printed at the start and the end: other work on the machine inflates every latency here. */
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<number> {
  const { plan: planName, only } = parseOptions(process.argv.slice(2));
  const plan = PLANS[planName];
  const started = performance.now();
  say(`bench (${planName}): node ${process.version}, ${os.cpus().length} CPUs, load average ${loadAverage()}`);
  const gateBuilt = existsSync(ENTRY_POINTS.gate);
  if (!gateBuilt) say(`the gate is not built (${ENTRY_POINTS.gate}): skipping every figure that needs it`);

  const results: Results = {};
  let failures = 0;
  const section = async <T>(name: Section, needsGate: boolean, run: () => Promise<T>): Promise<T | undefined> => {
    if (!only.includes(name) || (needsGate && !gateBuilt)) return undefined;
    const sectionStart = performance.now();
    say(`${name}: running`);
    try {
      const result = await run();
      say(`${name}: done in ${round((performance.now() - sectionStart) / 1000, 1)} s`);
      return result;
    } catch (error) {
      failures += 1;
      say(`${name}: FAILED: ${(error as Error).stack ?? String(error)}`);
      return undefined;
    }
  };

  results.detection = await section('detection', true, () =>
    runDetection(
      plan.startupsPerVariant,
      (t: DetectionTrial) => {
        say(`  ${t.variant.padEnd(8)} ready ${round(t.readyMs, 0)} ms, detected +${round(latencyMs(t))} ms`);
        if (t.slowGateLog) say(`  slow long-poll detection; the gate's log:\n${t.slowGateLog.trim().replace(/^/gm, '    ')}`);
      },
      (variant, error) => say(`  ${variant} startup failed, retrying: ${error.message}`),
    ),
  );
  const longPollStartups = results.detection?.filter((t) => t.variant === 'longPoll');
  if (longPollStartups) {
    const timelines = longPollStartups.map((t) => ({ listenMs: t.listenMs, readyMs: t.readyMs, gateOpenMs: t.detectedMs }));
    results.timeToTraffic = await modelTimeToTraffic(spreadOverPeriod(timelines));
  }
  const footprint = await section('footprint', true, () => runFootprint(plan.footprint.starts, plan.footprint.windowMs));
  if (footprint) results.footprint = { subjects: footprint, windowMs: plan.footprint.windowMs };
  results.endpoints = await section('endpoints', true, () => runEndpoints(plan.endpoints.rounds, plan.endpoints.secondsPerRound));
  results.ws = await section('ws', false, () => runWebSockets(plan.ws));
  results.hostile = await section('hostile', false, () => runHostile(plan.hostile));
  results.outage = await section('outage', false, () =>
    runOutages(plan.outage, (r) => say(`  ${r.fault}: recovery ${r.recoveryMs ?? 'none'} ms, RSS +${r.rssGrowthMb} MB, lost ${r.lost}, silences ${r.silences}`)),
  );

  const json = buildJson(results);
  mkdirSync(path.dirname(OUT_FILE), { recursive: true });
  writeFileSync(OUT_FILE, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`${formatReport(results, json)}\n\n`);
  say(`wrote ${path.relative(process.cwd(), OUT_FILE)} in ${round((performance.now() - started) / 1000, 0)} s (${planName} plan), load average now ${loadAverage()}`);
  return failures === 0 && gateBuilt ? 0 : 1;
}

process.once('SIGINT', () => {
  killAll();
  process.exit(130);
});
main()
  .then((code) => {
    killAll();
    process.exit(code);
  })
  .catch((error: unknown) => {
    killAll();
    say(error instanceof UsageError ? error.message : String((error as Error).stack ?? error));
    process.exit(error instanceof UsageError ? 2 : 1);
  });
