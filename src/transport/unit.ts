/**
 * What a transport unit is: a name, a line for messages, and `open(setup, options)`, the
 * one shape every transport is built by (the registry, registry.ts, opens them by name).
 * A unit only opens its transport (src/engine/transport.ts); the pass engine over it is
 * the same for all (`engineOptionsOf` gives its options from the same setup).
 */
import type { GvMethod } from '../autodiff/evaluator.js';
import type { BackendName } from '../backend/select.js';
import type { Dataset } from '../data/dataset.js';
import type { EngineOptions } from '../engine/engine.js';
import { evalSizesOf, evalTargetsOf, type EvalSets } from '../engine/evaluation.js';
import { checkBsize } from '../engine/plan.js';
import type { FaultPlan } from '../engine/task.js';
import type { Transport } from '../engine/transport.js';
import type { LossKind } from '../model/loss.js';
import type { Network } from '../model/network.js';
import { FAULTS } from './faults.js';
import type { NatsRunOptions } from './nats/connect.js';

/** What a run computes on, whichever transport carries its chunks. */
export interface TransportSetup {
  net: Network;
  /** the training set */
  data: Dataset;
  loss: LossKind;
  /** samples per chunk (src/engine/plan.ts) */
  bsize: number;
  /** the backend of worker threads and processes (in-process: the caller's, as it is) */
  backend: BackendName;
  gv: GvMethod;
  /** held-out sets for accuracy passes (absent: accuracy is NaN) */
  evalSets: EvalSets;
  /** chunks per result of the training passes (EngineOptions.chunksPerResult; default 1) */
  chunksPerResult?: number;
}

/** How to carry the chunks: what only some transports read. */
export interface TransportOptions {
  /** worker threads of the threads transport (in-process and NATS do not read it) */
  workers: number;
  /** the NATS transport's server and settings (it needs them; the others do not read them) */
  nats?: NatsRunOptions;
  /** testing hook (src/transport/faults.ts): workers fail on a chunk; the threads transport applies it */
  [FAULTS]?: FaultPlan;
}

export interface TransportUnit {
  /** the name a run chooses it by */
  readonly name: string;
  /** one line for errors and help */
  readonly description: string;
  /** Opens the transport (its workers, connections); the caller closes it. */
  open(setup: TransportSetup, options: TransportOptions): Promise<Transport>;
}

/**
 * The pass engine's options for a setup: dim, samples, bsize, the held-out sets' sizes and
 * chunks per result
 * (bsize and the held-out sets checked here, before any transport opens).
 */
export function engineOptionsOf(
  setup: Pick<TransportSetup, 'net' | 'data' | 'bsize' | 'evalSets' | 'chunksPerResult'>,
): EngineOptions {
  const evalSizes = evalSizesOf(setup.evalSets, setup.data);
  return {
    dim: setup.net.numParams,
    numSamples: setup.data.n,
    bsize: checkBsize(setup.bsize),
    evalSizes,
    evalTargets: evalTargetsOf(setup.evalSets),
    ...(setup.chunksPerResult !== undefined && { chunksPerResult: setup.chunksPerResult }),
  };
}
