// Next-token cross-entropy (assembly/crossentropy.ts) against a plain-f64
// log-softmax reference with a derived error bound, a bit-exact JS replay of
// the documented sequence (its exp replayed op for op; its log is rng.ts logf,
// called from the module), central finite differences for the gradient, odd
// vocabularies (1..67 so every SIMD tail occurs, and 1000), and SIMD == scalar.
//
// For f32 a, b the f64 result of a+b, a−b, a·b, a/b rounded once with
// Math.fround IS the f32 result, so the replay is exact.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, seededUniform } from "../helpers.ts";
import { U, assertSameBits, place, read, loadEngines } from "./buffers.ts";
import type { Engine } from "../../src/engine.ts";

const engines = await loadEngines();

const fr = Math.fround;



/** Logits of a few units (a peaked but not one-hot softmax), offset so the max subtraction matters. */
function testLogits(n: number, seed: number): Float32Array {
  const u = seededUniform(seed);
  return Float32Array.from({ length: n }, () => 20 + u() * 4);
}

function testTokens(n: number, vocab: number, seed: number): Int32Array {
  const u = seededUniform(seed);
  return Int32Array.from({ length: n }, () => Math.min(vocab - 1, Math.floor(((u() + 1) / 2) * vocab)));
}



type Shape = [batch: number, nCtx: number, dVocab: number];
const SHAPES: Shape[] = [
  ...Array.from({ length: 67 }, (_, i) => [1 + (i % 3), 2 + (i % 5), i + 1] as Shape),
  [2, 7, 1000], [1, 33, 257], [3, 1, 9],
];
const label = ([B, T, V]: Shape) => `batch=${B} pos=${T} d_vocab=${V}`;

interface Case { logits: Float32Array; tokens: Int32Array }
const makeCase = ([B, T, V]: Shape, seed: number): Case => ({ logits: testLogits(B * T * V, seed), tokens: testTokens(B * T, V, seed + 1) });

function run(engine: Engine, [B, T, V]: Shape, c: Case, withGrad = true, misalign = 0): { loss: number; dLogits: Float32Array } {
  const k = engine.kernels;
  k.resetHeap();
  const pl = place(engine, c.logits, misalign), pt = place(engine, c.tokens, (misalign + 4) % 16);
  const pd = withGrad ? place(engine, new Float32Array(B * T * V).fill(NaN), (misalign + 8) % 16) : 0;
  const loss = k.crossEntropyLoss(pl, pt, B, T, V, pd);
  assertSameBits(read(engine, pl, c.logits.length, "logits"), c.logits, "logits unchanged");
  return { loss, dLogits: withGrad ? read(engine, pd, B * T * V, "dLogits") : new Float32Array(0) };
}

// attention.ts expPoly, op for op (see test/kernels/attention.test.ts for the accuracy tests).
const f32Scratch = new Float32Array(1), i32Scratch = new Int32Array(f32Scratch.buffer);
const f32Bits = (x: number) => ((f32Scratch[0] = x), i32Scratch[0]);
const fromBits = (b: number) => ((i32Scratch[0] = b), f32Scratch[0]);
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(fr);
function expReplay(x: number): number {
  x = Math.min(Math.max(fr(x), -104), 89);
  const t = fr(fr(x * fr(1.44269504088896341)) + 12582912);
  const n = fr(t - 12582912);
  const nBits = f32Bits(t) - 0x4b400000;
  const r = fr(fr(x - fr(n * fr(0.693359375))) - fr(n * fr(-2.1219444e-4)));
  let p = fr(fr(P[0] * r) + P[1]);
  for (let c = 2; c < 6; c++) p = fr(fr(p * r) + P[c]);
  const y = fr(fr(fr(p * fr(r * r)) + r) + 1);
  const half = nBits >> 1;
  return fr(fr(y * fromBits((half + 127) << 23)) * fromBits((nBits - half + 127) << 23));
}

