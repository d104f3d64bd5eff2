/**
 * What crosses between a host and the thread of a training started with `startTraining`:
 * the comlink interface the thread exposes (TrainerApi), the events it calls back with,
 * the values it sends (options without callbacks, a result without its Network class,
 * snapshots), and how errors cross.
 *
 * Errors: comlink's own 'throw' handler sends only message, name and stack and re-creates
 * a plain Error. Importing this module (both sides do) replaces it, in this library's
 * comlink instance (the ES build, imported by path: a host application's own
 * `import 'comlink'` is another instance and keeps comlink's handler), by one that also sends the error's class (by its constructor's name), its own
 * cloneable properties (`code`, `option`, `file`, ...) and its `cause` (recursively), and
 * re-creates the same class on the other side (UsageError, RunError, AbortError,
 * DataError, LineSearchError and the built-in errors; any other class arrives as an Error
 * with its name). The wire format keeps comlink's fields, so either side still reads the
 * other's errors if only one of them had it.
 */
// the ES build by path: this library's own comlink instance (see comlink.d.ts)
import * as Comlink from 'comlink/dist/esm/comlink.mjs';
import type { Preprocessing } from '../data/dataset.js';
import { DataError } from '../data/errors.js';
import { AbortError, RunError, UsageError } from '../errors.js';
import type { LossKind } from '../model/loss.js';
import type { ModelSpec } from '../model/spec.js';
import { LineSearchError } from '../solver/newton.js';
import type { ProgressFn } from '../solver/problem.js';
import type { TrainIteration, TrainOptions, TrainResult } from '../run/train.js';
import type { PhaseSeconds } from '../solver/report.js';
import type { RunLogs, RunParams } from '../run/callbacks.js';

/**
 * The options sent to the thread: TrainOptions without what cannot cross (callbacks,
 * signal); `nats.onStatus`, a function, stays on the host, and `natsStatus` says the thread
 * is to send the NATS transport's status lines back (TrainerEvents.natsStatus) for it. A
 * caller's tf.LayersModel and tensors cross as their spec, θ (`initialParams`) and data
 * arrays; `hooks` says the host runs fit-style hooks (its tfjs callbacks, its model's
 * weights), which the thread then calls through TrainerEvents.hook.
 */
export type WireOptions = Omit<
  TrainOptions,
  'onIteration' | 'onProgress' | 'onBoundary' | 'signal' | 'nats' | 'callbacks'
> & {
  nats?: Omit<NonNullable<TrainOptions['nats']>, 'onStatus'>;
  natsStatus?: boolean;
  initialParams?: Float32Array;
  hooks?: boolean;
};

/** A fit-style hook of the run (src/run/callbacks.ts RunHooks), called on the host. */
export type HookCall =
  | { name: 'trainBegin'; params: RunParams; spec: ModelSpec; theta: Float32Array }
  | { name: 'epochBegin'; epoch: number }
  | { name: 'epochEnd'; epoch: number; logs: RunLogs; theta: Float32Array }
  | { name: 'trainEnd'; logs?: RunLogs; theta: Float32Array };

/**
 * A TrainResult as it crosses: the Network (a class) is rebuilt from its spec on the host;
 * with the loss, preprocessing and iteration of the final θ (`params`), for snapshots.
 */
export type WireResult = Omit<TrainResult, 'network'> & {
  spec: ModelSpec;
  loss: LossKind;
  preprocessing?: Preprocessing;
  iter: number;
};

/** The committed θ at an iteration boundary and what a model needs besides it. */
export interface WireSnapshot {
  /** completed iterations */
  iter: number;
  params: Float32Array;
  spec: ModelSpec;
  loss: LossKind;
  preprocessing?: Preprocessing;
  /** the folder written, when one was asked for */
  dir?: string;
}

/** What the thread calls back with (the host passes it with `comlink.proxy`). */
export interface TrainerEvents {
  iteration(it: TrainIteration, phases: PhaseSeconds): void;
  progress(...args: Parameters<ProgressFn>): void;
  /** a status line of the NATS transport (only when the options asked for them) */
  natsStatus(line: string): void;
  /** a fit-style hook (only with `hooks`), awaited: true to stop the run after this epoch */
  hook(call: HookCall): Promise<boolean>;
}

