/**
 * Every dependency install script is reviewed: package.json's `allowScripts` holds one decision
 * per package whose lockfile entry has an install script, the README says why, and every install
 * that CI, the workflows and the images run fails on a script nobody reviewed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../common/paths';
import { stages } from './dockerfile';

interface PackageJson {
  allowScripts: Record<string, boolean>;
  packageManager: string;
  devEngines: { packageManager: { name: string; version: string; onFail: string } };
  devDependencies: Record<string, string>;
}
interface Lockfile {
  packages: Record<string, { version: string; hasInstallScript?: boolean; optional?: boolean }>;
}

const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as PackageJson;
const lock = JSON.parse(read('package-lock.json')) as Lockfile;

/** The package name of a lockfile key (`node_modules/a/node_modules/@s/b` is `@s/b`). */
const nameOf = (key: string) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);

const withInstallScripts = [
  ...new Set(
    Object.entries(lock.packages)
      .filter(([key, entry]) => key !== '' && entry.hasInstallScript)
      .map(([key]) => nameOf(key)),
  ),
].sort();

/** The README's section on install scripts: from its heading to the next heading. */
function readmeSection(heading: string): string {
  const readme = read('README.md');
  const start = readme.indexOf(heading);
  expect(start).toBeGreaterThanOrEqual(0);
  const rest = readme.slice(start + heading.length);
  return rest.slice(0, rest.search(/\n#{2,4} /));
}

describe('install scripts', () => {
  it('allowScripts decides for exactly the locked packages that have an install script', () => {
    expect(Object.keys(pkg.allowScripts).sort()).toEqual(withInstallScripts);
  });

  it('allows only the node runtime package, whose preinstall installs the Node.js binary from the registry', () => {
    const allowed = Object.entries(pkg.allowScripts).filter(([, allow]) => allow).map(([name]) => name);
    expect(allowed).toEqual(['node']);
  });

  it('the README gives the reason for every decision', () => {
    const section = readmeSection('### Install scripts');
    for (const [name, allow] of Object.entries(pkg.allowScripts)) {
      const row = section.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row).toBeDefined();
      expect(row).toContain(allow ? 'allowed' : 'denied');
    }
  });

  it('devEngines refuses an npm older than the one that honours allowScripts, and packageManager names the npm line CI uses', () => {
    expect(pkg.devEngines.packageManager).toEqual({ name: 'npm', version: '>=11.16.0', onFail: 'error' });
    expect(pkg.packageManager).toMatch(/^npm@12\.\d+\.\d+$/);
  });

  it('CI and every workflow install through scripts/install.sh, which runs npm ci in strict mode', () => {
    const script = read('scripts/install.sh');
    expect(script).toContain("npm ci --strict-allow-scripts");
    expect(script).toContain('pkg.packageManager');
    expect(script).toContain('pkg.devDependencies.node');
    expect(read('.ci/run')).toMatch(/^scripts\/install\.sh$/m);
    expect(read('.ci/run')).not.toMatch(/^npm (ci|install)/m);
    const dir = path.join(REPO_ROOT, '.github', 'workflows');
    for (const file of fs.readdirSync(dir)) {
      const workflow = parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { jobs: Record<string, { steps: { run?: string }[] }> };
      for (const job of Object.values(workflow.jobs)) {
        for (const run of job.steps.map((step) => step.run ?? '')) {
          expect(run).not.toMatch(/\bnpm (ci|install)\b/);
        }
      }
    }
  });

  it.each(['app/Dockerfile', 'sidecar/Dockerfile'])('%s installs in strict mode too', (file) => {
    const installs = stages(file).flat().filter((instruction) => instruction.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(instruction.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const instruction of installs) expect(instruction.args).toContain('--strict-allow-scripts');
  });
});