/** The contract at the top of assembly/crossentropy.ts, in f32 (loss in f64). */
function replay(engine: Engine, [B, T, V]: Shape, { logits, tokens }: Case) {
  const count = B * (T - 1);
  const k = fr(1 / count);
  const dLogits = new Float32Array(B * T * V);
  let total = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p + 1 < T; p++) {
      const o = (b * T + p) * V, t = tokens[b * T + p + 1];
      let m = -Infinity;
      for (let j = 0; j < V; j++) m = Math.max(m, logits[o + j]);
      const e = Array.from({ length: V }, (_, j) => expReplay(fr(logits[o + j] - m)));
      const lanes = [0, 0, 0, 0];
      for (let j = 0; j < V; j++) lanes[j & 3] = fr(lanes[j & 3] + e[j]);
      const sum = fr(fr(fr(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
      total += m - logits[o + t] + engine.kernels.logf(sum);
      const inv = fr(1 / sum);
      for (let j = 0; j < V; j++) dLogits[o + j] = fr(fr(fr(e[j] * inv) - (j === t ? 1 : 0)) * k);
    }
  }
  return { loss: total / count, dLogits };
}

/** Plain f64 log-softmax cross-entropy (TL lm_cross_entropy_loss) and its gradient. */
function referenceF64([B, T, V]: Shape, logits: ArrayLike<number>, tokens: Int32Array) {
  const count = B * (T - 1);
  const grad = new Float64Array(B * T * V), logSum = new Float64Array(B * T);
  let total = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p + 1 < T; p++) {
      const o = (b * T + p) * V, t = tokens[b * T + p + 1];
      let m = -Infinity;
      for (let j = 0; j < V; j++) m = Math.max(m, logits[o + j]);
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - m);
      logSum[b * T + p] = Math.log(sum);
      total += m + Math.log(sum) - logits[o + t];
      for (let j = 0; j < V; j++) grad[o + j] = (Math.exp(logits[o + j] - m) / sum - (j === t ? 1 : 0)) / count;
    }
  }
  return { loss: total / count, grad, logSum };
}

