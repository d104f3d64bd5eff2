/**
 * The layout's rules that the compiler does not check: no import cycle among the source
 * files (src/, workers/, bench/), type-only imports included, since a cycle is a seam that
 * is missing whatever its imports carry.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** The project files a file imports or re-exports (relative specifiers only). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, false);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => join(dirname(file), spec.replace(/\.js$/, '.ts')))
    .map((p) => (existsSync(p) ? p : p.replace(/\.ts$/, '/index.ts')))
    .filter((p) => existsSync(p));
}

/** The import graph's strongly connected components of more than one file (Tarjan). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

test('no import cycle among the source files (src/, workers/, bench/)', (t) => {
  const files = ['src', 'workers', 'bench'].flatMap(sources);
  t.true(files.length > 50, `${files.length} files found`);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const cycles = importCycles(graph).map((c) => c.map((f) => relative('.', f)).sort());
  t.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(' ↔ ')).join('\n')}`);
});

test('the cycle finder finds a cycle of three files and a file importing itself, and no false one', (t) => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
    ['e', ['e']],
    ['f', ['d']],
  ]);
  t.deepEqual(
    importCycles(g).map((c) => c.sort()),
    [['a', 'b', 'c'], ['e']],
  );
});

test("two export tiers: 'tfjs-newton' for what a user calls, 'tfjs-newton/advanced' for the machinery", async (t) => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  t.is(pkg.exports['./advanced'].default, './dist/src/advanced.js');
  const user = await import('../src/index.ts');
  const advanced = await import('../src/advanced.ts');
  for (const name of ['train', 'startTraining', 'trainFirstOrder', 'evaluate', 'loadData'])
    t.is(typeof (user as Record<string, unknown>)[name], 'function', name);
  for (const name of ['train', 'startTraining', 'trainFirstOrder'])
    t.false(name in advanced, `${name} is not in the advanced tier`);
  for (const name of ['NewtonCG', 'PassEngine', 'ChunkEvaluator', 'openProblem', 'LocalProblem'])
    t.is(typeof (advanced as Record<string, unknown>)[name], 'function', name);
});
