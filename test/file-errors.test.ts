/**
 * Every file problem is one line on stderr naming the path and the cause, exit code 2,
 * before any training compute (no iteration line, no log or checkpoint written).
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';

const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
/** stderr without the start-up lines libtensorflow prints itself when it loads (not ours) */
const ownLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter(
      (l) => l.trim() !== '' && !/^(WARNING: All log messages before absl|[IW]\d{4} )/.test(l),
    );
const tmp = () => mkdtempSync(join(tmpdir(), 'tn-ferr-'));
/** a quick run on digits, in the main thread on wasm */
const TRAIN = ['train', '--data', 'digits', '--C', '1', '--backend', 'wasm', '--workers', '0'];

/** exit 2, one own line on stderr that holds `path` and matches `cause`, and nothing trained */
function fails(t: ExecutionContext, args: string[], path: string, cause: RegExp): string {
  const r = cli(args);
  const own = ownLines(r.stderr);
  t.is(r.status, 2, `${args.join(' ')}\n${r.stderr}`);
  t.is(own.length, 1, r.stderr);
  t.true(own[0]?.startsWith('tfjs-newton: '), own[0]);
  t.true(own[0]?.includes(path), `${own[0]} should name ${path}`);
  t.regex(own[0] ?? '', cause);
  t.notRegex(r.stdout, /^(iter|epoch) /m, 'nothing was trained');
  return own[0] ?? '';
}

function idx(file: string, magic: number, dims: number[], data: number[]): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  writeFileSync(file, Buffer.concat([head, Buffer.from(data)]));
}

/** the four MNIST-style files of `n` 2x2 images (train) and 2 (test) */
function idxFolder(n = 4): string {
  const dir = tmp();
  const img = (k: number) => Array.from({ length: k * 4 }, (_, i) => (i * 37) % 256);
  const lab = (k: number) => Array.from({ length: k }, (_, i) => i % 2);
  idx(join(dir, 'train-images-idx3-ubyte'), 0x803, [n, 2, 2], img(n));
  idx(join(dir, 'train-labels-idx1-ubyte'), 0x801, [n], lab(n));
  idx(join(dir, 't10k-images-idx3-ubyte'), 0x803, [2, 2, 2], img(2));
  idx(join(dir, 't10k-labels-idx1-ubyte'), 0x801, [2], lab(2));
  return dir;
}

/** a run folder of 1 Newton iteration (checkpoint, last/model.json + weights.bin) */
let runDir: string | undefined;
function trainedRun(t: ExecutionContext): string {
  if (!runDir) {
    runDir = join(tmp(), 'run');
    const r = cli([...TRAIN, '--iters', '1', '--out', runDir]);
    t.is(r.status, 0, r.stderr);
  }
  return runDir;
}

test.serial(
  'train --out: an existing file, or a folder that cannot be created, fails before any compute',
  (t) => {
    const dir = tmp();
    const file = join(dir, 'x');
    writeFileSync(file, 'not a folder');
    const log = join(dir, 'run.jsonl');
    fails(
      t,
      [...TRAIN, '--iters', '1', '--out', file, '--log', log],
      file,
      /--out is an existing file, not a folder$/,
    );
    fails(
      t,
      [...TRAIN, '--iters', '1', '--out', join(file, 'sub'), '--log', log],
      join(file, 'sub'),
      /--out cannot be created: .*x is a file, not a folder$/,
    );
    t.false(existsSync(log), 'no log was written');
    // A read-only folder (chmod 0o555) is refused by a probe write in src/paths.ts: the tests run
    // as root, for whom chmod stops no write (and access(W_OK) says yes), so that case is tested
    // below by running the CLI as the user nobody.
    // The first-order baseline checks the same paths
    fails(
      t,
      [...TRAIN, '--optim', 'adam', '--epochs', '1', '--out', file],
      file,
      /--out is an existing file, not a folder$/,
    );
  },
);

test.serial('train --log: a missing folder, a folder, a file as its folder', (t) => {
  const dir = tmp();
  const out = join(dir, 'out');
  const missing = join(dir, 'nope', 'run.jsonl');
  fails(
    t,
    [...TRAIN, '--iters', '1', '--log', missing, '--out', out],
    missing,
    /--log folder .*nope does not exist$/,
  );
  fails(t, [...TRAIN, '--iters', '1', '--log', dir], dir, /--log is a folder, not a file$/);
  const file = join(dir, 'f');
  writeFileSync(file, '');
  fails(
    t,
    [...TRAIN, '--iters', '1', '--log', join(file, 'run.jsonl')],
    join(file, 'run.jsonl'),
    /--log cannot be created: .*f is a file, not a folder$/,
  );
  t.false(existsSync(out), 'no checkpoint was written');
  // not writable (chmod): in the read-only folder test, as the user nobody
});

