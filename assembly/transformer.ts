// The attention-only transformer (TransformerLens HookedTransformer, attn_only=True;
// the model of Wang et al. 2024) as a sequence of kernels, forward and backward.
//
//   resid_0 = W_E[tokens] (+ W_pos[p] for "standard" positions)
//   block l: x = LN1(resid_l) (or resid_l);  qk_in = x (+ W_pos[p] for "shortformer",
//            added after ln1 to the query and key inputs only, as TL does)
//            q = qk_in·W_Q + b_Q, k = qk_in·W_K + b_K, v = x·W_V + b_V      [B, T, H, d_head]
//            z = attention(q, k, v);  resid_{l+1} = (z·W_O + b_O) + resid_l
//   logits = LN_f(resid_L)·W_U + b_U;  loss = next-token cross-entropy
//
// W_Q [H, d_model, d_head] is repacked once per pass into [d_model, H·d_head]
// (head-major columns), so one matmul gives q already in attention.ts's
// [B, T, H, d_head] layout; W_O [H, d_head, d_model] is [H·d_head, d_model] as is.
// For its backward each layer keeps q, k, v, z and the attention's row statistics
// [B, H, T, 2]; the B·H·T² pattern (1 GiB per layer at the paper's size) only when
// the plan asks for it (TFL_PATTERN ≠ 0), e.g. to read head behaviour after a forward.
// Plan words are written by src/models.ts (planTransformer) from these offsets.

import { matmulAB, matmulABt, matmulAtB } from "./matmul";
import { biasAdd, biasGrad, vectorAdd } from "./elementwise";
import { attentionForward, attentionBackward } from "./attention";
import { layerNormForward, layerNormBackward } from "./layernorm";
import { embeddingForward, embeddingBackward, posEmbedAdd, posEmbedBackward } from "./embedding";
import { crossEntropySum, klSum } from "./crossentropy";
import { PLAN_D_IN, PLAN_MAX_BATCH, PLAN_PARAMS, PLAN_GRADS, PLAN_SCRATCH, PLAN_ARENA_FLOATS, planWord } from "./plan";

