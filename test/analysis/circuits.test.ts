// Composition scores (src/analysis/composition.ts) against a direct f64 triple loop
// and analytic cases, and path-ablation matrices (src/analysis/path-ablation.ts) on
// models with heads that provably read or write nothing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, mulberry32, randomTransformerWeights } from "../helpers.ts";
import type { TransformerConfig } from "../../src/config.ts";
import { findTensor } from "../../src/arena.ts";
import { modelLayout } from "../../src/models.ts";
import { compositionScore, compositionScores, compositionBaseline } from "../../src/analysis/composition.ts";
import { pathAblation } from "../../src/analysis/path-ablation.ts";

const m: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 3, d_model: 10, d_head: 4, n_ctx: 8, d_vocab: 11,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};

function randomArena(model: TransformerConfig, seed: number): Float32Array {
  return randomTransformerWeights(model, seed, 0.8, 0.5).arena;
}

/** Dense [D, D] matrices from TL's per-head tensors, then ‖AB‖_F/(‖A‖_F‖B‖_F) by plain loops. */
function directScores(model: TransformerConfig, arena: Float32Array, foldLn: boolean) {
  const layout = modelLayout(model);
  const { d_model: D, d_head: k, n_heads: H } = model;
  const W = (l: number, name: string, h: number, r: number, c: number) => {
    const t = findTensor(layout, `blocks.${l}.attn.${name}`)!;
    const cols = name === "W_O" ? D : k;
    const value = arena[t.offset + h * D * k + r * cols + c];
    const ln = findTensor(layout, `blocks.${l}.ln1.w`)!;
    return foldLn && name !== "W_O" ? value * arena[ln.offset + r] : value;
  };
  const dense = (f: (a: number, b: number) => number) => Array.from({ length: D }, (_, a) => Array.from({ length: D }, (_, b) => f(a, b)));
  const ov = (l: number, h: number) => dense((a, b) => { let s = 0; for (let e = 0; e < k; e++) s += W(l, "W_V", h, a, e) * W(l, "W_O", h, e, b); return s; });
  const qk = (l: number, h: number) => dense((a, b) => { let s = 0; for (let e = 0; e < k; e++) s += W(l, "W_Q", h, a, e) * W(l, "W_K", h, b, e); return s; });
  const transpose = (X: number[][]) => dense((a, b) => X[b][a]);
  const norm = (X: number[][]) => Math.sqrt(X.flat().reduce((s, x) => s + x * x, 0));
  const score = (A: number[][], B: number[][]) => {
    const AB = dense((a, b) => { let s = 0; for (let c = 0; c < D; c++) s += A[a][c] * B[c][b]; return s; });
    return norm(AB) / (norm(A) * norm(B));
  };
  const table = (right: (h: number) => number[][]) => Array.from({ length: H }, (_, i) => Array.from({ length: H }, (_, j) => score(ov(0, i), right(j))));
  return { Q: table((j) => qk(1, j)), K: table((j) => transpose(qk(1, j))), V: table((j) => ov(1, j)) };
}

// Both sides are f64 sums of a few hundred products of O(1) terms, in different orders
// (Gram matrices vs dense products): their rounding differs by ~1e-15 relative; 1e-12 is far above.
const RELATIVE = 1e-12;

test("composition scores = the direct f64 product of TL's OV and QK matrices (Q: QK, K: QKᵀ, V: OV), stored and LN-folded", async () => {
  const engine = await loadEngine("simd");
  const arena = randomArena(m, 1);
  for (const foldLn of [false, true]) {
    const got = compositionScores(engine, m, arena, { foldLn, samples: 4 });
    const expected = directScores(m, arena, foldLn);
    for (const p of ["Q", "K", "V"] as const)
      got[p].forEach((row, i) => row.forEach((x, j) => {
        const e = expected[p][i][j];
        assert.ok(Math.abs(x - e) <= RELATIVE * e, `${p}[${i}][${j}] foldLn ${foldLn}: ${x} vs ${e}`);
      }));
  }
  assert.throws(() => compositionScores(engine, { ...m, normalization: null }, randomArena({ ...m, normalization: null }, 2), { foldLn: true }), /no LayerNorm/);
  assert.throws(() => compositionScores(engine, { ...m, n_layers: 1 }, randomArena({ ...m, n_layers: 1 }, 2)), /needs layers 0 and 1/);
});

