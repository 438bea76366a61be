// An independent plain-f64 TransformerLens attention-only transformer (forward
// and next-token loss), written from TL's definitions (HookedTransformer with
// attn_only=True): the reference the engine's f32 WebAssembly model is checked
// against, logits and finite-difference gradients alike.
import type { TransformerConfig } from "../../src/config.ts";

export type Params = Map<string, Float64Array>;

function layerNorm(x: number[], w: Float64Array | undefined, b: Float64Array | undefined): number[] {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const centered = x.map((v) => v - mean);
  const variance = centered.reduce((a, v) => a + v * v, 0) / n;
  const scale = 1 / Math.sqrt(variance + 1e-5); // TL's LayerNorm eps
  return centered.map((v, i) => v * scale * (w ? w[i] : 1) + (b ? b[i] : 0));
}

/**
 * Ablations, as src/analysis/ablation.ts defines them: `replace(l, h)` gives head h
 * of layer l's replacement z [T][d_head] (per position, the same for every sequence).
 *   heads: those heads' z replaced on every path;
 *   path:  layer `layer − 1`'s `sources` replaced only in the residual stream that the
 *          `readers` [projection, head] of layer `layer` read (q, k or v input).
 */
export interface ReferenceAblation {
  replace: (layer: number, head: number) => number[][];
  heads?: { layer: number; head: number }[];
  path?: { layer: number; sources: number[]; readers: ["Q" | "K" | "V", number][] };
}

/** logits[b][p][vocab] for token sequences tokens[b][p] (and every head's z[l][h][b][p][e]). */
export function referenceForward(m: TransformerConfig, params: Params, tokens: number[][], ablation?: ReferenceAblation): { logits: number[][][]; z: number[][][][][] } {
  const P = (name: string) => params.get(name);
  const WE = P("embed.W_E")!, Wpos = P("pos_embed.W_pos")!;
  const D = m.d_model, H = m.n_heads, E = m.d_head, V = m.d_vocab;
  const shortformer = m.positional_embedding === "shortformer";
  const zs: number[][][][][] = Array.from({ length: m.n_layers }, () => Array.from({ length: H }, () => []));
  const logits = tokens.map((seq, b) => {
    const T = seq.length;
    let resid = seq.map((tok, p) => Array.from({ length: D }, (_, d) => WE[tok * D + d] + (shortformer ? 0 : Wpos[p * D + d])));
    let altResid: number[][] | undefined; // the path-ablation stream into the next layer
    for (let l = 0; l < m.n_layers; l++) {
      const a = (n: string) => P(`blocks.${l}.attn.${n}`);
      const ln = (r: number[][]) => (m.normalization === "LN" ? r.map((row) => layerNorm(row, P(`blocks.${l}.ln1.w`), P(`blocks.${l}.ln1.b`))) : r);
      const withPos = (x: number[][]) => (shortformer ? x.map((r, p) => r.map((v, d) => v + Wpos[p * D + d])) : x);
      const x = ln(resid), qkIn = withPos(x);
      const altX = altResid ? ln(altResid) : undefined, altQkIn = altX ? withPos(altX) : undefined;
      const reads = (proj: "Q" | "K" | "V", h: number) =>
        ablation?.path?.layer === l && ablation.path.readers.some(([p2, h2]) => p2 === proj && h2 === h);
      const headZ: number[][][] = [];
      for (let h = 0; h < H; h++) {
        const project = (input: number[][], W: Float64Array, bias: Float64Array | undefined) =>
          input.map((r) => Array.from({ length: E }, (_, e) => {
            let s = bias ? bias[h * E + e] : 0;
            for (let i = 0; i < D; i++) s += r[i] * W[(h * D + i) * E + e];
            return s;
          }));
        const q = project(reads("Q", h) ? altQkIn! : qkIn, a("W_Q")!, a("b_Q"));
        const k = project(reads("K", h) ? altQkIn! : qkIn, a("W_K")!, a("b_K"));
        const v = project(reads("V", h) ? altX! : x, a("W_V")!, a("b_V"));
        let z: number[][] = [];
        for (let i = 0; i < T; i++) {
          const scores = Array.from({ length: i + 1 }, (_, j) => q[i].reduce((s, qe, e) => s + qe * k[j][e], 0) / Math.sqrt(E));
          const max = Math.max(...scores);
          const exps = scores.map((s) => Math.exp(s - max));
          const sum = exps.reduce((s, v2) => s + v2, 0);
          z.push(Array.from({ length: E }, (_, e) => exps.reduce((s, w2, j) => s + (w2 / sum) * v[j][e], 0)));
        }
        zs[l][h][b] = z;
        if (ablation?.heads?.some((r) => r.layer === l && r.head === h)) z = ablation.replace(l, h);
        headZ.push(z);
      }
      const WO = a("W_O")!, bO = a("b_O");
      const output = (zOf: (h: number) => number[][]) =>
        resid.map((r, p) => r.map((v, d) => {
          let s = 0;
          for (let h = 0; h < H; h++) for (let e = 0; e < E; e++) s += zOf(h)[p][e] * WO[(h * E + e) * D + d];
          return v + s + (bO ? bO[d] : 0);
        }));
      const path = ablation?.path;
      altResid = path && path.layer === l + 1 ? output((h) => (path.sources.includes(h) ? ablation.replace(l, h) : headZ[h])) : undefined;
      resid = output((h) => headZ[h]);
    }
    const xf = m.normalization === "LN" ? resid.map((r) => layerNorm(r, P("ln_final.w"), P("ln_final.b"))) : resid;
    const WU = P("unembed.W_U")!, bU = P("unembed.b_U");
    return xf.map((r) => Array.from({ length: V }, (_, o) => r.reduce((s, xv, d) => s + xv * WU[d * V + o], bU ? bU[o] : 0)));
  });
  return { logits, z: zs };
}

