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
//   current-token score   the same mean of pattern[i, i] (Wang et al. App. B);
//   ablation Δloss        held-out loss with the head mean-ablated (or zero-ablated,
//                         ablation.ts) minus the loss of the intact model;
//   multigrams            the n-grams and skip-bigrams the head's ablation makes
//                         harder to predict (multigrams.ts).
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
import { modelLayout, moduleConstant } from "../models.ts";
import { AblationProbe, firstSequences, topTokenChanges, type AblationKind, type TokenChange } from "./ablation.ts";
import {
  multigramTable, multigramIncreases, headMultigrams, MULTIGRAM_DELTA, MULTIGRAM_TOP, CONTEXT_TOKENS, type HeadMultigrams, type MultigramKind,
} from "./multigrams.ts";
import { loadWeights } from "../estimator.ts";
import { readSafetensors, SafetensorsError } from "../io/safetensors.ts";
import { parseJson } from "../io/json.ts";
import { readTokenSplit, type TokenFile } from "../data/tokens.ts";
import { formatFixed, formatSigned } from "../format.ts";

/**
 * Label thresholds. 0.4 is the cut-off the ARENA mech-interp exercises use for their
 * attention-pattern detectors (e.g. `current_attn_detector`, mean score > 0.4); TL's
 * `detect_head`, Olsson et al. and Wang et al. publish scores, not a threshold, so
 * this one is our convention. Uniform causal attention over T = 128 positions
 * scores (H_128 − 1)/127 ≈ 0.03 for previous-token, so 0.4 is far above chance.
 */
export const PREVIOUS_TOKEN_THRESHOLD = 0.4;
export const CURRENT_TOKEN_THRESHOLD = 0.4;
export const INDUCTION_THRESHOLD = 0.4;
/**
 * A head none of whose attention scores reaches its threshold is a multigram head
 * when it holds at least this share of the multigrams counted in the data (those
 * occurring ≥ min_count times). A share, not a count, so the label does not move
 * with the number of sequences scored (more text passes more multigrams over
 * min_count). Our convention: Wang et al. name multigram heads from the per-token
 * analysis without a cut-off; 5% is one multigram in twenty that the model cannot
 * predict as well without this head, where a head that writes nothing holds none.
 */
export const MULTIGRAM_SHARE_THRESHOLD = 0.05;

export interface LabelThresholds {
  previous_token: number;
  current_token: number;
  induction: number;
  /** Share of the counted multigrams the head holds (every kind together). */
  multigram_share: number;
}
export const LABEL_THRESHOLDS: Readonly<LabelThresholds> = {
  previous_token: PREVIOUS_TOKEN_THRESHOLD, current_token: CURRENT_TOKEN_THRESHOLD, induction: INDUCTION_THRESHOLD, multigram_share: MULTIGRAM_SHARE_THRESHOLD,
};

/**
 * Philox key word 1 of the induction sequences (key word 0 is the seed). Token
 * p of random sequence s is drawn at counter (p, s, STREAM_USER); train.ts uses
 * keys 0x1417 (initial weights) and 0x7a1 (data order) on the same stream, so
 * this key keeps the induction tokens independent of both.
 */
export const INDUCTION_TOKENS_KEY = 0x1dc7;

export type HeadLabel = "previous-token" | "current-token" | "induction" | "multigram" | "other";

export interface HeadMultigramScores extends HeadMultigrams {
  /** The token positions whose loss the head's ablation raises most, with their preceding context. */
  positions: TokenChange[];
}

export interface HeadScore {
  layer: number;
  head: number;
  previousTokenScore: number;
  currentTokenScore: number;
  inductionScore: number;
  /** Held-out loss with the head ablated (mean- or zero-, HeadScores.ablation) minus the intact model's loss. */
  ablationDelta: number;
  /** Absent when multigrams were not asked for. */
  multigrams?: HeadMultigramScores;
  label: HeadLabel;
}

export interface HeadScores {
  /** One row per head, layer-major (layer 0 head 0, layer 0 head 1, …). */
  heads: HeadScore[];
  /** Mean held-out loss of the intact model over every predicted token of the scored sequences. */
  baseLoss: number;
  /** Held-out sequences scored (each of `seqLen` tokens). */
  sequences: number;
  seqLen: number;
  /** Random repeated sequences for the induction score, and k, the length of each half. */
  inductionSequences: number;
  inductionHalf: number;
  ablation: AblationKind;
  thresholds: LabelThresholds;
  /** The multigram settings and how many of each kind occur ≥ min_count times; absent without multigrams. */
  multigrams?: { minCount: number; delta: number; counted: Record<MultigramKind, number> };
}