for (const variant of VARIANTS) {
  test(`${variant} crossEntropyLoss: loss and dLogits bit-exact to the JS replay of the documented sequence`, () => {
    const engine = engines.get(variant)!;
    SHAPES.forEach((shape, s) => {
      const c = makeCase(shape, s * 3);
      const got = run(engine, shape, c, true, (s % 4) * 4);
      if (shape[1] < 2) return; // no prediction: covered below
      const want = replay(engine, shape, c);
      assert.ok(Object.is(got.loss, want.loss), `${variant} ${label(shape)}: loss ${got.loss} vs replay ${want.loss}`);
      assertSameBits(got.dLogits, want.dLogits, `${variant} ${label(shape)} dLogits`);
    });
  });

  test(`${variant} crossEntropyLoss: within the derived error bound of the f64 log-softmax; the last position's gradient row is 0`, () => {
    const engine = engines.get(variant)!;
    SHAPES.filter(([, T]) => T >= 2).forEach((shape, s) => {
      const [B, T, V] = shape;
      const c = makeCase(shape, 100 + s);
      const got = run(engine, shape, c);
      const ref = referenceF64(shape, c.logits, c.tokens);
      // Per row: m and logits[t] are exact, m − logits[t] is exact in f64. sum is
      // V exps (≤ 1 ulp each, attention tests) summed in f32: relative error
      // ≤ (V + 1)·1.01u, which log turns into the same absolute error; logf adds
      // ≤ 1 ulp of log(sum) ≤ 2u·log(sum) (musl logf is < 1 ulp). The f64 mean adds
      // ~count·2^-53, negligible.
      let bound = 0;
      for (let b = 0; b < B; b++) for (let p = 0; p + 1 < T; p++) bound += (V + 1) * 1.01 * U + 2 * U * ref.logSum[b * T + p];
      bound = bound / (B * (T - 1)) + 1e-12;
      assert.ok(Math.abs(got.loss - ref.loss) <= bound, `${variant} ${label(shape)}: loss ${got.loss}, f64 ${ref.loss}, |err| ${Math.abs(got.loss - ref.loss)} > ${bound}`);
      const count = B * (T - 1);
      for (let e = 0; e < got.dLogits.length; e++) {
        const row = Math.floor(e / V);
        if (row % T === T - 1) {
          if (!Object.is(got.dLogits[e], 0)) assert.unreachable(`${label(shape)}: last position dLogits[${e}] = ${got.dLogits[e]}, must be +0`);
          continue;
        }
        // softmax p_j: exp (≤ 1 ulp), the sum ((V+1)·1.01u relative), 1/sum and the
        // product (u each) → ≤ (V + 4)·1.01u relative; − 1 and ·(1/count) (itself
        // rounded) add 3u of the result.
        const p = ref.grad[e] * count + (c.tokens[row + 1] === e % V ? 1 : 0);
        const tol = ((V + 4) * 1.01 * U * p + 3 * U * Math.abs(ref.grad[e] * count)) / count + 1e-45;
        if (!(Math.abs(got.dLogits[e] - ref.grad[e]) <= tol)) assert.unreachable(`${variant} ${label(shape)}: dLogits[${e}] = ${got.dLogits[e]}, f64 ${ref.grad[e]}, tol ${tol}`);
      }
    });
  });

  test(`${variant} crossEntropyLoss: dLogits matches central finite differences of the f64 loss`, () => {
    const engine = engines.get(variant)!;
    for (const shape of [[1, 2, 1], [2, 3, 5], [1, 4, 17], [3, 5, 8], [2, 4, 67]] as Shape[]) {
      const c = makeCase(shape, 31);
      const got = run(engine, shape, c);
      const x = Float64Array.from(c.logits);
      const h = 1e-4;
      const grads = Array.from(x, (_, e) => {
        const keep = x[e];
        x[e] = keep + h;
        const up = referenceF64(shape, x, c.tokens).loss;
        x[e] = keep - h;
        const down = referenceF64(shape, x, c.tokens).loss;
        x[e] = keep;
        return (up - down) / (2 * h);
      });
      const scale = Math.max(...grads.map(Math.abs));
      grads.forEach((fd, e) => {
        // f64 central difference: O(h²) ≈ 1e-8 relative, rounding 1e-16·|L|/h ≈ 1e-11;
        // the kernel is within ~(V+4)u ≈ 4e-6 relative (previous test). 2e-5 of the
        // largest entry bounds both; a gradient without 1/count, without the
        // one-hot, or with the wrong target (p vs p+1) fails by O(scale).
        assert.ok(Math.abs(got.dLogits[e] - fd) <= 2e-5 * scale, `${label(shape)}: dLogits[${e}] = ${got.dLogits[e]}, finite difference ${fd}`);
      });
    }
  });

  test(`${variant} crossEntropyLoss: no gradient buffer (0) writes nothing, same loss; pos = 1 is NaN with a zero gradient; invalid targets give NaN`, () => {
    const engine = engines.get(variant)!;
    const shape: Shape = [2, 5, 13];
    const c = makeCase(shape, 9);
    const before = new Uint8Array(engine.kernels.memory.buffer, 0, 1024).slice();
    const noGrad = run(engine, shape, c, false);
    assert.equal([...new Uint8Array(engine.kernels.memory.buffer, 0, 1024)], [...before], "dLogits = 0 wrote to low memory");
    assert.ok(Object.is(noGrad.loss, run(engine, shape, c).loss), "same loss with and without the gradient");
    const single = run(engine, [3, 1, 9], makeCase([3, 1, 9], 4));
    assert.ok(Number.isNaN(single.loss), "pos = 1: nothing to predict, loss NaN");
    assert.ok(single.dLogits.every((x) => Object.is(x, 0)), "pos = 1: zero gradient");
    const bad = makeCase(shape, 10);
    bad.tokens[3] = 13;
    const r = run(engine, shape, bad);
    assert.ok(Number.isNaN(r.loss), "target outside the vocabulary: NaN loss");
    assert.ok(r.dLogits.subarray(2 * 13, 3 * 13).every((x) => Object.is(x, 0)), "its row's gradient is 0");
    assert.ok(r.dLogits.subarray(0, 2 * 13).every(Number.isFinite), "other rows unaffected");
    // The first position's token is never a target: any value there is ignored.
    const first = makeCase(shape, 11);
    const base = run(engine, shape, first);
    first.tokens[0] = -5;
    first.tokens[5] = 1e6;
    const ignored = run(engine, shape, first);
    assert.ok(Object.is(base.loss, ignored.loss), "tokens at position 0 are not targets");
    // A confident correct prediction costs ~0, a uniform one log(V).
    const uniform: Case = { logits: new Float32Array(2 * 5 * 13).fill(3), tokens: c.tokens };
    assert.ok(Math.abs(run(engine, shape, uniform).loss - Math.log(13)) < 1e-6, "uniform logits: loss = log V");
  });
}

test("crossEntropyLoss: SIMD and scalar builds bit-identical", () => {
  SHAPES.forEach((shape, s) => {
    const c = makeCase(shape, 500 + s);
    const a = run(engines.get("simd")!, shape, c, true, 4), b = run(engines.get("scalar")!, shape, c, true, 12);
    assert.ok(Object.is(a.loss, b.loss), `${label(shape)}: loss simd ${a.loss} vs scalar ${b.loss}`);
    assertSameBits(a.dLogits, b.dLogits, `simd vs scalar ${label(shape)} dLogits`);
  });
});

test.run();
