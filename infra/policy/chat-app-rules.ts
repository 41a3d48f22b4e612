/**
 * The chat app's own invariants, beside the generic ones of every gated service (rules.ts): its
 * secrets, its dependency budgets (and the identity provider's key fetch) inside the startup
 * window, Direct VPC egress to its database and cache, its port and liveness path, sign-in when it
 * is public, and the alert policies of its own rules (app/alerts). They
 * apply only to the chat app's service (named CHAT_SERVICE_NAME) and the stacks that contain it,
 * so another app behind the same component passes the same pack without them.
 */
import { DEFAULT_DEPENDENCY_BUDGET_MS, MIN_DEPENDENCY_BUDGET_SECONDS, startupCoverSeconds, STARTUP_HEADROOM_SECONDS } from '../../common/probes';
import { CHAT_SERVICE_NAME, probeTiming } from '../../common/cloud-run-service';
import { ALERT_RULES_DIRS } from '../../common/paths';
import { APP_ENV_VARS, APP_PATHS, APP_PORT } from '../../common/revision';
import { loadAlertRules, type AlertingRule } from '../alert-rules';
import { CONTAINER_NAMES, VPC_EGRESS } from '../revision-template';
import { containers, missingAlertPolicies, named, PUBLIC_MEMBERS, template, TYPES, type Rule, type StackResource, type StackRule } from './rules';

/**
 * The chat app's secrets. Stated here rather than taken from the program's list, so dropping one
 * from the program fails the policy: without its URLs the app's dependencies phase fails in staging
 * and production, and the URLs carry passwords.
 */
const APP_SECRET_ENVS = [APP_ENV_VARS.llmApiKey, APP_ENV_VARS.databaseUrl, APP_ENV_VARS.redisUrl, APP_ENV_VARS.threadTokenKey] as const;

/** A plain (not secret) setting of a container, when set and not empty. */
const envValue = (container: { envs?: { name?: string; value?: string }[] }, name: string) => container.envs?.find((env) => env.name === name && env.value !== undefined && env.value !== '')?.value;

/** A rule of the chat app: silent on any other service. */
const chatAppRule = (rule: Rule): Rule => ({
  ...rule,
  description: `${rule.description} (The chat service, "${CHAT_SERVICE_NAME}", only.)`,
  check: (props, context) => (props.name === CHAT_SERVICE_NAME ? rule.check(props, context) : []),
});

export const CHAT_APP_RULES: readonly Rule[] = (
  [
  {
    name: 'dependency-budgets-fit-startup-window',
    description: `The app's database and cache budgets are each at least ${MIN_DEPENDENCY_BUDGET_SECONDS} s (Direct VPC egress can take a minute to connect) and, one after the other with the identity provider's key fetch plus ${STARTUP_HEADROOM_SECONDS} s, end before the gate's startup probe gives up.`,
    types: [TYPES.service],
    check(props) {
      const app = named(props, CONTAINER_NAMES.app);
      const probe = named(props, CONTAINER_NAMES.gate)?.startupProbe;
      if (!app || !probe) return [];
      const problems: string[] = [];
      const budgets = [APP_ENV_VARS.databaseBudgetMs, APP_ENV_VARS.cacheBudgetMs].map((name) => {
        const value = Number(envValue(app, name));
        if (!Number.isInteger(value) || value < MIN_DEPENDENCY_BUDGET_SECONDS * 1000) {
          problems.push(`the app's ${name} must be at least ${MIN_DEPENDENCY_BUDGET_SECONDS * 1000}: Direct VPC egress can take a minute or more to connect at instance start`);
        }
        return Number.isFinite(value) ? value / 1000 : 0;
      });
      // The key fetch runs only with an issuer; unset, the app's default budget would apply.
      const authMs = Number(envValue(app, APP_ENV_VARS.authBudgetMs) ?? DEFAULT_DEPENDENCY_BUDGET_MS);
      const keys = envValue(app, APP_ENV_VARS.authIssuer) === undefined ? 0 : authMs / 1000;
      const cover = startupCoverSeconds(probeTiming(probe));
      const needed = budgets[0]! + budgets[1]! + keys + STARTUP_HEADROOM_SECONDS;
      if (needed > cover) {
        problems.push(`the app's dependency budgets (${[...budgets, keys].join(' s + ')} s, the last the identity provider's keys) plus ${STARTUP_HEADROOM_SECONDS} s need ${needed} s, but the gate's startup probe gives up after ${cover} s`);
      }
      return problems;
    },
  },
  {
    name: 'chat-app-port-and-liveness',
    description: `The chat app listens on port ${APP_PORT} (the port its page, its clients and the local runner use) and its liveness probe is ${APP_PATHS.healthz}.`,
    types: [TYPES.service],
    check(props) {
      const app = named(props, CONTAINER_NAMES.app);
      if (!app) return [`the service has no "${CONTAINER_NAMES.app}" container`];
      const problems: string[] = [];
      if (app.ports?.containerPort !== APP_PORT) problems.push(`the app must listen on port ${APP_PORT}`);
      if (app.livenessProbe?.httpGet?.path !== APP_PATHS.healthz) problems.push(`the app's liveness probe must be ${APP_PATHS.healthz}`);
      return problems;
    },
  },
  {
    name: 'app-secrets-from-secret-manager',
    description: `The app gets ${APP_SECRET_ENVS.join(', ')} from Secret Manager (valueSource.secretKeyRef with a secret), once each; no container sets them as plain values.`,
    types: [TYPES.service],
    check(props) {
      const app = named(props, CONTAINER_NAMES.app);
      if (!app) return [`the service has no "${CONTAINER_NAMES.app}" container`];
      const problems = APP_SECRET_ENVS.flatMap((name) => {
        const envs = (app.envs ?? []).filter((env) => env.name === name);
        if (envs.length !== 1) return [`the app must set ${name} exactly once, found ${envs.length}`];
        return envs[0]!.valueSource?.secretKeyRef?.secret ? [] : [`the app's ${name} must come from Secret Manager (valueSource.secretKeyRef)`];
      });
      for (const container of containers(props)) {
        for (const env of container.envs ?? []) {
          if ((APP_SECRET_ENVS as readonly string[]).includes(env.name) && env.value !== undefined) problems.push(`${container.name}'s ${env.name} must not have a plain value`);
        }
      }
      return problems;
    },
  },
  {
    name: 'direct-vpc-egress',
    description: `Direct VPC egress on one network interface with a network and a subnet, egress ${VPC_EGRESS}, no connector: Cloud SQL and Memorystore on private IPs, the LLM API straight out.`,
    types: [TYPES.service],
    check(props) {
      const access = template(props).vpcAccess;
      if (!access) return ['template.vpcAccess is missing: the app cannot reach Cloud SQL and Memorystore on their private IPs'];
      const problems: string[] = [];
      const interfaces = access.networkInterfaces ?? [];
      if (interfaces.length !== 1 || !interfaces[0]!.network || !interfaces[0]!.subnetwork) {
        problems.push('template.vpcAccess.networkInterfaces must be one interface naming its network and subnetwork');
      }
      if (access.connector !== undefined) problems.push('template.vpcAccess.connector must not be set: Direct VPC egress needs no Serverless VPC Access connector');
      if (access.egress !== VPC_EGRESS) problems.push(`template.vpcAccess.egress must be ${VPC_EGRESS}, so public traffic (the LLM API) does not need Cloud NAT, got ${access.egress ?? 'unset'}`);
      return problems;
    },
  },
  ] satisfies Rule[]
).map(chatAppRule);

