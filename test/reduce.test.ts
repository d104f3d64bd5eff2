/** In-order reduction of chunk results that arrive in any order. */
import test from 'ava';
import { OrderedSum, sumInOrder } from '../src/engine/reduce.ts';
import { Rng } from '../src/rng.ts';

const rng = new Rng(4);
const dim = 1000;
// magnitudes 1e-9 .. 1e9 (wider than float64 holds exactly), so that float64 sums in different orders differ in their last bits
const parts = Array.from({ length: 9 }, (_, k) =>
  Float32Array.from({ length: dim }, () => rng.normal() * 10 ** (3 * ((k % 7) - 3))),
);
const losses = parts.map((_, k) => 0.1 * (k + 1) + 1e-9 * k);

test('chunks added in any order sum bitwise as sumInOrder, losses in chunk order', (t) => {
  const want = sumInOrder(parts, dim);
  let wantLoss = 0;
  for (const l of losses) wantLoss += l;
  const reversed = sumInOrder([...parts].reverse(), dim);
  t.notDeepEqual([...reversed], [...want], 'the test data is sensitive to the order of the sum');
  for (const order of [
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
    [8, 7, 6, 5, 4, 3, 2, 1, 0],
    [3, 0, 8, 1, 2, 7, 5, 4, 6],
  ]) {
    const s = new OrderedSum(dim);
    for (const k of order) s.add(k, { loss: losses[k], vector: parts[k] });
    t.is(s.added, 9);
    t.deepEqual([...s.vector!], [...want], order.join(','));
    t.is(s.loss, wantLoss);
  }
});

test('added counts the chunks summed so far; a chunk is held until its predecessors arrive', (t) => {
  const s = new OrderedSum(dim);
  s.add(1, { vector: parts[1] });
  s.add(2, { vector: parts[2] });
  t.is(s.added, 0);
  t.true(s.vector!.every((x) => x === 0));
  s.add(0, { vector: parts[0] });
  t.is(s.added, 3);
});

test('a chunk added twice, or a missing vector, is an error', (t) => {
  const s = new OrderedSum(dim);
  s.add(0, { vector: parts[0] });
  t.throws(() => s.add(0, { vector: parts[0] }), { message: /chunk 0 added twice/ });
  s.add(2, { vector: parts[2] });
  t.throws(() => s.add(2, { vector: parts[2] }), { message: /chunk 2 added twice/ });
  t.throws(() => s.add(1, { loss: 1 }), { message: /chunk 1 has no vector/ });
  const losses = new OrderedSum(0);
  losses.add(0, { loss: 2 });
  losses.add(1, { loss: 3 });
  t.is(losses.vector, null);
  t.is(losses.loss, 5);
});
