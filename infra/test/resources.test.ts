/** Cloud Run's CPU and memory rules for a multi-container instance, and the project's sidecar limits. */
import { containerProblems, instanceProblems, instanceTotal, mebibytes, millicpu } from '../resources';
import { CHAT_APP_LIMITS } from '../chat-app';
import { SIDECAR_LIMITS } from '../revision-template';

const deployed = Object.entries({ app: CHAT_APP_LIMITS, ...SIDECAR_LIMITS }).map(([name, limits]) => ({ name, ...limits }));

describe('reading limits', () => {
  it.each([['1', 1000], ['0.08', 80], ['0.84', 840], ['80m', 80], ['2', 2000], ['1.5x', Number.NaN], ['-1', Number.NaN]])('cpu %s is %d millicpu', (cpu, expected) => {
    expect(millicpu(cpu)).toBe(expected);
  });
  it.each([['128Mi', 128], ['1Gi', 1024], ['1G', Number.NaN]])('memory %s is %d MiB', (memory, expected) => {
    expect(mebibytes(memory)).toBe(expected);
  });
});

describe('one container', () => {
  it.each([
    [{ cpu: '0.08', memory: '512Mi' }, []],
    [{ cpu: '0.5', memory: '1Gi' }, []],
    [{ cpu: '2', memory: '8Gi' }, []],
    [{ cpu: '0.07', memory: '128Mi' }, ['x: cpu must be 0.08 to 1 vCPU, or 2, 4, 6 or 8, got 0.07']],
    [{ cpu: '1.5', memory: '1Gi' }, ['x: cpu must be 0.08 to 1 vCPU, or 2, 4, 6 or 8, got 1.5']],
    [{ cpu: '0.4', memory: '768Mi' }, ['x: below 0.5 vCPU Cloud Run allows at most 512Mi, got 768Mi']],
    [{ cpu: '0.9', memory: '2Gi' }, ['x: below 1 vCPU Cloud Run allows at most 1Gi, got 2Gi']],
  ])('%j', (limits, expected) => {
    expect(containerProblems({ name: 'x', ...limits })).toEqual(expected);
  });
});

describe('the instance', () => {
  it('as deployed: 1 vCPU and 1408 MiB in all, the sidecars at 0.08 vCPU each, within every rule', () => {
    expect(instanceTotal(deployed)).toEqual({ millicpu: 1000, mebibytes: 1408 });
    expect(instanceProblems(deployed, 'app')).toEqual([]);
  });

  it('refuses a total that is not a whole instance, and memory outside its range', () => {
    expect(instanceProblems([{ name: 'app', cpu: '1', memory: '1Gi' }, { name: 'gate', cpu: '0.08', memory: '128Mi' }], 'app')).toEqual([
      'the containers reserve 1.08 vCPU per instance; with CPU always allocated an instance takes 1, 2, 4, 6 or 8 vCPU',
    ]);
    expect(instanceProblems([{ name: 'app', cpu: '0.92', memory: '256Mi' }, { name: 'gate', cpu: '0.08', memory: '128Mi' }], 'app')).toEqual([
      'the containers reserve 384Mi per instance; 1 vCPU takes 512Mi to 4096Mi',
    ]);
  });

  it('refuses a sidecar above a quarter vCPU or 256 MiB, the old one-vCPU gate among them', () => {
    expect(instanceProblems([{ name: 'app', cpu: '1', memory: '1Gi' }, { name: 'gate', cpu: '1', memory: '512Mi' }], 'app')).toEqual([
      'sidecar gate reserves 1 vCPU and 512Mi; a sidecar here takes at most 250m and 256Mi',
    ]);
  });
});
