/** The policy pack's entry point (infra/policy/package.json "main" → dist/infra/policy/index.js): serves the policies. */
import { PolicyPack } from '@pulumi/policy';
import { POLICIES, POLICY_PACK_NAME } from './policies';

new PolicyPack(POLICY_PACK_NAME, { policies: POLICIES });
