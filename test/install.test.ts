/**
 * Installing: what `npm ci` runs and on which Node (package.json's allowScripts and engines,
 * as README's Set-up states them), and what `train` says when tfjs-node is installed but its
 * native binding is not built (npm 12 skips install scripts that allowScripts does not approve).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import test from 'ava';
import { classifyNativeFailure } from '../src/backend/select.ts';

const cli = (args: string[], node: string[] = []) =>
  spawnSync(process.execPath, [...node, '--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
/** As after npm 12 installed @tensorflow/tfjs-node without running its install script. */
const unbuiltNative = ['--import', './test/helpers/unbuilt-native.mjs'];
const BUILD = `'npm install-scripts approve @tensorflow/tfjs-node && npm rebuild @tensorflow/tfjs-node'`;

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  engines: { node: string };
  allowScripts: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean; engines?: { node?: string } }>;
};
const readme = readFileSync('README.md', 'utf8');
const setUp = readme.slice(
  readme.indexOf('## Set-up'),
  readme.indexOf('\n## ', readme.indexOf('## Set-up') + 1),
);
/** The package name of a lock file entry ('node_modules/a/node_modules/@b/c' → '@b/c'). */
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 13);

const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

test('tfjs-node without its binding: auto says how to build it, in one line; so does --backend tensorflow', (t) => {
  const auto = cli(['train', '--iters', '1', '--C', '1', '--workers', '0'], unbuiltNative);
  t.is(auto.status, 0, auto.stderr);
  const line = auto.stdout.split('\n')[0];
  t.regex(
    line,
    /^backend wasm: @tensorflow\/tfjs-node did not load \(The Node\.js native addon module \(tfjs_binding\.node\) can not be found at path: \S+tfjs_binding\.node\.\); /,
  );
  t.true(
    line.includes(
      `it is installed without its native binding (npm 12 skips install scripts that package.json's allowScripts does not approve): ${BUILD} for the native backend`,
    ),
    line,
  );
  t.regex(auto.stdout, /\(backend wasm, in the main thread\)/);

  const r = cli(['train', '--backend', 'tensorflow'], unbuiltNative);
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.true(r.stderr.includes(`build it with ${BUILD}, or use --backend wasm`), r.stderr);
});

test('load failures are sorted by what mends them', (t) => {
  const failure = (message: string, code?: string) =>
    classifyNativeFailure(Object.assign(new Error(message), { code }));
  const missing = failure(
    "Cannot find package '@tensorflow/tfjs-node' imported from /p/select.js",
    'ERR_MODULE_NOT_FOUND',
  );
  t.deepEqual(missing, {
    kind: 'missing',
    why: "Cannot find package '@tensorflow/tfjs-node' imported from /p/select.js",
  });
  // a dependency of tfjs-node missing is a broken install, not a missing package
  t.is(
    failure("Cannot find module 'google-protobuf'\nRequire stack: ...", 'MODULE_NOT_FOUND').kind,
    'broken',
  );
  t.is(
    failure('libtensorflow.so.2: cannot open shared object file: No such file or directory').kind,
    'unbuilt',
  );
  const unbuilt = failure(
    'The Node.js native addon module (tfjs_binding.node) can not be found at path: /x. \nPlease run',
  );
  t.deepEqual(unbuilt, {
    kind: 'unbuilt',
    why: 'The Node.js native addon module (tfjs_binding.node) can not be found at path: /x.',
  });
  t.is(failure('undefined symbol: TF_NewStatus').kind, 'broken');
});

test("allowScripts decides every install script in the lock file (npm 12 runs only those approved), as README's Set-up says", (t) => {
  const withScripts = new Set(
    Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.hasInstallScript)
      .map(([path]) => nameOf(path)),
  );
  t.deepEqual([...withScripts].sort(), Object.keys(pkg.allowScripts).sort());
  t.is(pkg.allowScripts['@tensorflow/tfjs-node'], true);
  t.is(pkg.allowScripts.esbuild, true);
  for (const [name, allowed] of Object.entries(pkg.allowScripts))
    t.true(setUp.includes(`\`${name}\``) && setUp.includes(allowed ? 'approve' : 'den'), name);
});

test("engines: README's Set-up states package.json's range, this Node is in it, and every dependency accepts each supported line's lowest version but those README names", (t) => {
  const range = pkg.engines.node;
  t.true(setUp.includes(`\`"node": "${range}"\``), `README's Set-up states ${range}`);
  t.true(
    semver.satisfies(process.versions.node, range),
    `Node ${process.versions.node} is in ${range}`,
  );
  const lowest = range.split('||').map((r) => semver.minVersion(r.trim())!.version);
  t.true(lowest.length >= 2, lowest.join());
  for (const v of lowest) {
    const refusing = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines?.node && !semver.satisfies(v, p.engines.node))
      .map(([path, p]) => `${nameOf(path)} (${p.engines!.node})`);
    for (const r of refusing)
      t.true(setUp.includes(r.split(' ')[0]), `Node ${v}: ${r}, not in README`);
  }
});
