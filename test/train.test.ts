// Training the transformer: the checkpoint schedule, loss going down, and a run
// interrupted after a checkpoint resuming to the same bits as an uninterrupted one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { detachingEngine, loadEngine, mulberry32 } from "./helpers.ts";
import { checkpointSchedule, learningRate, repeatedSequence, trainTransformer, decodeOptimizerState, type TrainRunSettings, type TrainerHooks, type TrainLogLine } from "../src/train.ts";
import { DEFAULT_TRAIN_CONFIG, parseTrainConfig } from "../src/train-job.ts";
import { modelLayout } from "../src/models.ts";
import type { TransformerConfig } from "../src/config.ts";

const model: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 12, d_vocab: 13,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};
const settings: TrainRunSettings = {
  model, batch_size: 8, steps: 200, seed: 3, checkpoints: [0, 40, 100, 200], eval_every: 10, eval_sequences: 16, repeat_every: 0, repeat_source: "data",
  optimizer: { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.05, max_grad_norm: 1, warmup_steps: 5 },
};

/** Sequences with structure to learn: a random 3-token prefix repeated, so token p+1 = token p−2 from p = 2 on. */
function repeatedSequences(n: number, T: number, seed: number): Int32Array {
  const u = mulberry32(seed);
  const out = new Int32Array(n * T);
  for (let s = 0; s < n; s++) {
    const period = 3;
    const prefix = Array.from({ length: period }, () => Math.floor(u() * model.d_vocab));
    for (let p = 0; p < T; p++) out[s * T + p] = prefix[p % period];
  }
  return out;
}
const T = model.n_ctx;
const train = { tokens: repeatedSequences(2000, T, 1), nSeq: 2000, seqLen: T };
const heldout = { tokens: repeatedSequences(16, T, 2), nSeq: 16 };

function recorder() {
  const logs: TrainLogLine[] = [];
  const states = new Map<number, Uint8Array>();
  const hooks: TrainerHooks = {
    async checkpoint(step, _weights, state) { states.set(step, state); },
    async log(line) { logs.push(line); },
  };
  return { logs, states, hooks };
}

test("checkpoint schedule: every 100 to 1000, 200 to 5000, 400 to 20000, then 1000; first and last included", () => {
  const s = checkpointSchedule(25_500);
  assert.equal(s.slice(0, 3), [0, 100, 200]);
  assert.ok(s.includes(1000) && s.includes(1200) && !s.includes(1100));
  assert.ok(s.includes(4800) && s.includes(5200) && !s.includes(5400));
  assert.ok(s.includes(19600) && s.includes(20000) && s.includes(21000) && !s.includes(20400));
  assert.is(s[s.length - 1], 25_500);
  assert.equal(learningRate(settings.optimizer, 1), 1e-2 / 5);
  assert.equal(learningRate(settings.optimizer, 6), 1e-2);
});

test("training lowers the held-out loss", async () => {
  const r = recorder();
  await trainTransformer(await loadEngine("simd"), settings, train, heldout, r.hooks);
  const evals = r.logs.filter((l) => l.heldout_loss !== undefined).map((l) => l.heldout_loss!);
  assert.is(evals.length, 4);
  // Tokens are uniform over 13 ids, so no model beats ln 13 ≈ 2.56 without copying from context;
  // 9 of the 11 predictions per sequence are copies (optimum 2/11·ln 13 ≈ 0.47), so a model
  // that learned to copy gets far below ln 13.
  assert.ok(evals[0] > 2.5, `initial ${evals[0]}`);
  assert.ok(evals[3] < 0.6 * Math.log(13), `held-out loss ${evals.join(" → ")}`);
});

test("training keeps no view of the memory across an allocation (each allocation detaches the buffer)", async () => {
  // Regression: the initial weights were once written through a view taken before
  // initialWeights allocated, which failed only when that allocation grew the memory.
  const r = recorder();
  const short = { ...settings, steps: 3, checkpoints: [0, 3], eval_every: 1 };
  const { weights } = await trainTransformer(detachingEngine(await loadEngine("simd")), short, train, heldout, r.hooks);
  const { weights: plain } = await trainTransformer(await loadEngine("simd"), short, train, heldout, recorder().hooks);
  assert.equal(weights, plain);
});

