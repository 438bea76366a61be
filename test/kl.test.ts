// The KL loss (Wang et al. 2024): L(w) = mean over predicted tokens of KL(p_ref ‖ p_w),
// checked against the independent f64 transformer of test/reference/transformer.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, mulberry32, randomTransformerWeights } from "./helpers.ts";
import type { Variant } from "../src/engine.ts";
import { ConfigError, parseConfig, type TransformerConfig } from "../src/config.ts";
import { modelLayout, moduleConstant, planKlReference, planModel } from "../src/models.ts";
import { estimate } from "../src/estimator.ts";
import { referenceKl, referenceLogits, type Params } from "./reference/transformer.ts";
import { writeSafetensors, type Tensor } from "../src/io/safetensors.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "./helpers.ts";
import { nodeHost } from "../src/platform/node.ts";
import { jobFingerprint, runEstimateJob } from "../src/job.ts";
import { estimateParallel } from "../src/parallel.ts";
import { nodeWorkers } from "../src/platform/node-workers.ts";

const model: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 3, d_model: 12, d_head: 5, n_ctx: 9, d_vocab: 11,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};
// A reference of another shape: one layer, no LN, standard positions (as a one-layer `llc train` model may be).
const oneLayer: TransformerConfig = { ...model, n_layers: 1, n_heads: 2, d_model: 8, d_head: 4, normalization: null, positional_embedding: "standard" };

function randomTokens(batch: number, T: number, seed: number): number[][] {
  const u = mulberry32(seed);
  return Array.from({ length: batch }, () => Array.from({ length: T }, () => Math.floor(u() * model.d_vocab)));
}

/** A model plan whose loss is the KL to `ref` at `refArena`. */
async function klSetup(variant: Variant, m: TransformerConfig, ref: TransformerConfig, refArena: Float32Array, batch: number, T: number) {
  const engine = await loadEngine(variant);
  const layout = modelLayout(m);
  const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, m, layout, params, grads, batch, T);
  planKlReference(engine, plan, m, { model: ref, weights: refArena }, T);
  const tokens = engine.allocI32(batch * T);
  const word = (address: number, name: string) => engine.i32(address, 64)[moduleConstant(engine, name)];
  return {
    run: (withGrad: boolean) => withGrad ? engine.kernels.modelLossGrad(plan.address, tokens, 0, batch) : engine.kernels.modelLoss(plan.address, tokens, 0, batch),
    grads: () => engine.f32(grads, layout.padded).slice(),
    refLogits: () => engine.f32(word(word(plan.address, "TF_KL_REFERENCE"), "TF_LOGITS"), batch * T * m.d_vocab).slice(),
    setWeights: (a: Float32Array) => engine.f32(params, layout.padded).set(a),
    setTokens: (t: number[][]) => engine.i32(tokens, batch * T).set(t.flat()),
  };
}

/** The model at random weights (seed), a random one-layer reference (seed + 1), random tokens (seed + 2), loaded into a KL plan. */
async function oneLayerCase(variant: Variant, batch: number, T: number, seed: number) {
  const w = randomTransformerWeights(model, seed), r = randomTransformerWeights(oneLayer, seed + 1);
  const tokens = randomTokens(batch, T, seed + 2);
  const s = await klSetup(variant, model, oneLayer, r.arena, batch, T);
  s.setWeights(w.arena);
  s.setTokens(tokens);
  return { w, r, tokens, s };
}

test("KL to a one-layer reference: ≥ 0, equal to the f64 KL; the reference's logits equal the f64 reference forward", async () => {
  const { w, r, tokens, s } = await oneLayerCase("simd", 2, 7, 1);
  const kl = s.run(false);
  const expected = referenceKl(model, w.params, oneLayer, r.params, tokens);
  assert.ok(kl > 0, `KL ${kl}`);
  // Logits agree to ~1e-5 of their scale (transformer.test.ts); the KL, a p-weighted mean of
  // logit differences, inherits that absolute error ≲ 1e-5·scale (scale ≲ 10 here): 1e-4 absolute plus 1e-4 relative.
  assert.ok(Math.abs(kl - expected) <= 1e-4 + 1e-4 * expected, `KL ${kl} vs f64 ${expected}`);
  const got = s.refLogits();
  const ref = referenceLogits(oneLayer, r.params, tokens).flat(2);
  const scale = Math.max(...ref.map(Math.abs));
  ref.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-4 * scale, `reference logit ${i}: ${got[i]} vs ${v}`));
});

