// Restriction-aware backward (models.ts freezeTensors, transformer.ts TF_FROZEN): a
// restricted estimate computes no gradient for frozen tensors and no backward below the
// lowest moving block, and must give the whole result JSON bit for bit as the full backward.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, mulberry32, randomTransformerWeights } from "./helpers.ts";
import { parseConfig, type TransformerConfig } from "../src/config.ts";
import { freezeTensors, modelLayout, moduleConstant, planModel, transformerSelector, TRANSFORMER_SELECTORS } from "../src/models.ts";
import { restrictionMask } from "../src/arena.ts";
import { estimate } from "../src/estimator.ts";
import type { Tensor } from "../src/io/safetensors.ts";

const base: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 6, d_model: 12, d_head: 4, n_ctx: 8, d_vocab: 11,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};
const MODELS: [string, TransformerConfig][] = [
  ["LN + shortformer", base],
  ["no LN + standard, no biases", { ...base, normalization: null, positional_embedding: "standard", attn_bias: false, unembed_bias: false }],
];
const RESTRICTS: (string | string[])[] = ["l0h3", "l1h5", ["l0h1", "l1h2"], "unembed"];

function inputs(m: TransformerConfig, nSeq: number, seed: number) {
  const { arena } = randomTransformerWeights(m, seed);
  const layout = modelLayout(m);
  const u = mulberry32(seed + 1);
  const tokens = Int32Array.from({ length: nSeq * m.n_ctx }, () => Math.floor(u() * m.d_vocab));
  const weights = new Map<string, Tensor>(layout.tensors.map((t) => [t.name, { dtype: "F32", shape: [...t.shape], data: arena.slice(t.offset, t.offset + t.size) }]));
  return { weights, data: new Map<string, Tensor>([["tokens", { dtype: "I32", shape: [nSeq, m.n_ctx], data: tokens }]]) };
}

for (const [label, m] of MODELS) {
  test(`${label}: restricted estimates give the full backward's result JSON bit for bit (both builds, sgld and rmsprop_sgld)`, async () => {
    const data = inputs(m, 24, 3);
    for (const variant of VARIANTS) {
      for (const restrict of RESTRICTS) {
        for (const method of ["sgld", "rmsprop_sgld"]) {
          const config = parseConfig({
            model: m, weights: "-", data: "-", restrict,
            sampler: { method, epsilon: 1e-3, gamma: 100, nbeta: 10, chains: 2, draws: 12, batch_size: 8, seed: 5 },
          });
          const fast = await estimate(await loadEngine(variant), config, data);
          const full = await estimate(await loadEngine(variant), config, data, { fullBackward: true });
          const what = `${variant} ${JSON.stringify(restrict)} ${method}`;
          assert.ok(Number.isFinite(fast["llc/mean"]), `${what}: λ̂ = ${fast["llc/mean"]}`);
          // JSON text: every trace (gradient_norm, mala_accept, …) and every float, in the bits JSON keeps.
          assert.is(JSON.stringify(fast), JSON.stringify(full), what);
          assert.ok(fast["gradient_norm/trace"].flat().every((g: number) => g > 0), `${what}: the moving coordinates see a gradient`);
        }
      }
    }
  });
}

test("freezeTensors: frozen tensors get no gradient, moving ones the full backward's bits; no restriction freezes nothing", async () => {
  const m = base;
  const layout = modelLayout(m);
  const { arena } = randomTransformerWeights(m, 7);
  const batch = 3, T = m.n_ctx;
  const u = mulberry32(8);
  const tokens = Array.from({ length: batch * T }, () => Math.floor(u() * m.d_vocab));
  const gradients = async (restrict: string[] | null) => {
    const engine = await loadEngine("simd");
    const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
    const plan = planModel(engine, m, layout, params, grads, batch, T);
    const mask = restrictionMask(layout, restrict, transformerSelector(m, layout), TRANSFORMER_SELECTORS);
    freezeTensors(engine, plan, mask);
    const frozenWord = engine.i32(plan.address, 64)[moduleConstant(engine, "TF_FROZEN")];
    engine.f32(params, layout.padded).set(arena);
    const x = engine.allocI32(batch * T);
    engine.i32(x, batch * T).set(tokens);
    engine.kernels.modelLossGrad(plan.address, x, 0, batch);
    return { g: engine.f32(grads, layout.padded).slice(), mask, frozenWord };
  };
  const full = await gradients(null);
  assert.is(full.frozenWord, 0, "an unrestricted mask leaves the plan as planned");
  for (const restrict of [["l1h0"], ["l0h2"], ["unembed"], ["embed"], ["pos"], ["ln_final.w"]]) {
    const r = await gradients(restrict);
    assert.ok(r.frozenWord !== 0, `${restrict}: some tensor is frozen`);
    for (const t of layout.tensors) {
      const moves = r.mask.subarray(t.offset, t.offset + t.size).includes(1);
      for (let i = t.offset; i < t.offset + t.size; i++) {
        if (moves) assert.ok(Object.is(r.g[i], full.g[i]), `${restrict}: ${t.name}[${i - t.offset}] ${r.g[i]} vs ${full.g[i]}`);
        // A layer norm's backward gives ∂x and its ∂w, ∂b in one pass, so a frozen LN still
        // gets its (small) gradient where the stream's gradient runs through it; any other frozen tensor gets none.
        else if (!/(^|\.)ln/.test(t.name)) assert.is(r.g[i], 0, `${restrict}: frozen ${t.name} got a gradient`);
      }
    }
  }
});

test("freezeTensors: the row cache is planned where everything below a block is frozen and the chains draw more rows than the data has", async () => {
  const m = base;
  const layout = modelLayout(m);
  const cacheWord = async (restrict: string[], rows: number, rowsDrawn: number) => {
    const engine = await loadEngine("simd");
    const plan = planModel(engine, m, layout, engine.allocF32(layout.padded), engine.allocF32(layout.padded), 4, m.n_ctx);
    freezeTensors(engine, plan, restrictionMask(layout, restrict, transformerSelector(m, layout), TRANSFORMER_SELECTORS), { rows, rowsDrawn });
    const descriptor = engine.i32(plan.address, 64)[moduleConstant(engine, "TF_ROW_CACHE")];
    return descriptor === 0 ? null : engine.i32(descriptor, 3)[moduleConstant(engine, "RC_PLACE")];
  };
  assert.is(await cacheWord(["l1h0"], 10, 100), 1, "l1h0: resid_1");
  assert.is(await cacheWord(["ln_final.w"], 10, 100), 2, "ln_final: resid_L");
  assert.is(await cacheWord(["unembed"], 10, 100), 3, "unembed: LN_f's output");
  assert.is(await cacheWord(["l0h0"], 10, 100), null, "nothing below layer 0 to cache");
  assert.is(await cacheWord(["l1h0"], 100, 100), null, "the chains draw no more rows than the data has");
});

test.run();
