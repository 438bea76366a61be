// The attention-only transformer in WebAssembly against the independent f64
// reference (test/reference/transformer.ts): logits, finite-difference
// gradients, causality, SIMD = scalar, and its refined LLC.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, detachingEngine, loadEngine, mulberry32, randomTransformerWeights } from "./helpers.ts";
import { blockBytes, type Engine, type Variant } from "../src/engine.ts";
import { parseConfig, type TransformerConfig } from "../src/config.ts";
import { modelLayout, planModel, moduleConstant, plannedBytes, PATTERN_KEEP_BYTES, type PlanOptions } from "../src/models.ts";
import { estimate, prepareEstimate, InputError } from "../src/estimator.ts";
import { referenceLogits, referenceLoss, type Params } from "./reference/transformer.ts";
import type { Tensor } from "../src/io/safetensors.ts";
import { trainFullBatch } from "../src/train.ts";

const base: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 3, d_model: 12, d_head: 5, n_ctx: 9, d_vocab: 11,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};
const VARIANTS_OF_MODEL: [string, Partial<TransformerConfig>][] = [
  ["LN + shortformer", {}],
  ["LN + standard", { positional_embedding: "standard" }],
  ["no LN + shortformer", { normalization: null }],
  ["no LN + standard, no biases", { normalization: null, positional_embedding: "standard", attn_bias: false, unembed_bias: false }],
];

function randomParams(m: TransformerConfig, seed: number): { arena: Float32Array; params: Params } {
  return randomTransformerWeights(m, seed);
}

function randomTokens(m: TransformerConfig, batch: number, T: number, seed: number): number[][] {
  const u = mulberry32(seed);
  return Array.from({ length: batch }, () => Array.from({ length: T }, () => Math.floor(u() * m.d_vocab)));
}

interface Setup { engine: Engine; plan: number; run(withGrad: boolean): number; logits(): Float32Array; grads(): Float32Array; setWeights(a: Float32Array): void; setTokens(t: number[][]): void }
async function setup(variant: Variant, m: TransformerConfig, batch: number, T: number, options?: PlanOptions): Promise<Setup> {
  const engine = await loadEngine(variant);
  const layout = modelLayout(m);
  const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, m, layout, params, grads, batch, T, options);
  const tokens = engine.allocI32(batch * T);
  const logitsAt = engine.i32(plan.address, 64)[moduleConstant(engine, "TF_LOGITS")];
  return {
    engine,
    plan: plan.address,
    run: (withGrad) => withGrad ? engine.kernels.modelLossGrad(plan.address, tokens, 0, batch) : engine.kernels.modelLoss(plan.address, tokens, 0, batch),
    logits: () => engine.f32(logitsAt, batch * T * m.d_vocab).slice(),
    grads: () => engine.f32(grads, layout.padded).slice(),
    setWeights: (a) => engine.f32(params, layout.padded).set(a),
    setTokens: (t) => engine.i32(tokens, batch * T).set(t.flat()),
  };
}

for (const [label, change] of VARIANTS_OF_MODEL) {
  const m = { ...base, ...change };
  test(`${label}: logits match the f64 reference within 1e-4 relative`, async () => {
    const batch = 2, T = 7;
    const { arena, params } = randomParams(m, 1);
    const tokens = randomTokens(m, batch, T, 2);
    const s = await setup("simd", m, batch, T);
    s.setWeights(arena);
    s.setTokens(tokens);
    const loss = s.run(false);
    const got = s.logits();
    const ref = referenceLogits(m, params, tokens).flat(2);
    // f32 keeps ~7 digits; a logit is a chain of ≤ 4 sums of ≤ d_model·… terms of size ≲ 1,
    // each adding ≲ K·2⁻²⁴ relative error: ≲ 1e-5 of the logits' scale, so 1e-4 has margin.
    const scale = Math.max(...ref.map(Math.abs));
    ref.forEach((r, i) => assert.ok(Math.abs(got[i] - r) <= 1e-4 * scale, `logit ${i}: ${got[i]} vs ${r}`));
    const refLoss = referenceLoss(m, params, tokens);
    assert.ok(Math.abs(loss - refLoss) <= 1e-4 * refLoss, `loss ${loss} vs ${refLoss}`);
  });

  test(`${label}: the gradient matches central finite differences of the f64 reference`, async () => {
    const batch = 2, T = 6;
    const { arena, params } = randomParams(m, 3);
    const tokens = randomTokens(m, batch, T, 4);
    const s = await setup("simd", m, batch, T);
    s.setWeights(arena);
    s.setTokens(tokens);
    s.run(true);
    const grads = s.grads();
    const layout = modelLayout(m);
    const u = mulberry32(5);
    const gmax = Math.max(...grads.map(Math.abs));
    for (const t of layout.tensors) {
      const values = params.get(t.name)!;
      for (let trial = 0; trial < 3; trial++) {
        const i = Math.floor(u() * t.size);
        const h = 1e-4;
        const saved = values[i];
        values[i] = saved + h;
        const up = referenceLoss(m, params, tokens);
        values[i] = saved - h;
        const down = referenceLoss(m, params, tokens);
        values[i] = saved;
        const fd = (up - down) / (2 * h);
        // Central differences in f64 with h = 1e-4 err by O(h²·|f'''|) ≈ 1e-8; the f32 gradient
        // by ~1e-6 relative to the largest gradient. 1e-3 relative plus 1e-4·max|g| bounds both.
        const g = grads[t.offset + i];
        assert.ok(Math.abs(g - fd) <= 1e-3 * Math.abs(fd) + 1e-4 * gmax, `${t.name}[${i}]: wasm ${g}, finite difference ${fd}`);
      }
    }
  });
}

