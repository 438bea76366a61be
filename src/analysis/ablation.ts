// Head ablation on the attention-only transformer, for the analyses of Wang et al.
// 2024 (arXiv 2410.02984) §4 and App. B: a forward pass over a held-out set with
// chosen heads' outputs replaced, and the per-token losses it gives.
//
//   mean-ablation  head h's output z_h·W_O[h] (before b_O) replaced at each position
//                  p by its mean over the data set's sequences at p. The forward
//                  replaces z_h (TL's hook_z) by its per-position mean z̄_h[p]; z ↦ z·W_O
//                  is linear, so z̄_h·W_O[h] is that mean (up to f32 rounding of one product);
//   zero-ablation  z_h = 0, the same as zeroing W_O[h] (b_O, shared, stays);
//   path ablation  layer-0 head i replaced only in the input of layer-1 head j's query,
//                  key or value (Elhage et al. 2021 "path expansion"): a second
//                  residual stream, read by just those projections.
// The replacement happens inside the engine's forward (assembly/transformer.ts,
// plan words TFL_ABLATE…TFL_ALT_PROJ): plans made by planModel leave them 0, so
// training and SGLD run the plain forward. Every figure is formed in WASM (the
// losses) or in f64 with + − × ÷ in a fixed order (means), so it is the same in every host.
import type { Engine } from "../engine.ts";
import type { TransformerConfig } from "../config.ts";
import { modelLayout, moduleConstant, planModel, type ModelPlan } from "../models.ts";

export type AblationKind = "mean" | "zero";
export type Projection = "Q" | "K" | "V";
export const PROJECTIONS: readonly Projection[] = ["Q", "K", "V"];

export interface HeadRef {
  layer: number;
  head: number;
}

/** What one forward replaces: heads on every path, and/or paths into layer `layer`'s projections. */
export interface AblationSpec {
  /** Heads whose output is replaced everywhere downstream. */
  heads?: readonly HeadRef[];
  /**
   * Heads of layer `layer − 1` replaced only in the stream read by the listed
   * projections of layer `layer`'s heads.
   */
  path?: { layer: number; sources: readonly number[]; readers: readonly { projection: Projection; head: number }[] };
  /** Default "mean". */
  kind?: AblationKind;
}

export interface TokenData {
  /** Row-major [nSeq, seqLen] token ids. */
  tokens: Int32Array;
  nSeq: number;
  seqLen: number;
}

export interface ProbeOptions {
  /** Sequences per forward pass (default 16). Token losses do not depend on it (each row's sums are fixed). */
  batch?: number;
  /** Keep the attention patterns (planModel keepPatterns; default false). */
  keepPatterns?: boolean;
}

export interface ForwardResult {
  /** Mean cross-entropy over all n·(T−1) predicted tokens, summed in (sequence, position) order. */
  loss: number;
  /** [nSeq, T]: entry (s, p) is the loss on token p of sequence s (p ≥ 1; entry p = 0 is NaN: nothing predicts it). */
  tokenLosses: Float64Array;
}

/**
 * A held-out set loaded into an engine with a plan that can ablate: run(spec) is
 * one forward pass over every sequence. The per-position means of every head's z
 * are taken once, on the first mean-ablation (or by headMeans()).
 */
export class AblationProbe {
  readonly plan: ModelPlan;
  readonly batch: number;
  readonly n: number;
  readonly T: number;
  private readonly tokensAt: number;
  private readonly nllAt: number;
  private readonly words: number;
  private readonly c: (name: string) => number;
  private readonly layerBuffers: { ablate: number; replaceZ: number; source: number; readers: number; alt: Record<string, number> }[] = [];
  private means: Float32Array[] | undefined;
  private loadedKind: AblationKind | undefined;

