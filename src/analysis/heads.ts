// Behaviour scores of attention heads, to set beside what the per-head refined
// LLC (Wang et al. 2024, arXiv 2410.02984) says of each head:
//
//   previous-token score  mean over sequences and query positions i ≥ 1 of
//                         pattern[i, i−1], on held-out text;
//   induction score       Olsson et al. 2022 ("In-context learning and induction
//                         heads", the prefix-matching score): on sequences
//                         [r_1..r_k, r_1..r_k] of random tokens, mean over the
//                         second-half queries i ≥ k of pattern[i, i−k+1], the
//                         token after the previous occurrence of the current one;
//   ablation Δloss        held-out loss with the head zero-ablated minus the
//                         loss of the intact model.
//
// These are the attention-pattern scores of TL's `detect_head` ("previous_token_head",
// "induction_head") and of Wang et al. App. B, with one difference from TL's
// "mul" score: TL divides by the total attention mass of all T query rows, row 0
// included (which has no previous token), so TL's previous-token score is
// (T−1)/T times ours; we average over the rows that can score.
//
// Every reported number is a mean of f32 values the engine wrote (the attention
// pattern) or of f64 losses the engine returned, formed with + − × ÷ in JS, so
// results are bit-identical in every host. The random tokens come from the
// engine's Philox stream, not Math.random.
import type { Engine } from "../engine.ts";
import { parseModel, type TransformerConfig } from "../config.ts";
import { findTensor } from "../arena.ts";
import { measureAllocations, modelLayout, moduleConstant, planModel, type ModelPlan } from "../models.ts";
import { loadWeights } from "../estimator.ts";
import { readSafetensors, SafetensorsError } from "../io/safetensors.ts";
import { parseJson } from "../io/json.ts";
import { readTokenSplit, type TokenFile } from "../data/tokens.ts";

/**
 * A head is labelled by the first score that reaches its threshold (previous-token
 * first). 0.4 is the cut-off the ARENA mech-interp exercises use for their
 * attention-pattern detectors (e.g. `current_attn_detector`, mean score > 0.4); TL's
 * `detect_head`, Olsson et al. and Wang et al. publish scores, not a threshold, so
 * this one is our convention. Uniform causal attention over T = 128 positions
 * scores (H_128 − 1)/127 ≈ 0.03 for previous-token, so 0.4 is far above chance.
 */
export const PREVIOUS_TOKEN_THRESHOLD = 0.4;
export const INDUCTION_THRESHOLD = 0.4;

/**
 * Philox key word 1 of the induction sequences (key word 0 is the seed). Token
 * p of random sequence s is drawn at counter (p, s, STREAM_USER); train.ts uses
 * keys 0x1417 (initial weights) and 0x7a1 (data order) on the same stream, so
 * this key keeps the induction tokens independent of both.
 */
export const INDUCTION_TOKENS_KEY = 0x1dc7;

export type HeadKind = "previous-token" | "induction" | "other";

export interface HeadScore {
  layer: number;
  head: number;
  previousTokenScore: number;
  inductionScore: number;
  /** Held-out loss with the head zero-ablated minus the intact model's loss. */
  ablationDelta: number;
  kind: HeadKind;
}

export interface HeadScores {
  /** One row per head, layer-major (layer 0 head 0, layer 0 head 1, …). */
  heads: HeadScore[];
  /** Mean held-out loss of the intact model on the scored sequences. */
  baseLoss: number;
  /** Held-out sequences scored (each of `seqLen` tokens). */
  sequences: number;
  seqLen: number;
  /** Random repeated sequences for the induction score, and k, the length of each half. */
  inductionSequences: number;
  inductionHalf: number;
}

export interface HeadScoreOptions {
  /** Score at most this many held-out sequences (the first ones; default all). */
  maxSequences?: number;
  /** Sequences per forward pass (default 16): the attention scores do not depend on it, the losses only by f64 rounding. */
  batch?: number;
  /** Philox key word 0 of the induction sequences (default 0). */
  seed?: number;
}

export function headKind(previousTokenScore: number, inductionScore: number): HeadKind {
  if (previousTokenScore >= PREVIOUS_TOKEN_THRESHOLD) return "previous-token";
  if (inductionScore >= INDUCTION_THRESHOLD) return "induction";
  return "other";
}