/** logits[b][p][vocab] for token sequences tokens[b][p]. */
export function referenceLogits(m: TransformerConfig, params: Params, tokens: number[][], ablation?: ReferenceAblation): number[][][] {
  return referenceForward(m, params, tokens, ablation).logits;
}

/** Per-sequence, per-position losses: losses[b][p] is the loss on token p (p ≥ 1). */
export function referenceTokenLosses(m: TransformerConfig, params: Params, tokens: number[][], ablation?: ReferenceAblation): number[][] {
  const logits = referenceLogits(m, params, tokens, ablation);
  return tokens.map((seq, b) => seq.map((tok, p) => {
    if (p === 0) return NaN;
    const row = logits[b][p - 1];
    const max = Math.max(...row);
    return Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max - row[tok];
  }));
}

/** Mean next-token cross-entropy over every sequence's T − 1 predictions. */
export function referenceLoss(m: TransformerConfig, params: Params, tokens: number[][]): number {
  const logits = referenceLogits(m, params, tokens);
  let total = 0, count = 0;
  tokens.forEach((seq, b) => {
    for (let p = 0; p + 1 < seq.length; p++) {
      const row = logits[b][p];
      const max = Math.max(...row);
      const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
      total += logSum - row[seq[p + 1]];
      count++;
    }
  });
  return total / count;
}

/** log softmax of one logit row, in f64. */
function logSoftmax(row: number[]): number[] {
  const max = Math.max(...row);
  const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
  return row.map((v) => v - logSum);
}

/**
 * Mean next-token KL(p_ref ‖ p_w) over every sequence's T − 1 predictions (the
 * refined-LLC paper's KL loss): p_w the model `m` at `params`, p_ref the model
 * `refModel` (any shape, the same vocabulary) at `refParams`.
 */
export function referenceKl(m: TransformerConfig, params: Params, refModel: TransformerConfig, refParams: Params, tokens: number[][]): number {
  const logits = referenceLogits(m, params, tokens), refLogits = referenceLogits(refModel, refParams, tokens);
  let total = 0, count = 0;
  tokens.forEach((seq, b) => {
    for (let p = 0; p + 1 < seq.length; p++) {
      const logP = logSoftmax(logits[b][p]), logRef = logSoftmax(refLogits[b][p]);
      total += logRef.reduce((s, lr, j) => s + Math.exp(lr) * (lr - logP[j]), 0);
      count++;
    }
  });
  return total / count;
}
