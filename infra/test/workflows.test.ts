/** The GitHub workflows parse, and each does what docs/deploy.md says it does. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../common/paths';

interface Step {
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
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
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const major = Number(pkg.devDependencies.node!.split('.')[0]);
    for (const file of fs.readdirSync(DIR)) {
      for (const job of Object.values(workflow(file).jobs)) {
        for (const step of uses(job, 'actions/setup-node')) expect(step.with?.['node-version']).toBe(major);
      }
    }
  });

  it('every workflow runs the full test suite through .ci/run before anything deploys', () => {
    for (const file of fs.readdirSync(DIR)) expect(runs(workflow(file).jobs.test!)).toContain('.ci/run');
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

    it('builds and pushes both images, then deploys staging with their digests and the policy pack', () => {
      expect(on).toEqual({ push: { branches: ['main'] } });
      const files = uses(jobs.images!, 'docker/build-push-action').map((step) => step.with?.file);
      expect(files).toEqual(['app/Dockerfile', 'sidecar/Dockerfile']);
      const deploy = jobs['deploy-staging']!;
      expect(deploy.needs).toBe('images');
      expect(deploy.environment).toBe('staging');
      expect(runs(deploy)).toMatch(/pulumi config set cloud-run-startup-gate:appImage "\$\{\{ needs\.images\.outputs\.app \}\}"/);
      expect(runs(deploy)).toContain('pulumi up --yes --diff --policy-pack infra/policy');
    });
  });

  describe('release.yml', () => {
    const { on, jobs } = workflow('release.yml');

    it('deploys production on a release or by hand, behind the production environment, with staging\'s images', () => {
      expect(Object.keys(on).sort()).toEqual(['release', 'workflow_dispatch']);
      const deploy = jobs['deploy-production']!;
      expect(deploy.environment).toBe('production');
      expect(runs(deploy)).toContain('pulumi stack output appImage --stack "$ORG/staging"');
      expect(runs(deploy)).toContain('pulumi up --yes --diff --policy-pack infra/policy');
    });
  });
});
