/**
 * `npm run budget`: reads observed boots from a samples file or a Prometheus query API and
 * recommends the stack's startupBudgetSeconds. Bad arguments or samples exit 2 with one line, a
 * query that fails exits 1 with one line; the figures come from runner/src/budget.ts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CHAT_SERVICE_NAME } from '../../common/cloud-run-service';
import { profile, recommend } from './budget';
import { PROMETHEUS_DURATION, type PrometheusSource, readPrometheusBoots } from './budget-prometheus';
import { budgetJson, formatBudget } from './budget-report';
import { type Boots, parseSamples } from './budget-samples';

const USAGE = 'usage: npm run budget -- (--samples FILE | --prometheus URL [--service NAME] [--window 7d]) [--json]';

/** Every query gets this long: a frontend in front of Managed Prometheus can be slow, never silent. */
const QUERY_TIMEOUT_MS = 30_000;

type Source = { kind: 'samples'; file: string } | ({ kind: 'prometheus' } & PrometheusSource);

export function parseBudgetOptions(argv: string[]): { source: Source; json: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: 'string' },
      prometheus: { type: 'string' },
      service: { type: 'string', default: CHAT_SERVICE_NAME },
      window: { type: 'string', default: '7d' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if ((values.samples === undefined) === (values.prometheus === undefined)) throw new Error('give exactly one of --samples FILE and --prometheus URL');
  if (values.samples !== undefined) return { source: { kind: 'samples', file: values.samples }, json: values.json };
  let url: URL;
  try {
    url = new URL(values.prometheus!);
  } catch {
    throw new Error(`--prometheus must be a URL such as http://localhost:9090, got ${JSON.stringify(values.prometheus)}`);
  }
  if (!['http:', 'https:'].includes(url.protocol)) throw new Error(`--prometheus must be an http(s) URL, got ${JSON.stringify(values.prometheus)}`);
  if (!PROMETHEUS_DURATION.test(values.window)) throw new Error(`--window must be a Prometheus duration such as 1h or 7d, got ${JSON.stringify(values.window)}`);
  if (values.service === '') throw new Error('--service must not be empty');
  return { source: { kind: 'prometheus', url, service: values.service, window: values.window, timeoutMs: QUERY_TIMEOUT_MS }, json: values.json };
}

async function readBoots(source: Source): Promise<{ boots: Boots; from: string }> {
  if (source.kind === 'samples') {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (error) {
      throw new Error(`--samples ${source.file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      return { boots: parseSamples(text), from: source.file };
    } catch (error) {
      throw new Error(`--samples ${source.file} ${(error as Error).message}`, { cause: error });
    }
  }
  try {
    return { boots: await readPrometheusBoots(source), from: `${source.url.href} (job="${source.service}", last ${source.window})` };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause?.message;
    throw new QueryFailed(`--prometheus ${source.url.href}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`, { cause: error });
  }
}

/** The query API did not answer as one: not the arguments' fault, so exit 1 rather than 2. */
class QueryFailed extends Error {}

async function main(): Promise<void> {
  const fail = (message: string, code = 2) => {
    process.stderr.write(`${message}\n`);
    process.exit(code);
  };
  let options: ReturnType<typeof parseBudgetOptions>;
  try {
    options = parseBudgetOptions(process.argv.slice(2));
  } catch (error) {
    return fail(`${(error as Error).message}\n${USAGE}`);
  }
  const { boots, from } = await readBoots(options.source).catch((error: Error) => fail(error.message, error instanceof QueryFailed ? 1 : 2) as never);
  if (boots.samples.length === 0) return fail(`no boots in ${from}${boots.rejected.length ? ` (skipped ${boots.rejected.length} that are not boots; the first: ${boots.rejected[0]!.where}: ${boots.rejected[0]!.reason})` : ''}`);
  const observed = profile(boots.samples);
  const report = { source: from, rejected: boots.rejected, profile: observed, recommendation: recommend(observed) };
  process.stdout.write(options.json ? `${JSON.stringify(budgetJson(report), null, 2)}\n` : `${formatBudget(report).join('\n')}\n`);
}

void main();
