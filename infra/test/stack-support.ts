/** Runs the program for a stack under mocks, once per stack per test file, and finds resources in it. */
import { recordStack, stackConfig, type RecordedResource } from '../mocks';
import { deployStack } from '../program';

export interface RecordedStack {
  resources: RecordedResource[];
  /** The single resource of a type (and name, when given); throws when there is not exactly one. */
  one(type: string, name?: string): RecordedResource;
  all(type: string): RecordedResource[];
}

const cache = new Map<string, Promise<RecordedResource[]>>();
// Pulumi's runtime state is global: one stack at a time.
let queue: Promise<unknown> = Promise.resolve();

export async function runStack(stack: string): Promise<RecordedStack> {
  if (!cache.has(stack)) {
    const run = queue.then(() => recordStack(stack, stackConfig(stack), deployStack)).then(({ resources }) => resources);
    queue = run;
    cache.set(stack, run);
  }
  const resources = await cache.get(stack)!;
  const all = (type: string) => resources.filter((resource) => resource.type === type);
  return {
    resources,
    all,
    one(type, name) {
      const found = all(type).filter((resource) => name === undefined || resource.name === name);
      if (found.length !== 1) throw new Error(`expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}`);
      return found[0]!;
    },
  };
}
