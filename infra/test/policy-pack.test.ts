/**
 * The policy pack, started exactly as `pulumi preview --policy-pack infra/policy` starts it: the
 * CLI's analyzer runs `node …/@pulumi/pulumi/cmd/run-policy-pack <engine address> .
 * -<option>=<value>…` (the runtime options of PulumiPolicy.yaml) with its working directory set to
 * the pack's folder, reads the port the pack prints, and speaks Pulumi's analyzer gRPC protocol.
 * `.` loads the folder's package.json `main`, the compiled pack in dist/ (built here if missing).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AnalyzerClient } from '@pulumi/pulumi/proto/analyzer_grpc_pb';
import { AnalyzeRequest, AnalyzeStackRequest, AnalyzerResource, AnalyzerResourceOptions, EnforcementLevel, type AnalyzeDiagnostic, type AnalyzerInfo } from '@pulumi/pulumi/proto/analyzer_pb';
import { runtime as pulumiRuntime } from '@pulumi/pulumi';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { parse } from 'yaml';
import { renderedResources, RENDERED_STACKS } from '../../common/cloud-run-service';
import { DIST_DIR, pulumiProjectDir, REPO_ROOT } from '../../common/paths';
import { POLICY_PACK_NAME } from '../policy/policies';
import { TYPES } from '../policy/rules';

const PACK_DIR = path.join(REPO_ROOT, 'infra', 'policy');
const COMPILED_PACK = path.join(DIST_DIR, 'infra', 'policy', 'index.js');
/** Resolved from the pack's folder, as the CLI's analyzer resolves it (require.resolve there). */
const RUN_POLICY_PACK = createRequire(path.join(PACK_DIR, 'package.json')).resolve('@pulumi/pulumi/cmd/run-policy-pack');
/** Nothing listens here: the pack only connects to the engine to log, which none of these requests does. */
const ENGINE_ADDRESS = '127.0.0.1:1';

/** The Pulumi project a stack belongs to, as its URNs name it: the chat app's or the Python example's. */
const projectOf = (stack: string) => (parse(fs.readFileSync(path.join(pulumiProjectDir(stack), 'Pulumi.yaml'), 'utf8')) as { name: string }).name;

let pack: ChildProcess;
let client: AnalyzerClient;

/** PulumiPolicy.yaml's runtime options as the CLI passes them: `-key=value`. */
function runtimeOptionArgs(): string[] {
  const project = parse(fs.readFileSync(path.join(PACK_DIR, 'PulumiPolicy.yaml'), 'utf8')) as { runtime: { name: string; options?: Record<string, unknown> } };
  return Object.entries(project.runtime.options ?? {}).map(([key, value]) => `-${key}=${String(value)}`);
}

/** Starts the pack as the CLI does and resolves with the port it prints, as the engine reads it. */
function startPack(): Promise<number> {
  if (!fs.existsSync(COMPILED_PACK)) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', REPO_ROOT], { stdio: 'inherit' });
  pack = spawn(process.execPath, [RUN_POLICY_PACK, ENGINE_ADDRESS, '.', ...runtimeOptionArgs()], { cwd: PACK_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    pack.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^(\d+)\n/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    pack.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    pack.on('exit', (code) => reject(new Error(`the policy pack exited with ${code} before printing its port: ${out}${err}`)));
  });
}

function analyze(stack: string, type: string, name: string, inputs: Record<string, unknown>): Promise<AnalyzeDiagnostic[]> {
  const request = new AnalyzeRequest()
    .setType(type)
    .setName(name)
    .setUrn(`urn:pulumi:${stack}::${projectOf(stack)}::${type}::${name}`)
    .setProperties(Struct.fromJavaScript(inputs as Record<string, never>))
    .setOptions(new AnalyzerResourceOptions());
  return new Promise((resolve, reject) => {
    client.analyze(request, (error, response) => (error ? reject(error) : resolve(response!.getDiagnosticsList())));
  });
}

