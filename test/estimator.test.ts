// The estimator against λ known in closed form, devinterp's semantics
// (pre-update loss, burn-in and thinning, nβ, L0), refined (masked) runs,
// determinism, and bad inputs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { detachingEngine, loadEngine } from "./helpers.ts";
import { estimate, defaultNbeta, EstimateError, InputError, type EstimateResult } from "../src/estimator.ts";
import { normalCrossingCase, regularRegressionCase, reducedRankCase, deepLinearCase, type BuiltinCase } from "../src/cases.ts";
import { parseConfig } from "../src/config.ts";
import type { Tensor } from "../src/io/safetensors.ts";
import { ChainDivergedError } from "../src/sampler.ts";

async function run(c: BuiltinCase, variant: "simd" | "scalar" = "simd"): Promise<EstimateResult> {
  const engine = await loadEngine(variant);
  return estimate(engine, c.config, c.inputs(engine));
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ------------------------------------------------------------ analytic λ
// Normal crossing (devinterp test_accuracy_normalcrossing: 10 chains × 5000 draws, ε = 4e-4, γ = 0,
// nβ = 1000/ln 1000), with devinterp's acceptance rule: λ within mean ± 3.5·std (std across chains).
// A tighter rule would test SGLD's step-size bias rather than the estimator: for the regular case
// [0, 1] the Hessian of nβ·L is k = nβ·2·E[x²] ≈ 1158, and unadjusted Langevin inflates the variance
// by 1/(1 − εk/4) ≈ 1.13, so λ̂ ≈ 0.57 is what a correct sampler gives there at this ε.
for (const powers of [[0, 1], [1, 1], [0, 2], [1, 2], [2, 2], [1, 3], [3, 3]]) {
  test(`normal crossing ${JSON.stringify(powers)}: λ = min 1/(2p_i) within mean ± 3.5·std`, async () => {
    const c = normalCrossingCase(powers);
    const engine = await loadEngine("simd");
    const inputs = c.inputs(engine);
    const r = await estimate(engine, c.config, inputs);
    const std = r["llc/std"] ?? Infinity;
    let expected = c.trueLambda;
    if (powers.filter((p) => p > 0).join() === "1") {
      // Regular (quadratic) case: Langevin's stationary variance is 1/(k(1 − εk/4)), k = nβ·2·mean(x²).
      const x = inputs.data.get("x")!.data as Float32Array;
      const k = r.nbeta * 2 * (x.reduce((a, v) => a + v * v, 0) / x.length);
      expected = c.trueLambda / (1 - (c.config.sampler.epsilon * k) / 4);
    }
    assert.ok(Math.abs(r["llc/mean"] - expected) <= 3.5 * std, `λ̂ = ${r["llc/mean"]} ± ${std}, expected ${expected} (λ = ${c.trueLambda})`);
    assert.ok(std < c.trueLambda, "chains agree well enough for the rule to mean something");
  });
}

// Linear networks at a trained w*: devinterp's rrr test accepts rtol 0.4; Lau et al. (2023, §5) find
// SGLD estimates of deep-linear-network λ within ~10% at comparable ε and nβ. We require 10%, which a
// wrong nβ (factor ln n), a wrong drift sign or a missing ε/2 would all break by far.
const linearCases: [string, () => BuiltinCase][] = [
  ["regular regression 4→2 with bias: λ = d/2 = 5", () => regularRegressionCase(4, 2)],
  ["reduced rank (5,3,5), r = 0: λ = 6.5", () => reducedRankCase(5, 3, 5)],
  ["reduced rank (5,4,5), r = 0: λ = 8", () => reducedRankCase(5, 4, 5)],
  ["reduced rank (4,3,8), r = 0: λ = 6", () => reducedRankCase(4, 3, 8)],
  ["deep linear 4→3→3→4, r = 1: Aoyagi λ = 5.5", () => deepLinearCase([4, 3, 3, 4], 1)],
];
for (const [label, make] of linearCases) {
  test(`${label} (within 10%)`, async () => {
    const c = make();
    const r = await run(c);
    assert.ok(Math.abs(r["llc/mean"] - c.trueLambda) <= 0.1 * c.trueLambda, `λ̂ = ${r["llc/mean"]}, λ = ${c.trueLambda}`);
  });
}

// ------------------------------------------------------------ semantics
const small = (sampler: Record<string, unknown> = {}) => normalCrossingCase([1, 2], { chains: 3, draws: 100, ...sampler });

test("λ̂ per chain is nβ·(mean of the loss trace − L0); llc/mean, llc/std (ddof 1) across chains", async () => {
  const r = await run(small());
  const chains = r["loss/trace"].map((trace) => r.nbeta * (mean(trace) - r.init_loss));
  chains.forEach((v, i) => assert.is(r[`llc-chain/${i}`], v));
  assert.is(r["llc/mean"], mean(chains));
  const m = mean(chains);
  assert.ok(Math.abs(r["llc/std"]! - Math.sqrt(chains.reduce((a, x) => a + (x - m) ** 2, 0) / (chains.length - 1))) < 1e-15);
  assert.equal(r["llc/trace"][1], r["loss/trace"][1].map((l) => r.nbeta * (l - r.init_loss)));
});

test("nβ defaults to b/ln b of the batch size (devinterp default_nbeta)", async () => {
  const engine = await loadEngine("simd");
  // devinterp's table (research notes §2.6); ln is the engine's own, within 1 ulp of the host's.
  assert.ok(Math.abs(defaultNbeta(engine, 1000) - 144.76482730108395) < 1e-12);
  assert.ok(Math.abs(defaultNbeta(engine, 32) - 9.233) < 1e-3);
  assert.is(defaultNbeta(engine, 1), 1);
  const r = await run(normalCrossingCase([1, 2], { chains: 2, draws: 10, batch_size: 100 }));
  assert.ok(Math.abs(r.nbeta - 100 / Math.log(100)) < 1e-12);
});

test("draw 0 is the loss at w* before any update: with a full batch it equals L0", async () => {
  const r = await run(small());
  // Full batch: the same rows in another (shuffled) order, so the f64 sums differ only by rounding.
  for (const trace of r["loss/trace"]) assert.ok(Math.abs(trace[0] - r.init_loss) <= 1e-12 * r.init_loss);
  assert.not.equal(r["loss/trace"][0][1], r["loss/trace"][0][0], "the chain moves after draw 0");
});

test("burn-in and thinning pick steps B + k·t − 1 of the same chain (devinterp's draw rule)", async () => {
  const burnin = 7, thin = 3, draws = 20;
  const full = await run(small({ chains: 2, draws: burnin + thin * draws }));
  const thinned = await run(small({ chains: 2, draws, burnin, thin }));
  for (let c = 0; c < 2; c++) {
    const expected = Array.from({ length: draws }, (_, t) => full["loss/trace"][c][burnin + thin * (t + 1) - 1]);
    assert.equal(thinned["loss/trace"][c], expected);
  }
});

test("minibatches: without replacement within an epoch, reshuffled across epochs", async () => {
  // 10 rows with distinct y: with batch 5 and w = w* = 0 and ε tiny the loss of a batch is Σ y²/5,
  // so two batches of one epoch must partition the rows: their losses sum to the total.
  const n = 10;
  const x = new Float32Array(n).fill(1);
  const y = Float32Array.from({ length: n }, (_, i) => i + 1);
  const config = parseConfig({
    model: { kind: "polynomial", powers: [1, 1] }, weights: "-", data: "-",
    sampler: { epsilon: 1e-30, gamma: 0, chains: 1, draws: 8, batch_size: 5, seed: 3 },
  });
  const engine = await loadEngine("simd");
  const r = await estimate(engine, config, {
    weights: new Map([["weights", { dtype: "F32", shape: [2], data: new Float32Array(2) } as Tensor]]),
    data: new Map<string, Tensor>([["x", { dtype: "F32", shape: [n, 1], data: x }], ["y", { dtype: "F32", shape: [n, 1], data: y }]]),
  });
  const total = y.reduce((a, v) => a + v * v, 0) / 5;
  const losses = r["loss/trace"][0];
  for (let epoch = 0; epoch < 4; epoch++) assert.ok(Math.abs(losses[2 * epoch] + losses[2 * epoch + 1] - total) < 1e-9, `epoch ${epoch}`);
  const firstBatches = new Set(losses.filter((_, i) => i % 2 === 0));
  assert.ok(firstBatches.size > 1, "epochs are reshuffled");
});

// ------------------------------------------------------------ refined (masked) LLC, devinterp tests/optim/rllc_test.py
test("a frozen coordinate at 1 makes its power irrelevant: identical λ̂ for powers [1,1,0] and [1,1,10]", async () => {
  const results = [];
  for (const powers of [[1, 1, 0], [1, 1, 10]]) {
    const c = normalCrossingCase(powers, { chains: 1, draws: 100, epsilon: 2e-4 });
    const engine = await loadEngine("simd");
    const inputs = c.inputs(engine);
    inputs.weights.set("weights", { dtype: "F32", shape: [3], data: new Float32Array([0, 0, 1]) });
    results.push(await estimate(engine, { ...c.config, restrict: { weights: [1, 1, 0] } }, inputs));
  }
  assert.is(results[0]["llc/mean"], results[1]["llc/mean"]);
});

test("a 3-parameter model with the third frozen at 1 equals the 2-parameter model", async () => {
  const two = normalCrossingCase([1, 1], { chains: 2, draws: 200, epsilon: 1e-3 });
  const three = normalCrossingCase([1, 1, 3], { chains: 2, draws: 200, epsilon: 1e-3 });
  const e2 = await loadEngine("simd"), e3 = await loadEngine("simd");
  const in2 = two.inputs(e2), in3 = three.inputs(e3);
  in2.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.3, 0.2]) });
  in3.weights.set("weights", { dtype: "F32", shape: [3], data: new Float32Array([0.3, 0.2, 1]) });
  const r2 = await estimate(e2, two.config, in2);
  const r3 = await estimate(e3, { ...three.config, restrict: { weights: [1, 1, 0] } }, in3);
  assert.equal(r3["loss/trace"], r2["loss/trace"]);
});

