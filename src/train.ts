// Training w* with AdamW inside the engine (full batch or minibatches in data
// order), so that every model the estimator samples around was made here.
import type { Engine } from "./engine.ts";
import type { ModelConfig, TransformerConfig } from "./config.ts";
import type { Layout } from "./arena.ts";
import { measureAllocations, planModel, modelLayout, moduleConstant } from "./models.ts";
import { readSafetensors, SafetensorsError, writeSafetensors, type Tensor } from "./io/safetensors.ts";

export interface AdamWOptions {
  steps: number;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Rescale the gradient to at most this L2 norm before the update (PyTorch clip_grad_norm_). */
  maxGradNorm?: number;
  /** Multiply lr by this factor for the last quarter of the steps, to settle into the minimum. */
  finalLrFactor?: number;
}

export interface TrainResult {
  weights: Float32Array; // padded arena
  loss: number; // full-data loss at the end
  gradientNorm: number; // ‖∇L‖ at the end: near 0 at a critical point
}

/**
 * Full-batch AdamW from `init` on (x, y) — or, for the transformer, on token
 * sequences x [n, seqLen] (y empty); deterministic in every host.
 */
export function trainFullBatch(
  engine: Engine, model: ModelConfig, layout: Layout, init: Float32Array,
  x: Float32Array | Int32Array, y: Float32Array, n: number, options: AdamWOptions, seqLen?: number,
): TrainResult {
  const k = engine.kernels;
  const P = layout.padded;
  const params = engine.allocF32(P);
  const grads = engine.allocF32(P);
  const m = engine.allocF32(P);
  const v = engine.allocF32(P);
  const X = engine.allocF32(Math.max(1, x.length));
  const Y = engine.allocF32(Math.max(1, y.length));
  const plan = planModel(engine, model, layout, params, grads, n, seqLen);
  engine.f32(params, P).set(init);
  if (x instanceof Int32Array) engine.i32(X, x.length).set(x);
  else engine.f32(X, x.length).set(x);
  engine.f32(Y, y.length).set(y);
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, maxGradNorm, finalLrFactor = 1 } = options;
  for (let t = 1; t <= options.steps; t++) {
    k.modelLossGrad(plan.address, X, Y, n);
    if (maxGradNorm !== undefined) {
      const norm = Math.sqrt(k.sumOfSquares(grads, P));
      if (norm > maxGradNorm) k.scaleInPlace(grads, P, maxGradNorm / (norm + 1e-6));
    }
    const rate = t > (options.steps * 3) / 4 ? lr * finalLrFactor : lr;
    k.adamwStep(P, params, grads, m, v, rate, beta1, beta2, eps, weightDecay, t);
  }
  const loss = k.modelLossGrad(plan.address, X, Y, n);
  return { weights: engine.f32(params, P).slice(), loss, gradientNorm: Math.sqrt(k.sumOfSquares(grads, P)) };
}

// ------------------------------------------------------------------ language-model training runs

export interface OptimizerConfig {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  max_grad_norm: number | null;
  /** Linear warm-up from 0 over this many steps, then constant (0: constant throughout). */
  warmup_steps: number;
}

export interface TrainRunSettings {
  model: TransformerConfig;
  optimizer: OptimizerConfig;
  batch_size: number;
  steps: number;
  seed: number;
  /** Checkpoint steps; "paper" = dense early, sparse late (checkpointSchedule). */
  checkpoints: "paper" | number[];
  /** Held-out loss every this many steps (and at every checkpoint), on `eval_sequences` sequences. */
  eval_every: number;
  eval_sequences: number;
  /**
   * Every n-th training sequence (by position in the data order) is replaced by a
   * block written periodically (repeatedSequence): in-context copying that natural
   * text offers only rarely at this scale (Olsson et al. 2022's induction task).
   * 0 turns it off.
   */
  repeat_every: number;
  /** Where the repeated block comes from: the sequence's own start, or random tokens (Philox). */
  repeat_source: "data" | "random";
}

/**
 * The paper's spacing (Wang et al. 2024, App. A: every 100 steps early, then 200,
 * 400, 1000), scaled to the run: every 100 to 1000, 200 to 5000, 400 to 20000,
 * then 1000; always step 0 and the last step.
 */
export function checkpointSchedule(steps: number): number[] {
  const out = new Set<number>([0, steps]);
  for (let s = 0; s <= steps; ) {
    out.add(s);
    const spacing = s < 1000 ? 100 : s < 5000 ? 200 : s < 20000 ? 400 : 1000;
    s = (Math.floor(s / spacing) + 1) * spacing;
  }
  return [...out].filter((s) => s <= steps).sort((a, b) => a - b);
}

/**
 * The steps checkpointed: the schedule asked for, and always the last step, so a
 * finished run keeps its final weights and a rerun finds it finished (a list that
 * omits it would otherwise end with neither the weights nor the log after its
 * last checkpoint, and a rerun would retrain them and lose them again).
 */
export function checkpointSet(settings: Pick<TrainRunSettings, "checkpoints" | "steps">): Set<number> {
  const steps = settings.checkpoints === "paper" ? checkpointSchedule(settings.steps) : settings.checkpoints;
  return new Set([...steps, settings.steps]);
}

