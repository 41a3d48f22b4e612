/**
 * The app's degraded-mode metric and its alert with real Prometheus tools (Debian's `prometheus`
 * package): the rules pass `promtool check rules` and their unit tests, and a real scrape of a
 * running app passes `promtool check metrics` and shows Redis degraded while it is stopped.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ALERT_RULES_DIRS, REPO_ROOT } from '../../common/paths';
import { APP_METRICS_PATH } from '../../common/revision';
import { loadAlertRules } from '../../infra/alert-rules';
import { collectorLabels } from '../../infra/collector';
import { appLauncher, type AppProcess } from '../../testkit/app-process';
import { serverForFile, startRedis } from '../../testkit/dependency-servers';
import { waitFor } from '../../testkit/wait-for';

const ALERTS = path.join(REPO_ROOT, ALERT_RULES_DIRS.chatApp);
const { launch, stopAll } = appLauncher();
afterEach(stopAll);
const redis = serverForFile(startRedis);

/** Runs promtool; resolves with its exit code and output (stdout and stderr). */
function promtool(args: string[], input = ''): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', args, { cwd: ALERTS }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`promtool did not run (${error.message}): install Debian's prometheus package`));
      resolve({ code: error ? Number(error.code) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(input);
  });
}

async function scrape(app: AppProcess): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${app.phasePort}${APP_METRICS_PATH}`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

const degraded = (text: string, dependency: string) => text.split('\n').find((line) => line.startsWith(`chat_dependency_degraded{dependency="${dependency}"}`))?.split(' ')[1];

it('the alert rules pass promtool check rules and their unit tests', async () => {
  expect(await promtool(['check', 'rules', 'dependencies.rules.yml'])).toEqual({ code: 0, output: expect.stringContaining('SUCCESS: 1 rules found') });
  expect(await promtool(['test', 'rules', 'dependencies.test.yml'])).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
});

it("the deployed rule selects only the app's metric and labels the app or the collector attach", async () => {
  const rules = loadAlertRules(REPO_ROOT, ALERT_RULES_DIRS.chatApp);
  expect(rules.map((rule) => rule.alert)).toEqual(['ChatDependencyDegraded']);
  const app = await launch({ REDIS_URL: redis().url });
  await app.waitForState('ready');
  const text = await scrape(app);
  for (const rule of rules) {
    const metrics = [...rule.expr.matchAll(/\b(chat_[a-z_]+)\b/g)].map(([, name]) => name!);
    expect(metrics.length).toBeGreaterThan(0);
    for (const metric of metrics) expect(text).toContain(`\n${metric}{dependency="redis"} `);
    const labels = [...rule.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap(([, list]) => list!.split(',').map((label) => label.trim()));
    const templated = Object.values(rule.annotations).flatMap((value) => [...value.matchAll(/\$labels\.([a-z_]+)/g)].map(([, label]) => label!));
    expect([...labels, ...templated].filter((label) => !['dependency', ...collectorLabels()].includes(label))).toEqual([]);
  }
});

it('a running app reports chat_dependency_degraded on its internal listener: 0, 1 while Redis is stopped, 0 again', async () => {
  const app = await launch({ REDIS_URL: redis().url });
  await app.waitForState('ready');
  const first = await scrape(app);
  expect(await promtool(['check', 'metrics'], first)).toEqual({ code: 0, output: '' });
  expect(degraded(first, 'redis')).toBe('0');
  await redis().stop();
  await waitFor('redis to show degraded', async () => degraded(await scrape(app), 'redis') === '1');
  await redis().start();
  await waitFor('redis to show healthy', async () => degraded(await scrape(app), 'redis') === '0');
});
