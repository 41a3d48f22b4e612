/**
 * Every setting of a stack, read and validated in one place. Pulumi stores config values as
 * strings (objects as JSON) and its requireObject does not check shapes, so each key is parsed
 * here and a bad value fails the preview with one message naming the key.
 */
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import {
  MAX_STARTUP_BUDGET_SECONDS,
  MAX_STARTUP_WINDOW_SECONDS,
  MIN_DEPENDENCY_BUDGET_SECONDS,
  MIN_KEY_FETCH_BUDGET_SECONDS,
  STARTUP_HEADROOM_SECONDS,
} from '../common/probes';
import { isChatAppStack, PULUMI_PROJECT, STACKS, STARTUP_BUDGET_CONFIG_KEY, type StackName } from '../common/cloud-run-service';
import { ConfigError } from '../common/env';
import type { ChatAppSettings } from './chat-app';
import type { VpcArgs } from './revision-template';

/** The project name in Pulumi.yaml: the namespace of this program's own config keys. */
const PROJECT = PULUMI_PROJECT;

export interface StackConfig extends ChatAppSettings, VpcArgs {
  stack: StackName;
  project: string;
  region: string;
  /** Google's Managed Prometheus sidecar, pinned to a released version. */
  collectorImage: string;
  /** The longest the app may take from container start to ready (1..480 s); sets the gate's startup probe. */
  startupBudgetSeconds: number;
  /** Adds the gate's readiness probe on /ready (a Cloud Run Preview feature). */
  gateReadinessProbe: boolean;
  /** Grants roles/run.invoker to allUsers. */
  publicAccess: boolean;
  minInstances: number;
  maxInstances: number;
  /** Requests (WebSocket connections) one instance serves at once. */
  concurrency: number;
  deletionProtection: boolean;
  labels: Record<string, string>;
  /**
   * Existing Cloud Monitoring notification channels every alert policy notifies, as resource
   * names (projects/PROJECT/notificationChannels/ID); the config may give bare IDs.
   */
  notificationChannels: string[];
}

/** A pinned tag or a digest: anything but a floating `latest`. */
const PINNED_IMAGE = /^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+(:(?!latest$)[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/;
/** Google Cloud label keys and values (lowercase letters, digits, _ and -; keys start with a letter). */
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** A Compute Engine resource name (RFC 1035). */
const RESOURCE_NAME = '[a-z]([-a-z0-9]{0,61}[a-z0-9])?';
const PROJECT_ID = '[a-z][a-z0-9-]{4,28}[a-z0-9]';
const REGION = '[a-z]+-[a-z]+[0-9]';
/** A network by name (this project) or by path (a Shared VPC host project). */
const NETWORK = new RegExp(`^(projects/${PROJECT_ID}/global/networks/)?${RESOURCE_NAME}$`);
/** A subnet by name (this project, the service's region) or by path; the path's region is checked against gcp:region. */
const SUBNETWORK = new RegExp(`^(projects/${PROJECT_ID}/regions/${REGION}/subnetworks/)?${RESOURCE_NAME}$`);
/** The app accepts a dependency budget of at most 230 s (APP_DATABASE_BUDGET_MS, APP_CACHE_BUDGET_MS). */
const MAX_DEPENDENCY_BUDGET_SECONDS = 230;

/** A notification channel by resource name or by its numeric ID in the stack's project. */
const CHANNEL = new RegExp(`^(projects/${PROJECT_ID}/notificationChannels/)?[0-9]+$`);
/** The stacks whose alert policies must notify someone. */
export const ALERTING_STACKS: readonly StackName[] = ['production'];

const wholeNumber = (min: number, max: number, why: { min?: string; max?: string } = {}) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}${why.min ? `: ${why.min}` : ''}`).max(max, `must be at most ${max}${why.max ? `: ${why.max}` : ''}`));
const flag = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((value) => value === 'true');
const text = z.string().min(1, 'must not be empty');
const secretId = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be a Secret Manager secret id');
const dependencyBudget = wholeNumber(MIN_DEPENDENCY_BUDGET_SECONDS, MAX_DEPENDENCY_BUDGET_SECONDS, {
  min: 'with Direct VPC egress, Cloud Run documents connection delays of a minute or more at instance start',
});
/** Where the budget is set, the price of a long one: the delay before the gate's first probe. */
export const STARTUP_BUDGET_TRADE_OFF =
  `up to ${MAX_STARTUP_WINDOW_SECONDS} s the gate's startup probe tries once a second from the start; ` +
  `beyond it, Cloud Run's ${MAX_STARTUP_WINDOW_SECONDS} s cap on failureThreshold x periodSeconds leaves only initialDelaySeconds ` +
  `(at most ${MAX_STARTUP_BUDGET_SECONDS - MAX_STARTUP_WINDOW_SECONDS} s), so the first attempt waits (budget - ${MAX_STARTUP_WINDOW_SECONDS}) s ` +
  'and a boot that is ready sooner still waits for it';
/** Pulumi hands a list over as JSON text. */
const jsonValue = (message: string) =>
  z.string().transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
  });

