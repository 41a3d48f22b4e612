/**
 * The rules as @pulumi/policy resource policies, all mandatory: a change that breaks one fails
 * `pulumi preview --policy-pack infra/policy`. Apart from the pack's entry point because
 * constructing a PolicyPack starts its server.
 */
import type { ResourceValidationPolicy } from '@pulumi/policy';
import { RULES, stackOfUrn } from './rules';

export const POLICY_PACK_NAME = 'cloud-run-startup-gate';

export const POLICIES: ResourceValidationPolicy[] = RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    if (!rule.types.includes(args.type)) return;
    for (const message of rule.check(args.props, { stack: stackOfUrn(args.urn) })) reportViolation(message);
  },
}));