// Model words after the shared PLAN_* words (models.ts).
export const TF_LAYERS: i32 = 10;
export const TF_HEADS: i32 = 11;
export const TF_D_MODEL: i32 = 12;
export const TF_D_HEAD: i32 = 13;
export const TF_D_VOCAB: i32 = 14;
export const TF_LAYER_NORM: i32 = 15; // 1: LN before blocks and unembed
export const TF_SHORTFORMER: i32 = 16; // 1: W_pos added to q/k inputs only
export const TF_W_E: i32 = 17; // arena float offsets (−1: absent)
export const TF_W_POS: i32 = 18;
export const TF_LNF_W: i32 = 19;
export const TF_LNF_B: i32 = 20;
export const TF_W_U: i32 = 21;
export const TF_B_U: i32 = 22;
// Buffers (addresses): the residual streams [L+1][R, d_model] are per layer below.
export const TF_FINAL_X: i32 = 23; // LN_f output [R, d_model] (= resid_L when no LN)
export const TF_FINAL_MEAN: i32 = 24;
export const TF_FINAL_RSTD: i32 = 25;
export const TF_LOGITS: i32 = 26; // [chunk rows, d_vocab]
export const TF_D_LOGITS: i32 = 27;
export const TF_D_RESID: i32 = 28; // [R, d_model]
export const TF_D_X: i32 = 29; // [R, d_model]
export const TF_D_Q: i32 = 30; // [R, H·d_head] ×4
export const TF_D_K: i32 = 31;
export const TF_D_V: i32 = 32;
export const TF_D_Z: i32 = 33;
export const TF_D_W_PACKED: i32 = 34; // [d_model, H·d_head]
export const TF_RESID_FINAL: i32 = 35; // resid_L [R, d_model]
export const TF_CHUNK_SEQUENCES: i32 = 36; // sequences per unembed/loss chunk (TF_LOGITS holds one chunk)
export const TF_TOKEN_LOSSES: i32 = 37; // f64 [R]: row (b, p) gets the loss of predicting token p + 1 (0: not written)
// The KL loss (src/models.ts planKlReference): the address of a second, forward-only
// transformer plan whose next-token distribution is the target (0: cross-entropy),
// and an f32 [d_vocab] scratch row for its exponentials.
export const TF_KL_REFERENCE: i32 = 38;
export const TF_KL_REF_ROW: i32 = 39;
// i32 flags parallel to the plan words (0: nothing frozen, every gradient computed): entry i is 1 when
// the tensor whose arena offset plan word i holds is frozen by a restriction (its whole mask is 0).
// The backward then skips that tensor's weight gradient, and every product below the lowest
// layer that has a moving tensor (lowestMoving); the moving tensors' gradients keep their bits,
// and the SGLD update reads a gradient only through M ⊙ (sgld.ts), so frozen entries stay 0.
export const TF_FROZEN: i32 = 41;
// When every tensor below the lowest moving place (lowestMoving ≥ 1) is frozen, the activation
// entering it is a function of the data row alone (frozen weights stay at w* bit for bit): the
// row cache holds it per data row, filled once (transformerFillRowCache), and a step's forward
// with gradient copies its batch's rows in instead of recomputing everything below. Each row's
// activations do not depend on the other rows of its batch, so these are the bits of the full
// forward. TF_ROW_CACHE: address of i32 [3] (RC_*), or 0: no cache.
export const TF_ROW_CACHE: i32 = 40;
export const RC_CACHE: i32 = 0; // f32 [n rows, T, d_model]
export const RC_ROWS: i32 = 1; // i32 [max batch]: the data row of each batch row, written by chain.ts gatherBatch
export const RC_PLACE: i32 = 2; // lowestMoving: the cache holds this block's resid (layers: resid_L; layers + 1: LN_f output)
export const TF_LAYER0: i32 = 42;
// Per layer: arena offsets, then buffers.
export const TFL_LN_W: i32 = 0;
export const TFL_LN_B: i32 = 1;
export const TFL_W_Q: i32 = 2;
export const TFL_W_K: i32 = 3;
export const TFL_W_V: i32 = 4;
export const TFL_W_O: i32 = 5;
export const TFL_B_Q: i32 = 6;
export const TFL_B_K: i32 = 7;
export const TFL_B_V: i32 = 8;
export const TFL_B_O: i32 = 9;
export const TFL_RESID: i32 = 10; // resid_l, the block's input [R, d_model]
export const TFL_X: i32 = 11; // ln1 output (= resid_l when no LN)
export const TFL_MEAN: i32 = 12;
export const TFL_RSTD: i32 = 13;
export const TFL_QK_IN: i32 = 14; // x + W_pos for shortformer (= x otherwise)
export const TFL_Q: i32 = 15;
export const TFL_K: i32 = 16;
export const TFL_V: i32 = 17;
export const TFL_Z: i32 = 18;
export const TFL_PATTERN: i32 = 19; // [B, H, T, T], or 0: not kept (planModel's keepPatterns)
export const TFL_PACKED_Q: i32 = 20; // W_Q packed [d_model, H·d_head]
export const TFL_PACKED_K: i32 = 21;
export const TFL_PACKED_V: i32 = 22;
export const TFL_STATS: i32 = 23; // attention row statistics (max, 1/sum) [B, H, T, 2]
// Ablation, for the head analyses (src/analysis/ablation.ts). Every word is 0 in the
// plans planModel makes by default, and then the forward runs exactly the ops above.
//   z_h is a head's attention output [B, T, d_head]; its contribution to the residual
//   stream is z_h·W_O[h] (TL's hook_z; TL's hook_result before b_O), so replacing z_h
//   replaces that contribution (zero-ablation: z_h = 0, the same as W_O[h] = 0).
export const TFL_ABLATE: i32 = 24; // i32 [H] flags: heads of this layer whose z is replaced on every path downstream
export const TFL_REPLACE_Z: i32 = 25; // f32 [T, H·d_head]: the replacement z_h per position, the same for every sequence
// Path ablation into this layer l ≥ 1: a second residual stream that differs from resid_l
// only by layer l−1's PATH_SOURCE heads having their z replaced (by layer l−1's REPLACE_Z),
// read only by this layer's PATH_READERS projections; every other path keeps the intact stream.
export const TFL_PATH_SOURCE: i32 = 26; // i32 [H] flags over layer l−1's heads (0: no path ablation into this layer)
export const TFL_PATH_READERS: i32 = 27; // i32 [3, H] flags: (q, k, v) × head of this layer reading the second stream
export const TFL_ALT_Z: i32 = 28; // [R, H·d_head] layer l−1's z with the path sources replaced
export const TFL_ALT_RESID: i32 = 29; // [R, d_model] the second stream
export const TFL_ALT_X: i32 = 30; // [R, d_model] its ln1 output (= TFL_ALT_RESID without LN)
export const TFL_ALT_MEAN: i32 = 31;
export const TFL_ALT_RSTD: i32 = 32;
export const TFL_ALT_QK_IN: i32 = 33; // its q/k input (+ W_pos for shortformer; = TFL_ALT_X otherwise)
export const TFL_ALT_PROJ: i32 = 34; // [R, H·d_head] one projection of the second stream
export const TF_LAYER_WORDS: i32 = 35;

