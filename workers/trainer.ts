/**
 * Thread entry of a training started with `startTraining` (src/host/start.ts): exposes one
 * Trainer (src/host/trainer.ts) to the host on the parent port with comlink. The run's
 * coordinator, solver, CG and its compute pool all live in this thread.
 */
import { parentPort } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Trainer } from '../src/host/trainer.js';
import { Comlink } from '../src/host/wire.js';

if (!parentPort)
  throw new Error('workers/trainer is a worker thread entry: start it with startTraining()');
Comlink.expose(new Trainer(), nodeEndpoint(parentPort));
