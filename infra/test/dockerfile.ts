/**
 * The images' Dockerfiles, read as text (no Docker engine here): the instructions grouped by stage,
 * and what the final stage lays out and runs, so tests check and start the images as written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../common/paths';

export interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of a Dockerfile (relative to `root`), comments and blank lines dropped, grouped by stage. */
export function stages(file: string, root = REPO_ROOT): Instruction[][] {
  const result: Instruction[][] = [];
  for (const line of fs.readFileSync(path.join(root, file), 'utf8').split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [keyword = '', ...rest] = trimmed.split(/\s+/);
    if (keyword.toUpperCase() === 'FROM') result.push([]);
    result.at(-1)?.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
  }
  return result;
}

/** The final stage's file system, environment and command. */
export interface FinalStage {
  /** Each copy: `from`, a path under the repository after the build; `to`, relative to the working directory. */
  copies: { from: string; to: string }[];
  env: Record<string, string>;
  /** The exec-form CMD. */
  command: string[];
}

const argsOf = (stage: Instruction[], keyword: string) => stage.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

/** A path in a stage, relative to that stage's last WORKDIR (absolute paths outside it are refused). */
function relativeTo(stage: Instruction[], file: string): string {
  const workdir = argsOf(stage, 'WORKDIR').at(-1) ?? '/';
  const relative = path.posix.relative(workdir, path.posix.resolve(workdir, file));
  if (relative.startsWith('..')) throw new Error(`${file} is outside the stage's WORKDIR ${workdir}`);
  return relative;
}

/**
 * The final stage of a Dockerfile built from the repository root. A build stage's WORKDIR stands for
 * the repository after its build (`npm run bundle` here writes what the build stage does there), and
 * a plain COPY reads the build context, the repository root.
 */
export function finalStage(file: string, root = REPO_ROOT): FinalStage {
  const all = stages(file, root);
  const final = all.at(-1)!;
  const named = new Map(all.map((stage) => [/\bAS\s+(\S+)$/i.exec(stage[0]!.args)?.[1], stage]));
  const copies = argsOf(final, 'COPY').map((args) => {
    const [first = '', ...rest] = args.split(/\s+/);
    const fromStage = /^--from=(.+)$/.exec(first)?.[1];
    const [source, target] = fromStage === undefined ? [first, rest[0]] : [rest[0], rest[1]];
    if (!source || !target || rest.length > (fromStage === undefined ? 1 : 2)) throw new Error(`${file}: COPY ${args} is not one source and one target`);
    const stage = fromStage === undefined ? undefined : named.get(fromStage);
    if (fromStage !== undefined && !stage) throw new Error(`${file}: COPY from unknown stage ${fromStage}`);
    return { from: path.join(root, stage ? relativeTo(stage, source) : source), to: relativeTo(final, target) };
  });
  const env = Object.fromEntries(
    argsOf(final, 'ENV').flatMap((args) =>
      args.split(/\s+/).map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new Error(`${file}: ENV ${args} is not KEY=VALUE pairs`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    ),
  );
  const commands = argsOf(final, 'CMD');
  if (commands.length !== 1) throw new Error(`${file}: the final stage has ${commands.length} CMDs, expected one`);
  const command = JSON.parse(commands[0]!) as string[];
  return { copies, env, command };
}