export interface MultigramOptions {
  /** Default MULTIGRAM_MIN_COUNT (5). */
  minCount?: number;
  /** Default MULTIGRAM_DELTA (0.5 nats). */
  delta?: number;
  /** Multigrams and token positions reported per head (default 20). */
  top?: number;
  /** Tokens of context per reported position (default 12). */
  context?: number;
}

export interface HeadScoreOptions {
  /** Score at most this many held-out sequences (the first ones; default all). */
  maxSequences?: number;
  /** Sequences per forward pass (default 16): no result depends on it (losses are per-token sums in a fixed order). */
  batch?: number;
  /** Philox key word 0 of the induction sequences (default 0). */
  seed?: number;
  /** How a head is ablated for Δloss and the multigrams (default "mean"). */
  ablation?: AblationKind;
  /** Multigram memorisation per head (default on; false skips it). */
  multigrams?: MultigramOptions | false;
  thresholds?: Partial<LabelThresholds>;
}

/**
 * The label of a head: among the attention scores reaching their thresholds the
 * largest (ties: previous-token, current-token, induction); if none does, "multigram"
 * when it holds ≥ thresholds.multigram_share of the counted multigrams; else "other".
 */
export function headLabel(
  scores: { previousTokenScore: number; currentTokenScore: number; inductionScore: number; multigramShare?: number },
  thresholds: LabelThresholds = LABEL_THRESHOLDS,
): HeadLabel {
  const candidates: [HeadLabel, number, number][] = [
    ["previous-token", scores.previousTokenScore, thresholds.previous_token],
    ["current-token", scores.currentTokenScore, thresholds.current_token],
    ["induction", scores.inductionScore, thresholds.induction],
  ];
  let best: HeadLabel | undefined, bestScore = -Infinity;
  for (const [label, score, threshold] of candidates)
    if (score >= threshold && score > bestScore) [best, bestScore] = [label, score];
  if (best) return best;
  if (scores.multigramShare !== undefined && scores.multigramShare >= thresholds.multigram_share) return "multigram";
  return "other";
}

