// Q-, K- and V-composition scores between the heads of layer 0 and layer 1
// (Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits",
// §"Composition"), the quantity of TransformerLens's
// `HookedTransformer.all_composition_scores(mode)` (utils.composition_scores):
//
//   score(W_A, W_B) = ‖W_A·W_B‖_F / (‖W_A‖_F·‖W_B‖_F)
//   left  W_A = OV⁰_i = W_V⁰[i]·W_O⁰[i]                    [d_model, d_model]
//   right Q: W_B = QK¹_j = W_Q¹[j]·W_K¹[j]ᵀ,  K: W_B = (QK¹_j)ᵀ = W_K¹[j]·W_Q¹[j]ᵀ,
//         V: W_B = OV¹_j = W_V¹[j]·W_O¹[j]
// (row vectors, as TL: head i's output x·OV⁰_i then enters head j's query side
// through QK¹_j). On the weights as stored (LayerNorm not folded); foldLn multiplies
// row r of each layer's W_Q, W_K, W_V by its ln1.w[r] first (TL's fold_ln without
// the bias folding and weight centring, which do not enter these products' norms
// in that form). The baseline is the mean score of matrices of the same shapes
// with i.i.d. standard-normal entries (the engine's Philox normals), as Elhage et
// al. subtract and ARENA's `generate_single_random_comp_score` draws (it uses
// Kaiming-uniform entries; the score is scale-free, the entry law matters little).
//
// All in f64 with + − × ÷ √ in fixed loops. Each Frobenius norm is computed through
// d_head × d_head Gram matrices (both factors have rank ≤ d_head):
//   ‖X·Yᵀ‖²_F = tr((XᵀX)(YᵀY)),   ‖W_V M Yᵀ‖²_F = tr(Mᵀ (W_VᵀW_V) M (YᵀY)),  M = W_O·X.
import type { Engine } from "../engine.ts";
import type { TransformerConfig } from "../config.ts";
import { findTensor } from "../arena.ts";
import { modelLayout, moduleConstant } from "../models.ts";
import type { Projection } from "./ablation.ts";

/** Philox key word 1 of the baseline's random matrices (word 0 is the seed); step = sample index. */
export const COMPOSITION_BASELINE_KEY = 0xc0e5;
export const COMPOSITION_BASELINE_SAMPLES = 200;

/** A d_model × d_head matrix (row-major, f64) per head: X with the product X·Yᵀ. */
type Matrix = Float64Array;

export interface CompositionScores {
  /** M[i][j]: layer-0 head i → layer-1 head j. */
  Q: number[][];
  K: number[][];
  V: number[][];
  /** Mean score of random matrices of the same shapes. */
  baseline: number;
}

export interface CompositionOptions {
  foldLn?: boolean;
  /** Random samples for the baseline (default 200). */
  samples?: number;
  /** Philox key word 0 of the baseline (default 0). */
  seed?: number;
}

/** The Gram matrix XᵀX [k, k] of X [rows, k]. */
function gram(X: Matrix, rows: number, k: number): Float64Array {
  return transposeTimes(X, X, rows, k, k);
}

/** tr(A·B) for k × k matrices. */
function traceOfProduct(A: Float64Array, B: Float64Array, k: number): number {
  let s = 0;
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) s += A[a * k + b] * B[b * k + a];
  return s;
}

/** C = Aᵀ·B for A [rows, k], B [rows, m]: [k, m]. */
function transposeTimes(A: Float64Array, B: Float64Array, rows: number, k: number, m: number): Float64Array {
  const C = new Float64Array(k * m);
  for (let a = 0; a < k; a++)
    for (let b = 0; b < m; b++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += A[r * k + a] * B[r * m + b];
      C[a * m + b] = s;
    }
  return C;
}

/**
 * A rank-k product as its two factors: left·rightᵀ with left, right [d_model, k]
 * (so OV = W_V·W_O has right = W_Oᵀ, QK = W_Q·W_Kᵀ has right = W_K).
 */
export interface Factored {
  left: Matrix;
  right: Matrix;
}

/**
 * ‖A·B‖_F / (‖A‖_F ‖B‖_F) for A = a.left·a.rightᵀ, B = b.left·b.rightᵀ, all factors
 * [d, k]. A·B = a.left·M·b.rightᵀ with M = a.rightᵀ·b.left [k, k].
 */
export function compositionScore(a: Factored, b: Factored, d: number, k: number): number {
  const GaL = gram(a.left, d, k), GaR = gram(a.right, d, k), GbL = gram(b.left, d, k), GbR = gram(b.right, d, k);
  const M = transposeTimes(a.right, b.left, d, k, k);
  // ‖a.left·M·b.rightᵀ‖² = tr(Mᵀ·GaL·M·GbR)
  const GaLM = new Float64Array(k * k), MtGaLM = new Float64Array(k * k);
  for (let r = 0; r < k; r++)
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += GaL[r * k + t] * M[t * k + c];
      GaLM[r * k + c] = s;
    }
  for (let r = 0; r < k; r++)
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += M[t * k + r] * GaLM[t * k + c];
      MtGaLM[r * k + c] = s;
    }
  const product = traceOfProduct(MtGaLM, GbR, k);
  const normA = traceOfProduct(GaL, GaR, k), normB = traceOfProduct(GbL, GbR, k);
  return Math.sqrt(product) / (Math.sqrt(normA) * Math.sqrt(normB));
}

