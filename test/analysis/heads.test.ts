// Head behaviour scores (src/analysis/heads.ts): exact values under uniform
// attention, a hand-built previous-token head, zero-ablation, determinism, and
// `llc heads` on a tiny training run made by `llc train`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detachingEngine, loadEngine, mulberry32, VARIANTS, scratchDir, randomTransformerWeights } from "../helpers.ts";
import type { TransformerConfig } from "../../src/config.ts";
import { findTensor } from "../../src/arena.ts";
import { modelLayout } from "../../src/models.ts";
import { formatHeadTable, headScores, headLabel, labelThresholds, selectCheckpointSteps, checkpointStepOf } from "../../src/analysis/heads.ts";

function randomTokens(m: TransformerConfig, nSeq: number, T: number, seed: number) {
  const u = mulberry32(seed);
  return { tokens: Int32Array.from({ length: nSeq * T }, () => Math.floor(u() * m.d_vocab)), nSeq, seqLen: T };
}

/** Random weights (LN weights near 1), as test/transformer.test.ts makes them. */
function randomArena(m: TransformerConfig, seed: number): Float32Array {
  return randomTransformerWeights(m, seed).arena;
}

function zeroTensor(m: TransformerConfig, arena: Float32Array, name: string) {
  const t = findTensor(modelLayout(m), name)!;
  arena.fill(0, t.offset, t.offset + t.size);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test("uniform causal attention (W_Q = W_K = 0, b_Q = b_K = 0): scores are the means of 1/(i+1)", async () => {
  const m: TransformerConfig = {
    kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 10, d_vocab: 13,
    normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
  };
  const arena = randomArena(m, 1);
  for (let l = 0; l < m.n_layers; l++)
    for (const w of ["W_Q", "W_K", "b_Q", "b_K"]) zeroTensor(m, arena, `blocks.${l}.attn.${w}`);
  const T = m.n_ctx, k = T / 2;
  const scores = headScores(await loadEngine("simd"), m, arena, randomTokens(m, 5, T, 2), { batch: 2 });
  const expectedPrevious = mean(range(1, T).map((i) => 1 / (i + 1)));
  const expectedInduction = mean(range(k, 2 * k).map((i) => 1 / (i + 1)));
  // Every score is 0, so each e^(s − max) = e^0 is exactly 1, row i's sum of i+1 ones is
  // exact, and pattern[i, j] = f32(1/(i+1)): one rounding, relative error ≤ 2^−24. A mean
  // of such values keeps that relative bound; the f64 sums add ~1e-16 more.
  const tolerance = (expected: number) => 2 ** -24 * expected + 1e-14;
  assert.is(scores.heads.length, 4);
  for (const h of scores.heads) {
    assert.ok(Math.abs(h.previousTokenScore - expectedPrevious) <= tolerance(expectedPrevious), `${h.layer}:${h.head} previous ${h.previousTokenScore} vs ${expectedPrevious}`);
    assert.ok(Math.abs(h.inductionScore - expectedInduction) <= tolerance(expectedInduction), `${h.layer}:${h.head} induction ${h.inductionScore} vs ${expectedInduction}`);
    // pattern[i, i] = 1/(i+1) too: the current-token score is the previous-token one.
    assert.ok(Math.abs(h.currentTokenScore - expectedPrevious) <= tolerance(expectedPrevious), `${h.layer}:${h.head} current ${h.currentTokenScore} vs ${expectedPrevious}`);
    assert.is(h.label, "other");
  }
  assert.is(scores.inductionHalf, k);
  assert.is(scores.sequences, 5);
});

// One layer, no LN, shortformer: W_pos puts position p on axis p (0..7) of the
// query/key input only, W_E puts the token on axes 8..15. A head whose query at
// position p is 60·e_{p−d} and whose key is 1·e_p scores 60/√8 ≈ 21 to key p − d
// and 0 elsewhere, so pattern[i, i−d] = 1/(1 + i·e^−21) ≈ 1 (for i ≥ d; rows i < d
// have query 0 and attend uniformly).
//   head 0: d = 1, a previous-token head; its OV circuit copies the attended
//           token's axes into the residual, so it matters for the loss;
//   head 1: d = k − 1 = 3, which on [r_1..r_4, r_1..r_4] is exactly the induction
//           target i − k + 1 (a positional stand-in for an induction head); W_O = 0;
//   head 2: W_Q = W_K = 0 (uniform attention), W_O = 0.
function handBuiltModel(): { m: TransformerConfig; arena: Float32Array } {
  const m: TransformerConfig = {
    kind: "transformer", n_layers: 1, n_heads: 3, d_model: 16, d_head: 8, n_ctx: 8, d_vocab: 11,
    normalization: null, positional_embedding: "shortformer", attn_bias: false, unembed_bias: false,
  };
  const layout = modelLayout(m);
  const arena = new Float32Array(layout.padded);
  const at = (name: string) => findTensor(layout, name)!.offset;
  const [D, dh] = [m.d_model, m.d_head];
  for (let t = 0; t < m.d_vocab; t++) arena[at("embed.W_E") + t * D + 8 + (t % 8)] = 1;
  for (let p = 0; p < m.n_ctx; p++) arena[at("pos_embed.W_pos") + p * D + p] = 1;
  // W_Q/W_K/W_V [H, d_model, d_head], W_O [H, d_head, d_model]
  const set = (name: string, head: number, row: number, col: number, value: number) =>
    (arena[at(`blocks.0.attn.${name}`) + head * D * dh + row * (name === "W_O" ? D : dh) + col] = value);
  const attendBack = (head: number, distance: number) => {
    for (let p = 0; p < m.n_ctx; p++) {
      set("W_K", head, p, p, 1);
      if (p >= distance) set("W_Q", head, p, p - distance, 60);
    }
  };
  attendBack(0, 1);
  attendBack(1, m.n_ctx / 2 - 1);
  for (let e = 0; e < dh; e++) {
    for (const head of [0, 1, 2]) set("W_V", head, 8 + e, e, 1 + head); // values everywhere …
    set("W_O", 0, e, 8 + e, 1); // … but only head 0 writes them out
  }
  for (let d = 8; d < D; d++) for (let t = 0; t < m.d_vocab; t++) arena[at("unembed.W_U") + d * m.d_vocab + t] = (d - 8 === (t + 1) % 8 ? 2 : 0) + 0.1 * ((d * t) % 3);
  return { m, arena };
}

test("hand-built heads: previous-token > 0.9 and labelled so; the induction target is i − k + 1; a uniform head is other", async () => {
  const { m, arena } = handBuiltModel();
  const scores = headScores(await loadEngine("simd"), m, arena, randomTokens(m, 6, m.n_ctx, 3), { batch: 4 });
  const [h0, h1, h2] = scores.heads;
  assert.ok(h0.previousTokenScore > 0.9, `head 0:0 previous-token score ${h0.previousTokenScore}`);
  assert.ok(h0.inductionScore < 0.01, `head 0:0 induction score ${h0.inductionScore}`);
  assert.is(h0.label, "previous-token");
  assert.ok(h0.currentTokenScore < 0.01, `head 0:0 current-token score ${h0.currentTokenScore}`);
  assert.ok(h1.inductionScore > 0.9, `head 0:1 induction score ${h1.inductionScore}`);
  assert.ok(h1.previousTokenScore < 0.4, `head 0:1 previous-token score ${h1.previousTokenScore}`);
  assert.is(h1.label, "induction");
  assert.ok(h2.previousTokenScore < 0.3 && h2.inductionScore < 0.3, `head 0:2 ${h2.previousTokenScore}, ${h2.inductionScore}`);
  assert.is(h2.label, "other");
});

test("ablating a head whose W_O slice is zero changes nothing (mean and zero); ablating one that writes does", async () => {
  const { m, arena } = handBuiltModel();
  for (const ablation of ["mean", "zero"] as const) {
    const scores = headScores(await loadEngine("simd"), m, arena, randomTokens(m, 6, m.n_ctx, 3), { batch: 4, ablation });
    const [h0, h1, h2] = scores.heads;
    // z·W_O[h] is ±0 whatever z replaces it, so the loss is the same bits.
    assert.is(h1.ablationDelta, 0);
    assert.is(h2.ablationDelta, 0);
    assert.ok(h0.ablationDelta !== 0 && Number.isFinite(h0.ablationDelta), `${ablation}: head 0:0 Δloss ${h0.ablationDelta}`);
    assert.ok(Number.isFinite(scores.baseLoss) && scores.baseLoss > 0);
    assert.is(scores.ablation, ablation);
    assert.is(h1.multigrams!.counts.total, 0, "a head that writes nothing holds no multigram");
  }
});

test("deterministic: repeated calls, both engine builds and any batch size give the same scores", async () => {
  const m: TransformerConfig = {
    kind: "transformer", n_layers: 2, n_heads: 3, d_model: 16, d_head: 8, n_ctx: 12, d_vocab: 17,
    normalization: "LN", positional_embedding: "standard", attn_bias: true, unembed_bias: true,
  };
  const arena = randomArena(m, 4);
  const data = randomTokens(m, 7, m.n_ctx, 5);
  const engine = await loadEngine("simd");
  const first = headScores(engine, m, arena, data, { batch: 3, seed: 9 });
  assert.equal(headScores(engine, m, arena, data, { batch: 3, seed: 9 }), first);
  assert.equal(headScores(await loadEngine(VARIANTS[1]), m, arena, data, { batch: 3, seed: 9 }), first, "scalar build = SIMD build");
  assert.equal(headScores(detachingEngine(await loadEngine("simd")), m, arena, data, { batch: 3, seed: 9 }), first, "no view kept across an allocation");
  // Patterns do not depend on the batching, and per-sequence sums are added in sequence
  // order, so the attention scores are the same bits; the loss means differ only by f64 rounding.
  const whole = headScores(engine, m, arena, data, { batch: 7, seed: 9 });
  whole.heads.forEach((h, i) => {
    assert.is(h.previousTokenScore, first.heads[i].previousTokenScore);
    assert.is(h.inductionScore, first.heads[i].inductionScore);
  });
  assert.ok(Math.abs(whole.baseLoss - first.baseLoss) <= 1e-6 * first.baseLoss, `${whole.baseLoss} vs ${first.baseLoss}`);
  // Another seed draws other induction tokens.
  assert.not.equal(headScores(engine, m, arena, data, { batch: 3, seed: 10 }).heads.map((h) => h.inductionScore), first.heads.map((h) => h.inductionScore));
  const other = headScores(engine, m, arena, data, { maxSequences: 2 });
  assert.is(other.sequences, 2);
});

test("headLabel: the largest attention score over its threshold, then the multigram share, else other", () => {
  const scores = (p: number, c: number, i: number, share?: number) => ({ previousTokenScore: p, currentTokenScore: c, inductionScore: i, multigramShare: share });
  assert.is(headLabel(scores(0.5, 0.45, 0.9, 1)), "induction");
  assert.is(headLabel(scores(0.5, 0.45, 0.1, 1)), "previous-token");
  assert.is(headLabel(scores(0.3, 0.45, 0.1, 1)), "current-token");
  assert.is(headLabel(scores(0.3, 0.3, 0.3, 0.05)), "multigram");
  assert.is(headLabel(scores(0.3, 0.3, 0.3, 0.049)), "other");
  assert.is(headLabel(scores(0.3, 0.3, 0.3)), "other", "no multigrams measured");
  assert.is(headLabel(scores(0.5, 0.5, 0.5)), "previous-token", "ties: previous-token first");
  assert.is(headLabel(scores(0.3, 0.3, 0.3), labelThresholds({ induction: 0.25 })), "induction");
  assert.throws(() => labelThresholds({ induction: Number.NaN }), /thresholds\.induction must be a finite number/);
});

test("formatHeadTable aligns columns; step selection and checkpoint names", () => {
  const table = formatHeadTable([
    { layer: 0, head: 0, previousTokenScore: 0.91234, currentTokenScore: 0.05, inductionScore: 0.01, ablationDelta: 0.5, label: "previous-token" },
    { layer: 1, head: 10, previousTokenScore: 0.1, currentTokenScore: 0.2, inductionScore: 0.75, ablationDelta: -0.00123, label: "induction" },
  ]);
  const lines = table.trimEnd().split("\n");
  assert.is(lines.length, 3);
  assert.match(lines[0], /^head\s+prev-token\s+current\s+induction\s+Δloss\s+multigrams\s+label$/);
  assert.match(lines[1], /^0:0\s+0\.912\s+0\.050\s+0\.010\s+\+0\.5000\s+–\s+previous-token$/);
  assert.match(lines[2], /^1:10\s+0\.100\s+0\.200\s+0\.750\s+-0\.0012\s+–\s+induction$/);
  assert.is(lines[1].indexOf("0.912") + 5, lines[0].indexOf("prev-token") + 10, "numbers right-aligned under their header");

  assert.is(checkpointStepOf("step-000120.safetensors"), 120);
  assert.is(checkpointStepOf("optimizer.safetensors"), undefined);
  const available = [0, 100, 200];
  assert.equal(selectCheckpointSteps("last", available), [200]);
  assert.equal(selectCheckpointSteps("all", available), available);
  assert.equal(selectCheckpointSteps("200,0", available), [0, 200]);
  assert.throws(() => selectCheckpointSteps("150", available), /no checkpoint at step 150 \(checkpoints: 0, 100, 200\)/);
  assert.throws(() => selectCheckpointSteps("latest", available), /expected last, all or a comma-separated list of steps, got "latest"/);
});

// ------------------------------------------------------------ llc heads, end to end
const root = fileURLToPath(new URL("../..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-heads-");
const runDir = join(dir, "run");

test("llc heads on a tiny run: last step by default, --steps all, bad --steps exits 2", () => {
  const build = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, encoding: "utf8" });
  assert.is(build.status, 0, build.stderr);
  const config = {
    model: { kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 32, d_vocab: 300, normalization: "LN", positional_embedding: "shortformer" },
    data: { vocab_size: 300, max_bytes_per_corpus: 100000 },
    steps: 20, eval_every: 10, checkpoints: [0, 20], out: "run",
  };
  writeFileSync(join(dir, "cfg.json"), JSON.stringify(config));
  const trained = llc(["train", "--config", join(dir, "cfg.json"), "--quiet"]);
  assert.is(trained.status, 0, trained.stderr);

  const rows = /^(\d+):(\d+)\s+(\d\.\d{3})\s+(\d\.\d{3})\s+(\d\.\d{3})\s+([+-]\d+\.\d{4})\s+(\d+)\s+(previous-token|current-token|induction|multigram|other)$/gm;
  const last = llc(["heads", "--run", runDir, "--sequences", "8", "--data", "mix"]);
  assert.is(last.status, 0, last.stderr);
  assert.match(last.stdout, /^step 20: mix held-out loss \d+\.\d{4} on 8 sequences of 32; induction on 8 random sequences repeated after k = 16; mean-ablation; \d+ multigrams occur ≥ 5 times$/m);
  assert.not.match(last.stdout, /^step 0:/m);
  assert.match(last.stdout, /^head\s+prev-token\s+current\s+induction\s+Δloss\s+multigrams\s+label$/m);
  assert.equal([...last.stdout.matchAll(rows)].map((r) => `${r[1]}:${r[2]}`), ["0:0", "0:1", "1:0", "1:1"]);

  // Default data: held-out prose, then code.
  const json = join(dir, "heads.json");
  const all = llc(["heads", "--run", runDir, "--steps", "all", "--sequences", "4", "--json", json, "--quiet"]);
  assert.is(all.status, 0, all.stderr);
  const tables = [...all.stdout.matchAll(/^step (\d+): (\w+) held-out/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.equal(tables, ["0 prose", "0 code", "20 prose", "20 code"]);
  assert.is([...all.stdout.matchAll(rows)].length, 16);
  const report = JSON.parse(readFileSync(json, "utf8"));
  assert.is(report.format, "llc-wasm/heads/1");
  assert.equal(report.thresholds, { previous_token: 0.4, current_token: 0.4, induction: 0.4, multigram_share: 0.05 });
  assert.equal(report.checkpoints.map((c: { step: number; data: string }) => `${c.step} ${c.data}`), tables);
  const head = report.checkpoints[3].heads[1];
  assert.equal(Object.keys(head), ["layer", "head", "previous_token", "current_token", "induction", "ablation_delta", "multigrams", "label"]);
  assert.equal([head.layer, head.head], [0, 1]);
  assert.equal(Object.keys(head.multigrams), ["counts", "top", "positions"]);
  assert.equal(Object.keys(head.multigrams.counts), ["2-gram", "3-gram", "4-gram", "skip-bigram", "total"]);
  assert.ok(head.multigrams.positions.length === 20 && head.multigrams.positions.every((p: { context: number[]; context_text: string }) => p.context.length <= 12 && typeof p.context_text === "string"));
  assert.ok(head.multigrams.top.every((m: { tokens: number[]; text: string[] }) => m.text.length === m.tokens.length));

  // The same checkpoint and token file given directly give the same heads.
  const direct = join(dir, "direct.json");
  const byFile = llc(["heads", "--checkpoint", join(runDir, "checkpoints/step-000020.safetensors"), "--data", join(runDir, "data/code-heldout.safetensors"), "--sequences", "4", "--json", direct, "--quiet"]);
  assert.is(byFile.status, 0, byFile.stderr);
  assert.equal(JSON.parse(readFileSync(direct, "utf8")).checkpoints[0].heads, report.checkpoints[3].heads);
  const zero = llc(["heads", "--run", runDir, "--sequences", "4", "--data", "code", "--ablation", "zero", "--thresholds", "multigram_share=0", "--min-count", "1"]);
  assert.is(zero.status, 0, zero.stderr);
  assert.match(zero.stdout, /zero-ablation/);
  assert.ok([...zero.stdout.matchAll(rows)].every((r) => r[8] !== "other"), "with multigram_share=0 every head not labelled by attention is a multigram head");

  const bad = llc(["heads", "--run", runDir, "--steps", "7"]);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--steps: no checkpoint at step 7 \(checkpoints: 0, 20\)/);
  const garbled = llc(["heads", "--run", runDir, "--steps", "last,5"]);
  assert.is(garbled.status, 2);
  assert.match(garbled.stderr, /--steps: expected last, all or a comma-separated list of steps/);
  const missing = llc(["heads", "--run", join(dir, "nowhere")]);
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /run directory .*nowhere does not exist/);
  const empty = join(dir, "empty-run");
  mkdirSync(join(empty, "checkpoints"), { recursive: true });
  const none = llc(["heads", "--run", empty]);
  assert.is(none.status, 1);
  assert.match(none.stderr, /no checkpoints \(step-NNNNNN\.safetensors\) in .*empty-run\/checkpoints/);
  const noRun = llc(["heads"]);
  assert.is(noRun.status, 2);
  assert.match(noRun.stderr, /heads: --run DIR is required/);
  const badData = llc(["heads", "--run", runDir, "--data", "poetry"]);
  assert.is(badData.status, 2);
  assert.match(badData.stderr, /--data: expected mix, prose or code \(or a comma-separated list\), got "poetry"/);
  const badThreshold = llc(["heads", "--run", runDir, "--thresholds", "induction=high"]);
  assert.is(badThreshold.status, 2);
  assert.match(badThreshold.stderr, /--thresholds: induction needs a number, got "high"/);
  const noData = llc(["heads", "--checkpoint", join(runDir, "checkpoints/step-000020.safetensors")]);
  assert.is(noData.status, 2);
  assert.match(noData.stderr, /heads: --checkpoint FILE needs --data FILE/);
});

