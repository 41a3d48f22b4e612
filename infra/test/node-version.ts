import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';

/** The Node.js major the tests run on: the `node` devDependency puts it first on npm's PATH. */
export const NODE_MAJOR = Number(
  (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.node!.split('.')[0],
);
