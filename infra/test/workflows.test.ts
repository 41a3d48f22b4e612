/** The GitHub workflows parse, and each does what docs/deploy.md says it does. */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../common/paths';
import { NODE_MAJOR } from './node-version';

interface Step {
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const DIR = path.join(REPO_ROOT, '.github', 'workflows');
const workflow = (file: string) => parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as Workflow;
const runs = (job: Job) => job.steps.map((step) => step.run ?? '').join('\n');
const uses = (job: Job, action: string) => job.steps.filter((step) => step.uses?.startsWith(`${action}@`));

describe('.github/workflows', () => {
  it('holds the pull request, main and release workflows, each valid YAML with read-only default permissions', () => {
    expect(fs.readdirSync(DIR).sort()).toEqual(['main.yml', 'pull-request.yml', 'release.yml']);
    for (const file of fs.readdirSync(DIR)) expect(workflow(file).permissions).toEqual({ contents: 'read' });
  });

  it('every job sets up the Node.js major the tests run on (the `node` devDependency)', () => {
    for (const file of fs.readdirSync(DIR)) {
      for (const job of Object.values(workflow(file).jobs)) {
        for (const step of uses(job, 'actions/setup-node')) expect(step.with?.['node-version']).toBe(NODE_MAJOR);
      }
    }
  });

  it('every workflow runs the full test suite through .ci/run before anything deploys', () => {
    for (const file of fs.readdirSync(DIR)) expect(runs(workflow(file).jobs.test!)).toContain('.ci/run');
  });

  it('runs Pulumi through pulumi/actions v7, its current major, everywhere', () => {
    const versions = fs.readdirSync(DIR).flatMap((file) => Object.values(workflow(file).jobs).flatMap((job) => uses(job, 'pulumi/actions').map((step) => step.uses)));
    expect(versions).toEqual(['pulumi/actions@v7', 'pulumi/actions@v7', 'pulumi/actions@v7']);
  });

  describe('pull-request.yml', () => {
    const { on, jobs } = workflow('pull-request.yml');
    const preview = jobs.preview!;

    it('runs on pull requests and previews both stacks after the tests', () => {
      expect(Object.keys(on)).toEqual(['pull_request']);
      expect(preview.needs).toBe('test');
      expect(preview.strategy?.matrix?.stack).toEqual(['staging', 'production']);
    });

    it('previews with the diff and the policy pack through pulumi/actions, commenting on the pull request', () => {
      const [pulumi] = uses(preview, 'pulumi/actions');
      expect(pulumi?.with).toMatchObject({ command: 'preview', diff: true, policyPacks: 'infra/policy', 'comment-on-pr': true });
      expect(runs(preview)).toContain('npm run build');
    });

    it('authenticates with Workload Identity Federation, never a key', () => {
      expect(preview.permissions).toMatchObject({ 'id-token': 'write', 'pull-requests': 'write' });
      const [auth] = uses(preview, 'google-github-actions/auth');
      expect(Object.keys(auth?.with ?? {}).sort()).toEqual(['service_account', 'workload_identity_provider']);
    });

    it('skips the preview with a notice when the run has no credentials (forks)', () => {
      const check = preview.steps[0]!;
      expect(check.id).toBe('credentials');
      expect(check.run).toContain('::notice');
      for (const step of preview.steps.slice(1)) expect(step.if).toBe("steps.credentials.outputs.available == 'true'");
    });
  });

  describe('main.yml', () => {
    const { on, jobs } = workflow('main.yml');

    it('deploys staging after the tests with pulumi up, which builds and pushes the images itself', () => {
      expect(on).toEqual({ push: { branches: ['main'] } });
      expect(Object.keys(jobs)).toEqual(['test', 'deploy-staging']);
      const deploy = jobs['deploy-staging']!;
      expect(deploy.needs).toBe('test');
      expect(deploy.environment).toBe('staging');
      expect(uses(deploy, 'docker/setup-buildx-action')).toHaveLength(1);
      expect(runs(deploy)).toContain('pulumi up --yes --diff --policy-pack infra/policy');
      // No image is built, pushed or configured outside the program any more.
      expect(runs(deploy)).not.toContain('pulumi config set');
      expect(uses(deploy, 'docker/build-push-action')).toHaveLength(0);
    });
  });

  describe('release.yml', () => {
    const { on, jobs } = workflow('release.yml');

    /**
     * The main-only guard's script, run by bash in a clone whose origin has main (commit M) and a
     * branch feature (commit F, not on main), with the variables GitHub sets for the event.
     */
    function guard(event: string, ref: string, commit: 'M' | 'F'): { status: number | null; output: string } {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-'));
      const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();
      const origin = path.join(root, 'origin');
      fs.mkdirSync(origin);
      git(origin, 'init', '--quiet', '--initial-branch=main');
      git(origin, 'commit', '--quiet', '--allow-empty', '-m', 'M');
      const sha = { M: git(origin, 'rev-parse', 'HEAD'), F: '' };
      git(origin, 'checkout', '--quiet', '-b', 'feature');
      git(origin, 'commit', '--quiet', '--allow-empty', '-m', 'F');
      sha.F = git(origin, 'rev-parse', 'HEAD');
      git(root, 'clone', '--quiet', origin, 'work');
      const script = jobs['main-only']!.steps.find((step) => step.run)!.run!;
      const result = spawnSync('bash', ['-e', '-c', script], {
        cwd: path.join(root, 'work'),
        encoding: 'utf8',
        env: { ...process.env, GITHUB_EVENT_NAME: event, GITHUB_REF: ref, GITHUB_SHA: sha[commit] },
      });
      fs.rmSync(root, { recursive: true, force: true });
      return { status: result.status, output: result.stdout + result.stderr };
    }

    it('runs the main-only guard first: the tests and the deploy wait for it', () => {
      expect(jobs['main-only']!.steps[0]).toMatchObject({ uses: 'actions/checkout@v4', with: { 'fetch-depth': 0 } });
      expect(jobs.test!.needs).toBe('main-only');
      expect(jobs['deploy-production']!.needs).toEqual(['main-only', 'test']);
      expect(jobs['deploy-production']!.if).toBe("github.event_name == 'release' || github.ref == 'refs/heads/main'");
    });

    it('lets a dispatch on main and a release of a commit of main through', () => {
      expect(guard('workflow_dispatch', 'refs/heads/main', 'M').status).toBe(0);
      expect(guard('release', 'refs/tags/v1.0.0', 'M').status).toBe(0);
    });

    it('stops a dispatch from another branch, and a release tag outside main, naming why', () => {
      const dispatched = guard('workflow_dispatch', 'refs/heads/feature', 'F');
      expect(dispatched.status).toBe(1);
      expect(dispatched.output).toContain('this run was dispatched on refs/heads/feature; dispatch it on main');
      const released = guard('release', 'refs/tags/v1.0.1', 'F');
      expect(released.status).toBe(1);
      expect(released.output).toContain('(refs/tags/v1.0.1) is not a commit of main');
    });

    it('deploys production on a release or by hand, behind the production environment, building from the checkout', () => {
      expect(Object.keys(on).sort()).toEqual(['release', 'workflow_dispatch']);
      const deploy = jobs['deploy-production']!;
      expect(deploy.environment).toBe('production');
      expect(uses(deploy, 'docker/setup-buildx-action')).toHaveLength(1);
      expect(runs(deploy)).toContain('pulumi stack select "$ORG/production"');
      expect(runs(deploy)).toContain('pulumi up --yes --diff --policy-pack infra/policy');
      expect(runs(deploy)).not.toContain('pulumi config set');
    });
  });
});
