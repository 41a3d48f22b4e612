/**
 * Every Cloud Run service the program creates, checked against the Cloud Run Admin API v2 schema
 * (a copy of Google's discovery document, revision 20240614, in fixtures/): each field maps to an API field,
 * each value has the API's type, enums hold allowed values, and the documented limits hold.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MAX_STARTUP_WINDOW_SECONDS } from '../../common/probes';
import { instanceProblems } from '../resources';
import { type CloudRunContainer, type CloudRunProbe, type CloudRunService, type CloudRunTemplate, probeTiming, RENDERED_STACKS, renderedResources, SERVICE_TYPE } from '../../common/cloud-run-service';

interface Property {
  type?: string;
  $ref?: string;
  enum?: string[];
  format?: string;
  items?: Property;
  additionalProperties?: Property;
  readOnly?: boolean;
}
interface Schema {
  properties: Record<string, Property>;
}

const discovery = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'run-v2-discovery.json'), 'utf8')) as { revision: string; schemas: Record<string, Schema> };

/** @pulumi/gcp names that differ from the API's: Pulumi pluralizes repeated fields. */
const RENAMES: Record<string, Record<string, string>> = {
  GoogleCloudRunV2Container: { envs: 'env', dependsOns: 'dependsOn', commands: 'command' },
};
/** Pulumi fields that are not part of the request body: the URL's parts and provider-side settings. */
const PULUMI_ONLY: Record<string, string[]> = {
  GoogleCloudRunV2Service: ['project', 'location', 'deletionProtection'],
};
/** Repeated API fields that @pulumi/gcp v9 models as one object (Cloud Run allows one port). */
const SINGLE_OBJECT_ARRAYS: Record<string, string[]> = { GoogleCloudRunV2Container: ['ports'] };
/**
 * Fields newer than the schema revision, with the schema they follow: readiness probes (Preview)
 * came after 2024-06 and take the same fields as the other probes.
 */
const NEWER_THAN_SCHEMA: Record<string, Record<string, Property>> = {
  GoogleCloudRunV2Container: { readinessProbe: { $ref: 'GoogleCloudRunV2Probe' } },
};