/** The whole stack at once, as the engine sends it after a preview: stack policies see every resource. */
function analyzeStack(stack: string, resources: { type: string; name: string; inputs: Record<string, unknown> }[]): Promise<AnalyzeDiagnostic[]> {
  const request = new AnalyzeStackRequest().setResourcesList(
    resources.map(({ type, name, inputs }) =>
      new AnalyzerResource()
        .setType(type)
        .setName(name)
        .setUrn(`urn:pulumi:${stack}::${projectOf(stack)}::${type}::${name}`)
        .setProperties(Struct.fromJavaScript(inputs as Record<string, never>))
        .setOptions(new AnalyzerResourceOptions()),
    ),
  );
  return new Promise((resolve, reject) => {
    client.analyzeStack(request, (error, response) => (error ? reject(error) : resolve(response!.getDiagnosticsList())));
  });
}

/** The stack's rendered Cloud Run service inputs, changed by `change`: what a bad program would send. */
function changedService<T>(stack: string, change: (inputs: T) => void): Record<string, unknown> {
  const service = renderedResources(stack).find((resource) => resource.type === TYPES.service)!;
  const inputs = structuredClone(service.inputs) as T;
  change(inputs);
  return inputs as Record<string, unknown>;
}

beforeAll(async () => {
  const port = await startPack();
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  pack?.kill('SIGTERM');
});

describe('the policy pack folder', () => {
  it('resolves `.` to the compiled pack, never to TypeScript that run-policy-pack\'s ts-node would compile', () => {
    // Node's own resolution, as run-policy-pack's require('.') does it (jest's resolver skips dist/).
    expect(createRequire(path.join(PACK_DIR, 'package.json')).resolve(PACK_DIR)).toBe(COMPILED_PACK);
  });
});