test("keepPatterns by default: patterns kept while all layers' fit PATTERN_KEEP_BYTES, recomputed beyond", async () => {
  const m = { ...base, n_ctx: 64 };
  const T = 64;
  const bytesPerSequence = m.n_layers * m.n_heads * T * T * 4;
  const fits = Math.floor(PATTERN_KEEP_BYTES / bytesPerSequence);
  for (const [batch, kept] of [[1, true], [fits, true], [fits + 1, false]] as const) {
    const engine = await loadEngine("simd");
    const layout = modelLayout(m);
    const plan = planModel(engine, m, layout, engine.allocF32(layout.padded), engine.allocF32(layout.padded), batch, T);
    const layer0 = moduleConstant(engine, "TF_LAYER0"), layerWords = moduleConstant(engine, "TF_LAYER_WORDS");
    const words = engine.i32(plan.address, layer0 + m.n_layers * layerWords);
    for (let l = 0; l < m.n_layers; l++) {
      const pattern = words[layer0 + l * layerWords + moduleConstant(engine, "TFL_PATTERN")];
      assert.is(pattern !== 0, kept, `batch ${batch} (${((batch * bytesPerSequence) / 2 ** 20).toFixed(2)} MiB of patterns): layer ${l} pattern kept = ${kept}`);
    }
  }
});

test("keepPatterns: loss and gradients bit-identical with and without stored patterns (both builds); the pattern is TL's", async () => {
  for (const [label, change] of VARIANTS_OF_MODEL) {
    const m = { ...base, ...change };
    const batch = 3, T = 9;
    const { arena } = randomParams(m, 51);
    const tokens = randomTokens(m, batch, T, 52);
    for (const variant of VARIANTS) {
      const results = [];
      for (const keepPatterns of [false, true]) {
        const s = await setup(variant, m, batch, T, { keepPatterns });
        s.setWeights(arena);
        s.setTokens(tokens);
        const layer0 = moduleConstant(s.engine, "TF_LAYER0"), layerWords = moduleConstant(s.engine, "TF_LAYER_WORDS");
        const words = s.engine.i32(s.plan, layer0 + m.n_layers * layerWords);
        const patternAt = (l: number) => words[layer0 + l * layerWords + moduleConstant(s.engine, "TFL_PATTERN")];
        const statsAt = (l: number) => words[layer0 + l * layerWords + moduleConstant(s.engine, "TFL_STATS")];
        for (let l = 0; l < m.n_layers; l++) {
          assert.ok(statsAt(l) > 0, `${label}: layer ${l} has row statistics`);
          assert.is(patternAt(l) !== 0, keepPatterns, `${label}: layer ${l} pattern planned only with keepPatterns`);
        }
        const lossOnly = s.run(false);
        const loss = s.run(true);
        assert.ok(Object.is(lossOnly, loss), `${label} ${variant}: the loss does not depend on withGrad`);
        if (keepPatterns) {
          // Rows of the stored pattern are causal softmaxes (sum 1, +0 after the diagonal).
          const P = s.engine.f32(patternAt(m.n_layers - 1), batch * m.n_heads * T * T);
          for (let r = 0; r < batch * m.n_heads * T; r++) {
            const i = r % T;
            let sum = 0;
            for (let j = 0; j < T; j++) {
              if (j > i) assert.ok(Object.is(P[r * T + j], 0));
              else sum += P[r * T + j];
            }
            assert.ok(Math.abs(sum - 1) < 1e-5, `${label}: pattern row sums to ${sum}`);
          }
        }
        results.push({ loss, grads: new Uint32Array(s.grads().buffer) });
      }
      assert.ok(Object.is(results[0].loss, results[1].loss), `${label} ${variant}: loss ${results[0].loss} vs ${results[1].loss}`);
      assert.equal(results[0].grads, results[1].grads, `${label} ${variant}: gradients`);
    }
  }
});