test.serial('plot -o into a missing folder; a missing run log', (t) => {
  const dir = tmp();
  const run = join(dir, 'run.jsonl');
  writeFileSync(run, JSON.stringify({ iter: 1, f: 1, elapsedSeconds: 0.5, testAcc: 0.5 }) + '\n');
  const svg = join(dir, 'nope', 'p.svg');
  fails(t, ['plot', run, '-o', svg], svg, /-o folder .*nope does not exist$/);
  t.false(existsSync(svg));
  fails(
    t,
    ['plot', join(dir, 'none.jsonl'), '-o', join(dir, 'p.svg')],
    'none.jsonl',
    /the run log file not found$/,
  );
  fails(
    t,
    ['plot', run, '--vs', dir, '-o', join(dir, 'p.svg')],
    dir,
    /--vs is a folder, not a file$/,
  );
});

test.serial('eval --model: a folder without weights.bin; a file instead of a folder', (t) => {
  const model = join(tmp(), 'm');
  cpSync(join(trainedRun(t), 'last'), model, { recursive: true });
  rmSync(join(model, 'weights.bin'));
  fails(
    t,
    ['eval', '--model', model, '--data', 'digits', '--backend', 'wasm'],
    join(model, 'weights.bin'),
    /weights\.bin: not found: the weights file that .*model\.json lists$/,
  );
  const json = join(model, 'model.json');
  fails(
    t,
    ['eval', '--model', json, '--data', 'digits', '--backend', 'wasm'],
    json,
    /--model is a file, not a folder$/,
  );
});

test.serial(
  'train --resume: a missing θ file, a missing field of checkpoint.json, no checkpoint',
  (t) => {
    const run = trainedRun(t);
    const json = JSON.parse(readFileSync(join(run, 'checkpoint.json'), 'utf8'));
    const noTheta = join(tmp(), 'r');
    cpSync(run, noTheta, { recursive: true });
    rmSync(join(noTheta, json.thetaFile));
    const log = join(tmp(), 'resumed.jsonl');
    fails(
      t,
      [...TRAIN, '--iters', '3', '--resume', noTheta, '--log', log],
      join(noTheta, json.thetaFile),
      /checkpoint file is missing \(named by .*checkpoint\.json\)$/,
    );
    for (const field of ['lambda', 'thetaFile', 'spec']) {
      const dir = join(tmp(), 'r');
      cpSync(run, dir, { recursive: true });
      const broken = { ...json };
      delete broken[field];
      writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify(broken));
      fails(
        t,
        [...TRAIN, '--iters', '3', '--resume', dir, '--log', log],
        join(dir, 'checkpoint.json'),
        new RegExp(`field '${field}' is missing`),
      );
    }
    const empty = tmp();
    fails(
      t,
      [...TRAIN, '--iters', '3', '--resume', empty, '--log', log],
      join(empty, 'checkpoint.json'),
      /cannot read a checkpoint \(not found/,
    );
    fails(
      t,
      [...TRAIN, '--iters', '3', '--resume', join(empty, 'none')],
      join(empty, 'none'),
      /--resume folder not found$/,
    );
    t.false(existsSync(log), 'no log was written');
  },
);

test.serial('--model F.json: not JSON, config null, a folder', (t) => {
  const dir = tmp();
  const notJson = join(dir, 'bad.json');
  writeFileSync(notJson, 'this is { not json');
  fails(
    t,
    [...TRAIN, '--model', notJson],
    notJson,
    /not JSON \(.*\): expected a Keras\/tfjs model\.json$/,
  );
  const nullCfg = join(dir, 'null.json');
  writeFileSync(
    nullCfg,
    JSON.stringify({ modelTopology: { class_name: 'Sequential', config: null } }),
  );
  fails(t, [...TRAIN, '--model', nullCfg], nullCfg, /config is null: expected its layers$/);
  const folder = join(dir, 'm.json');
  mkdirSync(folder);
  fails(t, [...TRAIN, '--model', folder], folder, /--model is a folder, not a file$/);
});

test.serial('IDX: one of the four files is a folder; a file with 0 images', (t) => {
  const dir = idxFolder();
  rmSync(join(dir, 't10k-labels-idx1-ubyte'));
  mkdirSync(join(dir, 't10k-labels-idx1-ubyte'));
  fails(
    t,
    [...TRAIN, '--iters', '1', '--data', dir],
    join(dir, 't10k-labels-idx1-ubyte'),
    /is a folder, not an IDX file/,
  );
  const empty = idxFolder(0);
  fails(
    t,
    [...TRAIN, '--iters', '1', '--data', empty],
    join(empty, 'train-images-idx3-ubyte'),
    /the file has no images/,
  );
});