/**
 * The k-token halves and the token ids of `count` sequences [r_1..r_k, r_1..r_k],
 * k = ⌊n_ctx/2⌋, r drawn uniformly from 1..d_vocab−1 by the engine's Philox stream.
 * Token 0 is left out because the run's data use it as the document separator
 * (src/data/tokens.ts): a sequence holding it would look like a document boundary.
 * Repeats inside r_1..r_k are not avoided (as in Olsson et al. and TL): with a
 * vocabulary of hundreds they are rare and only blur the score slightly.
 */
export function repeatedRandomTokens(engine: Engine, model: TransformerConfig, count: number, seed: number): { tokens: Int32Array; half: number } {
  const half = Math.floor(model.n_ctx / 2);
  const length = 2 * half;
  const stream = moduleConstant(engine, "STREAM_USER");
  const tokens = new Int32Array(count * length);
  for (let s = 0; s < count; s++) {
    for (let p = 0; p < half; p++) {
      const token = 1 + (engine.kernels.uniformBelow(model.d_vocab - 1, p, s, stream, seed >>> 0, INDUCTION_TOKENS_KEY) >>> 0);
      tokens[s * length + p] = token;
      tokens[s * length + half + p] = token;
    }
  }
  return { tokens, half };
}

/**
 * Previous-token score, induction score and ablation Δloss of every head of
 * `model` at `weights` (a padded arena, as loadWeights makes), on the held-out
 * token sequences `data` (the first `maxSequences` of them). Allocates its plans
 * and buffers in `engine` (and does not free them: the engine's heap only grows).
 */