test("a run interrupted after its step-100 checkpoint resumes to the same bits", async () => {
  const full = recorder();
  const finalFull = await trainTransformer(await loadEngine("simd"), settings, train, heldout, full.hooks);
  const crashed = recorder();
  const crashing: TrainerHooks = {
    ...crashed.hooks,
    async log(line) {
      if (line.step > 120) throw new Error("killed");
      await crashed.hooks.log(line);
    },
  };
  await trainTransformer(await loadEngine("simd"), settings, train, heldout, crashing).then(() => assert.unreachable(), (e) => assert.is(e.message, "killed"));
  const state = crashed.states.get(100)!;
  const resume = decodeOptimizerState(state, modelLayout(model).padded, "step 100");
  assert.is(resume.step, 100);
  const resumed = recorder();
  const finalResumed = await trainTransformer(await loadEngine("simd"), settings, train, heldout, resumed.hooks, resume);
  assert.equal(new Uint32Array(finalResumed.weights.buffer), new Uint32Array(finalFull.weights.buffer));
  assert.equal(resumed.states.get(200), full.states.get(200));
});

test("copying sequences: periodic with a period drawn from 2..T/2 per sequence; random tokens avoid the separator", async () => {
  const engine = await loadEngine("simd");
  const T = 64;
  const sequence = Int32Array.from({ length: T }, (_, p) => 100 + p);
  const periods = new Set<number>();
  for (let position = 0; position < 200; position++) {
    for (const source of ["random", "data"] as const) {
      const x = repeatedSequence(engine, { ...settings, repeat_source: source, model: { ...model, d_vocab: 50 } }, sequence, position);
      assert.is(x.length, T);
      // The period: the smallest k with x_p = x_(p−k) for all p ≥ k (the draw's own period, or a divisor of it).
      let k = 1;
      while (!x.every((v, p) => p < k || v === x[p - k])) k++;
      assert.ok(k >= 1 && k <= T / 2, `position ${position}: period ${k}`);
      if (source === "data") {
        assert.equal([...x.subarray(0, k)], [...sequence.subarray(0, k)]);
        periods.add(k);
      } else {
        assert.ok(x.every((v) => v >= 1 && v < 50), `position ${position}: tokens ${x}`);
      }
    }
  }
  // Drawn uniformly from 31 values, 200 draws leave out any one value with probability (30/31)^200 ≈ 1e-3.
  assert.ok(periods.size >= 28, `${periods.size} distinct periods`);
  assert.ok(periods.has(2) || periods.has(3), "short periods occur");
  assert.ok([...periods].some((k) => k >= 28), "long periods occur");
});

test("train config: defaults, and named errors", () => {
  const c = parseTrainConfig({ model: { ...model, d_vocab: 1024 } });
  assert.is(c.batch_size, 16);
  assert.is(c.checkpoints, "paper");
  assert.throws(() => parseTrainConfig({ model: { ...model, d_vocab: 1024 }, optimizer: { lr: -1 } }), /optimizer\.lr: expected/);
  assert.throws(() => parseTrainConfig({ model: { ...model, d_vocab: 1024 }, stpes: 3 }), /stpes: unknown field, did you mean steps\?/);
  assert.throws(() => parseTrainConfig({ model }), /data\.vocab_size: expected the model's d_vocab \(13\), got 1024/);
  assert.throws(() => parseTrainConfig({ model: { kind: "mlp", sizes: [2, 2] } }), /model\.kind: expected "transformer"/);
  // `llc train` without --config: what the README documents (copying sequences on, weight decay off).
  const d = parseTrainConfig(DEFAULT_TRAIN_CONFIG);
  assert.equal([d.model.n_heads, d.model.d_head, d.model.d_model, d.model.n_ctx, d.model.d_vocab], [8, 16, 64, 64, 1024]);
  assert.equal([d.batch_size, d.steps, d.repeat_every, d.repeat_source, d.optimizer.weight_decay, d.optimizer.lr], [32, 6000, 2, "random", 0, 1e-3]);
});

test.run();