test.serial('LIBSVM index and CSV label out of range, with file, line and column', (t) => {
  const dir = tmp();
  const svm = join(dir, 'big.svm');
  writeFileSync(svm, '1 1:0.5\n-1 2:1 3000000000:1\n');
  fails(
    t,
    [...TRAIN, '--data', svm],
    svm,
    /line 2, item 3: index 3000000000 out of range 1\.\.2147483647$/,
  );
  const csv = join(dir, 'big.csv');
  writeFileSync(csv, '1,2,0\n3,4,1\n5,6,3000000000\n');
  fails(
    t,
    [...TRAIN, '--data', csv],
    csv,
    /line 3, column 3: class label 3000000000 out of range 0\.\.2147483647$/,
  );
});

test.serial('labels all of one class: one line naming the file', (t) => {
  const dir = tmp();
  const csv = join(dir, 'one.csv');
  writeFileSync(csv, '1,2,0\n3,4,0\n5,6,0\n');
  fails(
    t,
    [...TRAIN, '--data', csv],
    csv,
    /all 3 samples have label 0: a classifier needs at least 2 classes$/,
  );
  const svm = join(dir, 'one.svm');
  writeFileSync(svm, '7 1:1\n7 2:1\n');
  fails(
    t,
    [...TRAIN, '--data', svm],
    svm,
    /all 2 samples have label 7: a classifier needs at least 2 classes$/,
  );
});

test.serial('--val-split that leaves too few training samples says so (not --gn-size)', (t) => {
  const line = fails(
    t,
    [...TRAIN, '--val-split', '0.9999'],
    '--val-split',
    /--val-split 0\.9999 leaves 0 training samples of 1438/,
  );
  t.notRegex(line, /gn-size/);
});

test.serial(
  'a read-only folder for --out and --log (as the user nobody when the tests run as root)',
  (t) => {
    // root writes through chmod 0o555, so as root the CLI is run as nobody (uid 65534)
    const root = process.getuid?.() === 0;
    const dir = tmp();
    chmodSync(dir, 0o755);
    const ro = join(dir, 'ro');
    mkdirSync(ro, { mode: 0o555 });
    chmodSync(ro, 0o555);
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        encoding: 'utf8',
        timeout: 300_000,
        ...(root ? { uid: 65534, gid: 65534 } : {}),
      });
    const check = (args: string[], path: string, cause: RegExp) => {
      const r = run(args);
      if (root && r.status !== 2 && /EACCES|EPERM/.test(r.stderr) && !r.stderr.includes(path)) {
        t.log(`cannot run the CLI as nobody here: ${ownLines(r.stderr)[0]}`);
        return;
      }
      const own = ownLines(r.stderr);
      t.is(r.status, 2, r.stderr);
      t.is(own.length, 1, r.stderr);
      t.true(own[0]?.includes(path), own[0]);
      t.regex(own[0] ?? '', cause);
      t.notRegex(r.stdout, /^iter /m);
    };
    check([...TRAIN, '--iters', '1', '--out', ro], ro, /--out folder is not writable \(EACCES\)$/);
    check(
      [...TRAIN, '--iters', '1', '--out', join(ro, 'sub')],
      join(ro, 'sub'),
      /--out cannot be created: .*ro is not writable \(EACCES\)$/,
    );
    check(
      [...TRAIN, '--iters', '1', '--log', join(ro, 'l.jsonl')],
      join(ro, 'l.jsonl'),
      /--log cannot be created: folder .*ro is not writable \(EACCES\)$/,
    );
    t.false(existsSync(join(ro, 'sub')));
  },
);

test.serial('--test, --val, --data-dir: missing or of the wrong kind', (t) => {
  const dir = tmp();
  const csv = join(dir, 'd.csv');
  writeFileSync(csv, '1,2,0\n3,4,1\n5,6,0\n');
  fails(t, [...TRAIN, '--data', csv, '--test', dir], dir, /--test is a folder, not a file$/);
  fails(
    t,
    [...TRAIN, '--data', csv, '--val', join(dir, 'none.csv')],
    join(dir, 'none.csv'),
    /--val file not found$/,
  );
  fails(
    t,
    [...TRAIN, '--data', 'fashion-mnist', '--data-dir', csv],
    csv,
    /--data-dir is a file, not a folder$/,
  );
  fails(
    t,
    ['eval', '--model', dir, '--data', csv, '--test', dir, '--backend', 'wasm'],
    dir,
    /--test is a folder, not a file$/,
  );
});