test("KL at w = reference is 0 to the bit, and so is its gradient", async () => {
  const batch = 3, T = 8;
  const w = randomTransformerWeights(model, 4);
  for (const variant of VARIANTS) {
    const s = await klSetup(variant, model, model, w.arena, batch, T);
    s.setWeights(w.arena);
    s.setTokens(randomTokens(batch, T, 5));
    assert.is(s.run(true), 0, variant);
    assert.ok(s.grads().every((g) => g === 0), `${variant}: a nonzero gradient at the reference`);
  }
});

test("the KL gradient matches central finite differences of the f64 KL", async () => {
  const { w, r, tokens, s } = await oneLayerCase("simd", 2, 6, 6);
  s.run(true);
  const grads = s.grads();
  const gmax = Math.max(...grads.map(Math.abs));
  const u = mulberry32(9);
  const params: Params = w.params;
  for (const t of modelLayout(model).tensors) {
    const values = params.get(t.name)!;
    for (let trial = 0; trial < 3; trial++) {
      const i = Math.floor(u() * t.size), h = 1e-4, saved = values[i];
      values[i] = saved + h;
      const up = referenceKl(model, params, oneLayer, r.params, tokens);
      values[i] = saved - h;
      const down = referenceKl(model, params, oneLayer, r.params, tokens);
      values[i] = saved;
      const fd = (up - down) / (2 * h);
      // As for the cross-entropy (transformer.test.ts): f64 central differences err by O(h²) ≈ 1e-8,
      // the f32 gradient by ~1e-6 of max|g|; 1e-3 relative plus 1e-4·max|g| bounds both.
      const g = grads[t.offset + i];
      assert.ok(Math.abs(g - fd) <= 1e-3 * Math.abs(fd) + 1e-4 * gmax, `${t.name}[${i}]: wasm ${g}, finite difference ${fd}`);
    }
  }
});

test("SIMD and scalar builds give bit-identical KL and gradients", async () => {
  const results = [];
  for (const variant of VARIANTS) {
    const { s } = await oneLayerCase(variant, 3, 9, 10);
    results.push({ loss: s.run(true), grads: new Uint32Array(s.grads().buffer) });
  }
  assert.is(results[0].loss, results[1].loss);
  assert.equal(results[0].grads, results[1].grads);
});

function tensorsOf(m: TransformerConfig, arena: Float32Array): Map<string, Tensor> {
  return new Map(modelLayout(m).tensors.map((t) => [t.name, { dtype: "F32", shape: [...t.shape], data: arena.slice(t.offset, t.offset + t.size) }]));
}

test("an estimate with the KL to w*: init_loss 0 exactly (said in the result), finite λ̂; a one-layer reference too", async () => {
  const nSeq = 32, T = 8;
  const w = randomTransformerWeights(model, 13);
  const inputs = {
    weights: tensorsOf(model, w.arena),
    data: new Map<string, Tensor>([["tokens", { dtype: "I32", shape: [nSeq, T], data: Int32Array.from(randomTokens(nSeq, T, 14).flat()) }]]),
  };
  const sampler = { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 2, draws: 20, batch_size: 8, seed: 1 };
  const config = parseConfig({ model, loss: { kind: "kl", reference: "w*" }, weights: "-", data: "-", sampler });
  const result = await estimate(await loadEngine("simd"), config, inputs);
  assert.is(result.init_loss, 0);
  assert.match(result.init_loss_method!, /exact/);
  assert.ok(Number.isFinite(result["llc/mean"]) && result["llc/mean"] > 0, `λ̂ = ${result["llc/mean"]}`);
  // Every draw's KL is ≥ 0 (Gibbs' inequality), so each chain's λ̂ = nβ·mean(L) ≥ 0.
  assert.ok(result["loss/trace"].flat().every((l) => l >= 0));

  const r = randomTransformerWeights(oneLayer, 15);
  const other = parseConfig({ model, loss: { kind: "kl", reference: "one-layer.safetensors" }, weights: "-", data: "-", sampler });
  const withRef = await estimate(await loadEngine("simd"), other, { ...inputs, reference: { model: oneLayer, weights: tensorsOf(oneLayer, r.arena) } });
  assert.ok(withRef.init_loss > 0 && withRef.init_loss_method === undefined, `L0 ${withRef.init_loss}`);
  assert.ok(Number.isFinite(withRef["llc/mean"]));
  // The reference travels to workers with the inputs: two workers give the same bits.
  const parallel = await estimateParallel(other, { ...inputs, reference: { model: oneLayer, weights: tensorsOf(oneLayer, r.arena) } }, { workers: 2, wasm: await nodeHost.wasmBytes("simd"), spawn: nodeWorkers() });
  assert.equal(parallel["loss/trace"], withRef["loss/trace"]);
  assert.is(parallel["llc/mean"], withRef["llc/mean"]);
  const missing = await estimate(await loadEngine("simd"), other, inputs).then(() => undefined, (e: Error) => e);
  assert.match(missing?.message ?? "", /^loss\.reference: /);
  const otherVocab = { ...oneLayer, d_vocab: 12 };
  const wrongVocab = await estimate(await loadEngine("simd"), other, { ...inputs, reference: { model: otherVocab, weights: tensorsOf(otherVocab, randomTransformerWeights(otherVocab, 1).arena) } }).then(() => undefined, (e: Error) => e);
  assert.match(wrongVocab?.message ?? "", /^loss\.reference: its d_vocab is 12/);
});

