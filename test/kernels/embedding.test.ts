// Token and positional embeddings (assembly/embedding.ts): the gathers are
// exact copies/sums, the scatter-add backwards are replayed bit for bit in their
// documented ascending (b, p) order, checked against f64 sums and central
// finite differences, with guard words, odd sizes (d_model 1..67, so every SIMD
// tail occurs), repeated tokens, invalid tokens, and SIMD == scalar.
//
// For f32 a, b, Math.fround(a + b) (f64 sum rounded once) is the f32 sum.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, seededUniform } from "../helpers.ts";
import { U, bits, assertSameBits, place, read, loadEngines } from "./buffers.ts";
import type { Engine } from "../../src/engine.ts";

const engines = await loadEngines();

const fr = Math.fround;



function testData(n: number, seed: number): Float32Array {
  const u = seededUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = u() * 2 ** Math.round(u() * 6);
  return out;
}

/** Tokens in [0, vocab) with many repeats (vocab small), so scatter-add order matters. */
function testTokens(n: number, vocab: number, seed: number): Int32Array {
  const u = seededUniform(seed);
  return Int32Array.from({ length: n }, () => Math.min(vocab - 1, Math.floor(((u() + 1) / 2) * vocab)));
}



type Shape = [batch: number, nCtx: number, dModel: number, dVocab: number];
const SHAPES: Shape[] = [
  [1, 1, 1, 1], [1, 3, 5, 2], [2, 5, 7, 3], [3, 7, 4, 5], [2, 9, 13, 4], [1, 16, 16, 7], [3, 11, 33, 6], [2, 6, 67, 9], [4, 8, 8, 1],
  ...Array.from({ length: 12 }, (_, i) => [2, 3 + i, 1 + ((i * 11) % 67), 2 + (i % 5)] as Shape),
];
const label = ([B, T, D, V]: Shape) => `batch=${B} pos=${T} d_model=${D} d_vocab=${V}`;

interface Case { tokens: Int32Array; WE: Float32Array; Wpos: Float32Array; x: Float32Array; dOut: Float32Array; dWE0: Float32Array; dWpos0: Float32Array }

function makeCase([B, T, D, V]: Shape, seed: number): Case {
  return {
    tokens: testTokens(B * T, V, seed), WE: testData(V * D, seed + 1), Wpos: testData(T * D, seed + 2), x: testData(B * T * D, seed + 3),
    dOut: testData(B * T * D, seed + 4), dWE0: testData(V * D, seed + 5), dWpos0: testData(T * D, seed + 6),
  };
}

interface Result { embedded: Float32Array; invalid: number; withPos: Float32Array; inPlace: Float32Array; dWE: Float32Array; dWpos: Float32Array }

function run(engine: Engine, shape: Shape, c: Case, misalign = 0): Result {
  const [B, T, D, V] = shape;
  const k = engine.kernels;
  k.resetHeap();
  const n = B * T * D;
  const pTok = place(engine, c.tokens, misalign), pWE = place(engine, c.WE, (misalign + 4) % 16), pWpos = place(engine, c.Wpos, (misalign + 8) % 16);
  const pOut = place(engine, new Float32Array(n).fill(NaN), (misalign + 12) % 16);
  const invalid = k.embeddingForward(pOut, pTok, pWE, B * T, D, V);
  const embedded = read(engine, pOut, n, "embedded");
  const px = place(engine, c.x, misalign), pSum = place(engine, new Float32Array(n).fill(NaN), (misalign + 4) % 16);
  k.posEmbedAdd(pSum, px, pWpos, B, T, D);
  const withPos = read(engine, pSum, n, "x + W_pos");
  k.posEmbedAdd(px, px, pWpos, B, T, D);
  const inPlace = read(engine, px, n, "x + W_pos in place");
  const pdOut = place(engine, c.dOut, misalign), pdWE = place(engine, c.dWE0, (misalign + 8) % 16), pdWpos = place(engine, c.dWpos0, (misalign + 12) % 16);
  k.embeddingBackward(pdWE, pTok, pdOut, B * T, D, V);
  k.posEmbedBackward(pdWpos, pdOut, B, T, D);
  assertSameBits(read(engine, pWE, V * D, "W_E"), c.WE, "W_E unchanged");
  assertSameBits(read(engine, pWpos, T * D, "W_pos"), c.Wpos, "W_pos unchanged");
  assertSameBits(read(engine, pdOut, n, "dOut"), c.dOut, "dOut unchanged");
  return { embedded, invalid, withPos, inPlace, dWE: read(engine, pdWE, V * D, "dW_E"), dWpos: read(engine, pdWpos, T * D, "dW_pos") };
}