  constructor(readonly engine: Engine, readonly model: TransformerConfig, weights: Float32Array, data: TokenData, options: ProbeOptions = {}) {
    const layout = modelLayout(model);
    const { n_layers: L, n_heads: H, d_model: D, d_head: dh } = model;
    const T = data.seqLen;
    if (weights.length !== layout.padded) throw new RangeError(`ablation: weights hold ${weights.length} floats; expected the model's padded arena of ${layout.padded}`);
    if (!(T >= 2 && T <= model.n_ctx)) throw new RangeError(`ablation: sequences of ${T} tokens; expected 2 ≤ length ≤ n_ctx = ${model.n_ctx}`);
    if (!(Number.isInteger(data.nSeq) && data.nSeq >= 1)) throw new RangeError(`ablation: expected at least one sequence, got nSeq = ${data.nSeq}`);
    if (data.tokens.length !== data.nSeq * T) throw new RangeError(`ablation: ${data.tokens.length} tokens for ${data.nSeq} sequences of ${T}; expected ${data.nSeq * T}`);
    for (let i = 0; i < data.tokens.length; i++) {
      const token = data.tokens[i];
      if (!(token >= 0 && token < model.d_vocab)) throw new RangeError(`ablation: token ${token} at sequence ${Math.floor(i / T)}, position ${i % T} is outside [0, ${model.d_vocab}) (d_vocab)`);
    }
    const batch = Math.min(data.nSeq, options.batch ?? 16);
    if (!(Number.isInteger(batch) && batch >= 1)) throw new RangeError(`ablation: batch must be a positive integer, got ${options.batch}`);
    this.batch = batch;
    this.n = data.nSeq;
    this.T = T;
    this.c = (name) => moduleConstant(engine, name);
    const params = engine.allocF32(layout.padded);
    const grads = engine.allocF32(layout.padded); // planModel wants one; a forward never writes it
    engine.f32(params, layout.padded).set(weights);
    this.tokensAt = engine.allocI32(data.tokens.length);
    engine.i32(this.tokensAt, data.tokens.length).set(data.tokens);
    this.plan = planModel(engine, model, layout, params, grads, batch, T, { keepPatterns: options.keepPatterns ?? false });
    this.words = this.c("TF_LAYER0") + L * this.c("TF_LAYER_WORDS");
    this.nllAt = engine.allocF64(batch * T);
    this.setWord(this.c("TF_TOKEN_LOSSES"), this.nllAt);
    const R = batch * T, width = H * dh;
    const useLN = model.normalization === "LN", shortformer = model.positional_embedding === "shortformer";
    for (let l = 0; l < L; l++) {
      const alt: Record<string, number> = {};
      if (l > 0) {
        alt.TFL_ALT_Z = engine.allocF32(R * width);
        alt.TFL_ALT_RESID = engine.allocF32(R * D);
        alt.TFL_ALT_X = useLN ? engine.allocF32(R * D) : alt.TFL_ALT_RESID;
        alt.TFL_ALT_MEAN = useLN ? engine.allocF32(R) : 0;
        alt.TFL_ALT_RSTD = useLN ? engine.allocF32(R) : 0;
        alt.TFL_ALT_QK_IN = shortformer ? engine.allocF32(R * D) : alt.TFL_ALT_X;
        alt.TFL_ALT_PROJ = engine.allocF32(R * width);
      }
      this.layerBuffers.push({
        ablate: engine.allocI32(H), replaceZ: engine.allocF32(T * width),
        source: l > 0 ? engine.allocI32(H) : 0, readers: l > 0 ? engine.allocI32(3 * H) : 0, alt,
      });
      // The buffers stay planned; only the flag words switch a replacement on (run()).
      this.setLayerWord(l, "TFL_REPLACE_Z", this.layerBuffers[l].replaceZ);
      for (const [name, address] of Object.entries(alt)) this.setLayerWord(l, name, address);
    }
  }

  private setWord(index: number, value: number): void {
    this.engine.i32(this.plan.address, this.words)[index] = value;
  }
  private setLayerWord(l: number, field: string, value: number): void {
    this.setWord(this.c("TF_LAYER0") + l * this.c("TF_LAYER_WORDS") + this.c(field), value);
  }
  /** The address a layer's plan word holds (e.g. "TFL_Z", "TFL_PATTERN"). */
  layerAddress(l: number, field: string): number {
    return this.engine.i32(this.plan.address, this.words)[this.c("TF_LAYER0") + l * this.c("TF_LAYER_WORDS") + this.c(field)];
  }