/** Walks a value against a schema, returning every mismatch with its path. */
function schemaProblems(schemas: Record<string, Schema>, value: unknown, ref: string, at: string): string[] {
  const schema = schemas[ref];
  if (!schema) return [`${at}: unknown schema ${ref}`];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected an object (${ref})`];
  return Object.entries(value).flatMap(([field, fieldValue]) => {
    if (PULUMI_ONLY[ref]?.includes(field)) return [];
    const apiField = RENAMES[ref]?.[field] ?? field;
    const property = schema.properties[apiField] ?? NEWER_THAN_SCHEMA[ref]?.[field];
    if (!property) return [`${at}.${field}: ${ref} has no field ${apiField}`];
    if (property.readOnly) return [`${at}.${field}: ${ref}.${apiField} is output only`];
    const apiValue = SINGLE_OBJECT_ARRAYS[ref]?.includes(field) ? [fieldValue] : fieldValue;
    return valueProblems(schemas, apiValue, property, `${at}.${field}`);
  });
}

function valueProblems(schemas: Record<string, Schema>, value: unknown, property: Property, at: string): string[] {
  if (property.$ref) return schemaProblems(schemas, value, property.$ref, at);
  switch (property.type) {
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array`];
      return value.flatMap((item, index) => valueProblems(schemas, item, property.items!, `${at}[${index}]`));
    case 'object':
      if (value === null || typeof value !== 'object') return [`${at}: expected a map`];
      return Object.entries(value).flatMap(([key, item]) => valueProblems(schemas, item, property.additionalProperties ?? {}, `${at}.${key}`));
    case 'integer':
      return Number.isInteger(value) && Math.abs(value as number) < 2 ** 31 ? [] : [`${at}: expected an int32, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: expected a boolean`];
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string, got ${JSON.stringify(value)}`];
      if (property.enum && !property.enum.includes(value)) return [`${at}: ${value} is not one of ${property.enum.join(', ')}`];
      if (property.format === 'google-duration' && !/^\d+(\.\d{1,9})?s$/.test(value)) return [`${at}: ${value} is not a duration like 3600s`];
      return [];
    default:
      return [`${at}: unsupported schema type ${property.type}`];
  }
}

/** A rendered service with the fields this file reads present. */
type Service = Required<Pick<CloudRunService, 'name'>> & { template: CloudRunTemplate & { containers: CloudRunContainer[] } };

/** The limits in the schema's field descriptions (GoogleCloudRunV2Probe and others) and Cloud Run's documented maxima. */
function probeLimitProblems(probe: CloudRunProbe, kind: 'startup' | 'liveness' | 'readiness', at: string): string[] {
  const max = kind === 'startup' ? 240 : 3600;
  const { initialDelaySeconds, periodSeconds, timeoutSeconds, failureThreshold } = probeTiming(probe);
  const problems: string[] = [];
  if (initialDelaySeconds < 0 || initialDelaySeconds > max) problems.push(`${at}.initialDelaySeconds must be 0..${max}`);
  if (periodSeconds < 1 || periodSeconds > max) problems.push(`${at}.periodSeconds must be 1..${max}`);
  if (timeoutSeconds < 1 || timeoutSeconds > 3600 || timeoutSeconds > periodSeconds) problems.push(`${at}.timeoutSeconds must be 1..3600 and not above periodSeconds`);
  if (failureThreshold < 1) problems.push(`${at}.failureThreshold must be at least 1`);
  if ([probe.httpGet, probe.tcpSocket, probe.grpc].filter((action) => action !== undefined).length !== 1) problems.push(`${at}: exactly one of httpGet, tcpSocket, grpc`);
  if (kind === 'startup' && failureThreshold * periodSeconds > MAX_STARTUP_WINDOW_SECONDS) problems.push(`${at}: the startup window exceeds ${MAX_STARTUP_WINDOW_SECONDS} s`);
  if (kind !== 'startup' && probe.tcpSocket !== undefined) problems.push(`${at}: only startup probes may be TCP`);
  return problems;
}

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Cloud Run sets these itself and rejects them in a container's env. */
const RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_REVISION', 'K_CONFIGURATION'];

function limitProblems(service: Service): string[] {
  const problems: string[] = [];
  const { template } = service;
  if (!DNS_LABEL.test(service.name) || service.name.length > 49) problems.push(`service name ${service.name} must be a DNS label of at most 49 characters`);
  const timeout = Number(template.timeout?.slice(0, -1));
  if (!(timeout >= 1 && timeout <= 3600)) problems.push('template.timeout must be 1s..3600s');
  const concurrency = template.maxInstanceRequestConcurrency ?? 80;
  if (concurrency < 1 || concurrency > 1000) problems.push('template.maxInstanceRequestConcurrency must be 1..1000');
  const { minInstanceCount = 0, maxInstanceCount = 100 } = template.scaling ?? {};
  if (minInstanceCount > maxInstanceCount) problems.push('template.scaling: minInstanceCount above maxInstanceCount');
  if (template.containers.length > 10) problems.push('at most 10 containers per instance');
  if (template.containers.filter((container) => container.ports !== undefined).length !== 1) problems.push('exactly one ingress container');
  const names = template.containers.map((container) => container.name);
  if (new Set(names).size !== names.length) problems.push('container names must be unique');
  for (const container of template.containers) {
    const at = `containers.${container.name}`;
    if (!DNS_LABEL.test(container.name)) problems.push(`${at}: the name must be a DNS label`);
    const limits = container.resources?.limits ?? {};
    for (const key of Object.keys(limits)) if (key !== 'cpu' && key !== 'memory') problems.push(`${at}.resources.limits: only cpu and memory, got ${key}`);
    // The schema's note (CPU 1, 2, 4 or 8 only) predates fractional CPU; the current rules are in infra/resources.ts.
    if (limits.cpu === undefined || limits.memory === undefined) problems.push(`${at}.resources.limits: cpu and memory must be set`);
    for (const env of container.envs ?? []) if (RESERVED_ENV.includes(env.name)) problems.push(`${at}: ${env.name} is set by Cloud Run`);
    if (container.startupProbe) problems.push(...probeLimitProblems(container.startupProbe, 'startup', `${at}.startupProbe`));
    if (container.livenessProbe) problems.push(...probeLimitProblems(container.livenessProbe, 'liveness', `${at}.livenessProbe`));
    if (container.readinessProbe) problems.push(...probeLimitProblems(container.readinessProbe, 'readiness', `${at}.readinessProbe`));
  }
  const limits = template.containers.map((container) => ({ name: container.name, cpu: container.resources?.limits?.cpu ?? '', memory: container.resources?.limits?.memory ?? '' }));
  problems.push(...instanceProblems(limits, 'app'));
  return problems;
}

function renderedServices(stack: string): Service[] {
  return renderedResources(stack).filter((resource) => resource.type === SERVICE_TYPE).map((resource) => resource.inputs as Service);
}

describe('the Cloud Run Admin API v2 schema', () => {
  const { schemas } = discovery;

  it('is the revision the mappings were written for', () => {
    expect(discovery.revision).toBe('20240614');
  });

  describe.each(RENDERED_STACKS)('stack %s', (stack) => {
    it('creates exactly one service', () => {
      expect(renderedServices(stack)).toHaveLength(1);
    });

    it('maps every field to the API with its type and allowed enum values', () => {
      for (const service of renderedServices(stack)) expect(schemaProblems(schemas, service, 'GoogleCloudRunV2Service', 'service')).toEqual([]);
    });

    it('keeps within the documented limits', () => {
      for (const service of renderedServices(stack)) expect(limitProblems(service)).toEqual([]);
    });
  });

  describe('catches', () => {
    const service = () => structuredClone(renderedServices('production')[0]!) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- broken on purpose
    it('an unknown field', () => {
      const broken = service();
      broken.template.containers[0].startupProbe.successThreshold = 1;
      expect(schemaProblems(schemas, broken, 'GoogleCloudRunV2Service', 'service')).toEqual([
        'service.template.containers[0].startupProbe.successThreshold: GoogleCloudRunV2Probe has no field successThreshold',
      ]);
    });
    it('a value outside an enum', () => {
      const broken = service();
      broken.template.executionEnvironment = 'GEN2';
      expect(schemaProblems(schemas, broken, 'GoogleCloudRunV2Service', 'service')[0]).toContain('GEN2 is not one of');
    });
    it('a wrong type and a bad duration', () => {
      const broken = service();
      broken.template.sessionAffinity = 'true';
      broken.template.timeout = '1h';
      expect(schemaProblems(schemas, broken, 'GoogleCloudRunV2Service', 'service')).toEqual([
        'service.template.sessionAffinity: expected a boolean',
        'service.template.timeout: 1h is not a duration like 3600s',
      ]);
    });
    it('a misspelt or unknown Direct VPC egress setting', () => {
      const broken = service();
      broken.template.vpcAccess.egress = 'PRIVATE_RANGES';
      broken.template.vpcAccess.networkInterfaces[0].subnet = 'chat-run-egress';
      expect(schemaProblems(schemas, broken, 'GoogleCloudRunV2Service', 'service')).toEqual([
        'service.template.vpcAccess.egress: PRIVATE_RANGES is not one of VPC_EGRESS_UNSPECIFIED, ALL_TRAFFIC, PRIVATE_RANGES_ONLY',
        'service.template.vpcAccess.networkInterfaces[0].subnet: GoogleCloudRunV2NetworkInterface has no field subnet',
      ]);
    });
    it('a startup window beyond 240 s and a CPU below Cloud Run\'s 0.08 vCPU', () => {
      const broken = service();
      broken.template.containers[1].startupProbe.failureThreshold = 241;
      broken.template.containers[2].resources.limits.cpu = '0.05';
      expect(limitProblems(broken as unknown as Service)).toEqual([
        'containers.gate.startupProbe: the startup window exceeds 240 s',
        'collector: cpu must be 0.08 to 1 vCPU, or 2, 4, 6 or 8, got 0.05',
      ]);
    });

    it('an instance whose containers add up to a fraction of a vCPU', () => {
      const broken = service();
      broken.template.containers[2].resources.limits.cpu = '0.1';
      expect(limitProblems(broken as unknown as Service)).toEqual([
        'the containers reserve 1.02 vCPU per instance; with CPU always allocated an instance takes 1, 2, 4, 6 or 8 vCPU',
      ]);
    });
  });
});
