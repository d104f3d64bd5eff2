/**
 * The registry of losses: one `LossUnit` per file of this folder (see unit.ts), and the
 * functions the rest of the code calls with a loss name. A new loss is a unit file, its
 * entry in `UNITS` below, and its test (with its float64 form in test/helpers/net64.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../errors.js';
import { bce } from './bce.js';
import { ce } from './ce.js';
import { mse } from './mse.js';
import type { LossUnit } from './unit.js';

const UNITS = [ce, mse, bce] as const;

export type LossKind = (typeof UNITS)[number]['name'];

/** The loss names, in the order messages list them. */
export const LOSSES: readonly LossKind[] = UNITS.map((u) => u.name);

const byName = new Map<string, LossUnit<LossKind>>(UNITS.map((u) => [u.name, u]));

export function isLoss(name: unknown): name is LossKind {
  return typeof name === 'string' && byName.has(name);
}

/** The loss names for a message: `ce or mse` (two), `one of a, b, c` (more). */
export function lossList(): string {
  return LOSSES.length === 2 ? LOSSES.join(' or ') : `one of ${LOSSES.join(', ')}`;
}

/** The unit of a loss name; an unknown name is a UsageError listing the losses. */
export function lossUnit(kind: string): LossUnit<LossKind> {
  const u = byName.get(kind);
  if (u === undefined) throw new UsageError(`unknown loss '${kind}': use ${lossList()}`);
  return u;
}

/** Σᵢ ξ(zᵢ, yᵢ) over the rows of z, a scalar. */
export function lossSum(kind: LossKind, z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  const u = lossUnit(kind);
  return tf.tidy(() => u.sum(z, oneHot));
}

/** ∂ξ/∂z for every row, in closed form. */
export function lossGradient(kind: LossKind, z: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Tensor2D {
  const u = lossUnit(kind);
  return tf.tidy(() => u.gradient(z, oneHot));
}

/**
 * What B needs from z, computed once per Gauss-Newton subset and reused at every CG
 * step (ce: p = softmax(z); mse: nothing; bce: σ(z)(1 − σ(z))).
 */
export function curvatureState(kind: LossKind, z: tf.Tensor2D): tf.Tensor2D | null {
  return lossUnit(kind).curvatureState(z);
}

/** B w for every row. */
export function applyB(kind: LossKind, state: tf.Tensor2D | null, w: tf.Tensor2D): tf.Tensor2D {
  const u = lossUnit(kind);
  return tf.tidy(() => u.applyB(state, w));
}

export type { LossUnit } from './unit.js';
