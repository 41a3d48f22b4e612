/**
 * The compiled policy pack, started as `pulumi preview --policy-pack` starts it and queried over
 * Pulumi's analyzer gRPC protocol. Needs `tsc -p .` first (npm test runs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AnalyzerClient } from '@pulumi/pulumi/proto/analyzer_grpc_pb';
import { AnalyzeRequest, AnalyzeStackRequest, AnalyzerResource, AnalyzerResourceOptions, EnforcementLevel, type AnalyzeDiagnostic } from '@pulumi/pulumi/proto/analyzer_pb';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb';
import { parse } from 'yaml';
import { PROJECT, STACKS } from '../config';
import { REPO_ROOT, renderedStackPath } from '../../common/paths';
import { POLICY_PACK_NAME } from '../policy/policies';
import { TYPES } from '../policy/rules';

const PACK = path.join(REPO_ROOT, 'dist', 'infra', 'policy', 'index.js');

let pack: ChildProcess;
let client: AnalyzerClient;

/** Starts the pack and resolves with the port it prints, as the Pulumi engine reads it. */
function startPack(): Promise<number> {
  if (!fs.existsSync(PACK)) throw new Error(`${PACK} is missing: run \`tsc -p .\` first`);
  pack = spawn(process.execPath, [PACK], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    pack.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^(\d+)\n/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    pack.stderr!.on('data', (chunk: Buffer) => reject(new Error(chunk.toString())));
    pack.on('exit', (code) => reject(new Error(`the policy pack exited with ${code}`)));
  });
}

function analyze(stack: string, type: string, name: string, inputs: Record<string, unknown>): Promise<AnalyzeDiagnostic[]> {
  const request = new AnalyzeRequest()
    .setType(type)
    .setName(name)
    .setUrn(`urn:pulumi:${stack}::${PROJECT}::${type}::${name}`)
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
        .setUrn(`urn:pulumi:${stack}::${PROJECT}::${type}::${name}`)
        .setProperties(Struct.fromJavaScript(inputs as Record<string, never>))
        .setOptions(new AnalyzerResourceOptions()),
    ),
  );
  return new Promise((resolve, reject) => {
    client.analyzeStack(request, (error, response) => (error ? reject(error) : resolve(response!.getDiagnosticsList())));
  });
}

function renderedResources(stack: string): { type: string; name: string; inputs: Record<string, unknown> }[] {
  return (parse(fs.readFileSync(renderedStackPath(stack), 'utf8')) as { resources: { type: string; name: string; inputs: Record<string, unknown> }[] }).resources;
}

beforeAll(async () => {
  const port = await startPack();
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  pack?.kill('SIGTERM');
});

describe('the policy pack over gRPC', () => {
  it.each(STACKS)('finds no violation in any resource of %s', async (stack) => {
    for (const { type, name, inputs } of renderedResources(stack)) {
      const diagnostics = await analyze(stack, type, name, inputs);
      expect(diagnostics.map((diagnostic) => `${name}: ${diagnostic.getMessage()}`)).toEqual([]);
    }
  });

  it('rejects the app depending on the gate as a mandatory violation', async () => {
    const service = renderedResources('production').find((resource) => resource.type === TYPES.service)!;
    const inputs = structuredClone(service.inputs) as { template: { containers: { name: string; dependsOns?: string[] }[] } };
    inputs.template.containers.find((container) => container.name === 'app')!.dependsOns = ['gate'];
    const diagnostics = await analyze('production', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel(), diagnostic.getPolicypackname()])).toEqual([
      ['no-startup-deadlock', EnforcementLevel.MANDATORY, POLICY_PACK_NAME],
    ]);
    expect(diagnostics[0]!.getMessage()).toContain('app depends on the gate');
  });

  it('rejects a plain DATABASE_URL and all traffic through the VPC as mandatory violations', async () => {
    const service = renderedResources('staging').find((resource) => resource.type === TYPES.service)!;
    const inputs = structuredClone(service.inputs) as { template: { vpcAccess: { egress: string }; containers: { name: string; envs?: { name: string; value?: string; valueSource?: unknown }[] }[] } };
    const app = inputs.template.containers.find((container) => container.name === 'app')!;
    app.envs = app.envs!.map((env) => (env.name === 'DATABASE_URL' ? { name: env.name, value: 'postgres://chat:pw@10.0.0.3/chat' } : env));
    inputs.template.vpcAccess.egress = 'ALL_TRAFFIC';
    const diagnostics = await analyze('staging', TYPES.service, 'chat', inputs);
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()])).toEqual([
      ['app-secrets-from-secret-manager', EnforcementLevel.MANDATORY],
      ['app-secrets-from-secret-manager', EnforcementLevel.MANDATORY],
      ['direct-vpc-egress', EnforcementLevel.MANDATORY],
    ]);
    expect(diagnostics.map((diagnostic) => diagnostic.getMessage()).join('\n')).not.toContain('pw@');
  });

  it('rejects a public invoker in staging', async () => {
    const diagnostics = await analyze('staging', TYPES.serviceInvoker, 'chat-public-invoker', { role: 'roles/run.invoker', member: 'allUsers', name: 'chat' });
    expect(diagnostics.map((diagnostic) => diagnostic.getPolicyname())).toEqual(['public-invoker-only-in-public-stacks']);
  });

  it.each(STACKS)('finds no stack violation in %s', async (stack) => {
    const diagnostics = await analyzeStack(stack, renderedResources(stack));
    expect(diagnostics.map((diagnostic) => diagnostic.getMessage())).toEqual([]);
  });

  it('rejects a stack whose gate has no alert policies, and a production policy without channels', async () => {
    const resources = renderedResources('production');
    const withoutAlerts = await analyzeStack('production', resources.filter((resource) => resource.type !== TYPES.alertPolicy));
    expect(new Set(withoutAlerts.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()].join(' ')))).toEqual(new Set([`gate-alert-policies ${EnforcementLevel.MANDATORY}`]));
    expect(withoutAlerts.length).toBe(resources.filter((resource) => resource.type === TYPES.alertPolicy).length);

    const policy = structuredClone(resources.find((resource) => resource.type === TYPES.alertPolicy)!);
    const diagnostics = await analyze('production', policy.type, policy.name, { ...policy.inputs, notificationChannels: [] });
    expect(diagnostics.map((diagnostic) => [diagnostic.getPolicyname(), diagnostic.getEnforcementlevel()])).toEqual([['production-alert-channels', EnforcementLevel.MANDATORY]]);
  });
});