for (const variant of VARIANTS) {
  test(`${variant} embeddingForward and posEmbedAdd: exact gather, x + W_pos rounded once (also in place)`, () => {
    const engine = engines.get(variant)!;
    SHAPES.forEach((shape, s) => {
      const [B, T, D] = shape;
      const c = makeCase(shape, s * 10);
      const got = run(engine, shape, c, (s % 4) * 4);
      assert.is(got.invalid, 0, `${label(shape)}: no invalid tokens`);
      const gather = new Float32Array(B * T * D), sum = new Float32Array(B * T * D);
      for (let r = 0; r < B * T; r++) {
        for (let j = 0; j < D; j++) {
          gather[r * D + j] = c.WE[c.tokens[r] * D + j];
          sum[r * D + j] = c.x[r * D + j] + c.Wpos[(r % T) * D + j]; // f64 sum, rounded once on store
        }
      }
      assertSameBits(got.embedded, gather, `${variant} ${label(shape)} gather`);
      assertSameBits(got.withPos, sum, `${variant} ${label(shape)} x + W_pos`);
      assertSameBits(got.inPlace, sum, `${variant} ${label(shape)} x + W_pos in place`);
    });
  });

  test(`${variant} embedding backwards: ascending (b, p) scatter-add, bit-exact replay, within the f64 summation bound, and = finite differences`, () => {
    const engine = engines.get(variant)!;
    SHAPES.forEach((shape, s) => {
      const [B, T, D] = shape;
      const c = makeCase(shape, 1000 + s);
      const got = run(engine, shape, c, (s % 4) * 4);
      const dWE = c.dWE0.slice(), dWpos = c.dWpos0.slice();
      const dWE64 = Float64Array.from(c.dWE0), dWpos64 = Float64Array.from(c.dWpos0);
      const absWE = Float64Array.from(c.dWE0, Math.abs), absPos = Float64Array.from(c.dWpos0, Math.abs);
      for (let b = 0; b < B; b++) {
        for (let p = 0; p < T; p++) {
          const r = b * T + p, t = c.tokens[r];
          for (let j = 0; j < D; j++) {
            const g = c.dOut[r * D + j];
            dWE[t * D + j] = fr(dWE[t * D + j] + g);
            dWpos[p * D + j] = fr(dWpos[p * D + j] + g);
            dWE64[t * D + j] += g;
            dWpos64[p * D + j] += g;
            absWE[t * D + j] += Math.abs(g);
            absPos[p * D + j] += Math.abs(g);
          }
        }
      }
      assertSameBits(got.dWE, dWE, `${variant} ${label(shape)} dW_E replay`);
      assertSameBits(got.dWpos, dWpos, `${variant} ${label(shape)} dW_pos replay`);
      // Recursive f32 summation of at most n = B·T + 1 terms: |error| ≤ γ_(n−1)·Σ|terms| ≤ n·1.01u·Σ|terms|.
      const n = B * T + 1;
      got.dWE.forEach((v, e) => assert.ok(Math.abs(v - dWE64[e]) <= n * 1.01 * U * absWE[e], `${label(shape)} dW_E[${e}] = ${v}, f64 ${dWE64[e]}`));
      got.dWpos.forEach((v, e) => assert.ok(Math.abs(v - dWpos64[e]) <= n * 1.01 * U * absPos[e], `${label(shape)} dW_pos[${e}] = ${v}, f64 ${dWpos64[e]}`));
      // Finite differences of L = Σ (W_E[tok] + W_pos)·dOut at W_E and W_pos (L is
      // linear, so the f64 central difference is exact up to rounding ≈ 1e-12):
      // the kernel's gradient, minus the starting dW, equals it to the bound above.
      const h = 1e-3;
      const WE = Float64Array.from(c.WE), Wpos = Float64Array.from(c.Wpos);
      const loss = () => {
        let L = 0;
        for (let r = 0; r < B * T; r++) for (let j = 0; j < D; j++) L += (WE[c.tokens[r] * D + j] + Wpos[(r % T) * D + j]) * c.dOut[r * D + j];
        return L;
      };
      for (const [target, grad, start, abs] of [[WE, got.dWE, c.dWE0, absWE], [Wpos, got.dWpos, c.dWpos0, absPos]] as const) {
        for (let e = 0; e < target.length; e++) {
          const keep = target[e];
          target[e] = keep + h;
          const up = loss();
          target[e] = keep - h;
          const down = loss();
          target[e] = keep;
          const fd = (up - down) / (2 * h);
          const bound = n * 1.01 * U * abs[e] + 2 * U * (Math.abs(start[e]) + Math.abs(grad[e])) + 1e-9 * (1 + Math.abs(fd));
          assert.ok(Math.abs(grad[e] - start[e] - fd) <= bound, `${label(shape)} gradient[${e}] − start = ${grad[e] - start[e]}, finite difference ${fd}`);
        }
      }
    });
  });

  test(`${variant} invalid tokens: zero rows in the forward (counted), skipped in the backward`, () => {
    const engine = engines.get(variant)!;
    const shape: Shape = [2, 4, 5, 3];
    const c = makeCase(shape, 77);
    c.tokens.set([0, -1, 2, 3, 1, 1000000, 2, -2147483648]);
    const got = run(engine, shape, c, 4);
    assert.is(got.invalid, 4);
    const bad = [1, 3, 5, 7];
    for (let r = 0; r < 8; r++) {
      const row = got.embedded.subarray(r * 5, r * 5 + 5);
      if (bad.includes(r)) assert.ok(row.every((x) => Object.is(x, 0)), `row ${r} (token ${c.tokens[r]}) must be +0`);
      else assertSameBits(row, c.WE.subarray(c.tokens[r] * 5, c.tokens[r] * 5 + 5), `row ${r}`);
    }
    const want = c.dWE0.slice();
    for (let r = 0; r < 8; r++) {
      if (bad.includes(r)) continue;
      for (let j = 0; j < 5; j++) want[c.tokens[r] * 5 + j] = fr(want[c.tokens[r] * 5 + j] + c.dOut[r * 5 + j]);
    }
    assertSameBits(got.dWE, want, "dW_E skips invalid tokens");
  });
}

