// The README's example: train an MLP on the embedded digits set with the library API.
// Run from a checkout with `npm ci && node examples/quickstart.mjs`.
import { train } from 'tfjs-newton';

const result = await train({
  data: 'digits',
  model: 'mlp:64,64',
  C: 1,
  iters: 20,
  onIteration: (it) =>
    console.log(
      `iter ${it.iter}: f ${it.f.toFixed(4)}, CG ${it.cgIters}, test ${(100 * it.testAcc).toFixed(1)}%`,
    ),
});
console.log(`test accuracy ${(100 * result.testAcc).toFixed(2)}% with ${result.workers} workers`);
