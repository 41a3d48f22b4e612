import { STARTUP_HEADROOM_SECONDS } from '../../common/probes';
import { ConfigError } from '../../common/env';
import { CONFIG_KEYS, parseStackConfig, type ConfigKey } from '../config';
import { stackConfig } from '../mocks';

const staging = stackConfig('staging');
const lookup = (overrides: Partial<Record<ConfigKey, string | undefined>>) => (key: ConfigKey) =>
  key in overrides ? overrides[key] : staging[key];
/** A staging setting as the stack file writes it: the tests derive what they expect from it, not from a copy. */
const raw = (key: string) => staging[`cloud-run-startup-gate:${key}` as ConfigKey] ?? staging[key as ConfigKey]!;

describe('parseStackConfig', () => {
  it.each(['staging', 'production'])('accepts the committed %s stack', (stack) => {
    const config = parseStackConfig(stack, (key) => stackConfig(stack)[key]);
    expect(config.stack).toBe(stack);
    expect(config.llmApiKeySecret).toBe(stackConfig(stack)['cloud-run-startup-gate:llmApiKeySecret']);
  });

  it('parses numbers, flags and labels from their string form', () => {
    const config = parseStackConfig('staging', lookup({}));
    for (const key of ['startupBudgetSeconds', 'minInstances', 'maxInstances', 'concurrency'] as const) {
      expect(typeof config[key]).toBe('number');
      expect(String(config[key])).toBe(raw(key));
    }
    for (const key of ['gateReadinessProbe', 'publicAccess'] as const) expect(config[key]).toBe(raw(key) === 'true');
    expect(config.labels).toEqual(JSON.parse(raw('labels')));
  });

  it('reads exactly the keys the stack files set', () => {
    for (const stack of ['staging', 'production']) expect(Object.keys(stackConfig(stack)).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it.each(CONFIG_KEYS)('names %s when it is missing', (key) => {
    expect(() => parseStackConfig('staging', lookup({ [key]: undefined }))).toThrow(new ConfigError(key, `is required (pulumi config set ${key} ...)`));
  });

  const bad: [ConfigKey, string][] = [
    ['gcp:project', 'Chat_Project'],
    ['gcp:region', 'europe'],
    ['cloud-run-startup-gate:collectorImage', 'us-docker.pkg.dev/x/y/cloud-run-gmp-sidecar:latest'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '481'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '0'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '1.5'],
    ['cloud-run-startup-gate:gateReadinessProbe', 'yes'],
    ['cloud-run-startup-gate:publicAccess', '1'],
    ['cloud-run-startup-gate:minInstances', '-1'],
    ['cloud-run-startup-gate:maxInstances', '0'],
    ['cloud-run-startup-gate:concurrency', '1001'],
    ['cloud-run-startup-gate:llmApiKeySecret', 'projects/p/secrets/llm-api-key'],
    ['cloud-run-startup-gate:databaseUrlSecret', 'database url'],
    ['cloud-run-startup-gate:redisUrlSecret', ''],
    ['cloud-run-startup-gate:databaseBudgetSeconds', '0'],
    ['cloud-run-startup-gate:databaseBudgetSeconds', '59'],
    ['cloud-run-startup-gate:cacheBudgetSeconds', '30'],
    ['cloud-run-startup-gate:databaseBudgetSeconds', '231'],
    ['cloud-run-startup-gate:cacheBudgetSeconds', '2.5'],
    ['cloud-run-startup-gate:network', 'Chat_VPC'],
    ['cloud-run-startup-gate:network', 'projects/host-project/networks/chat-vpc'],
    ['cloud-run-startup-gate:subnetwork', 'chat-run-'],
    ['cloud-run-startup-gate:subnetwork', 'projects/host-project/global/subnetworks/chat-run'],
    ['cloud-run-startup-gate:llmBaseUrl', 'http://api.openai.com/v1'],
    ['cloud-run-startup-gate:llmModel', ''],
    ['cloud-run-startup-gate:deletionProtection', 'on'],
    ['cloud-run-startup-gate:labels', '{"App":"chat"}'],
    ['cloud-run-startup-gate:labels', '{"app":"Chat Service"}'],
    ['cloud-run-startup-gate:labels', 'app=chat'],
    ['cloud-run-startup-gate:notificationChannels', 'projects/chat-gate-staging/notificationChannels/1'],
    ['cloud-run-startup-gate:notificationChannels', '["on-call@example.com"]'],
    ['cloud-run-startup-gate:notificationChannels', '["projects/chat-gate-staging/alertPolicies/1"]'],
    ['cloud-run-startup-gate:notificationChannels', '{"channel":"1"}'],
    ['cloud-run-startup-gate:notificationChannels', '["1","1"]'],
  ];
  it.each(bad)('rejects %s = %j, naming the key and the value', (key, value) => {
    const message = (() => {
      try {
        parseStackConfig('staging', lookup({ [key]: value }));
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).setting).toBe(key);
        return (error as Error).message;
      }
      throw new Error('accepted');
    })();
    expect(message.startsWith(`${key} `)).toBe(true);
    expect(message.endsWith(`got ${JSON.stringify(value)}`)).toBe(true);
  });

  it('rejects more minimum than maximum instances, naming both keys', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:minInstances': '5' }))).toThrow(
      `cloud-run-startup-gate:minInstances (5) must not exceed cloud-run-startup-gate:maxInstances (${raw('maxInstances')})`,
    );
  });

  it('reads the dependency secrets, budgets and the network', () => {
    expect(parseStackConfig('staging', lookup({}))).toMatchObject({
      databaseUrlSecret: raw('databaseUrlSecret'),
      redisUrlSecret: raw('redisUrlSecret'),
      databaseBudgetSeconds: Number(raw('databaseBudgetSeconds')),
      cacheBudgetSeconds: Number(raw('cacheBudgetSeconds')),
      network: raw('network'),
      subnetwork: raw('subnetwork'),
    });
  });

  it('accepts a Shared VPC network and subnet by path in the stack region', () => {
    const config = parseStackConfig('staging', lookup({
      'cloud-run-startup-gate:network': 'projects/chat-host-net/global/networks/shared-vpc',
      'cloud-run-startup-gate:subnetwork': `projects/chat-host-net/regions/${raw('gcp:region')}/subnetworks/chat-run`,
    }));
    expect(config).toMatchObject({ network: 'projects/chat-host-net/global/networks/shared-vpc', subnetwork: `projects/chat-host-net/regions/${raw('gcp:region')}/subnetworks/chat-run` });
  });

  it('rejects a subnet outside the stack region, naming both keys', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:subnetwork': 'projects/chat-host-net/regions/us-central1/subnetworks/chat-run' }))).toThrow(
      `cloud-run-startup-gate:subnetwork must be in gcp:region (${raw('gcp:region')}) for Direct VPC egress, got a subnet in us-central1`,
    );
  });

  it('accepts dependency budgets and the key fetch that fill the startup window up to the headroom', () => {
    const keys = (JSON.parse(raw('auth')) as { budgetSeconds: number }).budgetSeconds;
    const config = parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:databaseBudgetSeconds': String(Number(raw('startupBudgetSeconds')) - STARTUP_HEADROOM_SECONDS - Number(raw('cacheBudgetSeconds')) - keys) }));
    expect(config.databaseBudgetSeconds + config.cacheBudgetSeconds + config.auth.budgetSeconds + STARTUP_HEADROOM_SECONDS).toBe(config.startupBudgetSeconds);
  });

  it('reads who signs users in, with a default budget for the key fetch, and refuses an issuer without https', () => {
    expect(parseStackConfig('staging', lookup({})).auth).toEqual(JSON.parse(raw('auth')));
    const auth = (value: object) => lookup({ 'cloud-run-startup-gate:auth': JSON.stringify(value) });
    expect(parseStackConfig('staging', auth({ issuer: 'https://accounts.google.com', audience: 'client-id' })).auth).toEqual({ issuer: 'https://accounts.google.com', audience: 'client-id', budgetSeconds: 15 });
    expect(() => parseStackConfig('staging', auth({ issuer: 'http://issuer.example', audience: 'a' }))).toThrow(/^cloud-run-startup-gate:auth issuer must be an https URL/);
    expect(() => parseStackConfig('staging', auth({ issuer: 'https://issuer.example' }))).toThrow(/^cloud-run-startup-gate:auth /);
  });

  it.each([
    ['the database budget', { 'cloud-run-startup-gate:databaseBudgetSeconds': '81' }],
    ['the cache budget', { 'cloud-run-startup-gate:cacheBudgetSeconds': '81' }],
    ['a shorter startup window', { 'cloud-run-startup-gate:startupBudgetSeconds': '144' }],
  ])('rejects dependency budgets beyond the startup window (%s), naming the three keys', (_what, overrides) => {
    expect(() => parseStackConfig('staging', lookup(overrides))).toThrow(
      /^cloud-run-startup-gate:databaseBudgetSeconds \(\d+\) \+ cloud-run-startup-gate:cacheBudgetSeconds \(\d+\) \+ cloud-run-startup-gate:auth.budgetSeconds \(\d+\) \+ 10 s for the other phases must fit within cloud-run-startup-gate:startupBudgetSeconds \(\d+\)/,
    );
  });

  it('names the budget a too-short window needs, and what a budget beyond 240 s costs', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:startupBudgetSeconds': '144' }))).toThrow(
      /Raise it to 145 \(up to 240 s the gate's startup probe tries once a second from the start; beyond it, .* a boot that is ready sooner still waits for it\)$/,
    );
  });

  it('says why a dependency budget under 60 s is refused: Direct VPC egress', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:cacheBudgetSeconds': '30' }))).toThrow(
      'cloud-run-startup-gate:cacheBudgetSeconds must be at least 60: with Direct VPC egress, Cloud Run documents connection delays of a minute or more at instance start, got "30"',
    );
  });

  it('accepts startup budgets up to 480 s and refuses more, saying what the initial delay costs', () => {
    expect(parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:startupBudgetSeconds': '400' })).startupBudgetSeconds).toBe(400);
    expect(parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:startupBudgetSeconds': '480' })).startupBudgetSeconds).toBe(480);
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:startupBudgetSeconds': '481' }))).toThrow(
      /^cloud-run-startup-gate:startupBudgetSeconds must be at most 480: .*initialDelaySeconds \(at most 240 s\), so the first attempt waits \(budget - 240\) s and a boot that is ready sooner still waits for it, got "481"$/,
    );
  });

  it('rejects one secret for both URLs', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:redisUrlSecret': raw('databaseUrlSecret') }))).toThrow(
      `cloud-run-startup-gate:databaseUrlSecret and cloud-run-startup-gate:redisUrlSecret must name different secrets, both are ${JSON.stringify(raw('databaseUrlSecret'))}`,
    );
  });

  const channels = (value: unknown[]) => ({ 'cloud-run-startup-gate:notificationChannels': JSON.stringify(value) });
  it('reads notification channels by resource name or by ID in the stack project; staging may have none', () => {
    expect(parseStackConfig('staging', lookup({})).notificationChannels).toEqual([]);
    expect(parseStackConfig('staging', lookup(channels(['123', 'projects/chat-gate-staging/notificationChannels/456']))).notificationChannels).toEqual([
      'projects/chat-gate-staging/notificationChannels/123',
      'projects/chat-gate-staging/notificationChannels/456',
    ]);
    expect(parseStackConfig('production', (key) => stackConfig('production')[key]).notificationChannels).toEqual(['projects/chat-gate-prod/notificationChannels/4817365902184736512']);
  });

  it('requires at least one notification channel in production', () => {
    const production = stackConfig('production');
    expect(() => parseStackConfig('production', (key) => ({ ...production, ...channels([]) } as Record<string, string>)[key])).toThrow(
      'cloud-run-startup-gate:notificationChannels must list at least one notification channel in production: its alerts must reach someone',
    );
  });

  it('rejects a channel of another project, naming both keys', () => {
    expect(() => parseStackConfig('staging', lookup(channels(['projects/chat-gate-prod/notificationChannels/1'])))).toThrow(
      'cloud-run-startup-gate:notificationChannels must name channels in gcp:project (chat-gate-staging), got projects/chat-gate-prod/notificationChannels/1',
    );
  });

  it('rejects a stack it does not know', () => {
    expect(() => parseStackConfig('dev', lookup({}))).toThrow('stack must be one of staging, production, got "dev"');
  });
});