@inline function word(plan: usize, i: i32): i32 {
  return planWord(plan, i);
}
// The three input projections by index p = 0, 1, 2 (q, k, v): no arrays, since the
// stub runtime never frees and the step loop must not allocate.
@inline function projectionWeight(p: i32): i32 {
  return p == 0 ? TFL_W_Q : p == 1 ? TFL_W_K : TFL_W_V;
}
@inline function projectionBias(p: i32): i32 {
  return p == 0 ? TFL_B_Q : p == 1 ? TFL_B_K : TFL_B_V;
}
@inline function projectionPacked(p: i32): i32 {
  return p == 0 ? TFL_PACKED_Q : p == 1 ? TFL_PACKED_K : TFL_PACKED_V;
}
@inline function layerWord(plan: usize, layer: i32, field: i32): i32 {
  return word(plan, TF_LAYER0 + layer * TF_LAYER_WORDS + field);
}
@inline function buffer(plan: usize, i: i32): usize {
  return <usize>word(plan, i);
}
@inline function layerBuffer(plan: usize, layer: i32, field: i32): usize {
  return <usize>layerWord(plan, layer, field);
}
/** Address of the tensor at arena float offset `offset` (0 when absent, offset −1). */
@inline function tensorAt(base: usize, offset: i32): usize {
  return offset < 0 ? 0 : base + (<usize>offset << 2);
}

/** Whether the tensor whose arena offset is in plan word i exists and moves (TF_FROZEN). */
@inline function moving(plan: usize, i: i32): bool {
  if (word(plan, i) < 0) return false;
  const frozen = buffer(plan, TF_FROZEN);
  return frozen == 0 || load<i32>(frozen + (<usize>i << 2)) == 0;
}
/** Gradient address of the tensor at plan word i, or 0 when it is absent or frozen. */
@inline function gradAt(plan: usize, g: usize, i: i32): usize {
  return moving(plan, i) ? tensorAt(g, word(plan, i)) : 0;
}
@inline function layerIndex(l: i32, field: i32): i32 {
  return TF_LAYER0 + l * TF_LAYER_WORDS + field;
}
/**
 * The lowest place whose parameters move: −1 for the embeddings (W_E, or W_pos, which the
 * shortformer also reads in every block), else the lowest block with a moving tensor, else
 * `layers` for ln_final, else layers + 1 (only the unembed moves). The backward needs
 * ∂L/∂resid_l only for l above it.
 */
