/**
 * Prometheus alerting rules as Cloud Monitoring alert policies: the gate's
 * (sidecar/alerts/*.rules.yml), which every gated service gets, and those of an app's own folders
 * when its GatedApp names them. Nothing evaluates Prometheus rules beside a Cloud Run service, so
 * each alerting rule becomes one policy with a PromQL condition: the same expression, its `for` as
 * the duration, its labels and annotations carried over. The rules files stay the one source:
 * promtool tests them, and this module reads them when the program runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as gcp from '@pulumi/gcp';
import { parse } from 'yaml';
import { z } from 'zod';
import { ALERT_RULES_DIRS, REPO_ROOT } from '../common/paths';
import { SCRAPE_INTERVAL, PROMETHEUS_TARGET_LABELS } from './collector';

const RULES_FILE = /\.rules\.ya?ml$/;

/** One alerting rule, with what the policy needs from its group and file. */
export interface AlertingRule {
  /** The file, relative to the repository root. */
  file: string;
  group: string;
  /** The group's evaluation interval, when the file sets one. */
  groupInterval?: string;
  alert: string;
  expr: string;
  /** Prometheus duration; absent means the rule fires on the first true evaluation. */
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNIT_SECONDS = [365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001];

/** A Prometheus duration (`2m`, `1h30m`) in seconds; throws on anything else. */
export function durationSeconds(duration: string): number {
  const match = DURATION.exec(duration);
  if (!match || duration === '') throw new Error(`${JSON.stringify(duration)} is not a Prometheus duration`);
  return match.slice(1).reduce((sum, part, index) => sum + (part === undefined ? 0 : Number(part) * DURATION_UNIT_SECONDS[index]!), 0);
}

/** A duration as the Cloud Monitoring API writes it: seconds with an `s`. */
const apiDuration = (seconds: number) => `${Number(seconds.toFixed(3))}s`;

const promDuration = z.string().refine((value) => DURATION.test(value) && value !== '', 'must be a Prometheus duration such as 30s or 2m');
const stringMap = z.record(z.string(), z.string()).default({});
const RULE_FILE_SCHEMA = z.object({
  groups: z.array(
    z.object({
      name: z.string().min(1),
      interval: promDuration.optional(),
      rules: z.array(
        z.union([
          z.object({ alert: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a valid Prometheus label name'), expr: z.string().min(1), for: promDuration.optional(), labels: stringMap, annotations: stringMap }).strict(),
          z.object({ record: z.string(), expr: z.string(), labels: stringMap }).strict(),
        ]),
      ),
    }),
  ),
});

/** The alerting rules of one rules file's text (recording rules are skipped); throws naming the file. */
export function parseRuleFile(text: string, file: string): AlertingRule[] {
  const result = RULE_FILE_SCHEMA.safeParse(parse(text));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is not a Prometheus rules file'}`);
  }
  return result.data.groups.flatMap((group) =>
    group.rules.flatMap((rule) =>
      'alert' in rule
        ? [{ file, group: group.name, ...(group.interval ? { groupInterval: group.interval } : {}), alert: rule.alert, expr: rule.expr.trim(), ...(rule.for ? { for: rule.for } : {}), labels: rule.labels, annotations: rule.annotations }]
        : [],
    ),
  );
}

/**
 * Every alerting rule of every rules file under `dirs` (folders relative to `root`, or absolute;
 * default the gate's), folder by folder, files in name order. A folder without one is refused: naming it means
 * its rules were meant to become policies.
 */
export function loadAlertRules(root = REPO_ROOT, dirs: string | readonly string[] = ALERT_RULES_DIRS.gate): AlertingRule[] {
  const folders = typeof dirs === 'string' ? [dirs] : dirs;
  const rules = folders.flatMap((dir) => {
    const folder = path.resolve(root, dir);
    const found = fs
      .readdirSync(folder)
      .filter((name) => RULES_FILE.test(name))
      .sort()
      .flatMap((name) => parseRuleFile(fs.readFileSync(path.join(folder, name), 'utf8'), path.join(dir, name)));
    if (found.length === 0) throw new Error(`no alerting rules in ${folder}: its alerts would never be deployed`);
    return found;
  });
  const seen = new Set<string>();
  for (const rule of rules) {
    if (seen.has(rule.alert)) throw new Error(`alert ${rule.alert} is defined twice in ${folders.join(', ')}: each alert becomes one policy`);
    seen.add(rule.alert);
  }
  return rules;
}

/** A gated service's rules: the gate's, then those of the app's own folders (GatedApp.alertRulesDirs). */
export function serviceAlertRules(appDirs: readonly string[] = [], root = REPO_ROOT): AlertingRule[] {
  return loadAlertRules(root, [ALERT_RULES_DIRS.gate, ...appDirs]);
}

/**
 * The condition's evaluation interval: the rule group's, else the collector's scrape interval
 * (evaluating more often than new samples arrive changes nothing). The API takes a positive
 * multiple of 30 s.
 */
export function evaluationIntervalSeconds(rule: AlertingRule): number {
  const seconds = durationSeconds(rule.groupInterval ?? SCRAPE_INTERVAL);
  if (seconds <= 0 || seconds % 30 !== 0) throw new Error(`${rule.file}: group ${rule.group} interval must be a multiple of 30s for Cloud Monitoring, got ${rule.groupInterval}`);
  return Math.max(seconds, durationSeconds(SCRAPE_INTERVAL));
}

/** Prometheus `severity` label values and the policy severity each becomes. */
export const SEVERITIES = { critical: 'CRITICAL', error: 'ERROR', warning: 'WARNING' } as const;

/**
 * Prometheus `{{ $labels.NAME }}` as a Cloud Monitoring documentation variable. Managed
 * Prometheus stores the target labels as the prometheus_target resource's labels and every other
 * label as a metric label, and the variables name them so.
 */
export function documentationTemplate(text: string, where: string): string {
  const translated = text.replace(/\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_match, label: string) =>
    (PROMETHEUS_TARGET_LABELS as readonly string[]).includes(label) ? `\${resource.label.${label}}` : `\${metric.label.${label}}`,
  );
  if (translated.includes('{{')) throw new Error(`${where} uses a template other than {{ $labels.NAME }}, which Cloud Monitoring documentation cannot expand`);
  return translated;
}

/** An incident whose series stopped (its instance is gone) closes after this long. */
export const AUTO_CLOSE = '1800s';

export interface AlertPolicyOptions {
  project: string;
  /** Notification channel resource names (projects/PROJECT/notificationChannels/ID). */
  notificationChannels: readonly string[];
  userLabels: Record<string, string>;
}

/** The policy for one alerting rule. Pure: the tests and the policy pack read the same arguments. */
export function alertPolicyArgs(rule: AlertingRule, options: AlertPolicyOptions): gcp.monitoring.AlertPolicyArgs {
  const where = `${rule.file}: alert ${rule.alert}`;
  const severity = rule.labels.severity;
  if (severity === undefined || !(severity in SEVERITIES)) throw new Error(`${where} needs a severity label, one of ${Object.keys(SEVERITIES).join(', ')}`);
  const { summary, description, ...others } = rule.annotations;
  if (!summary) throw new Error(`${where} needs a summary annotation: it becomes the notification's subject`);
  const content = [
    description ? documentationTemplate(description, where) : undefined,
    ...Object.entries(others).map(([key, value]) => `**${key}**: ${documentationTemplate(value, where)}`),
    `Alerting rule \`${rule.alert}\` (group \`${rule.group}\`) in \`${rule.file}\`: \`${rule.expr.replace(/\s+/g, ' ')}\`${rule.for ? ` for ${rule.for}` : ''}.`,
  ].filter((part) => part !== undefined);
  return {
    project: options.project,
    // Cloud Monitoring's convention for policies from Prometheus rules: "{rule group}/{alert}".
    displayName: `${rule.group}/${rule.alert}`,
    // A PromQL condition must be a policy's only condition.
    combiner: 'OR',
    conditions: [
      {
        displayName: rule.alert,
        conditionPrometheusQueryLanguage: {
          query: rule.expr,
          duration: apiDuration(rule.for ? durationSeconds(rule.for) : 0),
          evaluationInterval: apiDuration(evaluationIntervalSeconds(rule)),
          labels: rule.labels,
          ruleGroup: rule.group,
          alertRule: rule.alert,
          // The first `pulumi up` creates the policies before any instance has been scraped, when
          // the gate's metrics do not exist yet in Cloud Monitoring.
          disableMetricValidation: true,
        },
      },
    ],
    severity: SEVERITIES[severity as keyof typeof SEVERITIES],
    documentation: { subject: documentationTemplate(summary, where), content: content.join('\n\n'), mimeType: 'text/markdown' },
    notificationChannels: [...options.notificationChannels],
    // notificationRateLimit is left unset on purpose: the API applies it to log-based policies only.
    alertStrategy: { autoClose: AUTO_CLOSE },
    userLabels: { ...options.userLabels, severity },
  };
}

/** A rule's alert name as a resource name part: StartupGateNotOpen → startup-gate-not-open. */
export function kebab(alert: string): string {
  return alert
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}
