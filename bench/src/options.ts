/** `npm run bench -- [--quick] [--only detection,footprint,endpoints,ws,hostile,outage]`, parsed with node:util as the runner parses its own. */
import { parseArgs } from 'node:util';

export const SECTIONS = ['detection', 'footprint', 'endpoints', 'ws', 'hostile', 'outage'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  plan: 'full' | 'quick';
  only: readonly Section[];
}

/** A bad command line: main prints the message and exits 2. */
export class UsageError extends Error {}

export function parseOptions(argv: readonly string[]): BenchOptions {
  let values: { quick: boolean; only?: string };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; use --quick and --only ${SECTIONS.join(',')}`);
  }
  const only = values.only === undefined ? [...SECTIONS] : values.only.split(',');
  const unknown = only.filter((section) => !(SECTIONS as readonly string[]).includes(section));
  if (unknown.length > 0) throw new UsageError(`--only takes ${SECTIONS.join(',')}; unknown: ${unknown.join(',') || '(nothing)'}`);
  return { plan: values.quick ? 'quick' : 'full', only: only as Section[] };
}
