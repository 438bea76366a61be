// Next-token cross-entropy of a language model (TransformerLens
// utils.lm_cross_entropy_loss: log_softmax over the vocabulary, the prediction
// at position p scored against the token at p + 1, mean over batch·(pos − 1)),
// loss and gradient side by side.
//   logits, dLogits [batch, pos, d_vocab] f32    tokens [batch, pos] i32
//
// DETERMINISM CONTRACT, for each predicting row (b, p < pos − 1) with target
// t = tokens[b, p + 1]:
//   m     = max_j logits[j]                       (exact, so its order is free)
//   e_j   = exp(logits[j] − m)                    (attention.ts expPoly / exp4)
//   sum   = Σ_j e_j in the canonical 4-lane order (attention.ts expShiftedSum)
//   nll   = (f64(m) − f64(logits[t])) + f64(logf(sum))      (rng.ts logf, in f64 after)
//   loss  = (Σ_rows nll, f64, rows in ascending (b, p)) / count,  count = batch·(pos − 1)
// Gradient of the mean loss, with inv = 1/sum and k = f32(1/count):
//   dLogits[j] = (e_j·inv)·k for j ≠ t,   dLogits[t] = ((e_t·inv) − 1)·k
// and dLogits = 0 on the last position's row (it predicts nothing).

import { expShiftedSum } from "./attention";
import { logf } from "./rng";

/**
 * Mean next-token cross-entropy (nats). If dLogits ≠ 0 also writes the gradient
 * (every element of dLogits). A target outside [0, dVocab) makes the loss NaN
 * (its row's gradient is 0); pos < 2 leaves nothing to predict: NaN, gradient 0.
 */
export function crossEntropyLoss(logits: usize, tokens: usize, batch: i32, nCtx: i32, dVocab: i32, dLogits: usize): f64 {
  if (batch <= 0 || nCtx <= 0 || dVocab <= 0) return NaN;
  const count = batch * (nCtx - 1);
  return crossEntropySum(logits, tokens, batch, nCtx, dVocab, dLogits, count, 0, 0) / <f64>count;
}

/**
 * The rows' part of a mean taken over more rows than are here (the transformer's
 * unembed runs a chunk of sequences at a time): returns `total` + Σ nll over these
 * rows in ascending order, and scales the gradient by k = f32(1/count) for the
 * whole mean's `count`. Chunks passed in order with the running total therefore
 * give the same f64 sum and the same dLogits bits as one call on all the rows.
 * With nll ≠ 0 (f64 [batch, pos]) each predicting row's loss is also written there
 * (row (b, p): the loss of token p + 1; the last position's row is left alone).
 */
export function crossEntropySum(logits: usize, tokens: usize, batch: i32, nCtx: i32, dVocab: i32, dLogits: usize, count: i32, total: f64, nll: usize): f64 {
  if (batch <= 0 || nCtx <= 0 || dVocab <= 0) return NaN;
  const rowBytes = <usize>dVocab << 2;
  const invCount = <f32>(1.0 / <f64>count);
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nCtx; p++) {
      const row = b * nCtx + p;
      const lRow = logits + <usize>row * rowBytes;
      const dRow = dLogits + <usize>row * rowBytes;
      const target = p + 1 < nCtx ? load<i32>(tokens + (<usize>(row + 1) << 2)) : -1;
      if (p + 1 == nCtx || target < 0 || target >= dVocab) {
        if (p + 1 < nCtx) {
          total += NaN;
          if (nll) store<f64>(nll + (<usize>row << 3), NaN);
        }
        if (dLogits) memory.fill(dRow, 0, rowBytes);
        continue;
      }
      const m = rowMax(lRow, dVocab);
      const sum = expShiftedSum(dLogits ? dRow : 0, lRow, dVocab, m);
      const targetOffset = <usize>target << 2;
      const rowLoss = (<f64>m - <f64>load<f32>(lRow + targetOffset)) + <f64>logf(sum);
      total += rowLoss;
      if (nll) store<f64>(nll + (<usize>row << 3), rowLoss);
      if (dLogits) {
        const inv: f32 = <f32>1.0 / sum;
        const eTarget = load<f32>(dRow + targetOffset);
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          const invV = f32x4.splat(inv), kV = f32x4.splat(invCount);
          for (; j + 4 <= dVocab; j += 4) {
            const o = <usize>j << 2;
            v128.store(dRow + o, f32x4.mul(f32x4.mul(v128.load(dRow + o), invV), kV));
          }
        }
        for (; j < dVocab; j++) {
          const o = <usize>j << 2;
          store<f32>(dRow + o, (load<f32>(dRow + o) * inv) * invCount);
        }
        store<f32>(dRow + targetOffset, (eTarget * inv - <f32>1.0) * invCount);
      }
    }
  }
  return total;
}

