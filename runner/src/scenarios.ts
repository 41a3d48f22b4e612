/**
 * Startup faults to rehearse with `npm start -- --scenario NAME`. Each sets the app's rehearsal
 * knobs (see the README); the revision definition itself is unchanged.
 */
import { APP_ENV_VARS } from '../../common/revision';

export interface Scenario {
  description: string;
  appEnv: Readonly<Record<string, string>>;
  /** What the revision should do: the tests hold the runner to it. */
  expect: 'traffic' | 'fails';
}

export const SCENARIOS = {
  normal: { description: 'the app starts at full speed', appEnv: {}, expect: 'traffic' },
  'slow-services': {
    description: 'the services phase takes 5 s (a slow dependency or a cold cache)',
    appEnv: { [APP_ENV_VARS.phaseDelayMs]: 'services=5000' },
    expect: 'traffic',
  },
  'database-fails': {
    description: 'the database phase fails: the app reports state failed and keeps running',
    appEnv: { [APP_ENV_VARS.failPhase]: 'database' },
    expect: 'fails',
  },
  'finalize-hangs': {
    description: 'the finalize phase never finishes: the startup probe window runs out',
    appEnv: { [APP_ENV_VARS.phaseDelayMs]: 'finalize=600000' },
    expect: 'fails',
  },
  'crash-mid-startup': {
    description: 'the app process exits with code 1 in the services phase',
    appEnv: { [APP_ENV_VARS.crashPhase]: 'services' },
    expect: 'fails',
  },
} as const satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];