function lowestMoving(plan: usize, layers: i32): i32 {
  if (moving(plan, TF_W_E) || moving(plan, TF_W_POS)) return -1;
  for (let l = 0; l < layers; l++)
    for (let f = TFL_LN_W; f <= TFL_B_O; f++) if (moving(plan, layerIndex(l, f))) return l;
  return moving(plan, TF_LNF_W) || moving(plan, TF_LNF_B) ? layers : layers + 1;
}
/** lowestMoving for the host: where freezeTensors may put the row cache. */
export function transformerLowestMoving(plan: usize): i32 {
  return lowestMoving(plan, word(plan, TF_LAYERS));
}
/** The activation buffer [R, d_model] entering place `place` (see RC_PLACE). */
function placeBuffer(plan: usize, place: i32, layers: i32): usize {
  return place < layers ? layerBuffer(plan, place, TFL_RESID) : place == layers ? buffer(plan, TF_RESID_FINAL) : buffer(plan, TF_FINAL_X);
}
@inline function rowCacheWord(plan: usize, field: i32): i32 {
  return load<i32>(buffer(plan, TF_ROW_CACHE) + (<usize>field << 2));
}
/** Where gatherBatch writes the batch's data rows: 0 unless the plan has a row cache. */
export function transformerBatchRows(plan: usize): usize {
  return buffer(plan, TF_ROW_CACHE) ? <usize>rowCacheWord(plan, RC_ROWS) : 0;
}
/** Fill the row cache from the `n` token rows at X (i32 [n, T]) by forwards of up to max-batch rows. */
export function transformerFillRowCache(plan: usize, X: usize, n: i32): void {
  if (!buffer(plan, TF_ROW_CACHE)) return;
  const T = word(plan, PLAN_D_IN), batch = word(plan, PLAN_MAX_BATCH), layers = word(plan, TF_LAYERS);
  const rowBytes = <usize>(T * word(plan, TF_D_MODEL)) << 2;
  const cache = <usize>rowCacheWord(plan, RC_CACHE);
  const source = placeBuffer(plan, rowCacheWord(plan, RC_PLACE), layers);
  for (let r0 = 0; r0 < n; r0 += batch) {
    const rows = min(batch, n - r0);
    transformerLoss(plan, X + (<usize>(r0 * T) << 2), rows, false); // without gradient: the full forward
    memory.copy(cache + <usize>r0 * rowBytes, source, <usize>rows * rowBytes);
  }
}

/** Whether block l has a moving tensor that its ∂z (attention backward) leads to: ln1, W_Q/K/V, b_Q/K/V. */
function movesBeforeAttention(plan: usize, l: i32): bool {
  for (let f = TFL_LN_W; f <= TFL_B_V; f++) if (f != TFL_W_O && moving(plan, layerIndex(l, f))) return true;
  return false;
}

/** packed[i, h·dh + e] = W[h, i, e]: TL's per-head [H, d_model, d_head] as one [d_model, H·d_head] matrix. */
function packHeads(packed: usize, W: usize, heads: i32, dModel: i32, dHead: i32): void {
  const width = heads * dHead;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < dModel; i++)
      memory.copy(packed + (<usize>(i * width + h * dHead) << 2), W + (<usize>((h * dModel + i) * dHead) << 2), <usize>dHead << 2);
}

/** The inverse of packHeads, for the weight gradients. */
function unpackHeads(W: usize, packed: usize, heads: i32, dModel: i32, dHead: i32): void {
  const width = heads * dHead;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < dModel; i++)
      memory.copy(W + (<usize>((h * dModel + i) * dHead) << 2), packed + (<usize>(i * width + h * dHead) << 2), <usize>dHead << 2);
}

/** z[b, p, h, ·] = replace[p, h, ·] for every sequence b and each head h flagged in `heads` (i32 [H]). */
function replaceHeads(z: usize, heads: usize, replace: usize, batch: i32, T: i32, H: i32, dHead: i32): void {
  const width = H * dHead;
  const bytes = <usize>dHead << 2;
  for (let h = 0; h < H; h++) {
    if (load<i32>(heads + (<usize>h << 2)) == 0) continue;
    for (let b = 0; b < batch; b++)
      for (let p = 0; p < T; p++)
        memory.copy(z + (<usize>((b * T + p) * width + h * dHead) << 2), replace + (<usize>(p * width + h * dHead) << 2), bytes);
  }
}
/** resid_{l+1} = (z·W_O + b_O) + resid_l: the block's output, one op sequence for both streams. */
function blockOutput(next: usize, z: usize, WO: usize, bO: usize, resid: usize, R: i32, dModel: i32, width: i32, scratch: usize): void {
  matmulAB(next, z, WO, R, dModel, width, 0, scratch);
  if (bO) biasAdd(next, bO, R, dModel);
  vectorAdd(next, next, resid, R * dModel); // resid_post = resid_pre + attn_out
}

/** The columns of head h: out[r, h·dh ..] = src[r, h·dh ..] for every row r. */
function copyHeadColumns(out: usize, src: usize, h: i32, R: i32, width: i32, dHead: i32): void {
  const bytes = <usize>dHead << 2;
  for (let r = 0; r < R; r++) {
    const o = <usize>(r * width + h * dHead) << 2;
    memory.copy(out + o, src + o, bytes);
  }
}

