/**
 * The chat app as one user of the generic GatedService: its container's settings (LLM, thread
 * token key, database and cache, sign-in) from the stack's config. Everything the component does not know
 * about the chat app is here; the chat app's own policies are in infra/policy/chat-app-rules.ts.
 */
import type * as pulumi from '@pulumi/pulumi';
import { ALERT_RULES_DIRS } from '../common/paths';
import { APP_ENV_VARS, APP_METRICS_PATH, APP_PATHS, APP_PORT, DEFAULT_GATE_TARGET_URL, DEFAULT_REQUIRED_COMPONENTS, PHASE_PORT } from '../common/revision';
import { APP_CPU_OF_ONE_VCPU, type GatedApp } from './revision-template';

/** The chat app's share of a one-vCPU instance beside the gate and the collector, and its memory. */
export const CHAT_APP_LIMITS = { cpu: APP_CPU_OF_ONE_VCPU, memory: '1Gi' } as const;

/** The chat app's settings in the stack config. */
export interface ChatAppSettings {
  /** Secret Manager secret id of the LLM API key, injected as LLM_API_KEY. */
  llmApiKeySecret: string;
  /** Secret Manager secret id of the thread token key, injected as APP_THREAD_TOKEN_KEY. */
  threadTokenKeySecret: string;
  /** Secret Manager secret ids holding DATABASE_URL and REDIS_URL (they carry passwords). */
  databaseUrlSecret: string;
  redisUrlSecret: string;
  llmBaseUrl: string;
  llmModel: string;
  /** How long the database and cache phases retry, one after the other inside the startup budget. */
  databaseBudgetSeconds: number;
  cacheBudgetSeconds: number;
  /** Who signs users in: the OpenID issuer, the audience its tokens carry, and how long startup retries fetching its keys. */
  auth: { issuer: string; audience: string; budgetSeconds: number };
}

/**
 * The chat app's settings that are secrets, each from the Secret Manager secret its config field
 * names. The URLs carry passwords; the component grants access to exactly these secrets.
 */
const CHAT_APP_SECRETS = [
  { env: APP_ENV_VARS.llmApiKey, secret: 'llmApiKeySecret' },
  { env: APP_ENV_VARS.databaseUrl, secret: 'databaseUrlSecret' },
  { env: APP_ENV_VARS.redisUrl, secret: 'redisUrlSecret' },
  { env: APP_ENV_VARS.threadTokenKey, secret: 'threadTokenKeySecret' },
] as const satisfies readonly { env: string; secret: keyof ChatAppSettings }[];

/** The chat app for the component: `environment` is the stack (APP_ENV), `image` what `pulumi up` built. */
export function chatApp(settings: ChatAppSettings, environment: string, image: pulumi.Input<string>): GatedApp {
  return {
    image,
    port: APP_PORT,
    // One line per setting, in the order the container lists them.
    env: {
      [APP_ENV_VARS.environment]: environment,
      [APP_ENV_VARS.phasePort]: String(PHASE_PORT),
      [APP_ENV_VARS.llmBaseUrl]: settings.llmBaseUrl,
      [APP_ENV_VARS.llmModel]: settings.llmModel,
      [APP_ENV_VARS.databaseBudgetMs]: String(settings.databaseBudgetSeconds * 1000),
      [APP_ENV_VARS.cacheBudgetMs]: String(settings.cacheBudgetSeconds * 1000),
      [APP_ENV_VARS.authIssuer]: settings.auth.issuer,
      [APP_ENV_VARS.authAudience]: settings.auth.audience,
      [APP_ENV_VARS.authBudgetMs]: String(settings.auth.budgetSeconds * 1000),
    },
    secrets: Object.fromEntries(CHAT_APP_SECRETS.map(({ env, secret }) => [env, settings[secret]])),
    ...CHAT_APP_LIMITS,
    livenessPath: APP_PATHS.healthz,
    startupHoldEnv: APP_ENV_VARS.startupHoldMs,
    phaseUrl: DEFAULT_GATE_TARGET_URL,
    requiredComponents: DEFAULT_REQUIRED_COMPONENTS,
    // A dependency degraded for too long (ChatDependencyDegraded), from the chat_dependency_degraded
    // gauge the app serves on its internal listener, beside the phase endpoint.
    alertRulesDirs: [ALERT_RULES_DIRS.chatApp],
    metricsEndpoints: [{ port: PHASE_PORT, path: APP_METRICS_PATH }],
  };
}
