/**
 * The shared-memory plumbing of a pool worker thread: reads θ, v and the subset from the
 * SharedArrayBuffers the pool handed over, lets a ChunkCompute compute the task, and writes
 * a vector result into the task's slot. (The testing hook that makes a worker fail on
 * purpose is applied here, outside the compute.)
 */
import { threadId } from 'node:worker_threads';
import { ChunkCompute, type StateSource } from '../engine/compute.js';
import { faultFires, type Task } from '../engine/task.js';
import type { Dataset } from '../data/dataset.js';
import type { SharedData, SharedSetup, ThreadResult } from './threads.js';

export class ThreadWorker implements StateSource {
  private readonly compute: ChunkCompute;

  constructor(private readonly setup: SharedSetup) {
    const dataset = (d: SharedData): Dataset => ({
      x: new Float32Array(d.x),
      labels: new Int32Array(d.labels),
      n: d.n,
      inputShape: setup.inputShape,
      numClasses: setup.numClasses,
      ...(d.targets && { targets: new Float32Array(d.targets) }),
    });
    const evalSets: Partial<Record<'test' | 'val', Dataset>> = {};
    for (const [name, d] of Object.entries(setup.evalSets))
      evalSets[name as 'test' | 'val'] = dataset(d);
    this.compute = new ChunkCompute({
      spec: setup.spec,
      loss: setup.loss,
      backend: setup.backend,
      gv: setup.gv,
      bsize: setup.bsize,
      data: dataset(setup.data),
      evalSets,
    });
  }

  // the pool writes each buffer only between the passes that use it: its content is the
  // version the task names
  theta(): Float32Array {
    return new Float32Array(this.setup.theta);
  }
  evalTheta(): Float32Array {
    return new Float32Array(this.setup.evalTheta);
  }
  subset(_version: number, length: number): Int32Array {
    return new Int32Array(this.setup.subset, 0, length);
  }
  v(): Float32Array {
    return new Float32Array(this.setup.v);
  }

  async run(task: Task): Promise<ThreadResult> {
    await this.compute.evaluator();
    if (faultFires(this.setup.faults, task)) {
      if (this.setup.faults!.mode === 'exit') process.exit(1); // in a worker thread: ends this thread only
      throw new Error(`injected fault on ${task.kind} chunk ${task.chunk}`);
    }
    const { vector, ...r } = await this.compute.run(task, this);
    if (vector)
      new Float32Array(this.setup.results, task.slot * this.setup.dim * 4, this.setup.dim).set(
        vector,
      );
    return { ...r, worker: String(threadId), hasVector: vector !== undefined };
  }
}