test("restricting to one weight changes λ̂ (devinterp test_rllc_different_from_full_llc)", async () => {
  const c = normalCrossingCase([0, 1], { chains: 1, draws: 200, epsilon: 1e-3 });
  const runWith = async (restrict: EstimateResult["config"]["restrict"]) => {
    const engine = await loadEngine("simd");
    const inputs = c.inputs(engine);
    inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.3, 1.5]) });
    return estimate(engine, { ...c.config, restrict }, inputs);
  };
  const full = await runWith(null), restricted = await runWith({ weights: [1, 0] });
  assert.ok(Math.abs(full["llc/mean"] - restricted["llc/mean"]) > 1e-2, `${full["llc/mean"]} vs ${restricted["llc/mean"]}`);
});

// ------------------------------------------------------------ determinism
test("same seed → bit-identical result JSON; SIMD and scalar builds agree; another seed differs", async () => {
  const a = JSON.stringify(await run(small()));
  const b = JSON.stringify(await run(small()));
  const scalar = JSON.parse(JSON.stringify(await run(small(), "scalar")));
  assert.is(a, b);
  scalar.engine.variant = "simd";
  assert.is(JSON.stringify(scalar), a);
  const detaching = detachingEngine(await loadEngine("simd"));
  const s = small();
  assert.is(JSON.stringify(await estimate(detaching, s.config, s.inputs(detaching))), a, "no view kept across an allocation");
  const other = await run(small({ seed: 43 }));
  assert.not.equal(other["loss/trace"], JSON.parse(a)["loss/trace"]);
});