/** Learning rate at (1-based) step t. */
export function learningRate(o: OptimizerConfig, t: number): number {
  return o.warmup_steps > 0 && t <= o.warmup_steps ? (o.lr * t) / o.warmup_steps : o.lr;
}

export interface TrainLogLine {
  step: number;
  loss?: number;
  heldout_loss?: number;
  lr?: number;
  grad_norm?: number;
}

/** What a run directory holds; every path inside `dir`. */
export const runFiles = (dir: string) => ({
  log: `${dir}/log.jsonl`,
  checkpoint: (step: number) => `${dir}/checkpoints/step-${String(step).padStart(6, "0")}.safetensors`,
  optimizerState: `${dir}/checkpoints/optimizer.safetensors`,
});

export interface TrainerHooks {
  /** Write a checkpoint (model tensors + metadata) and, for resuming, the optimizer state. */
  checkpoint(step: number, weights: Map<string, Tensor>, optimizerState: Uint8Array): Promise<void>;
  log(line: TrainLogLine): Promise<void>;
}

export interface ResumeState {
  step: number;
  weights: Float32Array; // padded arena
  m: Float32Array;
  v: Float32Array;
}

/** Optimizer state for resuming: w, m, v arenas and the step, as one safetensors file. */
export function encodeOptimizerState(step: number, w: Float32Array, m: Float32Array, v: Float32Array): Uint8Array {
  const t = (data: Float32Array): Tensor => ({ dtype: "F32", shape: [data.length], data });
  return writeSafetensors({ w: t(w), m: t(m), v: t(v) }, { step: String(step) });
}

