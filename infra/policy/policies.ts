/**
 * The rules as @pulumi/policy policies, all mandatory: a change that breaks one fails
 * `pulumi preview --policy-pack infra/policy`. Apart from the pack's entry point because
 * constructing a PolicyPack starts its server.
 */
import type { Policies, ResourceValidationPolicy, StackValidationPolicy } from '@pulumi/policy';
import { CHAT_APP_RULES, CHAT_APP_STACK_RULES } from './chat-app-rules';
import { RULES, STACK_RULES, stackOfUrn, type RuleContext } from './rules';

export const POLICY_PACK_NAME = 'cloud-run-startup-gate';

/** The rules of every gated service, then the chat app's. */
export const RESOURCE_RULES = [...RULES, ...CHAT_APP_RULES];
/** The stack rules of every gated service, then the chat app's. */
export const STACK_POLICY_RULES = [...STACK_RULES, ...CHAT_APP_STACK_RULES];

/** Every violation of every rule for one resource. */
export function violations(type: string, props: Record<string, unknown>, context: RuleContext): { rule: string; message: string }[] {
  return RESOURCE_RULES.filter((rule) => rule.types.includes(type)).flatMap((rule) => rule.check(props, context).map((message) => ({ rule: rule.name, message })));
}

export const RESOURCE_POLICIES: ResourceValidationPolicy[] = RESOURCE_RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateResource: (args, reportViolation) => {
    if (!rule.types.includes(args.type)) return;
    for (const message of rule.check(args.props, { stack: stackOfUrn(args.urn) })) reportViolation(message);
  },
}));

const STACK_POLICIES: StackValidationPolicy[] = STACK_POLICY_RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateStack: (args, reportViolation) => {
    const stack = stackOfUrn(args.resources[0]?.urn ?? '');
    for (const message of rule.check(args.resources, { stack })) reportViolation(message);
  },
}));

export const POLICIES: Policies = [...RESOURCE_POLICIES, ...STACK_POLICIES];
