import { CONFIG_KEYS, ConfigError, parseStackConfig, type ConfigKey } from '../config';
import { stackConfig } from '../mocks';

const staging = stackConfig('staging');
const lookup = (overrides: Partial<Record<ConfigKey, string | undefined>>) => (key: ConfigKey) =>
  key in overrides ? overrides[key] : staging[key];

describe('parseStackConfig', () => {
  it.each(['staging', 'production'])('accepts the committed %s stack', (stack) => {
    const config = parseStackConfig(stack, (key) => stackConfig(stack)[key]);
    expect(config.stack).toBe(stack);
    expect(config.llmApiKeySecret).toBe('llm-api-key');
  });

  it('parses numbers, flags and labels from their string form', () => {
    const config = parseStackConfig('staging', lookup({}));
    expect(config).toMatchObject({
      startupBudgetSeconds: 90,
      gateReadinessProbe: true,
      publicAccess: false,
      minInstances: 0,
      maxInstances: 3,
      concurrency: 100,
      labels: { app: 'chat', team: 'chat-platform' },
    });
  });

  it('reads exactly the keys the stack files set', () => {
    for (const stack of ['staging', 'production']) expect(Object.keys(stackConfig(stack)).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it.each(CONFIG_KEYS)('names %s when it is missing', (key) => {
    expect(() => parseStackConfig('staging', lookup({ [key]: undefined }))).toThrow(new ConfigError(`${key} is required (pulumi config set ${key} ...)`));
  });

  const bad: [ConfigKey, string][] = [
    ['gcp:project', 'Chat_Project'],
    ['gcp:region', 'europe'],
    ['cloud-run-startup-gate:appImage', 'europe-west1-docker.pkg.dev/p/chat/app:latest'],
    ['cloud-run-startup-gate:gateImage', 'europe-west1-docker.pkg.dev/p/chat/gate@sha256:abc'],
    ['cloud-run-startup-gate:collectorImage', 'us-docker.pkg.dev/x/y/cloud-run-gmp-sidecar:latest'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '241'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '0'],
    ['cloud-run-startup-gate:startupBudgetSeconds', '1.5'],
    ['cloud-run-startup-gate:gateReadinessProbe', 'yes'],
    ['cloud-run-startup-gate:publicAccess', '1'],
    ['cloud-run-startup-gate:minInstances', '-1'],
    ['cloud-run-startup-gate:maxInstances', '0'],
    ['cloud-run-startup-gate:concurrency', '1001'],
    ['cloud-run-startup-gate:llmApiKeySecret', 'projects/p/secrets/llm-api-key'],
    ['cloud-run-startup-gate:llmBaseUrl', 'http://api.openai.com/v1'],
    ['cloud-run-startup-gate:llmModel', ''],
    ['cloud-run-startup-gate:deletionProtection', 'on'],
    ['cloud-run-startup-gate:labels', '{"App":"chat"}'],
    ['cloud-run-startup-gate:labels', '{"app":"Chat Service"}'],
    ['cloud-run-startup-gate:labels', 'app=chat'],
  ];
  it.each(bad)('rejects %s = %j, naming the key and the value', (key, value) => {
    const message = (() => {
      try {
        parseStackConfig('staging', lookup({ [key]: value }));
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    })();
    expect(message.startsWith(`${key} `)).toBe(true);
    expect(message.endsWith(`got ${JSON.stringify(value)}`)).toBe(true);
  });

  it('rejects more minimum than maximum instances, naming both keys', () => {
    expect(() => parseStackConfig('staging', lookup({ 'cloud-run-startup-gate:minInstances': '5' }))).toThrow(
      'cloud-run-startup-gate:minInstances (5) must not exceed cloud-run-startup-gate:maxInstances (3)',
    );
  });

  it('rejects a stack it does not know', () => {
    expect(() => parseStackConfig('dev', lookup({}))).toThrow('stack must be one of staging, production, got "dev"');
  });
});
