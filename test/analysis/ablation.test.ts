// Head ablation in the engine's forward (assembly/transformer.ts TFL_ABLATE…,
// src/analysis/ablation.ts): the intact forward is the plain one to the bit,
// mean-/zero-/path-ablation against the independent f64 reference with the same
// replacements, and the exact identities the issue asks for.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, detachingEngine, loadEngine, mulberry32, randomTransformerWeights } from "../helpers.ts";
import type { TransformerConfig } from "../../src/config.ts";
import { findTensor } from "../../src/arena.ts";
import { modelLayout, planModel } from "../../src/models.ts";
import { AblationProbe, meanTokenLoss, topTokenChanges, PROJECTIONS, type TokenData } from "../../src/analysis/ablation.ts";
import { referenceForward, referenceTokenLosses, type Params } from "../reference/transformer.ts";

const base: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 3, d_model: 12, d_head: 4, n_ctx: 8, d_vocab: 11,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};
const MODELS: [string, Partial<TransformerConfig>][] = [
  ["LN + shortformer", {}],
  ["no LN + standard, no biases", { normalization: null, positional_embedding: "standard", attn_bias: false, unembed_bias: false }],
];

function randomParams(m: TransformerConfig, seed: number): { arena: Float32Array; params: Params } {
  return randomTransformerWeights(m, seed, 0.8);
}

function randomData(m: TransformerConfig, nSeq: number, T: number, seed: number): TokenData {
  const u = mulberry32(seed);
  return { tokens: Int32Array.from({ length: nSeq * T }, () => Math.floor(u() * m.d_vocab)), nSeq, seqLen: T };
}
const rows = (d: TokenData) => Array.from({ length: d.nSeq }, (_, s) => Array.from(d.tokens.subarray(s * d.seqLen, (s + 1) * d.seqLen)));

/** Bit-identical arrays (Object.is per element: NaN = NaN, +0 ≠ −0), which assert.equal's === on typed arrays is not. */
function assertSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    if (!Object.is(actual[i], expected[i])) assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

/** A head's slice of a [H, a, b] tensor, zeroed in place. */
function zeroHeadSlice(m: TransformerConfig, arena: Float32Array, name: string, head: number) {
  const t = findTensor(modelLayout(m), name)!;
  const size = t.size / m.n_heads;
  arena.fill(0, t.offset + head * size, t.offset + (head + 1) * size);
}

test("intact forward: the plain plan's loss to the bit (one batch), any batch size the same token losses; SIMD = scalar", async () => {
  for (const [label, change] of MODELS) {
    const m = { ...base, ...change };
    const { arena } = randomParams(m, 1);
    const data = randomData(m, 5, m.n_ctx, 2);
    const engine = await loadEngine("simd");
    const layout = modelLayout(m);
    const params = engine.allocF32(layout.padded);
    engine.f32(params, layout.padded).set(arena);
    const plain = planModel(engine, m, layout, params, engine.allocF32(layout.padded), data.nSeq, m.n_ctx);
    const tokensAt = engine.allocI32(data.tokens.length);
    engine.i32(tokensAt, data.tokens.length).set(data.tokens);
    const plainLoss = engine.kernels.modelLoss(plain.address, tokensAt, 0, data.nSeq);
    // One batch: the plain loss is Σ nll over rows in (b, p) order / count, the order meanTokenLoss adds them in.
    const whole = new AblationProbe(engine, m, arena, data, { batch: data.nSeq }).run();
    assert.ok(Object.is(whole.loss, plainLoss), `${label}: ${whole.loss} vs plain ${plainLoss}`);
    const batched = new AblationProbe(detachingEngine(await loadEngine("simd")), m, arena, data, { batch: 2 }).run();
    assertSameBits(batched.tokenLosses, whole.tokenLosses, `${label}: batch 2 = batch 5`);
    const scalar = new AblationProbe(await loadEngine(VARIANTS[1]), m, arena, data, { batch: 2 }).run({ heads: [{ layer: 0, head: 1 }] });
    const simd = new AblationProbe(engine, m, arena, data, { batch: 2 }).run({ heads: [{ layer: 0, head: 1 }] });
    assertSameBits(scalar.tokenLosses, simd.tokenLosses, `${label}: scalar = SIMD under ablation`);
    const path = { path: { layer: 1, sources: [0, 2], readers: [{ projection: "Q" as const, head: 1 }, { projection: "V" as const, head: 2 }] } };
    assertSameBits(new AblationProbe(await loadEngine(VARIANTS[1]), m, arena, data, { batch: 2 }).run(path).tokenLosses,
      new AblationProbe(engine, m, arena, data, { batch: 2 }).run(path).tokenLosses, `${label}: scalar = SIMD under path ablation`);
    assert.ok(Object.is(meanTokenLoss(whole.tokenLosses, data.nSeq, m.n_ctx), whole.loss));
    assert.ok(Number.isNaN(whole.tokenLosses[0]), "position 0 is predicted by nothing");
  }
});