test("chains are independent of each other: chain 1 of a 2-chain run equals chain 1 of a 3-chain run", async () => {
  const two = await run(small({ chains: 2, init_loss: "full" }));
  const three = await run(small({ chains: 3, init_loss: "full" }));
  assert.equal(two["loss/trace"][1], three["loss/trace"][1]);
});

// ------------------------------------------------------------ bad inputs
test("a diverging chain is an error naming chain and draw; the partial result keeps every earlier draw", async () => {
  // devinterp test_llc_nan: Polynomial [2,2] with lr = 1000, nβ = 1000 overflows within a few draws.
  const c = normalCrossingCase([2, 2], { chains: 2, draws: 50, epsilon: 1000, nbeta: 1000, fail_fast: true });
  const engine = await loadEngine("simd");
  const inputs = c.inputs(engine);
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  try {
    await estimate(engine, c.config, inputs);
    assert.unreachable("should diverge");
  } catch (e) {
    // One class per meaning: what prints as ChainDivergedError is one (and an EstimateError, with the partial result).
    assert.instance(e, ChainDivergedError);
    assert.instance(e, EstimateError);
    const err = e as EstimateError;
    const m = /(NaN|Inf) detected in loss at chain 0, draw (\d+)/.exec(err.message);
    assert.ok(m, err.message);
    const draw = Number(m![2]);
    assert.ok(draw > 0 && draw < 50);
    const trace = err.partial["loss/trace"][0];
    assert.is(trace.length, draw + 1);
    assert.ok(trace.slice(0, draw).every(Number.isFinite));
    assert.is(err.partial.status, "error");
  }
});