/**
 * Projection p of the heads flagged in layer l's PATH_READERS row p: their columns of
 * `out` (= input·packed, before the bias) recomputed from the second stream's `altInput`.
 * Each output element of a product is one fixed sum over k (matmul.ts), whatever the
 * other columns, so a head's columns are the bits a forward on that stream would give.
 */
function readSecondStream(plan: usize, l: i32, p: i32, out: usize, altInput: usize, packed: usize, R: i32, width: i32, dModel: i32, heads: i32, dHead: i32, scratch: usize): void {
  const flags = layerBuffer(plan, l, TFL_PATH_READERS) + (<usize>(p * heads) << 2);
  let any = false;
  for (let h = 0; h < heads; h++) any = any || load<i32>(flags + (<usize>h << 2)) != 0;
  if (!any) return;
  const altProj = layerBuffer(plan, l, TFL_ALT_PROJ);
  matmulAB(altProj, altInput, packed, R, width, dModel, 0, scratch);
  for (let h = 0; h < heads; h++) if (load<i32>(flags + (<usize>h << 2)) != 0) copyHeadColumns(out, altProj, h, R, width, dHead);
}

/**
 * The forward pass of `batch` token sequences up to the unembed's input: every
 * activation the backward reads, and LN_f(resid_L) in TF_FINAL_X. With `withGrad`
 * and a row cache in the plan, the activations below the lowest moving place are
 * copied from the cache instead of recomputed (the same bits: see TF_ROW_CACHE).
 */