// f32 engine vs f64 reference: transformer.test.ts bounds the logits' error by 1e-4; a
// token's loss is a log-sum-exp minus one logit, each within that, so 2e-4 bounds it
// (the replacement means differ by f32 rounding, ~1e-7 relative, far below).
const TOLERANCE = 2e-4;
function assertClose(actual: Float64Array, expected: number[][], T: number, what: string) {
  let worst = 0;
  expected.forEach((row, s) => row.forEach((e, p) => {
    if (p > 0) worst = Math.max(worst, Math.abs(actual[s * T + p] - e));
  }));
  assert.ok(worst <= TOLERANCE, `${what}: worst token-loss error ${worst}`);
}

test("mean-, zero- and path ablation match the f64 reference with the same replacements", async () => {
  for (const [label, change] of MODELS) {
    const m = { ...base, ...change };
    const { arena, params } = randomParams(m, 3);
    const data = randomData(m, 6, m.n_ctx, 4);
    const probe = new AblationProbe(await loadEngine("simd"), m, arena, data, { batch: 4 });
    const tokens = rows(data);
    // The reference's own per-position means of z over the sequences.
    const { z } = referenceForward(m, params, tokens);
    const mean = (l: number, h: number) => z[l][h][0].map((_, p) => z[l][h][0][p].map((_, e) => z[l][h].reduce((s, seq) => s + seq[p][e], 0) / data.nSeq));
    const zero = () => Array.from({ length: m.n_ctx }, () => new Array(m.d_head).fill(0));
    assertClose(probe.run().tokenLosses, referenceTokenLosses(m, params, tokens), m.n_ctx, `${label} intact`);
    for (const head of [{ layer: 0, head: 2 }, { layer: 1, head: 0 }]) {
      assertClose(probe.run({ heads: [head] }).tokenLosses, referenceTokenLosses(m, params, tokens, { replace: mean, heads: [head] }), m.n_ctx, `${label} mean-ablate ${head.layer}:${head.head}`);
      assertClose(probe.run({ heads: [head], kind: "zero" }).tokenLosses, referenceTokenLosses(m, params, tokens, { replace: zero, heads: [head] }), m.n_ctx, `${label} zero-ablate ${head.layer}:${head.head}`);
    }
    for (const projection of PROJECTIONS) {
      const got = probe.run({ path: { layer: 1, sources: [1], readers: [{ projection, head: 2 }] } });
      const expected = referenceTokenLosses(m, params, tokens, { replace: mean, path: { layer: 1, sources: [1], readers: [[projection, 2]] } });
      assertClose(got.tokenLosses, expected, m.n_ctx, `${label} path 0:1 → 1:2 ${projection}`);
      assert.ok(got.loss !== probe.run().loss, `${label} path ${projection}: the ablation changes the loss`);
    }
  }
});

test("zero-ablation = W_O[h] zeroed, to the bit; mean-ablation over identical sequences changes nothing, to the bit", async () => {
  const m = base;
  const { arena } = randomParams(m, 5);
  const data = randomData(m, 4, m.n_ctx, 6);
  const engine = await loadEngine("simd");
  const zeroed = arena.slice();
  zeroHeadSlice(m, zeroed, "blocks.0.attn.W_O", 1);
  // z_1·W_O[1] with z_1 = 0 or W_O[1] = 0: every product is ±0, and adding ±0 to the other heads' sums changes no bit.
  assertSameBits(new AblationProbe(engine, m, arena, data).run({ heads: [{ layer: 0, head: 1 }], kind: "zero" }).tokenLosses,
    new AblationProbe(engine, m, zeroed, data).run().tokenLosses, "zero-ablation of 0:1");
  // Four copies of one sequence: the f64 mean of four equal f32 values is that value, so z is replaced by itself.
  const one = data.tokens.subarray(0, m.n_ctx);
  const copies: TokenData = { tokens: Int32Array.from({ length: 4 * m.n_ctx }, (_, i) => one[i % m.n_ctx]), nSeq: 4, seqLen: m.n_ctx };
  const probe = new AblationProbe(engine, m, arena, copies, { batch: 3 });
  const intact = probe.run();
  for (let l = 0; l < m.n_layers; l++)
    for (let h = 0; h < m.n_heads; h++) assertSameBits(probe.run({ heads: [{ layer: l, head: h }] }).tokenLosses, intact.tokenLosses, `head ${l}:${h}`);
  // …while over distinct sequences the same ablation does change the loss.
  const distinct = new AblationProbe(engine, m, arena, data);
  assert.ok(distinct.run({ heads: [{ layer: 0, head: 0 }] }).loss !== distinct.run().loss);
});