  /**
   * One forward over all sequences in batches; after each batch `visit(start, rows)`
   * may read the plan's activations (z, patterns) of sequences start..start+rows−1.
   */
  forward(visit?: (start: number, rows: number) => void): ForwardResult {
    const { engine, n, T } = this;
    const tokenLosses = new Float64Array(n * T);
    for (let start = 0; start < n; start += this.batch) {
      const rows = Math.min(this.batch, n - start);
      engine.kernels.modelLoss(this.plan.address, this.tokensAt + start * T * 4, 0, rows);
      const nll = engine.f64(this.nllAt, rows * T);
      // Row (b, p) of the engine's buffer is the loss of token p + 1.
      for (let b = 0; b < rows; b++) {
        const row = (start + b) * T;
        tokenLosses[row] = NaN;
        for (let p = 1; p < T; p++) tokenLosses[row + p] = nll[b * T + p - 1];
      }
      visit?.(start, rows);
    }
    return { loss: meanTokenLoss(tokenLosses, n, T), tokenLosses };
  }

  /**
   * Per layer, the mean over sequences of z at each position, [T, H·d_head] (f64 sums
   * in sequence order, one rounding to f32): the mean-ablation values. Computed once.
   */
  headMeans(): Float32Array[] {
    if (!this.means) this.run();
    return this.means!;
  }

  /** The intact forward; it also takes the per-position means of z when they are not known yet. */
  private intactForward(visit?: (start: number, rows: number) => void): ForwardResult {
    this.clear();
    if (this.means) return this.forward(visit);
    const { model, T, n } = this;
    const width = model.n_heads * model.d_head;
    const sums = Array.from({ length: model.n_layers }, () => new Float64Array(T * width));
    const result = this.forward((start, rows) => {
      for (let l = 0; l < model.n_layers; l++) {
        const z = this.engine.f32(this.layerAddress(l, "TFL_Z"), rows * T * width);
        const sum = sums[l];
        for (let b = 0; b < rows; b++) {
          const base = b * T * width;
          for (let i = 0; i < T * width; i++) sum[i] += z[base + i];
        }
      }
      visit?.(start, rows);
    });
    this.means = sums.map((sum) => Float32Array.from(sum, (x) => x / n));
    return result;
  }

  private loadReplacement(kind: AblationKind): void {
    if (this.loadedKind === kind) return;
    const means = kind === "mean" ? this.headMeans() : undefined;
    const size = this.T * this.model.n_heads * this.model.d_head;
    this.layerBuffers.forEach((buffers, l) => {
      const view = this.engine.f32(buffers.replaceZ, size);
      if (means) view.set(means[l]);
      else view.fill(0);
    });
    this.loadedKind = kind;
  }

  /** Switch every replacement off: the next forward is the intact model (the plain op sequence). */
  clear(): void {
    for (let l = 0; l < this.model.n_layers; l++) {
      this.setLayerWord(l, "TFL_ABLATE", 0);
      if (l > 0) {
        this.setLayerWord(l, "TFL_PATH_SOURCE", 0);
        this.setLayerWord(l, "TFL_PATH_READERS", 0);
      }
    }
  }