/** One entry per config key: its full name (namespace:key) and how to parse its string value. */
const KEYS = {
  project: ['gcp:project', z.string().regex(new RegExp(`^${PROJECT_ID}$`), 'must be a Google Cloud project id')],
  region: ['gcp:region', z.string().regex(new RegExp(`^${REGION}$`), 'must be a Cloud Run region such as europe-west1')],
  collectorImage: [`${PROJECT}:collectorImage`, z.string().regex(PINNED_IMAGE, 'must be an image with a version tag (not latest) or a digest')],
  startupBudgetSeconds: [STARTUP_BUDGET_CONFIG_KEY, wholeNumber(1, MAX_STARTUP_BUDGET_SECONDS, { max: STARTUP_BUDGET_TRADE_OFF })],
  gateReadinessProbe: [`${PROJECT}:gateReadinessProbe`, flag],
  publicAccess: [`${PROJECT}:publicAccess`, flag],
  minInstances: [`${PROJECT}:minInstances`, wholeNumber(0, 1000)],
  maxInstances: [`${PROJECT}:maxInstances`, wholeNumber(1, 1000)],
  concurrency: [`${PROJECT}:concurrency`, wholeNumber(1, 1000)],
  llmApiKeySecret: [`${PROJECT}:llmApiKeySecret`, secretId],
  databaseUrlSecret: [`${PROJECT}:databaseUrlSecret`, secretId],
  redisUrlSecret: [`${PROJECT}:redisUrlSecret`, secretId],
  threadTokenKeySecret: [`${PROJECT}:threadTokenKeySecret`, secretId],
  databaseBudgetSeconds: [`${PROJECT}:databaseBudgetSeconds`, dependencyBudget],
  cacheBudgetSeconds: [`${PROJECT}:cacheBudgetSeconds`, dependencyBudget],
  network: [`${PROJECT}:network`, z.string().regex(NETWORK, 'must be a VPC network name or projects/PROJECT/global/networks/NAME')],
  subnetwork: [`${PROJECT}:subnetwork`, z.string().regex(SUBNETWORK, 'must be a subnet name or projects/PROJECT/regions/REGION/subnetworks/NAME')],
  llmBaseUrl: [`${PROJECT}:llmBaseUrl`, z.url({ protocol: /^https$/, message: 'must be an https URL' })],
  llmModel: [`${PROJECT}:llmModel`, text],
  deletionProtection: [`${PROJECT}:deletionProtection`, flag],
  auth: [
    `${PROJECT}:auth`,
    jsonValue('must be an object {issuer, audience, budgetSeconds}').pipe(
      z.object(
        {
          issuer: z.url({ protocol: /^https$/, message: 'issuer must be an https URL (https://securetoken.google.com/PROJECT, https://accounts.google.com, …)' }),
          audience: z.string().min(1, 'audience must not be empty'),
          // The key fetch is one HTTPS GET to the provider over the internet, not through the VPC.
          budgetSeconds: z.number().int().min(MIN_KEY_FETCH_BUDGET_SECONDS).max(MAX_DEPENDENCY_BUDGET_SECONDS).default(15),
        },
        { message: 'must be an object {issuer, audience, budgetSeconds}' },
      ).strict(),
    ),
  ],
  notificationChannels: [
    `${PROJECT}:notificationChannels`,
    jsonValue('must be a list of notification channels')
      .pipe(z.array(z.string().regex(CHANNEL, 'must list channels as projects/PROJECT/notificationChannels/ID or as numeric IDs'), { message: 'must be a list of notification channels' }))
      .refine((channels) => new Set(channels).size === channels.length, 'must not list a channel twice'),
  ],
  labels: [
    `${PROJECT}:labels`,
    jsonValue('must be a map of labels')
      .pipe(
        z.record(
          z.string().regex(LABEL_KEY, 'label keys must be lowercase letters, digits, _ or -, starting with a letter'),
          z.string().regex(LABEL_VALUE, 'label values must be lowercase letters, digits, _ or -'),
        ),
      ),
  ],
} as const satisfies Record<Exclude<keyof StackConfig, 'stack'>, readonly [string, z.ZodType]>;

