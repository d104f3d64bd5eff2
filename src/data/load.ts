/** Resolves the `--data` option to a train/test pair. */
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { TrainTest } from './dataset.js';
import { loadDigits } from './digits.js';
import { loadMnistDir } from './idx.js';

export const FASHION_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** The folder of the Fashion-MNIST files: --data-dir, else $TFJS_NEWTON_DATA, else Debian's. */
export function fashionDir(dataDir?: string): string {
  return dataDir ?? process.env.TFJS_NEWTON_DATA ?? FASHION_DEFAULT_DIR;
}

export function loadData(data: string, dataDir?: string): TrainTest {
  if (data === 'digits') return loadDigits();
  if (data === 'fashion-mnist') {
    const dir = fashionDir(dataDir);
    if (!existsSync(dir)) {
      throw new UsageError(
        `Fashion-MNIST folder ${dir} not found: pass --data-dir DIR or set TFJS_NEWTON_DATA ` +
          `(on Debian/Ubuntu: apt-get install dataset-fashion-mnist)`,
      );
    }
    return loadMnistDir(dir);
  }
  if (existsSync(data) && statSync(data).isDirectory()) return loadMnistDir(data, data);
  throw new UsageError(`unknown data set '${data}': use digits, fashion-mnist, or a folder with MNIST-style IDX files`);
}