function transformerForward(plan: usize, tokens: usize, batch: i32, withGrad: bool): void {
  const layers = word(plan, TF_LAYERS), heads = word(plan, TF_HEADS);
  const dModel = word(plan, TF_D_MODEL), dHead = word(plan, TF_D_HEAD), dVocab = word(plan, TF_D_VOCAB);
  const T = word(plan, PLAN_D_IN);
  const R = batch * T;
  const width = heads * dHead;
  const useLN = word(plan, TF_LAYER_NORM) != 0, shortformer = word(plan, TF_SHORTFORMER) != 0;
  const w = <usize>word(plan, PLAN_PARAMS);
  const scratch = buffer(plan, PLAN_SCRATCH);
  const WE = tensorAt(w, word(plan, TF_W_E)), Wpos = tensorAt(w, word(plan, TF_W_POS));

  // ---- forward (from the row cache, with gradient, when the plan has one)
  const cached = withGrad && buffer(plan, TF_ROW_CACHE) != 0;
  const cachedPlace = cached ? rowCacheWord(plan, RC_PLACE) : 0;
  if (cached) {
    const rowBytes = <usize>(T * dModel) << 2;
    const into = placeBuffer(plan, cachedPlace, layers), cache = <usize>rowCacheWord(plan, RC_CACHE), rows = <usize>rowCacheWord(plan, RC_ROWS);
    for (let b = 0; b < batch; b++) memory.copy(into + <usize>b * rowBytes, cache + <usize>load<i32>(rows + (<usize>b << 2)) * rowBytes, rowBytes);
  } else {
    const resid0 = layerBuffer(plan, 0, TFL_RESID);
    embeddingForward(resid0, tokens, WE, R, dModel, dVocab);
    if (!shortformer) posEmbedAdd(resid0, resid0, Wpos, batch, T, dModel);
  }
  for (let l = min(cachedPlace, layers); l < layers; l++) {
    const resid = layerBuffer(plan, l, TFL_RESID);
    const next = l + 1 < layers ? layerBuffer(plan, l + 1, TFL_RESID) : buffer(plan, TF_RESID_FINAL);
    const x = layerBuffer(plan, l, TFL_X), qkIn = layerBuffer(plan, l, TFL_QK_IN);
    if (useLN) {
      layerNormForward(x, layerBuffer(plan, l, TFL_MEAN), layerBuffer(plan, l, TFL_RSTD), resid,
        tensorAt(w, layerWord(plan, l, TFL_LN_W)), tensorAt(w, layerWord(plan, l, TFL_LN_B)), R, dModel);
    }
    if (shortformer) posEmbedAdd(qkIn, x, Wpos, batch, T, dModel);
    // Path ablation into this layer: the second stream's ln1 output and q/k input, by the same ops.
    const readers = layerBuffer(plan, l, TFL_PATH_READERS);
    const altX = readers ? layerBuffer(plan, l, TFL_ALT_X) : 0, altQkIn = readers ? layerBuffer(plan, l, TFL_ALT_QK_IN) : 0;
    if (readers) {
      if (useLN) {
        layerNormForward(altX, layerBuffer(plan, l, TFL_ALT_MEAN), layerBuffer(plan, l, TFL_ALT_RSTD), layerBuffer(plan, l, TFL_ALT_RESID),
          tensorAt(w, layerWord(plan, l, TFL_LN_W)), tensorAt(w, layerWord(plan, l, TFL_LN_B)), R, dModel);
      }
      if (shortformer) posEmbedAdd(altQkIn, altX, Wpos, batch, T, dModel);
    }
    const q = layerBuffer(plan, l, TFL_Q), k = layerBuffer(plan, l, TFL_K), v = layerBuffer(plan, l, TFL_V);
    for (let p = 0; p < 3; p++) {
      const out = p == 0 ? q : p == 1 ? k : v;
      const packed = layerBuffer(plan, l, projectionPacked(p));
      packHeads(packed, tensorAt(w, layerWord(plan, l, projectionWeight(p))), heads, dModel, dHead);
      matmulAB(out, p == 2 ? x : qkIn, packed, R, width, dModel, 0, scratch);
      if (readers) readSecondStream(plan, l, p, out, p == 2 ? altX : altQkIn, packed, R, width, dModel, heads, dHead, scratch);
      const bias = tensorAt(w, layerWord(plan, l, projectionBias(p)));
      if (bias) biasAdd(out, bias, R, width);
    }
    const z = layerBuffer(plan, l, TFL_Z);
    attentionForward(z, layerBuffer(plan, l, TFL_PATTERN), layerBuffer(plan, l, TFL_STATS), q, k, v, batch, T, heads, dHead, scratch);
    const ablate = layerBuffer(plan, l, TFL_ABLATE);
    if (ablate) replaceHeads(z, ablate, layerBuffer(plan, l, TFL_REPLACE_Z), batch, T, heads, dHead);
    const WO = tensorAt(w, layerWord(plan, l, TFL_W_O)), bO = tensorAt(w, layerWord(plan, l, TFL_B_O));
    blockOutput(next, z, WO, bO, resid, R, dModel, width, scratch);
    // The second stream of layer l + 1: this block's output with its path sources replaced.
    const source = l + 1 < layers ? layerBuffer(plan, l + 1, TFL_PATH_SOURCE) : 0;
    if (source) {
      const altZ = layerBuffer(plan, l + 1, TFL_ALT_Z);
      memory.copy(altZ, z, <usize>(R * width) << 2);
      replaceHeads(altZ, source, layerBuffer(plan, l, TFL_REPLACE_Z), batch, T, heads, dHead);
      blockOutput(layerBuffer(plan, l + 1, TFL_ALT_RESID), altZ, WO, bO, resid, R, dModel, width, scratch);
    }
  }
  const residFinal = buffer(plan, TF_RESID_FINAL), xf = buffer(plan, TF_FINAL_X);
  if (useLN && cachedPlace <= layers) {
    layerNormForward(xf, buffer(plan, TF_FINAL_MEAN), buffer(plan, TF_FINAL_RSTD), residFinal,
      tensorAt(w, word(plan, TF_LNF_W)), tensorAt(w, word(plan, TF_LNF_B)), R, dModel);
  }
}

/** logits = xf[rows of this chunk]·W_U + b_U into `logits` [rows, d_vocab]. */
function unembedChunk(plan: usize, logits: usize, rowBase: usize, rows: i32): void {
  const dModel = word(plan, TF_D_MODEL), dVocab = word(plan, TF_D_VOCAB);
  const w = <usize>word(plan, PLAN_PARAMS);
  const xfChunk = buffer(plan, TF_FINAL_X) + ((rowBase * <usize>dModel) << 2);
  matmulAB(logits, xfChunk, tensorAt(w, word(plan, TF_W_U)), rows, dVocab, dModel, 0, buffer(plan, PLAN_SCRATCH));
  const bU = tensorAt(w, word(plan, TF_B_U));
  if (bU) biasAdd(logits, bU, rows, dVocab);
}

/**
 * Mean next-token cross-entropy of `batch` token sequences (i32 [batch, T] at
 * `tokens`); with `withGrad` the gradient of that mean is written into the
 * PLAN_GRADS arena (every element: the arena is zeroed first).
 */
