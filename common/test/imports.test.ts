/**
 * The shape of the import graph: no cycles, pure decision modules that load nothing with I/O, and
 * tests that share helpers through testkit/ rather than reaching into another folder's test/.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { REPO_ROOT } from '../paths';

const FOLDERS = ['app', 'sidecar', 'common', 'infra', 'runner', 'bench', 'reliability', 'testkit', 'examples'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(relative);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

/** Every file's relative imports (type-only ones too: they tie modules together just the same), resolved to files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of FOLDERS.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(path.join(REPO_ROOT, file), 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => path.normalize(path.join(path.dirname(file), name)))
      .map((target) => [`${target}.ts`, path.join(target, 'index.ts')].find((candidate) => fs.existsSync(path.join(REPO_ROOT, candidate))) ?? target);
    graph.set(file, targets);
  }
  return graph;
}

/** The cycles of a graph, each as the path that closes it (depth-first search). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (node: string, trail: string[]) => {
    const at = trail.indexOf(node);
    if (at >= 0) return void found.push([...trail.slice(at), node]);
    if (done.has(node)) return;
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    done.add(node);
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

const graph = importGraph();

it('finds a cycle when there is one (the check can fail)', () => {
  expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
  expect(cycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
});

it('has no import cycle', () => {
  expect(graph.size).toBeGreaterThan(100);
  expect(cycles(graph)).toEqual([]);
});

/** Everything a module loads, itself included. */
function closure(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...(graph.get(file) ?? []));
  }
  return seen;
}

it.each(['sidecar/src/decision.ts', 'common/startup-decision.ts', 'common/gate-contract.ts'])('%s loads only pure modules of common/ and the gate', (file) => {
  const loaded = [...closure(file)];
  expect(loaded.filter((module) => module !== file && !['common/phase-contract.ts', 'common/startup-decision.ts', 'common/gate-contract.ts'].includes(module))).toEqual([]);
});

it("has no test import another folder's test/: shared helpers live in testkit/", () => {
  const crossing = [...graph].flatMap(([file, targets]) =>
    targets.filter((target) => target.split(path.sep).includes('test') && target.split(path.sep)[0] !== file.split(path.sep)[0]).map((target) => `${file} -> ${target}`),
  );
  expect(crossing).toEqual([]);
});