/** One head's per-head weights as f64 [d_model, d_head] factors (W_O transposed), LN weights folded if asked. */
function headFactors(model: TransformerConfig, weights: Float32Array, layer: number, head: number, foldLn: boolean): Record<"Q" | "K" | "V" | "O", Matrix> {
  const layout = modelLayout(model);
  const { d_model: D, d_head: k } = model;
  const at = (name: string) => {
    const t = findTensor(layout, name);
    if (!t) throw new Error(`composition: the model has no tensor ${name}`);
    return t.offset;
  };
  const lnW = foldLn ? at(`blocks.${layer}.ln1.w`) : -1;
  const out = {} as Record<"Q" | "K" | "V" | "O", Matrix>;
  for (const w of ["Q", "K", "V"] as const) {
    const base = at(`blocks.${layer}.attn.W_${w}`) + head * D * k;
    const m = new Float64Array(D * k);
    for (let r = 0; r < D; r++) {
      const scale = lnW >= 0 ? weights[lnW + r] : 1;
      for (let e = 0; e < k; e++) m[r * k + e] = weights[base + r * k + e] * scale;
    }
    out[w] = m;
  }
  // W_O [d_head, d_model] → its transpose [d_model, d_head]
  const base = at(`blocks.${layer}.attn.W_O`) + head * k * D;
  const o = new Float64Array(D * k);
  for (let e = 0; e < k; e++) for (let r = 0; r < D; r++) o[r * k + e] = weights[base + e * D + r];
  out.O = o;
  return out;
}

/** The right-hand matrix of each composition kind, as factors (TL: QK, QK.T, OV). */
export function compositionRight(f: Record<"Q" | "K" | "V" | "O", Matrix>, kind: Projection): Factored {
  if (kind === "Q") return { left: f.Q, right: f.K };
  if (kind === "K") return { left: f.K, right: f.Q };
  return { left: f.V, right: f.O };
}

/**
 * Q-, K-, V-composition of every layer-0 head i with every layer-1 head j, and the
 * random baseline. `weights` is the padded arena (loadWeights).
 */
export function compositionScores(engine: Engine, model: TransformerConfig, weights: Float32Array, options: CompositionOptions = {}): CompositionScores {
  if (model.n_layers < 2) throw new RangeError(`composition: the model has ${model.n_layers} layer(s); composition needs layers 0 and 1`);
  const foldLn = options.foldLn ?? false;
  if (foldLn && model.normalization !== "LN") throw new RangeError("composition: fold_ln asked for, but the model has no LayerNorm (normalization: null)");
  const { n_heads: H, d_model: D, d_head: k } = model;
  const layer0 = Array.from({ length: H }, (_, h) => headFactors(model, weights, 0, h, foldLn));
  const layer1 = Array.from({ length: H }, (_, h) => headFactors(model, weights, 1, h, foldLn));
  const table = (kind: Projection) =>
    layer0.map((a) => layer1.map((b) => compositionScore({ left: a.V, right: a.O }, compositionRight(b, kind), D, k)));
  return { Q: table("Q"), K: table("K"), V: table("V"), baseline: compositionBaseline(engine, D, k, options.samples, options.seed) };
}

/**
 * Mean of score(X₁X₂ᵀ, X₃X₄ᵀ) over `samples` draws of four [d_model, d_head] matrices
 * of i.i.d. standard normals: sample s fills them from the Philox stream
 * (seed, COMPOSITION_BASELINE_KEY, step s, STREAM_USER).
 */
export function compositionBaseline(engine: Engine, dModel: number, dHead: number, samples = COMPOSITION_BASELINE_SAMPLES, seed = 0): number {
  if (!(Number.isInteger(samples) && samples >= 1)) throw new RangeError(`composition: baseline samples must be an integer ≥ 1, got ${samples}`);
  const size = dModel * dHead;
  const padded = Math.ceil((4 * size) / 8) * 8; // fillNormals writes whole blocks of 8
  const buffer = engine.allocF32(padded);
  const stream = moduleConstant(engine, "STREAM_USER");
  let total = 0;
  for (let s = 0; s < samples; s++) {
    engine.kernels.fillNormals(buffer, padded, seed >>> 0, COMPOSITION_BASELINE_KEY, s, stream);
    const z = engine.f32(buffer, padded);
    const m = (i: number) => Float64Array.from(z.subarray(i * size, (i + 1) * size));
    total += compositionScore({ left: m(0), right: m(1) }, { left: m(2), right: m(3) }, dModel, dHead);
  }
  return total / samples;
}