test("keepPatterns: plannedBytes adds exactly the patterns; the paper's size at batch 32 fits without them", async () => {
  const engine = await loadEngine("simd");
  const m = { ...base };
  const [B, T] = [4, 9];
  const lean = plannedBytes(engine, m, B, T, { keepPatterns: false }), keeping = plannedBytes(engine, m, B, T, { keepPatterns: true });
  // Each layer's pattern is one more allocation: its bytes as the heap takes them (rounding, probe and header).
  const patternBytes = blockBytes(B * m.n_heads * T * T * 4);
  assert.is(keeping - lean, m.n_layers * patternBytes);
  const paper: TransformerConfig = {
    kind: "transformer", n_layers: 2, n_heads: 8, d_model: 256, d_head: 32, n_ctx: 1024, d_vocab: 5000,
    normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
  };
  const paperLean = plannedBytes(engine, paper, 32, 1024);
  assert.is(plannedBytes(engine, paper, 32, 1024, { keepPatterns: true }) - paperLean, 2 * blockBytes(32 * 8 * 1024 * 1024 * 4));
  assert.ok(paperLean < 2 ** 30, `paper size plans ${paperLean} bytes without patterns`);
});

test("sequences of n_ctx = 1024 run and match the reference loss", async () => {
  const m = { ...base, n_layers: 1, n_heads: 2, d_model: 8, d_head: 4, n_ctx: 1024, d_vocab: 16 };
  const T = 1024;
  const { arena, params } = randomParams(m, 31);
  const tokens = randomTokens(m, 1, T, 32);
  const s = await setup("simd", m, 1, T);
  s.setWeights(arena);
  s.setTokens(tokens);
  const loss = s.run(true);
  const ref = referenceLoss(m, params, tokens);
  // As above: f32 sums over ≤ 1024 keys keep ~1e-5 relative error in the loss.
  assert.ok(Math.abs(loss - ref) <= 1e-4 * ref, `${loss} vs ${ref}`);
  assert.ok(s.grads().every(Number.isFinite));
});

test("the unembed and loss computed a chunk of sequences at a time give the bits of the whole batch at once", async () => {
  const m = { ...base };
  const batch = 4, T = 7;
  const { arena } = randomParams(m, 41);
  const tokens = randomTokens(m, batch, T, 42);
  const results: { loss: number; grads: Float32Array }[] = [];
  for (const chunk of [batch, 1, 3]) {
    const s = await setup("simd", m, batch, T);
    const words = s.engine.i32(s.plan, 64);
    words[moduleConstant(s.engine, "TF_CHUNK_SEQUENCES")] = chunk; // the buffers planned for 4 hold any smaller chunk
    s.setWeights(arena);
    s.setTokens(tokens);
    results.push({ loss: s.run(true), grads: s.grads() });
  }
  // One running f64 loss sum and one gradient scale 1/count across chunks (crossEntropySum),
  // and ∂W_U accumulated chunk after chunk in ascending rows: the same bits for any chunk size.
  for (const r of results.slice(1)) {
    assert.ok(Object.is(r.loss, results[0].loss), `loss ${r.loss} vs ${results[0].loss}`);
    assert.equal([...new Uint32Array(r.grads.buffer, r.grads.byteOffset, r.grads.length)], [...new Uint32Array(results[0].grads.buffer, results[0].grads.byteOffset, results[0].grads.length)]);
  }
});

test("attention cannot see the future: changing token t+1 leaves logits ≤ t bit-identical", async () => {
  for (const change of [{}, { positional_embedding: "standard" as const }]) {
    const m = { ...base, ...change };
    const batch = 1, T = 8;
    const { arena } = randomParams(m, 6);
    const tokens = randomTokens(m, batch, T, 7);
    const s = await setup("simd", m, batch, T);
    s.setWeights(arena);
    s.setTokens(tokens);
    s.run(false);
    const before = new Uint32Array(s.logits().buffer);
    const t = 4;
    tokens[0][t + 1] = (tokens[0][t + 1] + 1) % m.d_vocab;
    s.setTokens(tokens);
    s.run(false);
    const after = new Uint32Array(s.logits().buffer);
    const V = m.d_vocab;
    assert.equal(after.slice(0, (t + 1) * V), before.slice(0, (t + 1) * V));
    assert.not.equal(after.slice((t + 1) * V), before.slice((t + 1) * V), "later logits do change");
  }
});

test("SIMD and scalar builds give bit-identical loss and gradients", async () => {
  const results = [];
  for (const variant of VARIANTS) {
    const m = { ...base, d_head: 8, d_model: 16 };
    const s = await setup(variant, m, 3, 9);
    s.setWeights(randomParams(m, 8).arena);
    s.setTokens(randomTokens(m, 3, 9, 9));
    results.push({ loss: s.run(true), grads: new Uint32Array(s.grads().buffer) });
  }
  assert.is(results[0].loss, results[1].loss);
  assert.equal(results[0].grads, results[1].grads);
});