export function headScores(
  engine: Engine, model: TransformerConfig, weights: Float32Array,
  data: { tokens: Int32Array; nSeq: number; seqLen: number }, options: HeadScoreOptions = {},
): HeadScores {
  const layout = modelLayout(model);
  const { n_layers: L, n_heads: H, d_model: dModel, d_head: dHead } = model;
  const T = data.seqLen;
  if (weights.length !== layout.padded) throw new RangeError(`headScores: weights hold ${weights.length} floats; expected the model's padded arena of ${layout.padded}`);
  if (!(T >= 2 && T <= model.n_ctx)) throw new RangeError(`headScores: sequences of ${T} tokens; expected 2 ≤ length ≤ n_ctx = ${model.n_ctx}`);
  if (data.tokens.length !== data.nSeq * T) throw new RangeError(`headScores: ${data.tokens.length} tokens for ${data.nSeq} sequences of ${T}; expected ${data.nSeq * T}`);
  if (model.n_ctx < 6) throw new RangeError(`headScores: n_ctx = ${model.n_ctx}; the induction score needs n_ctx ≥ 6 (for k = ⌊n_ctx/2⌋ ≤ 2 its target i−k+1 is the current or the previous token)`);
  if (model.d_vocab < 2) throw new RangeError(`headScores: d_vocab = ${model.d_vocab}; random tokens other than 0 need d_vocab ≥ 2`);
  const n = Math.min(data.nSeq, options.maxSequences ?? data.nSeq);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`headScores: expected at least one sequence (nSeq = ${data.nSeq}, maxSequences = ${options.maxSequences})`);
  const batch = Math.min(n, options.batch ?? 16);
  if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`headScores: batch must be a positive integer, got ${options.batch}`);
  for (let i = 0; i < n * T; i++) {
    const token = data.tokens[i];
    if (!(token >= 0 && token < model.d_vocab)) throw new RangeError(`headScores: token ${token} at sequence ${Math.floor(i / T)}, position ${i % T} is outside [0, ${model.d_vocab}) (d_vocab)`);
  }

  const allocate = (e: Engine) => {
    const params = e.allocF32(layout.padded);
    const grads = e.allocF32(layout.padded); // planModel wants one; modelLoss never writes it
    const heldout = e.allocI32(n * T);
    // keepPatterns: the forward pass then stores every layer's B·H·T² attention pattern
    // (by default only while all layers' fit PATTERN_KEEP_BYTES; otherwise just the row
    // statistics its backward needs).
    return { params, grads, heldout, heldoutPlan: planModel(e, model, layout, params, grads, batch, T, { keepPatterns: true }) };
  };
  // The whole plan's bytes first (the patterns grow as B·H·T²): refused before any of it is allocated.
  engine.reserve(measureAllocations(engine, allocate), "head scores (model plan with attention patterns, held-out tokens)");
  const { params, grads, heldout, heldoutPlan } = allocate(engine);
  engine.f32(params, layout.padded).set(weights);
  engine.i32(heldout, n * T).set(data.tokens.subarray(0, n * T));

  // Layer l's attention pattern [batch, H, T, T] sits at plan word TF_LAYER0 + l·TF_LAYER_WORDS + TFL_PATTERN.
  const layer0 = moduleConstant(engine, "TF_LAYER0"), layerWords = moduleConstant(engine, "TF_LAYER_WORDS");
  const patternField = moduleConstant(engine, "TFL_PATTERN");
  const patternAddress = (plan: ModelPlan, l: number) => {
    const address = engine.i32(plan.address, layer0 + L * layerWords)[layer0 + l * layerWords + patternField] >>> 0; // an address: u32
    if (address === 0) throw new Error("headScores: the plan keeps no attention pattern (TFL_PATTERN = 0); planModel's keepPatterns was not honoured");
    return address;
  };

  /**
   * Run the sequences at `tokens` (count × seqLen) through `plan` in batches; after
   * each batch `visit(rows)` may read its patterns. Returns the mean loss: the
   * engine's batch means weighted by their sizes.
   */
  const sweep = (plan: ModelPlan, tokens: number, count: number, seqLen: number, visit?: (rows: number) => void): number => {
    let total = 0;
    for (let start = 0; start < count; start += batch) {
      const rows = Math.min(batch, count - start);
      total += engine.kernels.modelLoss(plan.address, tokens + start * seqLen * 4, 0, rows) * rows;
      visit?.(rows);
    }
    return total / count;
  };

  /** Σ over the batch's sequences and query positions i ≥ from of pattern[b, h, i, i − back], per (layer, head). */
  const accumulate = (plan: ModelPlan, sums: Float64Array, rows: number, seqLen: number, from: number, back: number) => {
    for (let l = 0; l < L; l++) {
      const pattern = engine.f32(patternAddress(plan, l), rows * H * seqLen * seqLen);
      for (let b = 0; b < rows; b++)
        for (let h = 0; h < H; h++) {
          const base = (b * H + h) * seqLen * seqLen;
          let sum = 0;
          for (let i = from; i < seqLen; i++) sum += pattern[base + i * seqLen + i - back];
          sums[l * H + h] += sum;
        }
    }
  };

  // The intact model on held-out text: its loss and the previous-token sums.
  const previousSums = new Float64Array(L * H);
  const baseLoss = sweep(heldoutPlan, heldout, n, T, (rows) => accumulate(heldoutPlan, previousSums, rows, T, 1, 1));

  // Repeated random sequences of 2k tokens: an induction head's query i ≥ k attends
  // to i − (k − 1), the token after the first occurrence of token i.
  const repeated = repeatedRandomTokens(engine, model, n, options.seed ?? 0);
  const k = repeated.half;
  const repeatedLength = 2 * k;
  const repeatedAt = engine.allocI32(n * repeatedLength);
  engine.i32(repeatedAt, n * repeatedLength).set(repeated.tokens);
  const repeatedPlan = repeatedLength === T ? heldoutPlan : planModel(engine, model, layout, params, grads, batch, repeatedLength, { keepPatterns: true });
  const inductionSums = new Float64Array(L * H);
  sweep(repeatedPlan, repeatedAt, n, repeatedLength, (rows) => accumulate(repeatedPlan, inductionSums, rows, repeatedLength, k, k - 1));

  // Zero-ablation: attn_out = Σ_h z_h·W_O[h] + b_O, so zeroing head h's slice
  // W_O[h] (d_head × d_model) removes exactly its z_h·W_O[h] term — the same as
  // TL's zero-ablation of hook_z for that head (b_O, shared by all heads, stays).
  // The slice is zeroed in the engine's copy of the weights and restored after.
  const arena = () => engine.f32(params, layout.padded);
  const deltas = new Float64Array(L * H);
  for (let l = 0; l < L; l++) {
    const WO = findTensor(layout, `blocks.${l}.attn.W_O`)!;
    for (let h = 0; h < H; h++) {
      const start = WO.offset + h * dHead * dModel, end = start + dHead * dModel;
      arena().fill(0, start, end);
      deltas[l * H + h] = sweep(heldoutPlan, heldout, n, T) - baseLoss;
      arena().set(weights.subarray(start, end), start);
    }
  }

  const heads: HeadScore[] = [];
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++) {
      const previousTokenScore = previousSums[l * H + h] / (n * (T - 1));
      const inductionScore = inductionSums[l * H + h] / (n * k);
      heads.push({ layer: l, head: h, previousTokenScore, inductionScore, ablationDelta: deltas[l * H + h], kind: headKind(previousTokenScore, inductionScore) });
    }
  return { heads, baseLoss, sequences: n, seqLen: T, inductionSequences: n, inductionHalf: k };
}