/** The interface a training thread exposes with comlink (one training per thread). */
export interface TrainerApi {
  /** Trains; resolves with the result once the thread's compute pool is closed. */
  run(options: WireOptions, events: TrainerEvents): Promise<WireResult>;
  /** Stops the run like train's `signal` (also wakes a pause). */
  abort(): void;
  /** Pauses at the next iteration boundary: resolves with its iteration, or null if the run ended or was resumed first. */
  pause(): Promise<number | null>;
  /** Continues a paused run (or cancels a pause not yet reached). */
  resume(): void;
  /** The last committed θ; also written as a tfjs model to `dir` when given. */
  snapshot(dir?: string): Promise<WireSnapshot>;
}

/** An error as it crosses. */
export interface WireError {
  /** the constructor's name, which picks the class re-created */
  ctor: string;
  name: string;
  message: string;
  stack?: string;
  /** own enumerable properties besides the above (code, option, file, ...), those that clone */
  props: Record<string, unknown>;
  cause?: { error: WireError } | { value: unknown };
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The classes re-created by name; anything else becomes an Error. */
const ERROR_CLASSES: Record<string, ErrorClass> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  UsageError,
  RunError,
  AbortError,
  DataError,
  LineSearchError,
};

const clones = (v: unknown): boolean => {
  try {
    structuredClone(v);
    return true;
  } catch {
    return false;
  }
};

/** An error (or any thrown value's Error part) as plain, cloneable data. */
export function errorToWire(e: Error, depth = 0): WireError {
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'name' || k === 'message' || k === 'stack' || k === 'cause') continue;
    if (clones(v)) props[k] = v;
  }
  const w: WireError = {
    ctor: e.constructor?.name ?? 'Error',
    name: e.name,
    message: e.message,
    stack: e.stack,
    props,
  };
  if ('cause' in e && e.cause !== undefined) {
    const c = e.cause;
    if (c instanceof Error && depth < 8) w.cause = { error: errorToWire(c, depth + 1) };
    else if (clones(c)) w.cause = { value: c };
    else w.cause = { value: String(c) };
  }
  return w;
}

/** The error `w` describes, as an instance of its class (its message, stack and properties). */
export function errorFromWire(w: WireError): Error {
  const Cls = Object.hasOwn(ERROR_CLASSES, w.ctor) ? ERROR_CLASSES[w.ctor] : Error;
  // an instance of Cls without running its constructor (AbortError's sets its own message)
  const e = Reflect.construct(Error, [w.message], Cls) as Error;
  if (e.name !== w.name)
    Object.defineProperty(e, 'name', {
      value: w.name,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  if (w.stack !== undefined)
    Object.defineProperty(e, 'stack', {
      value: w.stack,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  Object.assign(e, w.props);
  if (w.cause) {
    const cause = 'error' in w.cause ? errorFromWire(w.cause.error) : w.cause.value;
    Object.defineProperty(e, 'cause', {
      value: cause,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
  return e;
}

type ThrowHandler = Comlink.TransferHandler<
  unknown,
  { isError: boolean; value: unknown; error?: WireError }
>;

const INSTALLED = Symbol.for('tfjs-newton.comlink-errors');

/** Replaces comlink's 'throw' handler in this thread (idempotent; done when this module loads). */
export function installErrorHandler(): void {
  const handlers = Comlink.transferHandlers as Map<
    string,
    Comlink.TransferHandler<unknown, unknown>
  > & { [INSTALLED]?: true };
  if (handlers[INSTALLED]) return;
  const original = handlers.get('throw') as ThrowHandler;
  const handler: ThrowHandler = {
    canHandle: original.canHandle,
    serialize(thrown) {
      const { value } = thrown as { value: unknown };
      if (!(value instanceof Error)) return original.serialize(thrown);
      // comlink's own fields first (what its handler reads), ours beside them
      return [
        {
          isError: true,
          value: { message: value.message, name: value.name, stack: value.stack },
          error: errorToWire(value),
        },
        [],
      ];
    },
    deserialize(s) {
      if (s.error) throw errorFromWire(s.error);
      return original.deserialize(s);
    },
  };
  handlers.set('throw', handler as Comlink.TransferHandler<unknown, unknown>);
  handlers[INSTALLED] = true;
}

installErrorHandler();

export { Comlink };
