/**
 * Runs the compiled program under Pulumi's mocks (no CLI, no cloud) as the Node.js language host
 * runs it, in a process of its own, and records every resource it registers with the inputs the
 * engine would receive. The tests and `npm run render` use it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { DIST_DIR, pulumiProjectDir, REPO_ROOT } from '../common/paths';

export interface RecordedResource {
  type: string;
  name: string;
  /** As the engine receives them; secret values are still wrapped as Pulumi secrets. */
  inputs: Record<string, unknown>;
}

/** A stack's config as Pulumi hands it to a program: every value a string, objects as JSON. `root` is the repository's. */
export function stackConfig(stack: string, root = REPO_ROOT): Record<string, string> {
  const file = path.join(pulumiProjectDir(stack, root), `Pulumi.${stack}.yaml`);
  const document = parse(fs.readFileSync(file, 'utf8')) as { config?: Record<string, unknown> };
  return Object.fromEntries(
    Object.entries(document.config ?? {}).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
  );
}

interface ProjectFile {
  name: string;
  runtime: string | { name: string; options?: { typescript?: boolean } };
  main?: string;
}

function projectFile(root: string): ProjectFile {
  return parse(fs.readFileSync(path.join(root, 'Pulumi.yaml'), 'utf8')) as ProjectFile;
}

/**
 * The compiled program, found as Pulumi's Node.js language host finds it: the project folder
 * (Pulumi.yaml's `main`, by default the folder of Pulumi.yaml), then that folder's package.json
 * `main`. Pulumi.yaml must set `runtime.options.typescript: false`, so the host loads that file
 * as it is, without ts-node.
 */
export function programEntry(root = REPO_ROOT): string {
  const project = projectFile(root);
  const runtime = typeof project.runtime === 'string' ? { name: project.runtime } : project.runtime;
  if (runtime.name !== 'nodejs' || runtime.options?.typescript !== false) {
    throw new Error('Pulumi.yaml must declare runtime nodejs with options.typescript false: the program is the compiled JavaScript');
  }
  const folder = path.resolve(root, project.main ?? '.');
  // Node's own resolution (package.json `main`), as the host's require(folder) does it.
  try {
    return createRequire(path.join(folder, 'package.json')).resolve(folder);
  } catch (error) {
    throw new Error(`the program's package.json "main" in ${folder} does not resolve (run \`npm run build\` first): ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
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
    case 'gcp:artifactregistry/repository:Repository':
      return { registryUri: `${inputs.location}-docker.pkg.dev/${inputs.project}/${inputs.repositoryId}` };
    case 'docker-build:index:Image':
      // What a push reports; the mocks' stands for the digest `pulumi up` will push.
      return { digest: mockDigest(JSON.stringify(inputs.tags)) };
    default:
      return {};
  }
}

/** A digest no build produced: sha256 of "mock " and a seed, stable across runs. */
function mockDigest(seed: string): string {
  return `sha256:${createHash('sha256').update(`mock ${seed}`).digest('hex')}`;
}

/** The invokes the program makes, as the cloud would answer them. */
function invokeResult(token: string): Record<string, unknown> {
  return token === 'gcp:organizations/getClientConfig:getClientConfig' ? { accessToken: 'mock-access-token' } : {};
}

function mockId(type: string, name: string, inputs: Record<string, unknown>): string {
  if (type === 'gcp:secretmanager/secret:Secret') return `projects/${inputs.project}/secrets/${inputs.secretId}`;
  return `${name}-id`;
}

/** Mocks that answer as the cloud would (ids, computed outputs, invokes) and record each resource into `resources`. */
export function recordingMocks(resources: RecordedResource[]): pulumi.runtime.Mocks {
  return {
    newResource: ({ type, name, inputs }) => {
      resources.push({ type, name, inputs });
      return { id: mockId(type, name, inputs), state: { ...inputs, ...computedOutputs(type, inputs) } };
    },
    call: ({ token }) => invokeResult(token),
  };
}

/**
 * The language host's part, in this process: sets the mocks on the program's own @pulumi/pulumi
 * (the copy its resources register with), requires the entry (calling it when it exports a
 * function) and waits for every registration. Config holds fully qualified keys, as `pulumi up`
 * passes them.
 */
async function runUnderMocks(stack: string, config: Record<string, string>, projectDir: string): Promise<RecordedResource[]> {
  const entry = programEntry(projectDir);
  const load = createRequire(entry);
  const runtime = (load('@pulumi/pulumi') as typeof pulumi).runtime;
  const resources: RecordedResource[] = [];
  runtime.setAllConfig(config);
  await runtime.setMocks(
    recordingMocks(resources),
    projectFile(projectDir).name,
    stack,
    false,
  );
  const exported = load(entry) as unknown;
  if (typeof exported === 'function') await (exported as () => unknown)();
  // Registrations wait on their inputs' outputs; this drains every outstanding one.
  await (runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
  return resources;
}

/** This module compiled: the process that runs the program. */
const RUNNER = path.join(DIST_DIR, 'infra', 'mocks.js');

/**
 * Runs the program of the stack's project as the given stack under mocks in a fresh Node process
 * started in the project folder, as `pulumi up` runs it once per stack, and returns every resource
 * it registered, in registration order (secret values still wrapped as Pulumi secrets).
 */
export function recordStack(stack: string, config: Record<string, string>): Promise<RecordedResource[]> {
  const projectDir = pulumiProjectDir(stack);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER], { cwd: projectDir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as RecordedResource[]);
      else reject(new Error(`the program failed for stack ${stack} (exit ${code}): ${err.trim() || out.trim()}`));
    });
    child.stdin.end(JSON.stringify({ stack, config, projectDir }));
  });
}

if (require.main === module) {
  let input = '';
  process.stdin.on('data', (chunk: Buffer) => (input += chunk.toString()));
  process.stdin.on('end', () => {
    const { stack, config, projectDir } = JSON.parse(input) as { stack: string; config: Record<string, string>; projectDir: string };
    runUnderMocks(stack, config, projectDir).then(
      (resources) => process.stdout.write(JSON.stringify(resources)),
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