test("llc circuits on the tiny run: composition and path-ablation matrices with the issue's keys; --fold-ln; errors", () => {
  const json = join(dir, "circuits.json");
  const run = llc(["circuits", "--run", runDir, "--sequences", "4", "--top", "3", "--json", json, "--quiet"]);
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /^step 20: composition scores \(layer-0 head i → layer-1 head j, weights as stored\); random baseline 0\.\d{4}$/m);
  assert.match(run.stdout, /^Q-composition$/m);
  assert.match(run.stdout, /^V path$/m);
  const report = JSON.parse(readFileSync(json, "utf8"));
  for (const p of ["Q", "K", "V"]) {
    assert.is(report.composition[p].length, 2);
    assert.ok(report.composition[p].every((row: number[]) => row.length === 2 && row.every((x) => x > 0 && x <= 1)), `composition ${p} in (0, 1]`);
    assert.ok(report.path_ablation[p].every((row: number[]) => row.length === 2 && row.every(Number.isFinite)), `path ablation ${p}`);
    assert.ok(report.path_tokens[p][1][0].length === 3);
  }
  assert.ok(report.composition.baseline > 0 && report.composition.baseline < 1);
  assert.equal(Object.keys(report.path_ablation), ["Q", "K", "V"]);
  assert.equal(Object.keys(report.composition), ["Q", "K", "V", "baseline"]);
  const folded = join(dir, "folded.json");
  const fold = llc(["circuits", "--checkpoint", join(runDir, "checkpoints/step-000020.safetensors"), "--data", join(runDir, "data/mix-heldout.safetensors"), "--sequences", "4", "--fold-ln", "--json", folded, "--quiet"]);
  assert.is(fold.status, 0, fold.stderr);
  const foldedReport = JSON.parse(readFileSync(folded, "utf8"));
  assert.is(foldedReport.fold_ln, true);
  assert.equal(foldedReport.path_ablation, report.path_ablation, "the same checkpoint and data, given directly: the same path ablation");
  assert.not.equal(foldedReport.composition.Q, report.composition.Q, "folding ln1.w changes the scores");
  const badStep = llc(["circuits", "--run", runDir, "--step", "0,20"]);
  assert.is(badStep.status, 2);
  assert.match(badStep.stderr, /--step: expected last or one step, got "0,20"/);

});

test.run();