test("composition: an identity-like projection composed with itself scores 1/√k; disjoint subspaces score 0", () => {
  const D = 8, k = 3;
  // P = E·Eᵀ, E = [I_k; 0]: P·P = P, ‖P‖_F = √k, so score = √k/(√k·√k) = 1/√k.
  const E = new Float64Array(D * k);
  for (let e = 0; e < k; e++) E[e * k + e] = 1;
  assert.ok(Math.abs(compositionScore({ left: E, right: E }, { left: E, right: E }, D, k) - 1 / Math.sqrt(k)) <= 1e-15);
  // A writes into dims 0..k−1 only, B reads dims k..2k−1 only: A·B = 0.
  const F = new Float64Array(D * k);
  for (let e = 0; e < k; e++) F[(k + e) * k + e] = 2;
  assert.is(compositionScore({ left: E, right: E }, { left: F, right: E }, D, k), 0);
});

test("composition baseline: deterministic (both builds), ≈ 1/√d_model for Gaussian products", async () => {
  const [simd, scalar] = await Promise.all(VARIANTS.map(loadEngine));
  const b = compositionBaseline(simd, 64, 16, 200, 0);
  assert.is(compositionBaseline(scalar, 64, 16, 200, 0), b);
  assert.ok(compositionBaseline(simd, 64, 16, 200, 1) !== b, "another seed draws other matrices");
  // Leading order for i.i.d. entries: ‖A‖² ≈ D²k, ‖B‖² ≈ D²k, ‖AB‖² ≈ D³k², so score ≈ 1/√D
  // (= 0.125 at D = 64); finite-k fluctuations move the mean by a few per cent, hence ±30%.
  assert.ok(b > 0.7 / 8 && b < 1.3 / 8, `baseline ${b}`);
});

function zeroHeadSlice(model: TransformerConfig, arena: Float32Array, name: string, head: number) {
  const t = findTensor(modelLayout(model), name)!;
  const size = t.size / model.n_heads;
  arena.fill(0, t.offset + head * size, t.offset + (head + 1) * size);
}

test("path ablation: a layer-0 head that writes nothing has a zero row, a layer-1 head that writes nothing a zero column (exactly); others change", async () => {
  const arena = randomArena(m, 3);
  zeroHeadSlice(m, arena, "blocks.0.attn.W_O", 2);
  zeroHeadSlice(m, arena, "blocks.1.attn.W_O", 1);
  const u = mulberry32(4);
  const data = { tokens: Int32Array.from({ length: 6 * m.n_ctx }, () => Math.floor(u() * m.d_vocab)), nSeq: 6, seqLen: m.n_ctx };
  for (const ablation of ["mean", "zero"] as const) {
    const result = pathAblation(await loadEngine("simd"), m, arena, data, { batch: 4, ablation, top: 3 });
    for (const p of ["Q", "K", "V"] as const) {
      for (let j = 0; j < 3; j++) assert.is(result[p][2][j], 0, `${ablation} ${p}[2][${j}]: head 0:2 writes nothing`);
      for (let i = 0; i < 3; i++) assert.is(result[p][i][1], 0, `${ablation} ${p}[${i}][1]: head 1:1 writes nothing`);
      assert.ok(result[p][0][0] !== 0 && Number.isFinite(result[p][0][0]), `${ablation} ${p}[0][0] = ${result[p][0][0]}`);
      assert.is(result.tokens[p][0][0].length, 3);
      const deltas = result.tokens[p][0][0].map((t) => Math.abs(t.delta));
      assert.ok(deltas[0] >= deltas[1] && deltas[1] >= deltas[2], "largest |Δ| first");
    }
    assert.is(result.sequences, 6);
  }
});

test.run();