export function decodeOptimizerState(bytes: Uint8Array, padded: number, source: string): ResumeState {
  const file = readSafetensors(bytes, source);
  const get = (name: string) => {
    const t = file.tensors.get(name);
    if (!t || t.dtype !== "F32" || t.data.length !== padded) throw new SafetensorsError(`${source}: tensor "${name}" must be F32 [${padded}] (the model's arena)`, { source });
    return t.data as Float32Array;
  };
  const step = Number(file.metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new SafetensorsError(`${source}: __metadata__.step must be a step number, got ${JSON.stringify(file.metadata.step)}`, { source });
  return { step, weights: get("w"), m: get("m"), v: get("v") };
}

/** TL's default initialisation: N(0, (0.8/√d_model)²) weights, LN weights 1, biases 0. */
export function initialWeights(engine: Engine, m: TransformerConfig, seed: number): Float32Array {
  const layout = modelLayout(m);
  const arena = new Float32Array(layout.padded);
  const std = 0.8 / Math.sqrt(m.d_model);
  const padded = Math.ceil(layout.size / 8) * 8;
  const ptr = engine.allocF32(padded);
  engine.kernels.fillNormals(ptr, padded, seed >>> 0, 0x1417, 0, moduleConstant(engine, "STREAM_USER"));
  const z = engine.f32(ptr, layout.size);
  for (const t of layout.tensors) {
    const isLnWeight = /ln(1|_final)\.w$/.test(t.name);
    const isBias = /\.b(_[QKVOU])?$/.test(t.name) || /\.b$/.test(t.name);
    for (let i = t.offset; i < t.offset + t.size; i++) arena[i] = isLnWeight ? 1 : isBias ? 0 : Math.fround(z[i] * std);
  }
  return arena;
}

/**
 * Position `i` of the data order: the concatenation of per-epoch permutations of
 * the n training sequences (Fisher–Yates with Philox counters (i, epoch) under key
 * (seed, 0x7a1)), so the batch of step t depends only on (seed, t) and a resumed
 * run reads the same batches.
 */
export function epochPermutation(engine: Engine, n: number, seed: number, epoch: number): Int32Array {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = engine.kernels.uniformBelow(i + 1, i, epoch, moduleConstant(engine, "STREAM_USER"), seed >>> 0, 0x7a1) >>> 0;
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
}

/** Philox key word 1 of the copying sequences' draws (initialWeights uses 0x1417, the data order 0x7a1). */
const REPEAT_KEY = 0x5e9;

/**
 * The copying sequence that replaces data row `position` when repeat_every selects
 * it: a block of k tokens written periodically, x_p = r_(p mod k), p < T, with the
 * period k drawn uniformly from 2..⌊T/2⌋ for each sequence (Philox counter (T,
 * position)). r is the sequence's own start (repeat_source "data") or tokens drawn
 * uniformly from 1..d_vocab−1 (counters (p, position); token 0 is the document
 * separator). The period varies because with a fixed one, say k = T/2, a head can
 * attend to i − k + 1 by position alone: that passes the induction test (whose
 * period is n_ctx/2) with no previous-token head and does not copy at any other
 * distance.
 */
export function repeatedSequence(engine: Engine, settings: TrainRunSettings, sequence: Int32Array, position: number): Int32Array {
  const T = sequence.length;
  const stream = moduleConstant(engine, "STREAM_USER"), seed = settings.seed >>> 0;
  const draw = (bound: number, counter: number) => engine.kernels.uniformBelow(bound, counter, position, stream, seed, REPEAT_KEY) >>> 0;
  const period = T < 4 ? 1 : 2 + draw((T >> 1) - 1, T);
  const block = settings.repeat_source === "random"
    ? Int32Array.from({ length: period }, (_, p) => 1 + draw(settings.model.d_vocab - 1, p))
    : sequence.subarray(0, period);
  return Int32Array.from({ length: T }, (_, p) => block[p % period]);
}

/**
 * Train the transformer with AdamW on token sequences (minibatches in the order
 * of epochPermutation), logging and checkpointing through `hooks`; `resume`
 * continues an interrupted run to the same bits as an uninterrupted one.
 */
export async function trainTransformer(
  engine: Engine, settings: TrainRunSettings, train: { tokens: Int32Array; nSeq: number; seqLen: number },
  heldout: { tokens: Int32Array; nSeq: number }, hooks: TrainerHooks, resume?: ResumeState,
): Promise<{ weights: Float32Array; step: number }> {
  const k = engine.kernels;
  const m = settings.model;
  const layout = modelLayout(m);
  const P = layout.padded, B = settings.batch_size, T = train.seqLen;
  const allocate = (e: Engine) => {
    const params = e.allocF32(P), grads = e.allocF32(P), mState = e.allocF32(P), vState = e.allocF32(P);
    return { params, grads, mState, vState, plan: planModel(e, m, layout, params, grads, B, T), batchTokens: e.allocI32(B * T) };
  };
  // The whole plan's bytes first: one that cannot fit is refused before any of it is allocated.
  engine.reserve(measureAllocations(engine, allocate), "training (model plan, AdamW state and batch)");
  const { params, grads, mState, vState, plan, batchTokens } = allocate(engine);
  const schedule = checkpointSet(settings);
  const o = settings.optimizer;

  let step = 0;
  if (resume) {
    engine.f32(params, P).set(resume.weights);
    engine.f32(mState, P).set(resume.m);
    engine.f32(vState, P).set(resume.v);
    step = resume.step;
  } else {
    // initialWeights allocates (its normals), which may grow the memory and detach
    // any view taken before it: the view is taken after.
    const initial = initialWeights(engine, m, settings.seed);
    engine.f32(params, P).set(initial);
  }

  const tensors = () => {
    const w = engine.f32(params, P);
    return new Map<string, Tensor>(layout.tensors.map((t) => [t.name, { dtype: "F32", shape: [...t.shape], data: w.slice(t.offset, t.offset + t.size) }]));
  };
  const heldoutLoss = () => {
    const count = Math.min(settings.eval_sequences, heldout.nSeq);
    let total = 0;
    for (let start = 0; start < count; start += B) {
      const rows = Math.min(B, count - start);
      engine.i32(batchTokens, rows * T).set(heldout.tokens.subarray(start * T, (start + rows) * T));
      total += k.modelLoss(plan.address, batchTokens, 0, rows) * rows;
    }
    return total / count;
  };
  const saveCheckpoint = async () => {
    await hooks.log({ step, heldout_loss: heldoutLoss() });
    await hooks.checkpoint(step, tensors(), encodeOptimizerState(step, engine.f32(params, P).slice(), engine.f32(mState, P).slice(), engine.f32(vState, P).slice()));
  };
  if (!resume && schedule.has(0)) await saveCheckpoint();

  let epoch = -1;
  let order: Int32Array = new Int32Array(0);
  while (step < settings.steps) {
    // Batch rows for step `step`: positions step·B .. step·B + B − 1 of the epoch stream.
    for (let r = 0; r < B; r++) {
      const position = step * B + r;
      const e = Math.floor(position / train.nSeq);
      if (e !== epoch) {
        epoch = e;
        order = epochPermutation(engine, train.nSeq, settings.seed, epoch);
      }
      const row = order[position % train.nSeq];
      const sequence = train.tokens.subarray(row * T, (row + 1) * T);
      const target = engine.i32(batchTokens + r * T * 4, T);
      if (settings.repeat_every > 0 && position % settings.repeat_every === settings.repeat_every - 1) {
        target.set(repeatedSequence(engine, settings, sequence, position));
      } else {
        target.set(sequence);
      }
    }
    const loss = k.modelLossGrad(plan.address, batchTokens, 0, B);
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${step + 1}; try a smaller optimizer.lr`);
    const gradNorm = Math.sqrt(k.sumOfSquares(grads, P));
    if (o.max_grad_norm !== null && gradNorm > o.max_grad_norm) k.scaleInPlace(grads, P, o.max_grad_norm / (gradNorm + 1e-6)); // torch clip_grad_norm_
    step++;
    const lr = learningRate(o, step);
    k.adamwStep(P, params, grads, mState, vState, lr, o.betas[0], o.betas[1], o.eps, o.weight_decay, step);
    if (step % settings.eval_every === 0 || step === settings.steps) await hooks.log({ step, loss, lr, grad_norm: gradNorm });
    if (schedule.has(step)) await saveCheckpoint();
  }
  return { weights: engine.f32(params, P).slice(), step };
}
