/** Piscina entry point of a compute worker thread: one ThreadWorker per thread. */
import { workerData } from 'piscina';
import type { Task } from '../src/engine/task.js';
import { ThreadWorker } from '../src/transport/thread-worker.js';
import type { SharedSetup, ThreadResult } from '../src/transport/threads.js';

const worker = new ThreadWorker(workerData as SharedSetup);

export default async function run(task: Task): Promise<ThreadResult> {
  // The pool sends each worker its next task while the current one runs. Both start as
  // microtasks; yielding to the event loop first lets the running task's result be
  // posted before the next one computes.
  await new Promise(setImmediate);
  return worker.run(task);
}