  /**
   * A forward with `spec`'s replacements (none: the intact model); `visit` as in
   * forward(), e.g. to read attention patterns.
   */
  run(spec: AblationSpec = {}, visit?: (start: number, rows: number) => void): ForwardResult {
    const { model } = this;
    const H = model.n_heads;
    const heads = spec.heads ?? [];
    for (const { layer, head } of heads) checkHead(model, layer, head);
    if (spec.path) {
      const { layer, sources, readers } = spec.path;
      if (!(Number.isInteger(layer) && layer >= 1 && layer < model.n_layers)) throw new RangeError(`path ablation: layer ${layer} is not in 1..${model.n_layers - 1} (the path runs from layer − 1 into layer)`);
      for (const s of sources) checkHead(model, layer - 1, s);
      for (const r of readers) {
        checkHead(model, layer, r.head);
        if (!PROJECTIONS.includes(r.projection)) throw new RangeError(`path ablation: projection ${JSON.stringify(r.projection)}; expected Q, K or V`);
      }
    }
    if (heads.length === 0 && !spec.path) return this.intactForward(visit);
    this.loadReplacement(spec.kind ?? "mean");
    this.clear();
    for (let l = 0; l < model.n_layers; l++) {
      const chosen = heads.filter((h) => h.layer === l);
      if (chosen.length === 0) continue;
      const flags = this.engine.i32(this.layerBuffers[l].ablate, H);
      flags.fill(0);
      for (const { head } of chosen) flags[head] = 1;
      this.setLayerWord(l, "TFL_ABLATE", this.layerBuffers[l].ablate);
    }
    if (spec.path) {
      const { layer, sources, readers } = spec.path;
      const buffers = this.layerBuffers[layer];
      const source = this.engine.i32(buffers.source, H);
      source.fill(0);
      for (const s of sources) source[s] = 1;
      const flags = this.engine.i32(buffers.readers, 3 * H);
      flags.fill(0);
      for (const r of readers) flags[PROJECTIONS.indexOf(r.projection) * H + r.head] = 1;
      this.setLayerWord(layer, "TFL_PATH_SOURCE", buffers.source);
      this.setLayerWord(layer, "TFL_PATH_READERS", buffers.readers);
    }
    try {
      return this.forward(visit);
    } finally {
      this.clear();
    }
  }
}

function checkHead(model: TransformerConfig, layer: number, head: number): void {
  if (!(Number.isInteger(layer) && layer >= 0 && layer < model.n_layers)) throw new RangeError(`ablation: layer ${layer} is not in 0..${model.n_layers - 1}`);
  if (!(Number.isInteger(head) && head >= 0 && head < model.n_heads)) throw new RangeError(`ablation: head ${head} is not in 0..${model.n_heads - 1}`);
}

/** Σ over sequences s and positions p ≥ 1 (ascending) of tokenLosses[s, p], / n·(T−1). */
export function meanTokenLoss(tokenLosses: Float64Array, n: number, T: number): number {
  let total = 0;
  for (let s = 0; s < n; s++) for (let p = 1; p < T; p++) total += tokenLosses[s * T + p];
  return total / (n * (T - 1));
}

/** The first `count` sequences of `data` (all when count ≥ nSeq). */
export function firstSequences(data: TokenData, count: number | undefined): TokenData {
  const n = Math.min(data.nSeq, count ?? data.nSeq);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`expected at least one sequence (nSeq = ${data.nSeq}, maxSequences = ${count})`);
  return { tokens: data.tokens.subarray(0, n * data.seqLen), nSeq: n, seqLen: data.seqLen };
}

export interface TokenChange {
  sequence: number;
  /** Position of the token whose loss changed (≥ 1). */
  position: number;
  token: number;
  /** Up to `contextLength` token ids before it in its sequence. */
  context: number[];
  /** Ablated loss minus the intact loss on that token (nats). */
  delta: number;
}

/**
 * The `count` token positions with the largest `score(delta)` (ties: earlier
 * position first), each with up to `contextLength` tokens of preceding context.
 */
export function topTokenChanges(
  data: TokenData, base: Float64Array, ablated: Float64Array, count: number, contextLength: number,
  score: (delta: number) => number = (d) => d,
): TokenChange[] {
  const { nSeq: n, seqLen: T, tokens } = data;
  // A bounded selection: keep the best `count` seen so far, sorted descending.
  const best: { index: number; key: number; delta: number }[] = [];
  for (let s = 0; s < n; s++)
    for (let p = 1; p < T; p++) {
      const index = s * T + p;
      const delta = ablated[index] - base[index];
      const key = score(delta);
      if (!(key === key)) continue; // NaN
      if (best.length === count && key <= best[best.length - 1].key) continue;
      let at = best.length;
      while (at > 0 && best[at - 1].key < key) at--;
      best.splice(at, 0, { index, key, delta });
      if (best.length > count) best.pop();
    }
  return best.map(({ index, delta }) => {
    const sequence = Math.floor(index / T), position = index % T;
    const from = Math.max(0, position - contextLength);
    return { sequence, position, token: tokens[index], context: Array.from(tokens.subarray(sequence * T + from, index)), delta };
  });
}
