/** npm start's closing line: the boot against the stack's budget, and where the budget comes from. */
import { STACKS } from '../../common/cloud-run-service';
import { GATE_ENV_VARS } from '../../common/revision';
import { renderedContainers, startupBudgetOf } from '../src/local-revision';
import { describeBoot } from '../src/timeline';

describe('describeBoot', () => {
  it('gives the boot as a share of the budget and the slowest phase', () => {
    expect(describeBoot({ readyAtMs: 5540, budgetSeconds: 150, phases: [{ phase: 'init', durationMs: 2 }, { phase: 'services', durationMs: 3100 }, { phase: 'finalize', durationMs: 1 }] })).toEqual({
      line: 'ready at 5.5 s: 4% of the 150 s budget (slowest phase: services 3.1 s)',
      warn: false,
      share: 5.54 / 150,
      slowestPhase: { phase: 'services', durationMs: 3100 },
    });
  });

  it('warns past 80% of the budget, and not at it', () => {
    expect(describeBoot({ readyAtMs: 120_000, budgetSeconds: 150, phases: [] })).toMatchObject({ line: 'ready at 120.0 s: 80% of the 150 s budget', warn: false });
    const late = describeBoot({ readyAtMs: 130_000, budgetSeconds: 150, phases: [{ phase: 'database', durationMs: 100_000 }] });
    expect(late.warn).toBe(true);
    expect(late.line).toMatch(/^WARNING: ready at 130\.0 s: 87% of the 150 s budget \(slowest phase: database 100\.0 s\), past 80%: /);
  });
});

describe('startupBudgetOf', () => {
  it.each(STACKS)('reads the budget infra rendered for the gate of stack %s', (stack) => {
    const gate = renderedContainers(stack).find((container) => container.envs?.some((env) => env.name === GATE_ENV_VARS.startupBudgetSeconds))!;
    const value = gate.envs!.find((env) => env.name === GATE_ENV_VARS.startupBudgetSeconds)!.value!;
    const containers = [{ name: 'gate', command: [], env: { [GATE_ENV_VARS.startupBudgetSeconds]: value }, dependsOn: [] }];
    expect(startupBudgetOf({ stack, containers })).toBe(Number(value));
    expect(Number(value)).toBe({ staging: 150, production: 180 }[stack]);
  });

  it('names the setting and the fix when the rendered stack lacks it', () => {
    expect(() => startupBudgetOf({ stack: 'staging', containers: [{ name: 'gate', command: [], env: {}, dependsOn: [] }] })).toThrow(
      `infra/rendered/staging.yaml: no container sets ${GATE_ENV_VARS.startupBudgetSeconds} to 1..480 (got undefined); run npm run render`,
    );
  });
});
