/**
 * `tfjs-newton eval`: loss, accuracy and confusion matrix of a saved model on a data set
 * (loss, RMSE and R² on one of real-valued targets). Parses the options, loads the model and the data, and prints what `evaluate` (run.ts)
 * computes.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ChunkEvaluator } from '../autodiff/evaluator.js';
import { initBackend, isBackendChoice } from '../backend/select.js';
import { loadData } from '../data/load.js';
import { UsageError } from '../errors.js';
import { loadModel } from '../model/keras.js';
import { Network } from '../model/network.js';
import { checkDataPaths, checkInputFolder } from '../paths.js';
import { evaluate } from '../run/evaluate.js';
import { resolveModel } from '../run/prepare.js';
import { num } from './args.js';
import { formatRegression } from './progress.js';

export const EVAL_HELP = `Usage: tfjs-newton eval --model DIR [data options]

Evaluates a model folder (model.json + weights.bin, as train --out writes in DIR/last and
DIR/best) on the test set of the data (or, with --split train|val, another part): loss,
accuracy and confusion matrix, or with real-valued targets loss, RMSE and R².

  --model DIR         the model folder
  --data NAME|PATH    as for train (digits, fashion-mnist, friedman1, an IDX folder, a
                      CSV/LIBSVM file)
  --data-dir, --test, --label-col, --targets, --shape, --scale   as for train
  --split test|train  which part to evaluate (default test)
  --bsize N           samples per chunk (default 1024)
  --backend B         auto|wasm|cpu|tensorflow (default auto)
  --json              print JSON
`;

export function confusionTable(c: number[][]): string {
  const w = Math.max(5, ...c.flat().map((v) => String(v).length));
  const head = 'true\\pred'.padEnd(10) + c.map((_, j) => String(j).padStart(w)).join(' ');
  return [
    head,
    ...c.map((row, i) => String(i).padEnd(10) + row.map((v) => String(v).padStart(w)).join(' ')),
  ].join('\n');
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      data: { type: 'string' },
      'data-dir': { type: 'string' },
      test: { type: 'string' },
      'label-col': { type: 'string' },
      targets: { type: 'string' },
      shape: { type: 'string' },
      scale: { type: 'string' },
      split: { type: 'string' },
      bsize: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(EVAL_HELP);
    return;
  }
  if (!values.model)
    throw new UsageError('eval needs --model DIR (a folder with model.json and weights.bin)');
  const split = values.split ?? 'test';
  if (split !== 'test' && split !== 'train')
    throw new UsageError(`--split must be test or train, got '${split}'`);
  const backend = values.backend ?? 'auto';
  if (!isBackendChoice(backend))
    throw new UsageError(`--backend must be auto, wasm, cpu or tensorflow, got '${backend}'`);
  // paths first (a missing folder is reported by loadModel, naming its model.json)
  if (existsSync(values.model)) checkInputFolder(values.model, '--model');
  checkDataPaths({ data: values.data, dataDir: values['data-dir'], test: values.test });
  const saved = loadModel(values.model);
  await initBackend(backend);
  const sets = loadData({
    data: values.data ?? 'digits',
    dataDir: values['data-dir'],
    test: values.test,
    labelCol: values['label-col'],
    targets: values.targets,
    shape: values.shape?.split(',').map((v) => num(v, '--shape', { int: true, min: 1 })!),
    scale: num(values.scale, '--scale', { min: Number.MIN_VALUE }),
    // the model's own preprocessing (saved with it), not one recomputed from this data
    preprocessing: saved.preprocessing,
  });
  const d = split === 'train' ? sets.train : sets.test;
  if (d.n === 0) throw new UsageError(`no ${split} samples: give --test FILE for file data`);
  resolveModel(saved.spec, d);
  const ev = new ChunkEvaluator(new Network(saved.spec), saved.loss);
  ev.setParams(saved.theta);
  const r = evaluate(ev, d, num(values.bsize, '--bsize', { int: true, min: 1 }) ?? 1024);
  ev.dispose();
  const head = { model: values.model, data: sets.name, split, lossKind: saved.loss };
  if (r.rmse !== undefined) {
    // real-valued targets: no classes, so no accuracy and no confusion matrix
    const { samples, loss, rmse, r2 } = r;
    if (values.json) console.log(JSON.stringify({ ...head, samples, loss, rmse, r2 }));
    else
      console.log(
        `${sets.name} ${split}: ${samples} samples, ${saved.loss} loss ${loss.toFixed(6)}, ${formatRegression(rmse, r2 ?? NaN)}`,
      );
    return;
  }
  if (values.json) {
    console.log(JSON.stringify({ ...head, ...r }));
    return;
  }
  console.log(
    `${sets.name} ${split}: ${r.samples} samples, ${saved.loss} loss ${r.loss.toFixed(6)}, accuracy ${(100 * r.accuracy).toFixed(2)}%`,
  );
  console.log(confusionTable(r.confusion));
}