test("config: loss strings still parse; the kl object is validated, errors naming the field", () => {
  const cfg = (loss: unknown, m: unknown = model) => parseConfig({ model: m, loss, weights: "w", data: "d" });
  assert.is(cfg("cross_entropy").loss, "cross_entropy");
  assert.is(parseConfig({ model, weights: "w", data: "d" }).loss, "cross_entropy");
  assert.equal(cfg({ kind: "kl", reference: "w*" }).loss, { kind: "kl", reference: "w*" });
  const fieldOf = (loss: unknown, m?: unknown) => {
    try {
      cfg(loss, m);
    } catch (e) {
      assert.instance(e, ConfigError);
      return (e as ConfigError).field;
    }
    throw new Error("expected a ConfigError");
  };
  assert.is(fieldOf({ kind: "kl" }), "loss.reference");
  assert.is(fieldOf({ kind: "kl", reference: "" }), "loss.reference");
  assert.is(fieldOf({ kind: "js", reference: "w*" }), "loss.kind");
  assert.is(fieldOf({ reference: "w*" }), "loss.kind");
  assert.ok(fieldOf({ kind: "kl", reference: "w*", temperature: 2 }).startsWith("loss"));
  assert.is(fieldOf({ kind: "kl", reference: "w*" }, { kind: "mlp", sizes: [2, 1] }), "loss.kind");
  assert.is(fieldOf("mse"), "loss");
});

test("a job with a reference checkpoint: its bytes are in the fingerprint, so a changed reference does not resume the old result", async () => {
  const dir = scratchDir("llc-kl-");
  const nSeq = 16, T = 8;
  const checkpoint = (m: TransformerConfig, seed: number) => writeSafetensors(tensorsOf(m, randomTransformerWeights(m, seed).arena), { model: JSON.stringify(m) });
  writeFileSync(join(dir, "w.safetensors"), checkpoint(model, 16));
  writeFileSync(join(dir, "ref.safetensors"), checkpoint(oneLayer, 17));
  writeFileSync(join(dir, "data.safetensors"), writeSafetensors({ tokens: { dtype: "I32", shape: [nSeq, T], data: Int32Array.from(randomTokens(nSeq, T, 18).flat()) } }));
  const configPath = join(dir, "kl.json");
  writeFileSync(configPath, JSON.stringify({
    model, loss: { kind: "kl", reference: "ref.safetensors" }, weights: "w.safetensors", data: "data.safetensors",
    sampler: { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 1, draws: 5, batch_size: 8, workers: 1 },
  }));
  const out = join(dir, "out.json");
  const first = await runEstimateJob(nodeHost, configPath, { out });
  assert.ok(first.init_loss > 0 && Number.isFinite(first["llc/mean"]));
  let finished = 0;
  await runEstimateJob(nodeHost, configPath, { out, onFinished: () => finished++ });
  assert.is(finished, 1, "the same job is found finished");
  writeFileSync(join(dir, "ref.safetensors"), checkpoint(oneLayer, 19));
  const changed = await runEstimateJob(nodeHost, configPath, { out }).then(() => undefined, (e: Error) => e);
  assert.match(changed?.message ?? "", /holds the result of another job/);
  // Without a reference file the fingerprint is the one it always was (old results keep theirs).
  const config = parseConfig({ model, weights: "w", data: "d" });
  const [a, b] = [new Uint8Array([1]), new Uint8Array([2])];
  assert.is.not(jobFingerprint(config, a, b, new Uint8Array([3])), jobFingerprint(config, a, b));
});

test.run();
