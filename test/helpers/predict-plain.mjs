// Loads a saved model with nothing but @tensorflow/tfjs and predicts raw inputs:
//   node test/helpers/predict-plain.mjs MODEL_DIR INPUTS.json
// INPUTS.json: { shape: [n, ...], x: [...] } (raw values as the data files hold them).
// Prints JSON { classes: [...], logits: [[...], ...] }.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const [dir, inputs] = process.argv.slice(2);
tf.enableProdMode();
const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
const weights = readFileSync(join(dir, json.weightsManifest[0].paths[0]));
const model = await tf.loadLayersModel(
  tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  }),
);
const { shape, x } = JSON.parse(readFileSync(inputs, 'utf8'));
const z = model.predict(tf.tensor(x, shape));
const logits = await z.array();
const classes = await tf.argMax(z, 1).array();
process.stdout.write(JSON.stringify({ classes, logits }));