export type ConfigKey = (typeof KEYS)[keyof typeof KEYS][0];

/** Every config key the program reads, fully qualified. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.values(KEYS).map(([key]) => key);

/**
 * Parses a stack's settings from raw config strings (as Pulumi stores them), throwing a
 * ConfigError that names the first bad key. Pure, so the tests need no Pulumi runtime.
 */
export function parseStackConfig(stack: string, lookup: (key: ConfigKey) => string | undefined): StackConfig {
  if (!isChatAppStack(stack)) throw new ConfigError('stack', `must be one of ${STACKS.join(', ')}, got ${JSON.stringify(stack)}`);
  const parsed: Record<string, unknown> = { stack };
  for (const [field, [key, schema]] of Object.entries(KEYS)) {
    const raw = lookup(key);
    if (raw === undefined) throw new ConfigError(key, `is required (pulumi config set ${key} ...)`);
    const result = (schema as z.ZodType).safeParse(raw);
    if (!result.success) throw new ConfigError(key, `${result.error.issues[0]?.message ?? 'is invalid'}, got ${JSON.stringify(raw)}`);
    parsed[field] = result.data;
  }
  const config = parsed as unknown as StackConfig;
  // A bare ID names a channel in the stack's project; the API wants the resource name.
  config.notificationChannels = config.notificationChannels.map((channel) => (channel.includes('/') ? channel : `projects/${config.project}/notificationChannels/${channel}`));
  const problem = crossKeyProblem(config);
  if (problem) throw new ConfigError(...problem);
  return config;
}

/** Rules that span keys: the first key involved and a problem that names the others; undefined when the config is consistent. */
function crossKeyProblem(config: StackConfig): [setting: string, problem: string] | undefined {
  if (config.minInstances > config.maxInstances) {
    return [KEYS.minInstances[0], `(${config.minInstances}) must not exceed ${KEYS.maxInstances[0]} (${config.maxInstances})`];
  }
  const dependencies = config.databaseBudgetSeconds + config.cacheBudgetSeconds + config.auth.budgetSeconds;
  if (dependencies + STARTUP_HEADROOM_SECONDS > config.startupBudgetSeconds) {
    return [
      KEYS.databaseBudgetSeconds[0],
      `(${config.databaseBudgetSeconds}) + ${KEYS.cacheBudgetSeconds[0]} (${config.cacheBudgetSeconds}) + ${KEYS.auth[0]}.budgetSeconds (${config.auth.budgetSeconds}) ` +
        `+ ${STARTUP_HEADROOM_SECONDS} s for the other phases must fit within ${KEYS.startupBudgetSeconds[0]} (${config.startupBudgetSeconds}): ` +
        `the phases run one after the other inside the startup window. Raise it to ${dependencies + STARTUP_HEADROOM_SECONDS} (${STARTUP_BUDGET_TRADE_OFF})`,
    ];
  }
  if (config.databaseUrlSecret === config.redisUrlSecret) {
    return [KEYS.databaseUrlSecret[0], `and ${KEYS.redisUrlSecret[0]} must name different secrets, both are ${JSON.stringify(config.databaseUrlSecret)}`];
  }
  if (ALERTING_STACKS.includes(config.stack) && config.notificationChannels.length === 0) {
    return [KEYS.notificationChannels[0], `must list at least one notification channel in ${config.stack}: its alerts must reach someone`];
  }
  const foreign = config.notificationChannels.find((channel) => channel.split('/')[1] !== config.project);
  if (foreign !== undefined) {
    return [KEYS.notificationChannels[0], `must name channels in ${KEYS.project[0]} (${config.project}), got ${foreign}`];
  }
  const subnetRegion = /\/regions\/([^/]+)\//.exec(config.subnetwork)?.[1];
  if (subnetRegion !== undefined && subnetRegion !== config.region) {
    return [KEYS.subnetwork[0], `must be in ${KEYS.region[0]} (${config.region}) for Direct VPC egress, got a subnet in ${subnetRegion}`];
  }
  return undefined;
}

/** The current stack's settings, from Pulumi's config. */
export function loadStackConfig(): StackConfig {
  return parseStackConfig(pulumi.getStack(), (key) => {
    const [namespace, name] = key.split(':') as [string, string];
    return new pulumi.Config(namespace).get(name);
  });
}