test("path ablation: into a head that does not read the path, nothing changes to the bit; all paths of head i = head i ablated in layer 1's input", async () => {
  for (const [label, change] of MODELS) {
    const m = { ...base, ...change };
    const { arena } = randomParams(m, 7);
    const data = randomData(m, 5, m.n_ctx, 8);
    const engine = await loadEngine("simd");
    // Head 1:2 writes nothing (W_O = 0): no path into it can change the output.
    // Head 1:0 reads nothing through its query (W_Q = 0): its q is b_Q whatever the input.
    const surgery = arena.slice();
    zeroHeadSlice(m, surgery, "blocks.1.attn.W_O", 2);
    zeroHeadSlice(m, surgery, "blocks.1.attn.W_Q", 0);
    const probe = new AblationProbe(engine, m, surgery, data, { batch: 2 });
    const intact = probe.run();
    for (const projection of PROJECTIONS)
      assertSameBits(probe.run({ path: { layer: 1, sources: [0], readers: [{ projection, head: 2 }] } }).tokenLosses, intact.tokenLosses, `${label}: ${projection} into 1:2 (W_O = 0)`);
    assertSameBits(probe.run({ path: { layer: 1, sources: [0], readers: [{ projection: "Q", head: 0 }] } }).tokenLosses, intact.tokenLosses, `${label}: Q into 1:0 (W_Q = 0)`);
    assert.ok(probe.run({ path: { layer: 1, sources: [0], readers: [{ projection: "V", head: 0 }] } }).loss !== intact.loss, `${label}: V into 1:0 does change the loss`);
    // Its keys matter only through q = b_Q: with b_Q the K path changes the loss; without, q = 0,
    // every score is 0 and the attention uniform whatever the keys, so nothing changes.
    const kPath = probe.run({ path: { layer: 1, sources: [0], readers: [{ projection: "K", head: 0 }] } });
    if (m.attn_bias) assert.ok(kPath.loss !== intact.loss, `${label}: K into 1:0 changes the loss`);
    else assertSameBits(kPath.tokenLosses, intact.tokenLosses, `${label}: K into 1:0 (q = 0: uniform attention)`);

    // Every projection of every layer-1 head reads the stream without head 0:1: layer 1's
    // q, k, v and z are those of the model with 0:1 ablated (the same ops on the same inputs).
    const snapshot = () => ["TFL_Q", "TFL_K", "TFL_V", "TFL_Z"].map((f) => engine.f32(probe.layerAddress(1, f), 2 * m.n_ctx * m.n_heads * m.d_head).slice());
    const readers = PROJECTIONS.flatMap((projection) => [0, 1, 2].map((head) => ({ projection, head })));
    probe.run({ path: { layer: 1, sources: [1], readers } });
    const viaPaths = snapshot();
    probe.run({ heads: [{ layer: 0, head: 1 }] });
    snapshot().forEach((buffer, i) => assertSameBits(buffer, viaPaths[i], `${label}: layer 1's ${["q", "k", "v", "z"][i]} with every path from 0:1 ablated`));
  }
});

test("topTokenChanges: largest first, ties by position, context of the preceding tokens", () => {
  const data: TokenData = { tokens: Int32Array.from([5, 6, 7, 8, 1, 2, 3, 4]), nSeq: 2, seqLen: 4 };
  const baseLosses = new Float64Array(8);
  const ablated = Float64Array.from([NaN, 0.5, -2, 0.5, NaN, 1, 0, 0.25]);
  const top = topTokenChanges(data, baseLosses, ablated, 3, 2);
  assert.equal(top.map((t) => [t.sequence, t.position, t.delta]), [[1, 1, 1], [0, 1, 0.5], [0, 3, 0.5]]);
  assert.equal(top[2].context, [6, 7]);
  assert.equal(top[0].context, [1]);
  assert.equal(topTokenChanges(data, baseLosses, ablated, 1, 2, Math.abs).map((t) => t.delta), [-2]);
});

test.run();