/** max_j x[j] (f32.max: exact and order-free, NaN-propagating). */
function rowMax(x: usize, n: i32): f32 {
  let m = f32.NEGATIVE_INFINITY;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    if (n >= 4) {
      let lanes = v128.load(x);
      for (j = 4; j + 4 <= n; j += 4) lanes = f32x4.max(lanes, v128.load(x + (<usize>j << 2)));
      m = max<f32>(max<f32>(f32x4.extract_lane(lanes, 0), f32x4.extract_lane(lanes, 1)), max<f32>(f32x4.extract_lane(lanes, 2), f32x4.extract_lane(lanes, 3)));
    }
  }
  for (; j < n; j++) m = max<f32>(m, load<f32>(x + (<usize>j << 2)));
  return m;
}

// Next-token KL divergence to a reference model's distribution (the refined-LLC
// paper's KL loss, Wang et al. 2024): for each predicting row (b, p < pos − 1),
// with z = logits[row], r = refLogits[row] (both [d_vocab] f32):
//   m, e_j, sum    as above for z;   mr, er_j, sumr the same for r
//   pref_j = er_j · (1/sumr)  (f32),  d_j = (f64(r_j) − f64(mr)) − (f64(z_j) − f64(m))
//   kl     = Σ_j f64(pref_j)·d_j  (f64, ascending j)  +  (f64(logf(sum)) − f64(logf(sumr)))
// = Σ_j p_ref,j (log p_ref,j − log p_j) with Σ p_ref = 1. When z and r have the same
// bits every d_j and the log difference are exactly 0, so KL(p ‖ p) = 0 to the bit.
//   loss = (Σ_rows kl, f64, rows ascending) / count, count = batch·(pos − 1)
// Gradient of the mean (soft-target cross-entropy), with k = f32(1/count):
//   dLogits[j] = ((e_j·inv) − pref_j)·k,  and 0 on the last position's row.
// The reference row's exponentials go to refRow ([d_vocab] f32 scratch).

/**
 * The rows' part of the mean next-token KL(p_ref ‖ p) over `count` rows, chunked as
 * crossEntropySum is (same running-total contract). Tokens are not needed: the
 * reference distribution is the target. With kl ≠ 0 (f64 [batch, pos]) each
 * predicting row's KL is written there.
 */
export function klSum(logits: usize, refLogits: usize, batch: i32, nCtx: i32, dVocab: i32, dLogits: usize, count: i32, total: f64, kl: usize, refRow: usize): f64 {
  if (batch <= 0 || nCtx <= 0 || dVocab <= 0) return NaN;
  const rowBytes = <usize>dVocab << 2;
  const invCount = <f32>(1.0 / <f64>count);
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nCtx; p++) {
      const row = b * nCtx + p;
      const lRow = logits + <usize>row * rowBytes;
      const rRow = refLogits + <usize>row * rowBytes;
      const dRow = dLogits + <usize>row * rowBytes;
      if (p + 1 == nCtx) {
        if (dLogits) memory.fill(dRow, 0, rowBytes);
        continue;
      }
      const m = rowMax(lRow, dVocab);
      const sum = expShiftedSum(dLogits ? dRow : 0, lRow, dVocab, m);
      const mr = rowMax(rRow, dVocab);
      const sumr = expShiftedSum(refRow, rRow, dVocab, mr);
      const invr: f32 = <f32>1.0 / sumr;
      let cross: f64 = 0;
      for (let j = 0; j < dVocab; j++) {
        const o = <usize>j << 2;
        const d = (<f64>load<f32>(rRow + o) - <f64>mr) - (<f64>load<f32>(lRow + o) - <f64>m);
        cross += <f64>(load<f32>(refRow + o) * invr) * d;
      }
      const rowKl = cross + (<f64>logf(sum) - <f64>logf(sumr));
      total += rowKl;
      if (kl) store<f64>(kl + (<usize>row << 3), rowKl);
      if (dLogits) {
        const inv: f32 = <f32>1.0 / sum;
        let j = 0;
        if (ASC_FEATURE_SIMD) {
          const invV = f32x4.splat(inv), invrV = f32x4.splat(invr), kV = f32x4.splat(invCount);
          for (; j + 4 <= dVocab; j += 4) {
            const o = <usize>j << 2;
            const q = f32x4.sub(f32x4.mul(v128.load(dRow + o), invV), f32x4.mul(v128.load(refRow + o), invrV));
            v128.store(dRow + o, f32x4.mul(q, kV));
          }
        }
        for (; j < dVocab; j++) {
          const o = <usize>j << 2;
          store<f32>(dRow + o, ((load<f32>(dRow + o) * inv) - (load<f32>(refRow + o) * invr)) * invCount);
        }
      }
    }
  }
  return total;
}
