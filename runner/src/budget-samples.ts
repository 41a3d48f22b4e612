/**
 * Boots for the budget advisor from a samples file: a JSON array of
 * `{"bootSeconds": 201.3, "phases": {"database": 40.2, ...}}`. An entry that is not a boot is
 * counted and named, never used.
 */
import type { BootSample } from './budget';

export interface Rejected {
  /** Where the entry came from: its index in the file, or a series' labels. */
  where: string;
  reason: string;
}

export interface Boots {
  samples: BootSample[];
  rejected: Rejected[];
}

const isDuration = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** One entry, or why it is not a boot. */
export function toBootSample(entry: unknown): BootSample | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not an object';
  const { bootSeconds, phases = {} } = entry as Record<string, unknown>;
  if (!isDuration(bootSeconds)) return `bootSeconds must be a number of seconds (>= 0), got ${JSON.stringify(bootSeconds)}`;
  if (typeof phases !== 'object' || phases === null || Array.isArray(phases)) return 'phases must be an object of phase name -> seconds';
  const bad = Object.entries(phases).find(([, seconds]) => !isDuration(seconds));
  if (bad) return `phases.${bad[0]} must be a number of seconds (>= 0), got ${JSON.stringify(bad[1])}`;
  return { bootSeconds, phases: phases as Record<string, number> };
}

/** The samples file's text; throws one line when it is not a JSON array at all. */
export function parseSamples(text: string): Boots {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (error) {
    throw new Error(`is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(entries)) throw new Error('must be a JSON array of boots ({"bootSeconds": 201.3, "phases": {...}})');
  const boots: Boots = { samples: [], rejected: [] };
  entries.forEach((entry, index) => {
    const sample = toBootSample(entry);
    if (typeof sample === 'string') boots.rejected.push({ where: `#${index}`, reason: sample });
    else boots.samples.push(sample);
  });
  return boots;
}
