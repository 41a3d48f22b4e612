/**
 * Runs the program in-process with Pulumi's mocks (no CLI, no cloud) and records every resource
 * it registers with the inputs the engine would receive. The tests and `npm run render` use it.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { REPO_ROOT } from '../common/paths';
import { PROJECT } from './config';

export interface RecordedResource {
  type: string;
  name: string;
  /** As the engine receives them; secret values are still wrapped as Pulumi secrets. */
  inputs: Record<string, unknown>;
}

/** A stack's config as Pulumi hands it to a program: every value a string, objects as JSON. */
export function stackConfig(stack: string, root = REPO_ROOT): Record<string, string> {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  const document = parse(fs.readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(document.config ?? {}).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

/** The outputs the cloud would compute, where the program reads them. */
function computedOutputs(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'gcp:serviceaccount/account:Account':
      return { email: `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com` };
    case 'gcp:secretmanager/secret:Secret':
      return { name: `projects/${inputs.project}/secrets/${inputs.secretId}` };
    case 'gcp:secretmanager/secretVersion:SecretVersion':
      return { version: '1' };
    case 'gcp:cloudrunv2/service:Service':
      return { uri: `https://${inputs.name}-mock-${inputs.location}.a.run.app` };
    default:
      return {};
  }
}

function mockId(type: string, name: string, inputs: Record<string, unknown>): string {
  if (type === 'gcp:secretmanager/secret:Secret') return `projects/${inputs.project}/secrets/${inputs.secretId}`;
  return `${name}-id`;
}

/**
 * Runs `program` as the given stack under mocks and returns every resource it registered, in
 * registration order. Config comes from `config` (fully qualified keys), as `pulumi up` would pass it.
 */
export async function recordStack<T>(
  stack: string,
  config: Record<string, string>,
  program: () => T,
): Promise<{ resources: RecordedResource[]; result: T }> {
  const resources: RecordedResource[] = [];
  pulumi.runtime.setAllConfig(config);
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => {
        resources.push({ type, name, inputs });
        return { id: mockId(type, name, inputs), state: { ...inputs, ...computedOutputs(type, inputs) } };
      },
      call: () => ({}),
    },
    PROJECT,
    stack,
    false,
  );
  const result = program();
  // Registrations wait on their inputs' outputs; this drains every outstanding one.
  await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
  return { resources, result };
}