/** The rows as an aligned text table: layer:head, prev-token, induction, Δloss, kind. */
export function formatHeadTable(rows: readonly HeadScore[]): string {
  const signed = (x: number) => (x >= 0 ? "+" : "") + x.toFixed(4);
  const header = ["head", "prev-token", "induction", "Δloss", "kind"];
  const cells = rows.map((r) => [`${r.layer}:${r.head}`, r.previousTokenScore.toFixed(3), r.inductionScore.toFixed(3), signed(r.ablationDelta), r.kind]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  // Numbers right-aligned so their decimal points line up; labels left-aligned.
  const numeric = [false, true, true, true, false];
  const line = (row: string[]) => row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd();
  return [line(header), ...cells.map(line)].join("\n") + "\n";
}

// ------------------------------------------------------------ training-run files

/** The step of a checkpoint file name "step-NNNNNN.safetensors" (src/train.ts runFiles), else undefined. */
export function checkpointStepOf(fileName: string): number | undefined {
  const m = /^step-(\d+)\.safetensors$/.exec(fileName);
  return m ? Number(m[1]) : undefined;
}

/**
 * The steps `spec` selects among the `available` checkpoint steps (ascending):
 * "last", "all", or a comma-separated list of steps that all exist. Throws
 * RangeError naming the problem.
 */
export function selectCheckpointSteps(spec: string, available: readonly number[]): number[] {
  if (available.length === 0) throw new RangeError("no checkpoints to choose from");
  if (spec === "last") return [available[available.length - 1]];
  if (spec === "all") return [...available];
  const parts = spec.split(",").map((s) => s.trim());
  const steps = parts.map((part) => {
    if (!/^\d+$/.test(part)) throw new RangeError(`expected last, all or a comma-separated list of steps, got ${JSON.stringify(spec)}`);
    const step = Number(part);
    if (!available.includes(step)) throw new RangeError(`no checkpoint at step ${step} (checkpoints: ${available.join(", ")})`);
    return step;
  });
  return [...new Set(steps)].sort((a, b) => a - b);
}

export interface Checkpoint {
  model: TransformerConfig;
  step: number;
  /** Padded arena (loadWeights). */
  weights: Float32Array;
  tokenizerHash: string | undefined;
}

/** A checkpoint written by `llc train`: TL state dict, __metadata__ {model (JSON), step, tokenizer_hash}. */
export function readCheckpoint(bytes: Uint8Array, source: string): Checkpoint {
  const file = readSafetensors(bytes, source);
  const { model: modelJson, step: stepText, tokenizer_hash: tokenizerHash } = file.metadata;
  if (modelJson === undefined) throw new SafetensorsError(`${source}: __metadata__ has no "model" (the TransformerConfig as JSON); not a checkpoint of "llc train"`, { source });
  const raw = parseJson(modelJson, (detail) => new SafetensorsError(`${source}: __metadata__.model is not JSON (${detail})`, { source }));
  const model = parseModel(raw, `${source}: __metadata__.model`);
  if (model.kind !== "transformer") throw new SafetensorsError(`${source}: __metadata__.model.kind is ${JSON.stringify(model.kind)}; expected "transformer"`, { source });
  const step = Number(stepText);
  if (!Number.isInteger(step) || step < 0) throw new SafetensorsError(`${source}: __metadata__.step must be a step number, got ${JSON.stringify(stepText)}`, { source });
  return { model, step, weights: loadWeights(modelLayout(model), file.tensors, source), tokenizerHash };
}

/** Held-out tokens for `checkpoint`, checked against its vocabulary, context and (when both record it) tokenizer. */
export function readHeldout(bytes: Uint8Array, source: string, checkpoint: Checkpoint): TokenFile {
  const file = readTokenSplit(bytes, { source, vocabSize: checkpoint.model.d_vocab, nCtx: checkpoint.model.n_ctx });
  const dataHash = file.metadata.tokenizer_hash;
  if (checkpoint.tokenizerHash !== undefined && dataHash !== undefined && dataHash !== checkpoint.tokenizerHash)
    throw new SafetensorsError(`${source}: tokenizer_hash ${dataHash} differs from the checkpoint's ${checkpoint.tokenizerHash}; the tokens were made with another tokenizer`, { source });
  return file;
}
