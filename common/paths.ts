import path from 'node:path';

/**
 * The repository root (an image's working directory), whether this module runs compiled from
 * dist/common or from source under jest: files that are not compiled (the chat page, the rendered
 * stacks) and the compiled entry points are found from here.
 */
export const REPO_ROOT = path.resolve(__dirname, path.basename(path.dirname(__dirname)) === 'dist' ? '../..' : '..');

/** Where `tsc -p .` writes the compiled JavaScript. */
export const DIST_DIR = path.join(REPO_ROOT, 'dist');

/**
 * The Prometheus alerting rules folders, relative to the repository root: the gate's, whose rules
 * every gated service gets as alert policies, and the chat app's own, which only its service gets.
 */
export const ALERT_RULES_DIRS = { gate: path.join('sidecar', 'alerts'), chatApp: path.join('app', 'alerts') } as const;

/** The stacks of this repository's other Pulumi project, the Python example, and its folder. */
export const EXAMPLE_PROJECT_DIRS = { 'python-fastapi': path.join('examples', 'python-fastapi', 'deploy') } as const;

/** The folder of the Pulumi project (Pulumi.yaml, Pulumi.STACK.yaml) a stack belongs to: the example's or the repository's. */
export function pulumiProjectDir(stack: string, root = REPO_ROOT): string {
  const example = (EXAMPLE_PROJECT_DIRS as Record<string, string>)[stack];
  return example === undefined ? root : path.join(root, example);
}

/** A stack's rendered resources (`npm run render`), which the local runner runs. */
export function renderedStackPath(stack: string, root = REPO_ROOT): string {
  return path.join(root, 'infra', 'rendered', `${stack}.yaml`);
}

/**
 * The compiled entry points (`tsc -p .`) of the two images' programs, as the runner, the tests and
 * the bench start them, of the contract checker (`npm run check-phase`) and of the budget
 * advisor (`npm run budget`).
 */
export const ENTRY_POINTS = {
  app: path.join(DIST_DIR, 'app', 'src', 'main.js'),
  gate: path.join(DIST_DIR, 'sidecar', 'src', 'main.js'),
  checkPhase: path.join(DIST_DIR, 'sidecar', 'src', 'check-phase.js'),
  budget: path.join(DIST_DIR, 'runner', 'src', 'budget-main.js'),
} as const;


/**
 * The esbuild bundles (`npm run bundle`) the images run, at the path each Dockerfile's final stage
 * puts them under its working directory (the repository root here).
 */
export const BUNDLES = {
  app: path.join(DIST_DIR, 'bundle', 'app.js'),
  gate: path.join(DIST_DIR, 'bundle', 'gate.js'),
} as const;

/**
 * Node's options in each image's CMD, between `node` and the bundle; whatever starts a bundle as
 * its image does passes them. The gate's young generation is capped at 1 MB semi-spaces: V8 grows
 * it each time the bytes that survived its collections add up to its size, and shrinks it only
 * while allocation stays under about 1 MB a second, so a backend answering 20 times a second grew
 * it step by step to 51 MB of the gate's 128 MiB (docs/gate.md). The gate keeps a few MB alive.
 */
export const NODE_FLAGS = {
  app: [],
  gate: ['--max-semi-space-size=1'],
} as const satisfies Record<keyof typeof BUNDLES, readonly string[]>;
