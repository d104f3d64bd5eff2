// A tfjs model trained by Newton-CG where model.fit would be: a tf.sequential, tensors,
// tf.node.tensorBoard and early stopping, unchanged. Needs @tensorflow/tfjs-node.
// Run from a checkout with `npm ci && node examples/tensorboard.mjs [LOGDIR]`, then
// `tensorboard --logdir LOGDIR` (default runs/tensorboard-example).
import * as tf from '@tensorflow/tfjs-node';
import { loadData, newtonFit } from 'tfjs-newton';

const logdir = process.argv[2] ?? 'runs/tensorboard-example';

// the embedded digits as tensors (8x8 images, preprocessed; labels 0..9)
const { train, test } = loadData({ data: 'digits' });
const x = tf.tensor2d(train.x, [train.n, 64]);
const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10);
const xVal = tf.tensor2d(test.x, [test.n, 64]);
const yVal = tf.tensor1d(test.labels, 'int32'); // class labels work as well as one-hot rows

const model = tf.sequential({
  layers: [
    tf.layers.dense({ inputShape: [64], units: 64, activation: 'relu' }),
    tf.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});

const { epoch, history, result } = await newtonFit(model, x, y, {
  epochs: 40, // Newton iterations
  C: 1,
  validationData: [xVal, yVal],
  callbacks: [
    tf.node.tensorBoard(logdir),
    tf.callbacks.earlyStopping({ monitor: 'val_acc', patience: 3 }),
  ],
});

const last = epoch.length - 1;
console.log(
  `${epoch.length} Newton iterations${result.stopped ? ` (${result.stopped})` : ''}: ` +
    `loss ${history.loss[last].toFixed(4)}, val_loss ${history.val_loss[last].toFixed(4)}, ` +
    `val_acc ${(100 * history.val_acc[last]).toFixed(2)}%`,
);
// the model itself is trained: predict() as usual
const predicted = tf.tidy(() => model.predict(xVal).argMax(1));
const correct = tf.tidy(() => predicted.equal(yVal).sum().arraySync());
console.log(`model.predict: ${((100 * correct) / test.n).toFixed(2)}% of ${test.n} correct`);
console.log(`TensorBoard logs in ${logdir}`);
tf.dispose([x, y, xVal, yVal, predicted]);
model.dispose();