// ------------------------------------------------------------ refined LLC of a head
const engineForTraining = await loadEngine("simd");
function transformerInputs(m: TransformerConfig, nSeq: number, T: number, seed: number, trainSteps = 0) {
  let { arena } = randomParams(m, seed);
  const layout = modelLayout(m);
  const tokens = Int32Array.from(randomTokens(m, nSeq, T, seed + 1).flat());
  if (trainSteps > 0) {
    // Near a local minimum, as the LLC presumes: AdamW on these very sequences (memorising them).
    arena = trainFullBatch(engineForTraining, m, layout, arena, tokens, new Float32Array(0), nSeq, { steps: trainSteps, lr: 0.01, finalLrFactor: 0.1 }, T).weights;
  }
  const weights = new Map<string, Tensor>(layout.tensors.map((t) => [t.name, { dtype: "F32", shape: [...t.shape], data: arena.slice(t.offset, t.offset + t.size) }]));
  return { weights, data: new Map<string, Tensor>([["tokens", { dtype: "I32", shape: [nSeq, T], data: tokens }]]) };
}

test("a head's weight-refined λ̂ lies in (0, k/2]; masked weights stay at w* bit for bit", async () => {
  const m = { ...base };
  const inputs = transformerInputs(m, 64, 8, 11, 1500);
  const config = parseConfig({
    model: m, weights: "-", data: "-", restrict: "l1h2",
    sampler: { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 2, draws: 100, batch_size: 16, seed: 1 },
  });
  const engine = await loadEngine("simd");
  const prepared = prepareEstimate(engine, config, inputs);
  prepared.runChain(0);
  const after = prepared.weights();
  const layout = modelLayout(m);
  const free = 3 * m.d_model * m.d_head + m.d_head * m.d_model + 3 * m.d_head; // W_Q,W_K,W_V,W_O slices + b_Q,b_K,b_V
  let moved = 0;
  for (const t of layout.tensors) {
    const original = inputs.weights.get(t.name)!.data as Float32Array;
    for (let i = 0; i < t.size; i++) {
      const headSlice = t.name.startsWith("blocks.1.attn.") && t.name !== "blocks.1.attn.b_O" &&
        Math.floor(i / (t.name.includes("b_") ? m.d_head : m.d_model * m.d_head)) === 2;
      if (headSlice) moved += after[t.offset + i] !== original[i] ? 1 : 0;
      else assert.is(after[t.offset + i], original[i], `${t.name}[${i}] moved`);
    }
  }
  assert.ok(moved > 0.9 * free, `${moved} of ${free} head weights moved`);
  const result = await estimate(await loadEngine("simd"), config, inputs);
  assert.ok(result["llc/mean"] > 0 && result["llc/mean"] <= free / 2, `λ̂ = ${result["llc/mean"]}, k/2 = ${free / 2}`);
  // No view of the memory is kept across an allocation: with every allocation detaching the buffer, the same bits.
  assert.equal(await estimate(detachingEngine(await loadEngine("simd")), config, inputs), result);
});

test("bad transformer inputs: a mis-shaped tensor, a token ≥ d_vocab, sequences longer than n_ctx", async () => {
  const m = { ...base };
  const config = parseConfig({ model: m, weights: "-", data: "-", sampler: { batch_size: 4, chains: 1, draws: 2 } });
  const engine = await loadEngine("simd");
  const good = transformerInputs(m, 8, 6, 21);
  const misshaped = new Map(good.weights);
  misshaped.set("blocks.0.attn.W_Q", { dtype: "F32", shape: [3, 5, 12], data: new Float32Array(180) });
  assert.throws(() => prepareEstimate(engine, config, { ...good, weights: misshaped }),
    (e: Error) => e instanceof InputError && /weights\["blocks\.0\.attn\.W_Q"\]: expected shape \[3, 12, 5\], got \[3, 5, 12\]/.test(e.message));
  const tokens = (good.data.get("tokens")!.data as Int32Array).slice();
  tokens[13] = m.d_vocab;
  assert.throws(() => prepareEstimate(engine, config, { ...good, data: new Map([["tokens", { dtype: "I32", shape: [8, 6], data: tokens }]]) }),
    (e: Error) => /data\["tokens"\]\[2\]\[1\]: expected a token id in \[0, 11\) \(d_vocab\), got 11/.test(e.message));
  const long = transformerInputs(m, 4, 10, 22);
  assert.throws(() => prepareEstimate(engine, config, long), (e: Error) => /longer than the model's n_ctx = 9/.test(e.message));
});

test.run();
