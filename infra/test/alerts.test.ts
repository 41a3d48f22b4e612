/**
 * The alert policies: one per alerting rule of sidecar/alerts (every gated service's) and of the
 * app's own folders (the chat app's app/alerts), with the rule's PromQL, duration, labels and
 * annotations, in the rendered stacks (equal to the program's output: `npm test` runs
 * `render --check` first); channels where the stack has them. The Python example names no folder
 * of its own and gets the gate's only.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ALERT_RULES_DIRS, REPO_ROOT } from '../../common/paths';
import {
  alertPolicyArgs,
  AUTO_CLOSE,
  documentationTemplate,
  durationSeconds,
  evaluationIntervalSeconds,
  kebab,
  loadAlertRules,
  parseRuleFile,
  serviceAlertRules,
  type AlertingRule,
} from '../alert-rules';
import { SCRAPE_INTERVAL } from '../collector';
import { parseStackConfig } from '../config';
import { STACKS } from '../../common/cloud-run-service';
import { stackConfig } from '../mocks';
import { renderedStack } from './stack-support';

const ALERT_POLICY = 'gcp:monitoring/alertPolicy:AlertPolicy';

/** The rules file as Prometheus reads it, independently of the module under test. */
interface PromRule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
/** The alerting rules of a folder's rules files, in name order. */
const promRulesIn = (dir: string): (PromRule & { group: string; file: string })[] =>
  fs
    .readdirSync(path.join(REPO_ROOT, dir))
    .filter((name) => name.endsWith('.rules.yml'))
    .sort()
    .flatMap((name) =>
      (parse(fs.readFileSync(path.join(REPO_ROOT, dir, name), 'utf8')) as { groups: { name: string; rules: PromRule[] }[] }).groups.flatMap((group) =>
        group.rules.filter((rule) => rule.alert).map((rule) => ({ ...rule, group: group.name, file: path.join(dir, name) })),
      ),
    );
const gateRules = promRulesIn(ALERT_RULES_DIRS.gate);
const chatAppRules = promRulesIn(ALERT_RULES_DIRS.chatApp);

const rule = (overrides: Partial<AlertingRule> = {}): AlertingRule => ({
  file: 'sidecar/alerts/x.rules.yml',
  group: 'g',
  alert: 'SomethingBroke',
  expr: 'up == 0',
  labels: { severity: 'warning' },
  annotations: { summary: 'Down on {{ $labels.instance }}' },
  ...overrides,
});
const options = { project: 'chat-gate-prod', notificationChannels: ['projects/chat-gate-prod/notificationChannels/1'], userLabels: { app: 'chat' } };

