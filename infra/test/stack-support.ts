/**
 * A stack's resources, found by type and name: either run now (the compiled program, package.json
 * "main", under mocks, once per stack per test file) or read from its rendered file, which
 * `npm test` checks equals the program's output (`render --check`) and costs no program run.
 */
import { renderedResources } from '../../common/cloud-run-service';
import { recordStack, stackConfig, type RecordedResource } from '../mocks';

export interface RecordedStack {
  resources: RecordedResource[];
  /** The single resource of a type (and name, when given); throws when there is not exactly one. */
  one(type: string, name?: string): RecordedResource;
  all(type: string): RecordedResource[];
}

function stackOf(resources: RecordedResource[]): RecordedStack {
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

const cache = new Map<string, Promise<RecordedResource[]>>();

/** The program's resources for a stack, secrets still wrapped as Pulumi secrets. */
export async function runStack(stack: string): Promise<RecordedStack> {
  if (!cache.has(stack)) {
    cache.set(stack, recordStack(stack, stackConfig(stack)));
  }
  return stackOf(await cache.get(stack)!);
}

/** The rendered resources of a stack: secrets as a placeholder, undefined fields dropped. */
export function renderedStack(stack: string): RecordedStack {
  return stackOf(renderedResources(stack));
}
