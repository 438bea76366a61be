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

/** logits[b][p][vocab] for token sequences tokens[b][p]. */
export function referenceLogits(m: TransformerConfig, params: Params, tokens: number[][]): number[][][] {
  const P = (name: string) => params.get(name);
  const WE = P("embed.W_E")!, Wpos = P("pos_embed.W_pos")!;
  const D = m.d_model, H = m.n_heads, E = m.d_head, V = m.d_vocab;
  const shortformer = m.positional_embedding === "shortformer";
  return tokens.map((seq) => {
    const T = seq.length;
    let resid = seq.map((tok, p) => Array.from({ length: D }, (_, d) => WE[tok * D + d] + (shortformer ? 0 : Wpos[p * D + d])));
    for (let l = 0; l < m.n_layers; l++) {
      const a = (n: string) => P(`blocks.${l}.attn.${n}`);
      const x = m.normalization === "LN" ? resid.map((r) => layerNorm(r, P(`blocks.${l}.ln1.w`), P(`blocks.${l}.ln1.b`))) : resid;
      const qkIn = shortformer ? x.map((r, p) => r.map((v, d) => v + Wpos[p * D + d])) : x;
      const out = resid.map(() => new Array(D).fill(0));
      for (let h = 0; h < H; h++) {
        const project = (input: number[][], W: Float64Array, bias: Float64Array | undefined) =>
          input.map((r) => Array.from({ length: E }, (_, e) => {
            let s = bias ? bias[h * E + e] : 0;
            for (let i = 0; i < D; i++) s += r[i] * W[(h * D + i) * E + e];
            return s;
          }));
        const q = project(qkIn, a("W_Q")!, a("b_Q")), k = project(qkIn, a("W_K")!, a("b_K")), v = project(x, a("W_V")!, a("b_V"));
        for (let i = 0; i < T; i++) {
          const scores = Array.from({ length: i + 1 }, (_, j) => q[i].reduce((s, qe, e) => s + qe * k[j][e], 0) / Math.sqrt(E));
          const max = Math.max(...scores);
          const exps = scores.map((s) => Math.exp(s - max));
          const sum = exps.reduce((s, v2) => s + v2, 0);
          const z = Array.from({ length: E }, (_, e) => exps.reduce((s, w2, j) => s + (w2 / sum) * v[j][e], 0));
          const WO = a("W_O")!;
          for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) out[i][d] += z[e] * WO[(h * E + e) * D + d];
        }
      }
      const bO = a("b_O");
      resid = resid.map((r, p) => r.map((v, d) => v + out[p][d] + (bO ? bO[d] : 0)));
    }
    const xf = m.normalization === "LN" ? resid.map((r) => layerNorm(r, P("ln_final.w"), P("ln_final.b"))) : resid;
    const WU = P("unembed.W_U")!, bU = P("unembed.b_U");
    return xf.map((r) => Array.from({ length: V }, (_, o) => r.reduce((s, xv, d) => s + xv * WU[d * V + o], bU ? bU[o] : 0)));
  });
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