describe('reading the rules', () => {
  it('finds every alerting rule of sidecar/alerts, the rules promtool tests', () => {
    expect(gateRules.length).toBeGreaterThanOrEqual(4);
    expect(loadAlertRules().map((r) => r.alert)).toEqual(gateRules.map((r) => r.alert));
  });

  it("gives a service the gate's rules, then those of the app's own folders", () => {
    expect(chatAppRules.map((r) => r.file)).toContain(path.join(ALERT_RULES_DIRS.chatApp, 'dependencies.rules.yml'));
    expect(serviceAlertRules().map((r) => r.alert)).toEqual(gateRules.map((r) => r.alert));
    expect(serviceAlertRules([ALERT_RULES_DIRS.chatApp]).map((r) => [r.file, r.alert])).toEqual([...gateRules, ...chatAppRules].map((r) => [r.file, r.alert]));
  });

  it('finds them from the compiled program whatever the working directory (Pulumi runs dist/infra/index.js)', () => {
    const compiled = path.join(REPO_ROOT, 'dist', 'infra', 'alert-rules.js');
    if (!fs.existsSync(compiled)) throw new Error(`${compiled} is missing: run \`tsc -p .\` first`);
    const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(compiled)}).serviceAlertRules([${JSON.stringify(ALERT_RULES_DIRS.chatApp)}]).map((r) => r.alert)))`;
    const output = execFileSync(process.execPath, ['-e', script], { cwd: os.tmpdir(), encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual([...gateRules, ...chatAppRules].map((r) => r.alert));
  });

  it('skips recording rules and keeps the group interval', () => {
    const text = 'groups:\n  - name: g\n    interval: 1m\n    rules:\n      - record: x:sum\n        expr: sum(x)\n      - alert: A\n        expr: x > 1\n        for: 5m\n';
    expect(parseRuleFile(text, 'f.rules.yml')).toEqual([{ file: 'f.rules.yml', group: 'g', groupInterval: '1m', alert: 'A', expr: 'x > 1', for: '5m', labels: {}, annotations: {} }]);
  });

  it.each([
    ['a file that is not a rules file', 'rules: []', 'groups'],
    ['a bad duration', 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        for: five minutes\n', 'Prometheus duration'],
    ['an alert name that is not a label name', 'groups:\n  - name: g\n    rules:\n      - alert: my-alert\n        expr: x\n', 'label name'],
  ])('refuses %s, naming the file', (_what, text, message) => {
    expect(() => parseRuleFile(text, 'bad.rules.yml')).toThrow(/^bad\.rules\.yml: .*/);
    expect(() => parseRuleFile(text, 'bad.rules.yml')).toThrow(message);
  });

  it('refuses a folder without alerting rules, even beside one with rules, and an alert defined twice', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-'));
    fs.mkdirSync(path.join(root, 'alerts'));
    fs.mkdirSync(path.join(root, 'app-alerts'));
    expect(() => loadAlertRules(root, 'alerts')).toThrow(`no alerting rules in ${path.join(root, 'alerts')}`);
    const text = 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n';
    fs.writeFileSync(path.join(root, 'alerts', 'a.rules.yml'), text);
    expect(() => loadAlertRules(root, ['alerts', 'app-alerts'])).toThrow(`no alerting rules in ${path.join(root, 'app-alerts')}`);
    fs.writeFileSync(path.join(root, 'app-alerts', 'b.rules.yml'), text);
    expect(() => loadAlertRules(root, ['alerts', 'app-alerts'])).toThrow('alert A is defined twice in alerts, app-alerts');
    fs.rmSync(root, { recursive: true });
  });
});

describe('durations and intervals', () => {
  it.each([
    ['30s', 30],
    ['2m', 120],
    ['1h30m', 5400],
    ['1d', 86400],
    ['500ms', 0.5],
  ])('reads %s as %d s', (text, seconds) => expect(durationSeconds(text)).toBe(seconds));

  it.each(['', '2 m', '1.5m', 'm'])('refuses %j', (text) => expect(() => durationSeconds(text)).toThrow('not a Prometheus duration'));

  it("evaluates at the collector's scrape interval unless the group sets a longer one", () => {
    expect(evaluationIntervalSeconds(rule())).toBe(durationSeconds(SCRAPE_INTERVAL));
    expect(evaluationIntervalSeconds(rule({ groupInterval: '2m' }))).toBe(120);
    expect(() => evaluationIntervalSeconds(rule({ groupInterval: '45s' }))).toThrow('multiple of 30s');
  });
});

describe('alertPolicyArgs', () => {
  it('carries the expression, duration, labels, group and alert name into a PromQL condition', () => {
    const args = alertPolicyArgs(rule({ for: '2m', labels: { severity: 'critical', team: 'chat' } }), options);
    expect(args.conditions).toEqual([
      {
        displayName: 'SomethingBroke',
        conditionPrometheusQueryLanguage: { query: 'up == 0', duration: '120s', evaluationInterval: '30s', labels: { severity: 'critical', team: 'chat' }, ruleGroup: 'g', alertRule: 'SomethingBroke', disableMetricValidation: true },
      },
    ]);
    expect(args).toMatchObject({ displayName: 'g/SomethingBroke', combiner: 'OR', severity: 'CRITICAL', project: 'chat-gate-prod', userLabels: { app: 'chat', severity: 'critical' } });
  });

  it('fires on the first true evaluation when the rule has no for', () => {
    expect(alertPolicyArgs(rule(), options).conditions).toMatchObject([{ conditionPrometheusQueryLanguage: { duration: '0s' } }]);
  });

  it('makes the summary the subject and the description the content, with label variables', () => {
    const args = alertPolicyArgs(rule({ annotations: { summary: 'Down on {{ $labels.instance }}', description: 'Revision {{$labels.revision_name}} is down.', runbook: 'docs/gate.md' } }), options);
    expect(args.documentation).toEqual({
      subject: 'Down on ${resource.label.instance}',
      content: expect.stringMatching(/^Revision \$\{metric\.label\.revision_name\} is down\.\n\n\*\*runbook\*\*: docs\/gate\.md\n\nAlerting rule `SomethingBroke`/),
      mimeType: 'text/markdown',
    });
  });

  it('notifies the given channels and closes incidents whose series are gone; no rate limit (log-based policies only)', () => {
    const args = alertPolicyArgs(rule(), options);
    expect(args.notificationChannels).toEqual(options.notificationChannels);
    expect(args.alertStrategy).toEqual({ autoClose: AUTO_CLOSE });
  });

  it.each([
    ['no severity', rule({ labels: {} }), 'needs a severity label'],
    ['an unknown severity', rule({ labels: { severity: 'page' } }), 'needs a severity label'],
    ['no summary', rule({ annotations: {} }), 'needs a summary annotation'],
    ['a template Cloud Monitoring cannot expand', rule({ annotations: { summary: 'value {{ $value }}' } }), 'uses a template other than {{ $labels.NAME }}'],
  ])('refuses a rule with %s, naming it', (_what, bad, message) => {
    expect(() => alertPolicyArgs(bad, options)).toThrow(`sidecar/alerts/x.rules.yml: alert SomethingBroke ${message}`);
  });

  it('translates label templates to documentation variables', () => {
    expect(documentationTemplate('{{ $labels.job }}/{{$labels.result}}', 'w')).toBe('${resource.label.job}/${metric.label.result}');
  });

  it('names resources after the alert', () => {
    expect(kebab('StartupGateNotReadyAfterOpen')).toBe('startup-gate-not-ready-after-open');
  });
});

/** A stack's alert policies against the rules it should have: names, PromQL, duration and channels. */
function expectPolicies(stackName: string, service: string, promRules: readonly (PromRule & { group: string })[]) {
  const stack = renderedStack(stackName);
  const policies = stack.all(ALERT_POLICY);
  expect(policies.map((policy) => policy.name).sort()).toEqual(promRules.map((r) => `${service}-alert-${kebab(r.alert!)}`).sort());
  for (const promRule of promRules) {
    const { inputs } = stack.one(ALERT_POLICY, `${service}-alert-${kebab(promRule.alert!)}`);
    expect(inputs.conditions).toEqual([
      {
        displayName: promRule.alert,
        conditionPrometheusQueryLanguage: {
          query: promRule.expr.trim(),
          duration: `${promRule.for ? durationSeconds(promRule.for) : 0}s`,
          evaluationInterval: '30s',
          labels: promRule.labels,
          ruleGroup: promRule.group,
          alertRule: promRule.alert,
          disableMetricValidation: true,
        },
      },
    ]);
    expect(inputs.severity).toBe(promRule.labels!.severity!.toUpperCase());
  }
  return policies;
}

describe.each(STACKS)('stack %s', (stackName) => {
  it("has one alert policy per alerting rule of the gate and of the chat app, with its PromQL and duration, and the stack's channels", () => {
    const config = parseStackConfig(stackName, (key) => stackConfig(stackName)[key]);
    const policies = expectPolicies(stackName, 'chat', [...gateRules, ...chatAppRules]);
    for (const { inputs } of policies) expect(inputs).toMatchObject({ project: config.project, notificationChannels: config.notificationChannels });
    if (stackName === 'production') expect(config.notificationChannels.length).toBeGreaterThan(0);
  });
});

it("the Python example's stack has the gate's alert policies and none of the chat app's", () => {
  expect(chatAppRules.length).toBeGreaterThan(0);
  expectPolicies('python-fastapi', 'python-fastapi', gateRules);
});
