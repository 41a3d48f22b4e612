/** docs/deploy.md's tables list every config key and every policy the code has, and nothing else. */
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_KEYS } from '../config';
import { REPO_ROOT } from '../../common/paths';
import { RESOURCE_RULES, STACK_POLICY_RULES } from '../policy/policies';

const deploy = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

/** The first column of the table that follows a heading, without its backticks. */
function firstColumn(heading: string): string[] {
  const section = deploy.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  return rows.map((row) => row.split('|')[1]!.trim().replaceAll('`', ''));
}

describe('docs/deploy.md', () => {
  it('documents exactly the config keys the program reads', () => {
    expect(firstColumn('Config keys').sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it('documents exactly the policies of the pack', () => {
    expect(firstColumn('The policy pack (infra/policy)').sort()).toEqual([...RESOURCE_RULES, ...STACK_POLICY_RULES].map((rule) => rule.name).sort());
  });
});
