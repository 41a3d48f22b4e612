/**
 * No Docker engine here: the images' key properties, checked in the Dockerfiles' text. Both build
 * from the repository root (`docker build -f app/Dockerfile .`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BUNDLES, NODE_FLAGS, REPO_ROOT } from '../../common/paths';
import { finalStage, stages } from './dockerfile';
import { NODE_MAJOR } from './node-version';

const ROOT = REPO_ROOT;

const IMAGES: { file: string; component: string; bundle: keyof typeof BUNDLES; entry: string }[] = [
  { file: 'app/Dockerfile', component: 'app', bundle: 'app', entry: path.relative(REPO_ROOT, BUNDLES.app) },
  { file: 'sidecar/Dockerfile', component: 'sidecar', bundle: 'gate', entry: path.relative(REPO_ROOT, BUNDLES.gate) },
];

const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe.each(IMAGES)('$file', ({ file, component, bundle, entry }) => {
  const all = stages(file);
  const final = all.at(-1)!;
  const args = (keyword: string) => final.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

  it('is multi-stage on the Node.js major the tests run on, on Debian trixie slim', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) expect(stage[0]!.args).toMatch(new RegExp(`^node:${NODE_MAJOR}-trixie-slim\\b`));
  });

  it('type-checks and bundles its entry point in the build stage, with the lockfile', () => {
    const build = all[0]!.map((instruction) => `${instruction.keyword} ${instruction.args}`);
    expect(build).toContain('RUN npm ci --strict-allow-scripts --no-audit --no-fund');
    // Type check only: the final stage copies the bundle, never tsc's output.
    expect(build).toContain('RUN npx tsc -p . --noEmit');
    expect(build).toContain(`COPY ${component} ./${component}`);
    expect(build).toContain(`RUN npm run bundle:${bundle}`);
    expect(scripts[`bundle:${bundle}`]).toBe(`esbuild ${bundle}=${component}/src/main.ts $npm_package_config_esbuild`);
  });

  it('holds no node_modules in the final stage: the bundle carries its dependencies', () => {
    expect(args('RUN')).toEqual([]);
    expect(args('ENV')).toContain('NODE_ENV=production');
  });

  it('copies the bundle from the build stage, never the sources', () => {
    const copies = args('COPY');
    expect(copies).toContain(`--from=build /src/${entry} ./${entry}`);
    for (const copy of copies.filter((candidate) => !candidate.startsWith('--from='))) {
      expect(copy).toMatch(/^app\/public \.\/app\/public$/);
    }
  });

  it('reads as the final stage bundles.test starts: the bundle `npm run bundle` writes, ENV and exec-form CMD', () => {
    const image = finalStage(file);
    expect(image.copies).toContainEqual({ from: BUNDLES[bundle], to: entry });
    expect(image.env).toEqual({ NODE_ENV: 'production' });
    expect(image.command).toEqual(['node', ...NODE_FLAGS[bundle], entry]);
  });

  it('runs as the non-root user node', () => {
    expect(args('USER').at(-1)).toBe('node');
  });

  it('starts node in exec form so SIGTERM reaches it', () => {
    expect(args('CMD')).toHaveLength(1);
    expect(JSON.parse(args('CMD')[0]!)).toEqual(['node', ...NODE_FLAGS[bundle], entry]);
    expect(args('ENTRYPOINT')).toEqual([]);
  });
});

describe('.dockerignore', () => {
  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
  it('keeps git history, local builds, dependencies and tests out of the context', () => {
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'dist', '**/test', 'testkit', 'infra']));
  });
  it('keeps what the images build from', () => {
    for (const needed of ['common', 'app', 'sidecar', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored).not.toContain(needed);
  });
});
