/**
 * What one layer type is, in one object (a `LayerUnit`): its spec, shape and parameter
 * blocks, forward pass, linearization (the forward and backward sweeps of
 * src/autodiff/linearized.ts) and Keras import/export. The registry (index.ts) lists the
 * units; spec.ts, network.ts, keras.ts, presets.ts and the linearization read from it,
 * so a new layer type is one file here (plus its test).
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import type { Activation } from './activation.js';

/** What every layer spec has: its type, the key of its unit in the registry. */
export interface BaseLayerSpec {
  type: string;
}

/** A parameter block of one layer, before the layout places it in θ. */
export interface BlockShape {
  role: 'kernel' | 'bias';
  shape: number[];
}

export interface LayerShape {
  /** the output shape (without the batch dimension) */
  shape: number[];
  /** the layer's parameter blocks in θ order (tfjs's weight order: kernel, then bias) */
  params: BlockShape[];
  /** inputs feeding one output unit (N(0, 2/fan_in) initialisation); unused without params */
  fanIn: number;
}

/**
 * How the linearization routes max pooling through the argmax (see maxpool.ts): `mask`,
 * the default, made products faster (cnn4, batch 256, one thread: tensorflow 100 vs
 * 190 ms, wasm 520 vs 620 ms) for a dearer preparation (70 vs 40 ms, resp. 230 vs 150 ms).
 */
export type PoolRoute = 'kernels' | 'mask';

export interface LinearizeContext {
  /** an earlier layer has parameters: the tangent dh of this layer's input is not zero */
  varies: boolean;
  /** the previous layer's linearized state (undefined for the first layer) */
  previous: LinearizedLayer | undefined;
  poolRoute: PoolRoute;
}

/**
 * One layer's part of a linearization, taken inside the linearization's tf.tidy: the
 * tensors it holds survive only if `keep` lists them.
 */
export interface LinearizedLayer {
  /** as LinearizeContext.varies: the sweeps may stop before this layer when false */
  readonly varies: boolean;
  /** the tensors the sweeps read (asked once the whole forward pass has run) */
  keep(): tf.Tensor[];
  /**
   * Forward sweep: the tangent of the output from that of the input (`dh`, null when zero)
   * and the tangents `v` of this layer's parameter blocks; null when the result is zero.
   */
  jvp(dh: tf.Tensor | null, v: tf.Tensor[]): tf.Tensor | null;
  /**
   * Backward sweep: from the cotangent `g` of the output, those of this layer's parameter
   * blocks, and that of its input when `varies` (else null: nothing before needs it).
   */
  vjp(g: tf.Tensor): { params: tf.Tensor[]; input: tf.Tensor | null };
  /**
   * Hands over the layer's activation derivative act' (its output's tangent is then
   * dpre without it) for the next layer to fold into its own state; null if none.
   */
  takeDerivative?(): tf.Tensor | null;
}

/** One layer of a Keras/tfjs topology being read, with the checks its units share. */
export interface KerasLayer {
  /** the layer's `config` */
  readonly config: Record<string, unknown>;
  /** refuses the layer: `<file>: layer i (Class 'name'): <what>` */
  fail(what: string): never;
  /** the layer's activation (`linear` when absent), refused unless among ACTIVATIONS */
  activation(): Activation;
  /** refuses `use_bias: false` */
  requireBias(): void;
  /** a Keras size or stride, one number or a pair, as [h, w] */
  pair(v: unknown): number[];
}

export interface LayerUnit<S extends BaseLayerSpec> {
  readonly type: S['type'];
  /** the Keras class it reads and writes, e.g. `Conv2D` */
  readonly kerasClass: string;
  /** whether its spec has an `activation` (checked against ACTIVATIONS by the layout) */
  readonly hasActivation: boolean;
  /**
   * For networks of such layers only, loss gradients go by the linearization's backward
   * sweep rather than tfjs autodiff (faster for dense layers; see evaluator.ts).
   */
  readonly gradientBySweep: boolean;
  /** checks the layer on its input shape (UsageErrors start with `where`) */
  layout(l: S, input: number[], where: string): LayerShape;
  /** the layer in tfjs ops, differentiable twice; `params` are this layer's blocks */
  forward(l: S, h: tf.Tensor, params: tf.Tensor[]): tf.Tensor;
  /** the same forward pass, keeping what the sweeps need */
  linearize(
    l: S,
    h: tf.Tensor,
    params: tf.Tensor[],
    ctx: LinearizeContext,
  ): { y: tf.Tensor; saved: LinearizedLayer };
  /** the spec of a Keras layer of class `kerasClass`, or a refusal naming the setting */
  fromKeras(k: KerasLayer): S;
  /** the tfjs Layers layer of the spec; `first` holds the input shape of a model's first layer */
  toKeras(l: S, first: { inputShape?: number[] }): tf.layers.Layer;
  /** gradients the double VJP through `forward` needs that tfjs lacks (run once per process) */
  registerGradients?(): void;
}

export function positiveInt(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${what} must be a positive integer, got ${n}`);
}

export function requireImage(input: number[], where: string): [number, number, number] {
  if (input.length !== 3) throw new UsageError(`${where} needs an [H,W,C] input, got [${input}]`);
  return input as [number, number, number];
}

/** The layout of a layer without parameters. */
export function noParams(shape: number[]): LayerShape {
  return { shape, params: [], fanIn: 0 };
}

/** Runs a tfjs kernel by name (for the backward kernels tfjs has no op for). */
export function runKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: object,
): tf.Tensor {
  return tf
    .engine()
    .runKernel(
      name,
      inputs as unknown as tf.NamedTensorMap,
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
}