export function transformerLoss(plan: usize, tokens: usize, batch: i32, withGrad: bool): f64 {
  const layers = word(plan, TF_LAYERS), heads = word(plan, TF_HEADS);
  const dModel = word(plan, TF_D_MODEL), dHead = word(plan, TF_D_HEAD), dVocab = word(plan, TF_D_VOCAB);
  const T = word(plan, PLAN_D_IN);
  const R = batch * T;
  const width = heads * dHead;
  const useLN = word(plan, TF_LAYER_NORM) != 0, shortformer = word(plan, TF_SHORTFORMER) != 0;
  const w = <usize>word(plan, PLAN_PARAMS);
  const scratch = buffer(plan, PLAN_SCRATCH);
  transformerForward(plan, tokens, batch, withGrad);
  const residFinal = buffer(plan, TF_RESID_FINAL);
  const xf = buffer(plan, TF_FINAL_X);
  // KL loss: the reference model's forward on the same tokens (its logits per chunk below).
  const reference = buffer(plan, TF_KL_REFERENCE);
  if (reference) transformerForward(reference, tokens, batch, false); // forward only: the reference plan has no cache

  // ---- unembed and loss, a chunk of whole sequences at a time: the logits of a
  // whole batch would dominate memory (32·1024·5000 floats at the paper's size).
  const g = <usize>word(plan, PLAN_GRADS);
  if (withGrad) memory.fill(g, 0, <usize>word(plan, PLAN_ARENA_FLOATS) << 2); // every gradient below accumulates
  const dResid = buffer(plan, TF_D_RESID), dX = buffer(plan, TF_D_X);
  const logits = buffer(plan, TF_LOGITS);
  const dLogits = withGrad ? buffer(plan, TF_D_LOGITS) : 0;
  const WU = tensorAt(w, word(plan, TF_W_U)), bU = tensorAt(w, word(plan, TF_B_U));
  const dXf = useLN ? dX : dResid;
  const chunkSequences = min(word(plan, TF_CHUNK_SEQUENCES), batch);
  const lowest = withGrad ? lowestMoving(plan, layers) : 0;
  const dWU = withGrad ? gradAt(plan, g, TF_W_U) : 0, dbU = withGrad ? gradAt(plan, g, TF_B_U) : 0;
  // One running f64 sum and one gradient scale 1/count for every chunk: any chunk size
  // gives the bits of the whole batch at once (crossEntropySum).
  const count = batch * (T - 1);
  let lossSum: f64 = 0;
  for (let b0 = 0; b0 < batch; b0 += chunkSequences) {
    const sequences = min(chunkSequences, batch - b0);
    const rows = sequences * T;
    const rowBase = <usize>(b0 * T);
    const xfChunk = xf + ((rowBase * <usize>dModel) << 2);
    unembedChunk(plan, logits, rowBase, rows);
    const nll = buffer(plan, TF_TOKEN_LOSSES);
    if (reference) {
      const refLogits = buffer(reference, TF_LOGITS);
      unembedChunk(reference, refLogits, rowBase, rows);
      lossSum = klSum(logits, refLogits, sequences, T, dVocab, dLogits, count, lossSum, nll ? nll + (rowBase << 3) : 0, buffer(plan, TF_KL_REF_ROW));
    } else {
      lossSum = crossEntropySum(logits, tokens + (rowBase << 2), sequences, T, dVocab, dLogits, count, lossSum, nll ? nll + (rowBase << 3) : 0);
    }
    if (!withGrad) continue;
    if (dWU) matmulAtB(dWU, xfChunk, dLogits, dModel, dVocab, rows, 1, scratch);
    if (dbU) biasGrad(dbU, dLogits, rows, dVocab, 1);
    if (lowest <= layers) matmulABt(dXf + ((rowBase * <usize>dModel) << 2), dLogits, WU, rows, dModel, dVocab, 0, scratch);
  }
  const loss = T > 1 ? lossSum / <f64>count : NaN;
  if (!withGrad || lowest > layers) return loss;

  // ---- backward through the blocks
  if (useLN) {
    layerNormBackward(dResid, tensorAt(g, word(plan, TF_LNF_W)), tensorAt(g, word(plan, TF_LNF_B)), dX, residFinal,
      buffer(plan, TF_FINAL_MEAN), buffer(plan, TF_FINAL_RSTD), tensorAt(w, word(plan, TF_LNF_W)), R, dModel, 0);
  }
  const dq = buffer(plan, TF_D_Q), dk = buffer(plan, TF_D_K), dv = buffer(plan, TF_D_V), dz = buffer(plan, TF_D_Z);
  const dPacked = buffer(plan, TF_D_W_PACKED);
  for (let l = layers - 1; l >= max(lowest, 0); l--) {
    // ∂L/∂resid_l is needed only by moving tensors below this block.
    const needInput = l > lowest;
    const resid = layerBuffer(plan, l, TFL_RESID);
    const x = layerBuffer(plan, l, TFL_X), qkIn = layerBuffer(plan, l, TFL_QK_IN);
    const z = layerBuffer(plan, l, TFL_Z);
    // ∂L/∂attn_out = ∂L/∂resid_{l+1} (dResid holds it; the skip path keeps it for resid_l).
    const dWO = gradAt(plan, g, layerIndex(l, TFL_W_O)), dbO = gradAt(plan, g, layerIndex(l, TFL_B_O));
    if (dWO) matmulAtB(dWO, z, dResid, width, dModel, R, 1, scratch);
    if (dbO) biasGrad(dbO, dResid, R, dModel, 1);
    const lnMoves = moving(plan, layerIndex(l, TFL_LN_W)) || moving(plan, layerIndex(l, TFL_LN_B));
    if (needInput || movesBeforeAttention(plan, l)) {
      matmulABt(dz, dResid, tensorAt(w, layerWord(plan, l, TFL_W_O)), R, width, dModel, 0, scratch);
      // P from the stored pattern when the plan keeps one, else recomputed from the
      // row statistics: the same bits (attention.ts), so keepPatterns never changes a result.
      attentionBackward(dq, dk, dv, dz, layerBuffer(plan, l, TFL_PATTERN), layerBuffer(plan, l, TFL_STATS),
        layerBuffer(plan, l, TFL_Q), layerBuffer(plan, l, TFL_K), layerBuffer(plan, l, TFL_V), batch, T, heads, dHead, scratch);
      for (let p = 0; p < 3; p++) {
        const input = p == 2 ? x : qkIn;
        const grad = p == 0 ? dq : p == 1 ? dk : dv;
        const dW = gradAt(plan, g, layerIndex(l, projectionWeight(p)));
        if (dW) {
          matmulAtB(dPacked, input, grad, dModel, width, R, 0, scratch);
          unpackHeads(dW, dPacked, heads, dModel, dHead);
        }
        const dBias = gradAt(plan, g, layerIndex(l, projectionBias(p)));
        if (dBias) biasGrad(dBias, grad, R, width, 1);
        if (!needInput && !lnMoves) continue;
        // ∂L/∂(q/k input) and ∂L/∂(v input): q and k first, so the shortformer's W_pos
        // gradient can be taken from their sum before v's term is added.
        matmulABt(dX, grad, layerBuffer(plan, l, projectionPacked(p)), R, dModel, width, p == 0 ? 0 : 1, scratch);
        if (p == 1 && shortformer && moving(plan, TF_W_POS)) posEmbedBackward(tensorAt(g, word(plan, TF_W_POS)), dX, batch, T, dModel);
      }
    }
    if (useLN) {
      if (needInput || lnMoves) {
        layerNormBackward(dResid, tensorAt(g, layerWord(plan, l, TFL_LN_W)), tensorAt(g, layerWord(plan, l, TFL_LN_B)), dX, resid,
          layerBuffer(plan, l, TFL_MEAN), layerBuffer(plan, l, TFL_RSTD), tensorAt(w, layerWord(plan, l, TFL_LN_W)), R, dModel, 1);
      }
    } else if (needInput) {
      vectorAdd(dResid, dResid, dX, R * dModel);
    }
  }
  if (lowest >= 0) return loss;
  if (moving(plan, TF_W_E)) embeddingBackward(tensorAt(g, word(plan, TF_W_E)), tokens, dResid, R, dModel, dVocab);
  if (!shortformer && moving(plan, TF_W_POS)) posEmbedBackward(tensorAt(g, word(plan, TF_W_POS)), dResid, batch, T, dModel);
  return loss;
}
