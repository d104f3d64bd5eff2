/**
 * Time to a target accuracy against cores, for Newton and for Adam, from two races run on
 * one machine at 1 and 2 cores (`bench race --threads 1`, `--threads 2`).
 *
 * Newton: its trajectory is the same bit for bit for any number of workers, so the
 * iterations to the target, and each iteration's CG products and f passes, are what the
 * measured run did; only their time changes with P. Each pass has K chunks (K_g =
 * ⌈l/bsize⌉ for f+∇f and the line search's f, K_S = ⌈|S|/bsize⌉ for a Gv product); a pass
 * on P workers takes ⌈K/P⌉·c + s, c a chunk's compute and s the coordinator's serial part
 * (messages, the last chunk's sum, CG's vector updates), both fitted per phase from the
 * 1- and 2-core runs' per-iteration breakdown:
 *
 *   T_N(P) = Σ_k [ (⌈K_g/P⌉·c_g + s_g) + p_k·(⌈K_S/P⌉·c_v + s_v) + q_k·(⌈K_g/P⌉·c_f + s_f) ]
 *
 * with p_k the iteration's Gv products and q_k its f passes.
 *
 * Adam: a minibatch step of 128 samples threads within one TensorFlow context; its steps to
 * the target do not change with the cores (the same minibatches), and a step's time follows
 * Amdahl's law, t(P) = t₁·(σ + (1−σ)/P), σ fitted from the 1- and 2-core step times:
 *
 *   T_A(P) = steps · t(P).
 *
 * Assumptions: the cores are one machine's, and P beyond the measured two extrapolates each
 * fit (no memory-bandwidth ceiling, no network: Newton's passes over more machines are the
 * NATS cost model's, src/bench/cost-model.ts); Adam is not data-parallel (a synchronous
 * all-reduce of every parameter every 128 samples is what a multi-machine Adam would add).
 */

/** One Newton iteration as the race's JSONL records it. */
export interface NewtonIteration {
  gradSeconds: number;
  cgSeconds: number;
  lineSearchSeconds: number;
  /** Gv products of the iteration */
  gvProducts: number;
  /** f passes of the iteration (line search, CG-backtracking) */
  lossPasses: number;
}

/** A pass of K chunks on P workers: ⌈K/P⌉·chunkMs + serialMs. */
export interface PassFit {
  chunks: number;
  chunkMs: number;
  serialMs: number;
}

export const passTime = (f: PassFit, P: number): number =>
  Math.ceil(f.chunks / P) * f.chunkMs + f.serialMs;

/**
 * The chunk and serial times of a pass of `chunks` chunks from its mean time on 1 and on 2
 * workers (ms): T(1) = K·c + s, T(2) = ⌈K/2⌉·c + s. A measured speed-up beyond what ⌈K/2⌉
 * allows (noise) gives s = 0; none at all gives c = 0.
 */
export function fitPass(chunks: number, oneMs: number, twoMs: number): PassFit {
  const saved = chunks - Math.ceil(chunks / 2);
  if (saved === 0) return { chunks, chunkMs: oneMs / chunks, serialMs: 0 };
  const chunkMs = Math.min(oneMs / chunks, Math.max(0, (oneMs - twoMs) / saved));
  return { chunks, chunkMs, serialMs: oneMs - chunks * chunkMs };
}

export interface NewtonFit {
  gradient: PassFit;
  gv: PassFit;
  loss: PassFit;
  /** the measured iterations to the target (from either run: the trajectories are the same) */
  iterations: Pick<NewtonIteration, 'gvProducts' | 'lossPasses'>[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Newton's pass fits from the iterations to the target of the 1- and 2-worker runs (the
 * same iterations: the trajectory does not depend on the workers).
 */
export function fitNewton(
  one: NewtonIteration[],
  two: NewtonIteration[],
  chunks: { gradient: number; gv: number },
): NewtonFit {
  const perPass = (its: NewtonIteration[], phase: 'cg' | 'lineSearch') => {
    const n = its.reduce((a, it) => a + (phase === 'cg' ? it.gvProducts : it.lossPasses), 0);
    const s = its.reduce((a, it) => a + (phase === 'cg' ? it.cgSeconds : it.lineSearchSeconds), 0);
    return n === 0 ? 0 : (1000 * s) / n;
  };
  return {
    gradient: fitPass(
      chunks.gradient,
      1000 * mean(one.map((i) => i.gradSeconds)),
      1000 * mean(two.map((i) => i.gradSeconds)),
    ),
    gv: fitPass(chunks.gv, perPass(one, 'cg'), perPass(two, 'cg')),
    loss: fitPass(chunks.gradient, perPass(one, 'lineSearch'), perPass(two, 'lineSearch')),
    iterations: one.map(({ gvProducts, lossPasses }) => ({ gvProducts, lossPasses })),
  };
}

/** Newton's predicted seconds to the target on P workers. */
export function newtonSeconds(f: NewtonFit, P: number): number {
  const ms = f.iterations.reduce(
    (a, it) =>
      a +
      passTime(f.gradient, P) +
      it.gvProducts * passTime(f.gv, P) +
      it.lossPasses * passTime(f.loss, P),
    0,
  );
  return ms / 1000;
}

export interface AdamFit {
  steps: number;
  /** one step's ms on one core */
  stepMs: number;
  /** Amdahl's serial fraction of a step */
  serial: number;
}

/**
 * Adam's fit from its time to the target on 1 and 2 cores (its steps to the target are
 * the same minibatches: `steps`, from either run at the same learning rate and seed).
 */
export function fitAdam(steps: number, oneSeconds: number, twoSeconds: number): AdamFit {
  const stepMs = (1000 * oneSeconds) / steps;
  const ratio = twoSeconds / oneSeconds;
  return { steps, stepMs, serial: Math.min(1, Math.max(0, 2 * ratio - 1)) };
}

/** Adam's predicted seconds to the target on P cores. */
export function adamSeconds(f: AdamFit, P: number): number {
  return (f.steps * f.stepMs * (f.serial + (1 - f.serial) / P)) / 1000;
}
