/**
 * `tensorboard: DIR` (`--tensorboard DIR`): the scalars of every Newton iteration, step =
 * the iteration, written with tfjs-node's summary writer (TensorBoard's event files) into
 * DIR: f, gradNorm, lambda, cgIters, and testAcc / valAcc where those sets exist. The
 * writer is TensorFlow's own, so this needs the native backend (@tensorflow/tfjs-node);
 * on wasm or cpu the run refuses the option before anything computes.
 */
import type { BackendName } from '../backend/select.js';
import { UsageError } from '../errors.js';
import type { TrainIteration } from './options.js';

/** What of tfjs-node's `node.summaryFileWriter` is used here. */
interface SummaryWriter {
  scalar(name: string, value: number, step: number): void;
  flush(): void;
}

/** The scalars written per iteration, by their names in TensorBoard. */
export const TENSORBOARD_SCALARS = [
  'f',
  'gradNorm',
  'lambda',
  'cgIters',
  'testAcc',
  'valAcc',
] as const;

/** Throws the one-line UsageError when `backend` cannot write TensorBoard files. */
export function checkTensorboardBackend(dir: string | undefined, backend: string): void {
  if (dir === undefined || backend === 'tensorflow' || backend === 'auto') return;
  throw new UsageError(
    `--tensorboard needs the native backend (@tensorflow/tfjs-node): TensorBoard writing is not available on ${backend}`,
  );
}

/** Writes the iterations' scalars into `dir` (created if need be). */
export class TensorboardWriter {
  private constructor(private readonly writer: SummaryWriter) {}

  static async open(dir: string, backend: BackendName): Promise<TensorboardWriter> {
    checkTensorboardBackend(dir, backend);
    // tfjs-node is loaded: the backend is tensorflow (a string: it is an optional dependency)
    const node = '@tensorflow/tfjs-node';
    const tfn = (await import(node)) as {
      node: { summaryFileWriter(dir: string): SummaryWriter };
    };
    return new TensorboardWriter(tfn.node.summaryFileWriter(dir));
  }

  write(it: TrainIteration): void {
    for (const name of TENSORBOARD_SCALARS) {
      const v = it[name];
      if (!Number.isNaN(v)) this.writer.scalar(name, v, it.iter);
    }
  }

  flush(): void {
    this.writer.flush();
  }
}