/** Thresholds with defaults filled in, each checked to be a number. */
export function labelThresholds(given: Partial<LabelThresholds> = {}): LabelThresholds {
  const t = { ...LABEL_THRESHOLDS, ...given };
  for (const [name, value] of Object.entries(t))
    if (typeof value !== "number" || !Number.isFinite(value)) throw new RangeError(`thresholds.${name} must be a finite number, got ${JSON.stringify(value)}`);
  return t;
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
 * Previous-token, current-token and induction scores, ablation Δloss, multigram
 * memorisation and a label for every head of `model` at `weights` (a padded arena,
 * as loadWeights makes), on the held-out token sequences `data` (the first
 * `maxSequences` of them). Each head is ablated once (one forward over the data),
 * and Δloss and its multigrams both come from that pass's per-token losses.
 * Allocates its plans and buffers in `engine` (the engine's heap only grows).
 */
export function headScores(
  engine: Engine, model: TransformerConfig, weights: Float32Array,
  data: { tokens: Int32Array; nSeq: number; seqLen: number }, options: HeadScoreOptions = {},
): HeadScores {
  const { n_layers: L, n_heads: H } = model;
  const T = data.seqLen;
  if (model.n_ctx < 6) throw new RangeError(`headScores: n_ctx = ${model.n_ctx}; the induction score needs n_ctx ≥ 6 (for k = ⌊n_ctx/2⌋ ≤ 2 its target i−k+1 is the current or the previous token)`);
  if (model.d_vocab < 2) throw new RangeError(`headScores: d_vocab = ${model.d_vocab}; random tokens other than 0 need d_vocab ≥ 2`);
  const thresholds = labelThresholds(options.thresholds);
  const ablation = options.ablation ?? "mean";
  if (ablation !== "mean" && ablation !== "zero") throw new RangeError(`headScores: ablation must be "mean" or "zero", got ${JSON.stringify(ablation)}`);
  const heldout = firstSequences(data, options.maxSequences);
  const n = heldout.nSeq;
  // keepPatterns: the forward pass then stores every layer's B·H·T² attention pattern.
  const probe = new AblationProbe(engine, model, weights, heldout, { batch: options.batch, keepPatterns: true });
  const batch = probe.batch;

  /** Σ over the batch's sequences and query positions i ≥ from of pattern[b, h, i, i − back], per (layer, head). */
  const accumulate = (patternAt: (l: number) => number, sums: Float64Array, rows: number, seqLen: number, from: number, back: number) => {
    for (let l = 0; l < L; l++) {
      const address = patternAt(l);
      if (address === 0) throw new Error("headScores: the plan keeps no attention pattern (TFL_PATTERN = 0); planModel's keepPatterns was not honoured");
      const pattern = engine.f32(address, rows * H * seqLen * seqLen);
      for (let b = 0; b < rows; b++)
        for (let h = 0; h < H; h++) {
          const base = (b * H + h) * seqLen * seqLen;
          let sum = 0;
          for (let i = from; i < seqLen; i++) sum += pattern[base + i * seqLen + i - back];
          sums[l * H + h] += sum;
        }
    }
  };

  // The intact model on held-out text: per-token losses and the previous- and current-token sums.
  const previousSums = new Float64Array(L * H), currentSums = new Float64Array(L * H);
  const patternOf = (l: number) => probe.layerAddress(l, "TFL_PATTERN");
  const intact = probe.run({}, (_start, rows) => {
    accumulate(patternOf, previousSums, rows, T, 1, 1);
    accumulate(patternOf, currentSums, rows, T, 1, 0);
  });

  // Repeated random sequences of 2k tokens: an induction head's query i ≥ k attends
  // to i − (k − 1), the token after the first occurrence of token i.
  const repeated = repeatedRandomTokens(engine, model, n, options.seed ?? 0);
  const k = repeated.half;
  const repeatedProbe = new AblationProbe(engine, model, weights, { tokens: repeated.tokens, nSeq: n, seqLen: 2 * k }, { batch, keepPatterns: true });
  const inductionSums = new Float64Array(L * H);
  repeatedProbe.forward((_start, rows) => accumulate((l) => repeatedProbe.layerAddress(l, "TFL_PATTERN"), inductionSums, rows, 2 * k, k, k - 1));

  const multigramOptions = options.multigrams === false ? undefined : options.multigrams ?? {};
  const table = multigramOptions ? multigramTable(heldout, model.d_vocab, multigramOptions.minCount) : undefined;
  const delta = multigramOptions?.delta ?? MULTIGRAM_DELTA;
  const top = multigramOptions?.top ?? MULTIGRAM_TOP;

  const heads: HeadScore[] = [];
  for (let l = 0; l < L; l++)
    for (let h = 0; h < H; h++) {
      const ablated = probe.run({ heads: [{ layer: l, head: h }], kind: ablation });
      const previousTokenScore = previousSums[l * H + h] / (n * (T - 1));
      const currentTokenScore = currentSums[l * H + h] / (n * (T - 1));
      const inductionScore = inductionSums[l * H + h] / (n * k);
      let multigrams: HeadMultigramScores | undefined;
      if (table) {
        const held = headMultigrams(table, multigramIncreases(table, intact.tokenLosses, ablated.tokenLosses), delta, top);
        multigrams = { ...held, positions: topTokenChanges(heldout, intact.tokenLosses, ablated.tokenLosses, top, multigramOptions?.context ?? CONTEXT_TOKENS) };
      }
      // With nothing counted, no head holds a share: 0/0 is left undefined (never a multigram head).
      const multigramShare = multigrams && table!.kinds.length > 0 ? multigrams.counts.total / table!.kinds.length : undefined;
      const label = headLabel({ previousTokenScore, currentTokenScore, inductionScore, multigramShare }, thresholds);
      heads.push({ layer: l, head: h, previousTokenScore, currentTokenScore, inductionScore, ablationDelta: ablated.loss - intact.loss, multigrams, label });
    }
  return {
    heads, baseLoss: intact.loss, sequences: n, seqLen: T, inductionSequences: n, inductionHalf: k, ablation, thresholds,
    multigrams: table ? { minCount: table.minCount, delta, counted: table.counted } : undefined,
  };
}

/** The rows as an aligned text table: layer:head, prev-token, current, induction, Δloss, multigrams held, label. */
export function formatHeadTable(rows: readonly Pick<HeadScore, "layer" | "head" | "previousTokenScore" | "currentTokenScore" | "inductionScore" | "ablationDelta" | "label" | "multigrams">[]): string {
  const header = ["head", "prev-token", "current", "induction", "Δloss", "multigrams", "label"];
  const cells = rows.map((r) => [
    `${r.layer}:${r.head}`, formatFixed(r.previousTokenScore, 3), formatFixed(r.currentTokenScore, 3), formatFixed(r.inductionScore, 3),
    formatSigned(r.ablationDelta, 4), r.multigrams ? String(r.multigrams.counts.total) : "–", r.label,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  // Numbers right-aligned so their decimal points line up; labels left-aligned.
  const numeric = [false, true, true, true, true, true, false];
  const line = (row: string[]) => row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd();
  return [line(header), ...cells.map(line)].join("\n") + "\n";
}

/** Token ids → text, one string per id (e.g. the run's tokenizer: ids => ids.map((id) => t.decode([id]))). */
export type TokenDecoder = (ids: readonly number[]) => string[];

/** The JSON rows of `llc heads --json` (README "Head types and circuits"): the keys, snake_case. */
export function headScoresJson(scores: HeadScores, decode?: TokenDecoder): object[] {
  const text = (ids: readonly number[]) => (decode ? decode(ids) : null);
  return scores.heads.map((h) => ({
    layer: h.layer,
    head: h.head,
    previous_token: h.previousTokenScore,
    current_token: h.currentTokenScore,
    induction: h.inductionScore,
    ablation_delta: h.ablationDelta,
    multigrams: h.multigrams
      ? {
          counts: h.multigrams.counts,
          top: h.multigrams.top.map((m) => ({ kind: m.kind, tokens: m.tokens, text: text(m.tokens), count: m.count, increase: m.increase })),
          positions: h.multigrams.positions.map((p) => ({
            sequence: p.sequence, position: p.position, token: p.token, text: decode ? decode([p.token])[0] : null,
            context: p.context, context_text: decode ? decode(p.context).join("") : null, increase: p.delta,
          })),
        }
      : null,
    label: h.label,
  }));
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

/**
 * A checkpoint written by `llc train`: TL state dict, __metadata__ {model (JSON), step,
 * tokenizer_hash}. Any other TL-layout state dict loads with `model` given (the
 * config then comes from it, not the metadata; a missing step is reported as −1).
 */
export function readCheckpoint(bytes: Uint8Array, source: string, model?: TransformerConfig): Checkpoint {
  const file = readSafetensors(bytes, source);
  const { model: modelJson, step: stepText, tokenizer_hash: tokenizerHash } = file.metadata;
  if (!model) {
    if (modelJson === undefined) throw new SafetensorsError(`${source}: __metadata__ has no "model" (the TransformerConfig as JSON); not a checkpoint of "llc train" (give the model config with --model FILE)`, { source });
    model = checkpointModel(file.metadata, source)!;
  }
  const step = stepText === undefined && modelJson === undefined ? -1 : Number(stepText);
  if (!Number.isInteger(step) || step < -1) throw new SafetensorsError(`${source}: __metadata__.step must be a step number, got ${JSON.stringify(stepText)}`, { source });
  return { model, step, weights: loadWeights(modelLayout(model), file.tensors, source), tokenizerHash };
}

/**
 * The model a checkpoint of `llc train` records in its `__metadata__.model` (the
 * TransformerConfig as JSON), validated; undefined when the metadata has none.
 */
export function checkpointModel(metadata: Readonly<Record<string, string>>, source: string): TransformerConfig | undefined {
  const modelJson = metadata.model;
  if (modelJson === undefined) return undefined;
  const raw = parseJson(modelJson, (detail) => new SafetensorsError(`${source}: __metadata__.model is not JSON (${detail})`, { source }));
  const parsed = parseModel(raw, `${source}: __metadata__.model`);
  if (parsed.kind !== "transformer") throw new SafetensorsError(`${source}: __metadata__.model.kind is ${JSON.stringify(parsed.kind)}; expected "transformer"`, { source });
  return parsed;
}

/** Held-out tokens for `checkpoint`, checked against its vocabulary, context and (when both record it) tokenizer. */
export function readHeldout(bytes: Uint8Array, source: string, checkpoint: Checkpoint): TokenFile {
  const file = readTokenSplit(bytes, { source, vocabSize: checkpoint.model.d_vocab, nCtx: checkpoint.model.n_ctx });
  const dataHash = file.metadata.tokenizer_hash;
  if (checkpoint.tokenizerHash !== undefined && dataHash !== undefined && dataHash !== checkpoint.tokenizerHash)
    throw new SafetensorsError(`${source}: tokenizer_hash ${dataHash} differs from the checkpoint's ${checkpoint.tokenizerHash}; the tokens were made with another tokenizer`, { source });
  return file;
}
