/**
 * MNIST-style IDX files (plain or gzip): big-endian magic 0x0000TTDD (TT = 0x08 for
 * unsigned bytes, DD = number of dimensions), DD big-endian uint32 sizes, then the data.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { normalise, type Dataset, type TrainTest } from './dataset.js';
import { UsageError } from '../errors.js';
import { DataError } from './errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DataError(
        file,
        'gzip stream',
        `cannot decompress (${(e as Error).message}): the file is truncated or corrupt`,
      );
    }
  }
  if (buf.length < 4)
    throw new DataError(file, 'byte 0', `file too short for an IDX header (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    throw new DataError(
      file,
      'byte 0',
      `bad magic number 0x${magic}: expected 0x000008DD (an IDX file of unsigned bytes)`,
    );
  }
  const nd = buf[3];
  if (nd < 1 || buf.length < 4 + 4 * nd)
    throw new DataError(file, 'byte 3', `bad IDX header (${nd} dimensions, ${buf.length} bytes)`);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i));
  const start = 4 + 4 * nd;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length - start !== size) {
    throw new DataError(
      file,
      `byte ${start}`,
      `header says ${dims.join('x')} = ${size} bytes of data, the file has ${buf.length - start}`,
    );
  }
  return { dims, data: buf.subarray(start) };
}

function readIdx(file: string): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DataError(
      file,
      'file',
      `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parseIdx(buf, file);
}

/** Images (n × H × W, bytes) and labels (n) into a data set of shape [H, W, 1], unscaled. */
export function idxDataset(
  images: IdxArray,
  labels: IdxArray,
  imageFile: string,
  labelFile: string,
  numClasses = 10,
): Dataset {
  if (images.dims.length !== 3)
    throw new DataError(
      imageFile,
      'header',
      `expected 3 dimensions (n, rows, cols), found ${images.dims.length}`,
    );
  if (labels.dims.length !== 1)
    throw new DataError(
      labelFile,
      'header',
      `expected 1 dimension (n), found ${labels.dims.length}`,
    );
  const [n, h, w] = images.dims;
  if (n === 0)
    throw new DataError(imageFile, 'header', 'the file has no images (its header says 0)');
  if (labels.dims[0] !== n)
    throw new DataError(
      labelFile,
      'header',
      `${labels.dims[0]} labels for ${n} images in ${imageFile}`,
    );
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = labels.data[i];
    if (c >= numClasses)
      throw new DataError(
        labelFile,
        `byte ${8 + i}`,
        `label ${c} out of range 0..${numClasses - 1}`,
      );
    lab[i] = c;
  }
  return { x: Float32Array.from(images.data), labels: lab, n, inputShape: [h, w, 1], numClasses };
}

export const FASHION_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** The four MNIST/Fashion-MNIST files of a folder (with or without .gz), scaled and centred. */
export function loadMnistDir(dir: string, name = 'fashion-mnist'): TrainTest {
  const { train, test } = readMnistDir(dir, name);
  return { name, ...normalise(train, test, 255) };
}

/** The four files of a folder, raw bytes 0..255. */
export function readMnistDir(
  dir: string,
  name = 'fashion-mnist',
): { train: Dataset; test: Dataset } {
  const find = (base: string) => {
    for (const f of [join(dir, base + '.gz'), join(dir, base)]) {
      let isFile: boolean;
      try {
        isFile = statSync(f).isFile();
      } catch {
        continue; // not there
      }
      if (!isFile)
        throw new UsageError(
          `${f}: is a folder, not an IDX file (${name} needs ${base}, .gz or plain, in ${dir})`,
        );
      return f;
    }
    throw new DataError(
      join(dir, base + '.gz'),
      'file',
      `not found: ${name} needs ${Object.values(FASHION_FILES).join(', ')} (.gz or plain) in ${dir}`,
    );
  };
  const f = Object.fromEntries(
    Object.entries(FASHION_FILES).map(([k, v]) => [k, find(v)]),
  ) as typeof FASHION_FILES;
  const train = idxDataset(
    readIdx(f.trainImages),
    readIdx(f.trainLabels),
    f.trainImages,
    f.trainLabels,
  );
  const test = idxDataset(readIdx(f.testImages), readIdx(f.testLabels), f.testImages, f.testLabels);
  if (train.inputShape.join() !== test.inputShape.join()) {
    throw new DataError(
      f.testImages,
      'header',
      `images are ${test.inputShape.slice(0, 2).join('x')}, the training images ${train.inputShape.slice(0, 2).join('x')}`,
    );
  }
  return { train, test };
}