/**
 * The chat app's own rules (app/alerts) the stack lacks as alert policies, if the stack contains
 * the chat service. Stack policies see every resource of the stack, so the service's name scopes it.
 */
export function missingChatAppAlerts(resources: readonly StackResource[], rules: readonly AlertingRule[]): string[] {
  const hasChat = resources.some((resource) => resource.type === TYPES.service && resource.props.name === CHAT_SERVICE_NAME);
  return hasChat ? missingAlertPolicies(resources, rules, `the chat service "${CHAT_SERVICE_NAME}"`) : [];
}

/**
 * The chat service, when anyone may invoke it, must sign its users in: its app has an issuer and
 * an audience, or anyone on the internet could start agent runs at the project's expense. Stack
 * policies see every resource of the stack, so the service's name scopes it (the invoker names
 * the service it grants).
 */
export function publicChatServiceWithoutSignIn(resources: readonly StackResource[]): string[] {
  const isPublic = resources.some(
    (resource) => resource.type === TYPES.serviceInvoker && resource.props.name === CHAT_SERVICE_NAME && PUBLIC_MEMBERS.includes(String(resource.props.member ?? '')),
  );
  if (!isPublic) return [];
  return resources
    .filter((resource) => resource.type === TYPES.service && resource.props.name === CHAT_SERVICE_NAME)
    .flatMap((resource) => {
      const app = named(resource.props, CONTAINER_NAMES.app);
      const missing = [APP_ENV_VARS.authIssuer, APP_ENV_VARS.authAudience].filter((name) => app === undefined || envValue(app, name) === undefined);
      return missing.length === 0 ? [] : [`the service is public but its app has no ${missing.join(' and ')}: anyone could chat and spend the LLM budget`];
    });
}

export const CHAT_APP_STACK_RULES: readonly StackRule[] = [
  {
    name: 'public-service-signs-users-in',
    description: `The chat service ("${CHAT_SERVICE_NAME}"), when its invoker is ${PUBLIC_MEMBERS.join(' or ')}, sets ${APP_ENV_VARS.authIssuer} and ${APP_ENV_VARS.authAudience} on its app, so every chat socket proves a person.`,
    check: (resources) => publicChatServiceWithoutSignIn(resources),
  },
  {
    name: 'chat-app-alert-policies',
    description: `A stack that contains the chat service ("${CHAT_SERVICE_NAME}") has a Cloud Monitoring alert policy for every alerting rule in ${ALERT_RULES_DIRS.chatApp}, with the same PromQL expression.`,
    check: (resources) => missingChatAppAlerts(resources, loadAlertRules(undefined, ALERT_RULES_DIRS.chatApp)),
  },
];
