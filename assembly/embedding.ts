// Token and positional embeddings (TransformerLens Embed and PosEmbed), forward
// and backward side by side. Row-major f32, byte-address pointers, i32 tokens:
//   tokens [batch, pos]            W_E [d_vocab, d_model]     W_pos [n_ctx, d_model]
//   out, x, dOut [batch, pos, d_model]
// The forwards copy or add one f32 per element (exact in any order). The
// backwards scatter-add rows in ascending (b, p) order, so every gradient
// element is one fixed sequence of f32 additions in both builds.
//
// Positional embedding is a separate step, so an "attn_only shortformer" model
// (TL cfg.positional_embedding_type = "shortformer") can add W_pos only to the
// query/key input while the residual stream starts from W_E alone.

/**
 * out[r, :] = W_E[tokens[r], :] for the rows r = b·pos + p < rows. A token
 * outside [0, dVocab) gives a row of zeros; returns how many there were (0 when
 * all tokens are valid), so the host can reject the batch.
 */
export function embeddingForward(out: usize, tokens: usize, WE: usize, rows: i32, dModel: i32, dVocab: i32): i32 {
  if (rows <= 0 || dModel <= 0) return 0;
  const rowBytes = <usize>dModel << 2;
  let invalid = 0;
  for (let r = 0; r < rows; r++) {
    const token = load<i32>(tokens + (<usize>r << 2));
    const dst = out + <usize>r * rowBytes;
    if (token < 0 || token >= dVocab) {
      memory.fill(dst, 0, rowBytes);
      invalid++;
    } else {
      memory.copy(dst, WE + <usize>token * rowBytes, rowBytes);
    }
  }
  return invalid;
}

/** dW_E[tokens[r], :] += dOut[r, :] for r ascending (rows with invalid tokens are skipped). */
export function embeddingBackward(dWE: usize, tokens: usize, dOut: usize, rows: i32, dModel: i32, dVocab: i32): void {
  if (rows <= 0 || dModel <= 0) return;
  const rowBytes = <usize>dModel << 2;
  for (let r = 0; r < rows; r++) {
    const token = load<i32>(tokens + (<usize>r << 2));
    if (token < 0 || token >= dVocab) continue;
    addRow(dWE + <usize>token * rowBytes, dOut + <usize>r * rowBytes, dModel);
  }
}

/** out[b, p, :] = x[b, p, :] + W_pos[p, :] for p < nCtx (out may equal x). */
export function posEmbedAdd(out: usize, x: usize, Wpos: usize, batch: i32, nCtx: i32, dModel: i32): void {
  if (batch <= 0 || nCtx <= 0 || dModel <= 0) return;
  const rowBytes = <usize>dModel << 2;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nCtx; p++) {
      const offset = <usize>(b * nCtx + p) * rowBytes;
      const pos = Wpos + <usize>p * rowBytes;
      const src = x + offset, dst = out + offset;
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        for (; j + 4 <= dModel; j += 4) {
          const o = <usize>j << 2;
          v128.store(dst + o, f32x4.add(v128.load(src + o), v128.load(pos + o)));
        }
      }
      for (; j < dModel; j++) {
        const o = <usize>j << 2;
        store<f32>(dst + o, load<f32>(src + o) + load<f32>(pos + o));
      }
    }
  }
}

/** dW_pos[p, :] += dOut[b, p, :] for (b, p) in ascending order. */
export function posEmbedBackward(dWpos: usize, dOut: usize, batch: i32, nCtx: i32, dModel: i32): void {
  if (batch <= 0 || nCtx <= 0 || dModel <= 0) return;
  const rowBytes = <usize>dModel << 2;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < nCtx; p++) {
      addRow(dWpos + <usize>p * rowBytes, dOut + <usize>(b * nCtx + p) * rowBytes, dModel);
    }
  }
}

/** dst[j] += src[j] for j < n (elementwise, so SIMD and scalar agree). */
function addRow(dst: usize, src: usize, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}