describe('the policy pack over gRPC, launched as the CLI launches it', () => {
  it.each(RENDERED_STACKS)('finds no violation in any resource of %s', async (stack) => {
    for (const { type, name, inputs } of renderedResources(stack)) {
      const diagnostics = await analyze(stack, type, name, inputs);
      expect(diagnostics.map((diagnostic) => `${name}: ${diagnostic.getMessage()}`)).toEqual([]);
    }
  });

  it('reports the name of the pack and the version of its package.json', async () => {
    const info = await new Promise<AnalyzerInfo>((resolve, reject) => client.getAnalyzerInfo(new Empty(), (error, response) => (error ? reject(error) : resolve(response))));
    const { version } = JSON.parse(fs.readFileSync(path.join(PACK_DIR, 'package.json'), 'utf8')) as { version: string };
    expect([info.getName(), info.getVersion()]).toEqual([POLICY_PACK_NAME, version]);
  });

  it('rejects the app depending on the gate as a mandatory violation', async () => {
    const inputs = changedService<{ template: { containers: { name: string; dependsOns?: string[] }[] } }>('production', (inputs) => {
      inputs.template.containers.find((container) => container.name === 'app')!.dependsOns = ['gate'];
    });
    const diagnostics = await analyze('production', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel(), diagnostic.getPolicypackname()])).toEqual([
      ['no-startup-deadlock', EnforcementLevel.MANDATORY, POLICY_PACK_NAME],
    ]);
    expect(diagnostics[0]!.getMessage()).toContain('app depends on the gate');
  });

  it('rejects a plain DATABASE_URL and all traffic through the VPC as mandatory violations', async () => {
    const inputs = changedService<{ template: { vpcAccess: { egress: string }; containers: { name: string; envs?: { name: string; value?: string; valueSource?: unknown }[] }[] } }>('staging', (inputs) => {
      const app = inputs.template.containers.find((container) => container.name === 'app')!;
      app.envs = app.envs!.map((env) => (env.name === 'DATABASE_URL' ? { name: env.name, value: 'postgres://chat:pw@10.0.0.3/chat' } : env));
      inputs.template.vpcAccess.egress = 'ALL_TRAFFIC';
    });
    const diagnostics = await analyze('staging', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()])).toEqual([
      ['app-secrets-from-secret-manager', EnforcementLevel.MANDATORY],
      ['app-secrets-from-secret-manager', EnforcementLevel.MANDATORY],
      ['direct-vpc-egress', EnforcementLevel.MANDATORY],
    ]);
    expect(diagnostics.map((diagnostic) => diagnostic.getMessage()).join('\n')).not.toContain('pw@');
  });

  it('rejects a service whose gate has no startup probe as a mandatory violation', async () => {
    const inputs = changedService<{ template: { containers: { name: string; startupProbe?: unknown }[] } }>('staging', (inputs) => {
      delete inputs.template.containers.find((container) => container.name === 'gate')!.startupProbe;
    });
    const diagnostics = await analyze('staging', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel(), diagnostic.getPolicypackname()])).toEqual([
      ['gate-startup-probe', EnforcementLevel.MANDATORY, POLICY_PACK_NAME],
    ]);
    expect(diagnostics[0]!.getMessage()).toContain('the gate has no startup probe');
  });

  it('only advises during a preview whose images are still to be built (their digests unknown), so the preview runs', async () => {
    const inputs = changedService<{ template: { containers: { name: string; image: string }[] } }>('staging', (inputs) => {
      for (const container of inputs.template.containers.filter(({ name }) => name !== 'collector')) container.image = pulumiRuntime.unknownValue;
    });
    const diagnostics = await analyze('staging', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()])).toEqual([['pinned-images', EnforcementLevel.ADVISORY]]);
    expect(diagnostics[0]!.getMessage()).toContain("can't run policy 'pinned-images'");
  });

  it("applies the chat app's policies to the chat service only: the Python example's service passes, the same service named chat fails each", async () => {
    const inputs = changedService<{ name: string }>('python-fastapi', (inputs) => {
      inputs.name = 'chat';
    });
    const diagnostics = await analyze('python-fastapi', TYPES.service, 'chat', inputs);
    expect(new Set(diagnostics.map((diagnostic) => diagnostic.getPolicyname()))).toEqual(
      new Set(['dependency-budgets-fit-startup-window', 'app-secrets-from-secret-manager', 'direct-vpc-egress']),
    );
  });

  it('rejects a public invoker in staging', async () => {
    const diagnostics = await analyze('staging', TYPES.serviceInvoker, 'chat-public-invoker', { role: 'roles/run.invoker', member: 'allUsers', name: 'chat' });
    expect(diagnostics.map((diagnostic) => diagnostic.getPolicyname())).toEqual(['public-invoker-only-in-public-stacks']);
  });

  it.each(RENDERED_STACKS)('finds no stack violation in %s', async (stack) => {
    const diagnostics = await analyzeStack(stack, renderedResources(stack));
    expect(diagnostics.map((diagnostic) => diagnostic.getMessage())).toEqual([]);
  });

  it("rejects a stack whose gate has no alert policies (the gate's and the chat app's policies, one violation each), and a production policy without channels", async () => {
    const resources = renderedResources('production');
    const withoutAlerts = await analyzeStack('production', resources.filter((resource) => resource.type !== TYPES.alertPolicy));
    expect(new Set(withoutAlerts.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()].join(' ')))).toEqual(
      new Set([`gate-alert-policies ${EnforcementLevel.MANDATORY}`, `chat-app-alert-policies ${EnforcementLevel.MANDATORY}`]),
    );
    expect(withoutAlerts.length).toBe(resources.filter((resource) => resource.type === TYPES.alertPolicy).length);
    const pythonWithoutAlerts = await analyzeStack('python-fastapi', renderedResources('python-fastapi').filter((resource) => resource.type !== TYPES.alertPolicy));
    expect(new Set(pythonWithoutAlerts.map((diagnostic) => diagnostic.getPolicyname()))).toEqual(new Set(['gate-alert-policies']));

    const policy = structuredClone(resources.find((resource) => resource.type === TYPES.alertPolicy)!);
    const diagnostics = await analyze('production', policy.type, policy.name, { ...policy.inputs, notificationChannels: [] });
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()])).toEqual([['production-alert-channels', EnforcementLevel.MANDATORY]]);
  });
});
