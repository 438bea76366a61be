// Bias, activations and the mean-squared-error loss, forward and backward side
// by side. Each output element is computed by one fixed sequence of f32
// operations, so the SIMD lanes and the scalar loop give the same bits.

export const ACT_IDENTITY: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_TANH: i32 = 2;

/** Z[i,j] += b[j] for a row-major Z[M,N]. */
export function biasAdd(Z: usize, b: usize, M: i32, N: i32): void {
  for (let i = 0; i < M; i++) {
    const row = Z + (<usize>(i * N) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(b + o)));
      }
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(row + o, load<f32>(row + o) + load<f32>(b + o));
    }
  }
}

/** db[j] (+)= Σ_i dZ[i,j], rows in ascending order (the bias gradient). */
export function biasGrad(db: usize, dZ: usize, M: i32, N: i32, accumulate: i32): void {
  if (!accumulate) memory.fill(db, 0, <usize>N << 2);
  for (let i = 0; i < M; i++) {
    const row = dZ + (<usize>(i * N) << 2);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= N; j += 4) {
        const o = <usize>j << 2;
        v128.store(db + o, f32x4.add(v128.load(db + o), v128.load(row + o)));
      }
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(db + o, load<f32>(db + o) + load<f32>(row + o));
    }
  }
}

/** H = act(H) in place over n elements. */
export function activationForward(kind: i32, H: usize, n: i32): void {
  if (kind == ACT_IDENTITY) return;
  let i = 0;
  if (kind == ACT_RELU) {
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      for (; i + 4 <= n; i += 4) {
        const p = H + (<usize>i << 2);
        v128.store(p, f32x4.max(v128.load(p), zero));
      }
    }
    for (; i < n; i++) {
      const p = H + (<usize>i << 2);
      store<f32>(p, max<f32>(load<f32>(p), 0));
    }
  } else {
    // tanh has no SIMD form here: both builds call the same compiled-in scalar
    // Mathf.tanh (musl), never the host's Math.tanh.
    for (; i < n; i++) {
      const p = H + (<usize>i << 2);
      store<f32>(p, Mathf.tanh(load<f32>(p)));
    }
  }
}

/** dH ⊙= act'(·), written in terms of the activation's output H (relu: H > 0; tanh: 1 − H²). */
export function activationBackward(kind: i32, H: usize, dH: usize, n: i32): void {
  if (kind == ACT_IDENTITY) return;
  let i = 0;
  if (kind == ACT_RELU) {
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const active = f32x4.gt(v128.load(H + o), zero);
        v128.store(dH + o, v128.and(v128.load(dH + o), active));
      }
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(dH + o, load<f32>(H + o) > 0 ? load<f32>(dH + o) : 0);
    }
  } else {
    if (ASC_FEATURE_SIMD) {
      const one = f32x4.splat(1);
      for (; i + 4 <= n; i += 4) {
        const o = <usize>i << 2;
        const h = v128.load(H + o);
        v128.store(dH + o, f32x4.mul(v128.load(dH + o), f32x4.sub(one, f32x4.mul(h, h))));
      }
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      const h = load<f32>(H + o);
      store<f32>(dH + o, load<f32>(dH + o) * (<f32>1 - h * h));
    }
  }
}

/**
 * Mean squared error over `count` elements (PyTorch F.mse_loss, reduction
 * "mean": squared error summed over outputs and batch ÷ count), summed in f64
 * in index order. If dPred ≠ 0 also writes ∂loss/∂pred = (pred − y)·(2/count).
 */
export function mseLoss(pred: usize, y: usize, count: i32, dPred: usize): f64 {
  let sum: f64 = 0;
  const scale = <f32>(2.0 / <f64>count);
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 2;
    const diff = load<f32>(pred + o) - load<f32>(y + o);
    sum += <f64>diff * <f64>diff;
    if (dPred) store<f32>(dPred + o, diff * scale);
  }
  return sum / <f64>count;
}

/** out = a + b elementwise over n floats (out may alias a or b): the residual stream's sums. */
export function vectorAdd(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}
