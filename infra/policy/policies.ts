/**
 * The rules as @pulumi/policy policies, all mandatory: a change that breaks one fails
 * `pulumi preview --policy-pack infra/policy`. Apart from the pack's entry point because
 * constructing a PolicyPack starts its server.
 */
import type { Policies, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { RULES, STACK_RULES, stackOfUrn } from './rules';

export const POLICY_PACK_NAME = 'cloud-run-startup-gate';

export const RESOURCE_POLICIES: ResourceValidationPolicy[] = RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    if (!rule.types.includes(args.type)) return;
    for (const message of rule.check(args.props, { stack: stackOfUrn(args.urn) })) reportViolation(message);
  },
}));

const STACK_POLICIES: StackValidationPolicy[] = STACK_RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    const stack = stackOfUrn(args.resources[0]?.urn ?? '');
    for (const message of rule.check(args.resources, { stack })) reportViolation(message);
  },
}));

export const POLICIES: Policies = [...RESOURCE_POLICIES, ...STACK_POLICIES];