test("embedding: SIMD and scalar builds bit-identical", () => {
  SHAPES.forEach((shape, s) => {
    const c = makeCase(shape, 3000 + s);
    const a = run(engines.get("simd")!, shape, c, 4), b = run(engines.get("scalar")!, shape, c, 8);
    for (const key of ["embedded", "withPos", "inPlace", "dWE", "dWpos"] as const) assertSameBits(a[key], b[key], `simd vs scalar ${label(shape)} ${key}`);
  });
});

test("the test data can tell scatter orders apart (the bitwise replay has teeth)", () => {
  // Adding the rows for one token in descending (b, p) order changes some bits.
  const shape: Shape = [3, 11, 33, 6];
  const c = makeCase(shape, 5);
  const [B, T, D, V] = shape;
  const asc = c.dWE0.slice(), desc = c.dWE0.slice();
  for (let r = 0; r < B * T; r++) for (let j = 0; j < D; j++) asc[c.tokens[r] * D + j] = fr(asc[c.tokens[r] * D + j] + c.dOut[r * D + j]);
  for (let r = B * T - 1; r >= 0; r--) for (let j = 0; j < D; j++) desc[c.tokens[r] * D + j] = fr(desc[c.tokens[r] * D + j] + c.dOut[r * D + j]);
  assert.ok(bits(asc).some((w, e) => w !== bits(desc)[e]), `V=${V}: order changes bits`);
});

test.run();