test("without fail_fast a diverged chain is recorded and the others run: λ̂ over the healthy chains, one diverged chain counts none", async () => {
  // The [2,2] case of devinterp test_llc_nan at lr 1000 diverges within a few draws in every chain.
  const c = normalCrossingCase([2, 2], { chains: 1, draws: 50, epsilon: 1000, nbeta: 1000 });
  const engine = await loadEngine("simd");
  const inputs = c.inputs(engine);
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  const r = await estimate(engine, c.config, inputs);
  assert.is(r.status, "diverged");
  assert.is(r.chains_completed, 0, "the only chain diverged: none completed");
  assert.is(r.chains_completed, 0);
  assert.ok(Number.isNaN(r["llc/mean"]), "no healthy chain, no estimate (null in JSON)");
  const [d] = r.diverged_chains!;
  assert.is(d.chain, 0);
  assert.is(r["loss/trace"][0].length, d.draw + 1, "the draws up to the diverged one are kept");
  assert.match(d.error, new RegExp(`detected in loss at chain 0, draw ${d.draw} \\(SGLD step ${d.step}\\)`));
});

test("restrict {} and an all-zero mask free no parameter: refused, naming the field", async () => {
  const c = reducedRankCase(5, 3, 5);
  const engine = await loadEngine("simd");
  const sampler = { ...c.config.sampler, chains: 1, draws: 5 };
  assert.throws(() => parseConfig({ ...c.config, sampler, restrict: {} }), /^restrict: expected a non-empty object of tensor names/);
  const zero = parseConfig({ ...c.config, sampler, restrict: { "layers.0.weight": new Array(15).fill(0) } });
  await estimate(engine, zero, c.inputs(engine)).then(() => assert.unreachable("an all-zero mask ran"), (e) =>
    assert.match(e.message, /^restrict\.layers\.0\.weight: every mask entry is 0, so no parameter moves/));
});

