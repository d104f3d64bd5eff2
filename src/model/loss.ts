/**
 * The losses ξ(z, y) on one-hot targets and B = ∂²ξ/∂z² in closed form: each loss is a
 * unit of losses/ (ce.ts, mse.ts, bce.ts); this module keeps the names the rest of the code imports.
 */
export {
  LOSSES,
  applyB,
  curvatureState,
  isLoss,
  lossGradient,
  lossList,
  lossSum,
  lossUnit,
  type LossKind,
  type LossUnit,
} from './losses/index.js';
