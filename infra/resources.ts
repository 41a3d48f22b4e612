/**
 * CPU and memory of a multi-container Cloud Run instance: Cloud Run's rules and this project's
 * sanity limits as pure functions, so the program's values, the policy pack and the tests share
 * one definition. Sources (read 2026-11):
 * - https://cloud.google.com/run/docs/configuring/services/cpu : 0.08 to 1 vCPU in steps of 0.001,
 *   whole values above 1 (1, 2, 4, 6, 8); a limit below 0.5 vCPU allows at most 512 MiB, below
 *   1 vCPU at most 1 GiB; 1 vCPU up to 4 GiB, 2 up to 8, 4 from 2 to 16, 6 from 4 to 24, 8 from 4
 *   to 32 GiB. An instance below 1 vCPU needs request-based billing and gen1.
 * - https://cloud.google.com/run/docs/configuring/instances/cpu : "While each container can be
 *   configured with fractional CPUs, the sum of all containers in the instance must be greater
 *   than or equal to 1 vCPU."
 * - https://cloud.google.com/run/docs/configuring/services/memory-limits : at least 512 MiB per
 *   instance in the second generation execution environment.
 * The instance's total is held to a value Cloud Run accepts for a whole instance (a whole number
 * of vCPUs), so the service stays valid under either reading of the per-container rule.
 */

export interface ContainerResources {
  name: string;
  cpu: string;
  memory: string;
}

/** Millicpu from a Cloud Run CPU limit: `1`, `0.08`, `80m`; NaN when unreadable. */
export function millicpu(cpu: string): number {
  const match = /^(\d+(?:\.\d{1,3})?)(m?)$/.exec(cpu);
  if (!match) return Number.NaN;
  return match[2] === 'm' ? Number(match[1]) : Math.round(Number(match[1]) * 1000);
}

/** MiB from a Cloud Run memory limit: `128Mi`, `1Gi`; NaN when unreadable. */
export function mebibytes(memory: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(memory);
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

const MIN_MILLICPU = 80;
const WHOLE_CPUS = [1, 2, 4, 6, 8];
/** Memory range of an instance per whole vCPU count, in MiB. */
const MEMORY_RANGE: Record<number, [number, number]> = { 1: [512, 4096], 2: [512, 8192], 4: [2048, 16384], 6: [4096, 24576], 8: [4096, 32768] };
/** Sanity, ours: a sidecar of this service (gate, collector) never reserves more than this. */
export const MAX_SIDECAR = { millicpu: 250, mebibytes: 256 } as const;

/** Cloud Run's per-container rules; empty when the container's limits are accepted. */
export function containerProblems({ name, cpu, memory }: ContainerResources): string[] {
  const m = millicpu(cpu);
  const mib = mebibytes(memory);
  if (Number.isNaN(m)) return [`${name}: cpu ${cpu} is not a CPU limit like 1, 0.5 or 500m`];
  if (Number.isNaN(mib)) return [`${name}: memory ${memory} is not a memory limit like 512Mi or 1Gi`];
  const problems: string[] = [];
  if (m < MIN_MILLICPU || (m > 1000 && !WHOLE_CPUS.includes(m / 1000))) problems.push(`${name}: cpu must be 0.08 to 1 vCPU, or 2, 4, 6 or 8, got ${cpu}`);
  if (m < 500 && mib > 512) problems.push(`${name}: below 0.5 vCPU Cloud Run allows at most 512Mi, got ${memory}`);
  else if (m < 1000 && mib > 1024) problems.push(`${name}: below 1 vCPU Cloud Run allows at most 1Gi, got ${memory}`);
  return problems;
}

/** The instance's reservation: the sum over its containers. */
export function instanceTotal(containers: readonly ContainerResources[]): { millicpu: number; mebibytes: number } {
  return {
    millicpu: containers.reduce((sum, container) => sum + millicpu(container.cpu), 0),
    mebibytes: containers.reduce((sum, container) => sum + mebibytes(container.memory), 0),
  };
}

/**
 * Every rule for one instance: each container's, the total as a whole instance Cloud Run accepts
 * (1, 2, 4, 6 or 8 vCPU with CPU always allocated and gen2; at least 512 MiB; memory in that CPU's
 * range), and ours: no sidecar above a quarter vCPU or 256 MiB. `ingress` names the app container.
 */
export function instanceProblems(containers: readonly ContainerResources[], ingress: string): string[] {
  const problems = containers.flatMap(containerProblems);
  if (problems.length > 0) return problems;
  const total = instanceTotal(containers);
  const vcpus = total.millicpu / 1000;
  const range = MEMORY_RANGE[vcpus];
  if (!range) {
    problems.push(`the containers reserve ${vcpus} vCPU per instance; with CPU always allocated an instance takes 1, 2, 4, 6 or 8 vCPU`);
  } else if (total.mebibytes < range[0] || total.mebibytes > range[1]) {
    problems.push(`the containers reserve ${total.mebibytes}Mi per instance; ${vcpus} vCPU takes ${range[0]}Mi to ${range[1]}Mi`);
  }
  for (const sidecar of containers.filter((container) => container.name !== ingress)) {
    if (millicpu(sidecar.cpu) > MAX_SIDECAR.millicpu || mebibytes(sidecar.memory) > MAX_SIDECAR.mebibytes) {
      problems.push(`sidecar ${sidecar.name} reserves ${sidecar.cpu} vCPU and ${sidecar.memory}; a sidecar here takes at most ${MAX_SIDECAR.millicpu}m and ${MAX_SIDECAR.mebibytes}Mi`);
    }
  }
  return problems;
}
