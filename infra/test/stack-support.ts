/** Runs the compiled program (package.json "main") for a stack under mocks, once per stack per test file, and finds resources in it. */
import { recordStack, stackConfig, type RecordedResource } from '../mocks';

export interface RecordedStack {
  resources: RecordedResource[];
  /** The single resource of a type (and name, when given); throws when there is not exactly one. */
  one(type: string, name?: string): RecordedResource;
  all(type: string): RecordedResource[];
}

const cache = new Map<string, Promise<RecordedResource[]>>();

export async function runStack(stack: string): Promise<RecordedStack> {
  if (!cache.has(stack)) {
    cache.set(stack, recordStack(stack, stackConfig(stack)));
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
