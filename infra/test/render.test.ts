import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { renderedContainers } from '../../runner/src/local-revision';
import { RENDERED_STACKS } from '../../common/cloud-run-service';
import { pulumiProjectDir, REPO_ROOT, renderedStackPath } from '../../common/paths';
import { normalize, render, renderDocument, renderStack, SECRET_PLACEHOLDER } from '../render';

const ROOT = REPO_ROOT;

/** A scratch repository root with each project's and stack's files, and the committed rendered files. */
function scratchRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'render-'));
  for (const stack of RENDERED_STACKS) {
    fs.mkdirSync(pulumiProjectDir(stack, root), { recursive: true });
    for (const file of ['Pulumi.yaml', `Pulumi.${stack}.yaml`]) fs.copyFileSync(path.join(pulumiProjectDir(stack, ROOT), file), path.join(pulumiProjectDir(stack, root), file));
  }
  fs.mkdirSync(path.join(root, 'infra', 'rendered'), { recursive: true });
  for (const stack of RENDERED_STACKS) fs.copyFileSync(renderedStackPath(stack, ROOT), renderedStackPath(stack, root));
  return root;
}

describe('normalize', () => {
  it('sorts keys at every depth, drops undefined fields and keeps array order', () => {
    expect(JSON.stringify(normalize({ b: 1, a: { d: [{ z: 1, y: 2 }, 3], c: undefined } }))).toBe('{"a":{"d":[{"y":2,"z":1},3]},"b":1}');
  });

  it('replaces secrets by the placeholder', () => {
    const secret = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: 'hunter2' };
    expect(normalize({ data: secret, list: [secret] })).toEqual({ data: SECRET_PLACEHOLDER, list: [SECRET_PLACEHOLDER] });
  });
});

describe('renderDocument', () => {
  it('sorts resources by type, then name', () => {
    const document = parse(renderDocument('s', [
      { type: 'b:x', name: 'b', inputs: {} },
      { type: 'a:x', name: 'z', inputs: {} },
      { type: 'b:x', name: 'a', inputs: {} },
    ])) as { resources: { type: string; name: string }[] };
    expect(document.resources.map(({ type, name }) => `${type}/${name}`)).toEqual(['a:x/z', 'b:x/a', 'b:x/b']);
  });
});

/** Each stack rendered once from the repository's config (a program run each): the tests below share them. */
const rendered = new Map<string, string>();
beforeAll(async () => {
  for (const stack of RENDERED_STACKS) rendered.set(stack, await renderStack(stack));
});
/** `render`'s renderer for a scratch root whose config is the repository's. */
const renderedAlready = (stack: string) => Promise.resolve(rendered.get(stack)!);

describe.each(RENDERED_STACKS)('rendered %s', (stack) => {
  it('is deterministic and equal to the committed file', async () => {
    const first = rendered.get(stack)!;
    expect(await renderStack(stack)).toBe(first);
    expect(fs.readFileSync(renderedStackPath(stack), 'utf8')).toBe(first);
  });

  it('holds no secret value: the collector config is a placeholder', () => {
    const document = parse(rendered.get(stack)!) as { resources: { type: string; inputs: Record<string, unknown> }[] };
    const version = document.resources.find((resource) => resource.type === 'gcp:secretmanager/secretVersion:SecretVersion');
    expect(version?.inputs.secretData).toBe(SECRET_PLACEHOLDER);
  });

  it('is what the local runner reads: app, gate and collector with Pulumi field names', () => {
    const containers = renderedContainers(stack, ROOT);
    expect(containers.map((container) => container.name)).toEqual(['app', 'gate', 'collector']);
    expect(containers[0]!.ports?.containerPort).toBe(8080);
    expect(containers[1]!.startupProbe?.httpGet).toEqual({ path: '/startup', port: 9091 });
  });
});

describe('render', () => {
  it('--check passes when every file is current and changes nothing', async () => {
    const root = scratchRoot();
    expect(await render({ check: true, root, renderer: renderedAlready })).toEqual([]);
  });

  it('--check names a stale file and leaves it alone; a plain render rewrites it', async () => {
    const root = scratchRoot();
    const staging = renderedStackPath('staging', root);
    fs.writeFileSync(staging, 'resources: []\n');
    expect(await render({ check: true, root, renderer: renderedAlready })).toEqual([path.join('infra', 'rendered', 'staging.yaml')]);
    expect(fs.readFileSync(staging, 'utf8')).toBe('resources: []\n');
    expect(await render({ check: false, root, renderer: renderedAlready })).toEqual([path.join('infra', 'rendered', 'staging.yaml')]);
    expect(await render({ check: true, root, renderer: renderedAlready })).toEqual([]);
  });

  it('--check names a missing file', async () => {
    const root = scratchRoot();
    fs.rmSync(renderedStackPath('production', root));
    expect(await render({ check: true, root, renderer: renderedAlready })).toEqual([path.join('infra', 'rendered', 'production.yaml')]);
  });

  it('a config change shows as a stale file', async () => {
    const root = scratchRoot();
    const file = path.join(root, 'Pulumi.production.yaml');
    const text = fs.readFileSync(file, 'utf8');
    const changed = text.replace(/(startupBudgetSeconds: )(\d+)/, (_match, key: string, seconds: string) => `${key}${Number(seconds) + 1}`);
    expect(changed).not.toBe(text);
    fs.writeFileSync(file, changed);
    expect(await render({ check: true, root })).toEqual([path.join('infra', 'rendered', 'production.yaml')]);
  });
});
