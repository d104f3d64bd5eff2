/**
 * The in-process transport: chunks are computed in the calling thread, one at a time, by
 * a ChunkCompute over the caller's data (no copy). Before each chunk it yields to the
 * event loop (so timers, signals and an AbortSignal's listeners run during long passes);
 * once stopped, no further chunk starts.
 *
 * `inProcess` is its unit (registry.ts); `LocalProblem` the pass engine over it.
 */
import type { GvMethod } from '../autodiff/evaluator.js';
import { ChunkCompute, type StateSource } from '../engine/compute.js';
import { PassEngine } from '../engine/engine.js';
import { checkBsize } from '../engine/plan.js';
import type { EvalSets } from '../engine/evaluation.js';
import type { ChunkResult, Task } from '../engine/task.js';
import type { RunOptions, Transport } from '../engine/transport.js';
import type { Dataset } from '../data/dataset.js';
import { AbortError } from '../errors.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import { engineOptionsOf, type TransportUnit } from './unit.js';

export class InProcessTransport implements Transport, StateSource {
  readonly workers = 0;
  /** two chunks queued: the next one is ready when the current one ends */
  readonly capacity = 2;
  private readonly compute: ChunkCompute;
  private stopped = false;
  private state: {
    theta: Float32Array;
    evalTheta: Float32Array;
    subset: Int32Array;
    v: Float32Array;
  } = {
    theta: new Float32Array(0),
    evalTheta: new Float32Array(0),
    subset: new Int32Array(0),
    v: new Float32Array(0),
  };

  constructor(
    net: Network,
    data: Dataset,
    loss: LossKind,
    bsize: number,
    evalSets: EvalSets,
    gv: GvMethod,
  ) {
    // no backend named: the compute uses the caller's, as it is
    this.compute = new ChunkCompute({ spec: net.spec, loss, gv, bsize, data, evalSets });
  }

  publishTheta(_version: number, theta: Float32Array): void {
    this.state.theta = theta;
  }
  publishEvalTheta(_version: number, theta: Float32Array): void {
    this.state.evalTheta = theta;
  }
  publishSubset(_version: number, subset: Int32Array): void {
    this.state.subset = subset.slice();
  }
  publishV(_version: number, v: Float32Array): void {
    this.state.v = v;
  }
  theta(): Float32Array {
    return this.state.theta;
  }
  evalTheta(): Float32Array {
    return this.state.evalTheta;
  }
  subset(_version: number, length: number): Int32Array {
    return this.state.subset.subarray(0, length);
  }
  v(): Float32Array {
    return this.state.v;
  }

  async run(task: Task, options: RunOptions): Promise<ChunkResult> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.stopped) throw new AbortError('stopped');
    options.onDispatched();
    const r = await this.compute.run(task, this);
    return { ...r, worker: 'main' };
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.compute.dispose();
  }
}

/** The in-process transport as a unit of the registry (registry.ts). */
export const inProcess: TransportUnit = {
  name: 'in-process',
  description: 'chunks computed in the calling thread, one at a time (no worker)',
  open: async (s) =>
    new InProcessTransport(s.net, s.data, s.loss, checkBsize(s.bsize), s.evalSets, s.gv),
};

/** The Gauss-Newton problem (and accuracy passes) evaluated in the calling thread. */
export class LocalProblem extends PassEngine {
  constructor(
    net: Network,
    data: Dataset,
    loss: LossKind,
    bsize = 1024,
    evalSets: EvalSets = {},
    gv: GvMethod = 'linearized',
    chunksPerResult = 1,
  ) {
    const engine = engineOptionsOf({ net, data, bsize, evalSets, chunksPerResult });
    super(new InProcessTransport(net, data, loss, bsize, evalSets, gv), engine);
  }
}