test("weights that do not match the model name the tensor and both shapes", async () => {
  const c = reducedRankCase(5, 3, 5);
  const engine = await loadEngine("simd");
  const weights = new Map<string, Tensor>([
    ["layers.0.weight", { dtype: "F32", shape: [5, 3], data: new Float32Array(15) }],
    ["layers.1.weight", { dtype: "F32", shape: [5, 3], data: new Float32Array(15) }],
  ]);
  const data = new Map<string, Tensor>([["x", { dtype: "F32", shape: [4, 5], data: new Float32Array(20) }], ["y", { dtype: "F32", shape: [4, 5], data: new Float32Array(20) }]]);
  const config = { ...c.config, sampler: { ...c.config.sampler, batch_size: 4 } };
  try {
    await estimate(engine, config, { weights, data });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, InputError);
    assert.match((e as Error).message, /weights\["layers\.0\.weight"\]: expected shape \[3, 5\], got \[5, 3\]/);
  }
  weights.delete("layers.1.weight");
  weights.set("layers.0.weight", { dtype: "F32", shape: [3, 5], data: new Float32Array(15) });
  await estimate(engine, config, { weights, data }).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /weights\["layers\.1\.weight"\]: missing tensor; expected shape \[5, 3\]/),
  );
});

test("data of the wrong width, a batch larger than n, or an unknown restricted tensor are named errors", async () => {
  const c = reducedRankCase(5, 3, 5);
  const engine = await loadEngine("simd");
  const weights = new Map<string, Tensor>([
    ["layers.0.weight", { dtype: "F32", shape: [3, 5], data: new Float32Array(15) }],
    ["layers.1.weight", { dtype: "F32", shape: [5, 3], data: new Float32Array(15) }],
  ]);
  const tensor = (rows: number, cols: number): Tensor => ({ dtype: "F32", shape: [rows, cols], data: new Float32Array(rows * cols) });
  const cfg = (batch: number, restrict: EstimateResult["config"]["restrict"] = null) => ({ ...c.config, restrict, sampler: { ...c.config.sampler, batch_size: batch } });
  await estimate(engine, cfg(4), { weights, data: new Map([["x", tensor(4, 4)], ["y", tensor(4, 5)]]) }).then(
    () => assert.unreachable(), (e) => assert.match(e.message, /data\["x"\]: expected shape \[n, 5\], got \[4, 4\]/));
  await estimate(engine, cfg(8), { weights, data: new Map([["x", tensor(4, 5)], ["y", tensor(4, 5)]]) }).then(
    () => assert.unreachable(), (e) => assert.match(e.message, /sampler\.batch_size: expected at most the number of data rows \(4\), got 8/));
  await estimate(engine, cfg(4, { "layers.2.weight": "all" }), { weights, data: new Map([["x", tensor(4, 5)], ["y", tensor(4, 5)]]) }).then(
    () => assert.unreachable(), (e) => assert.match(e.message, /restrict\.layers\.2\.weight: no such tensor/));
});

test("F64 weights or data beyond the f32 range name the tensor and the element, not a NaN loss", async () => {
  const c = reducedRankCase(5, 3, 5);
  const engine = await loadEngine("simd");
  const w0 = new Float64Array(15), w1 = new Float64Array(15);
  w1[7] = 1e39; // finite in f64, Infinity in f32: was "the loss at w* is NaN"
  const weights = new Map<string, Tensor>([
    ["layers.0.weight", { dtype: "F64", shape: [3, 5], data: w0 }],
    ["layers.1.weight", { dtype: "F64", shape: [5, 3], data: w1 }],
  ]);
  const x = new Float64Array(20), y = new Float64Array(20);
  const data = new Map<string, Tensor>([["x", { dtype: "F64", shape: [4, 5], data: x }], ["y", { dtype: "F64", shape: [4, 5], data: y }]]);
  const config = { ...c.config, sampler: { ...c.config.sampler, batch_size: 4 } };
  await estimate(engine, config, { weights, data }).then(
    () => assert.unreachable(),
    (e) => {
      assert.instance(e, InputError);
      assert.is(e.message, 'weights["layers.1.weight"][7]: expected a finite weight within the f32 range (|x| up to about 3.4028e38), got 1e+39');
    },
  );
  w1[7] = 0;
  x[13] = -5e38;
  await estimate(engine, config, { weights, data }).then(
    () => assert.unreachable(),
    (e) => assert.is(e.message, 'data["x"]: expected finite values within the f32 range (|x| up to about 3.4028e38), element 13 is -5e+38'),
  );
});

test.run();
