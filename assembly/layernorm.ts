// TransformerLens LayerNorm (transformer_lens/components/layer_norm.py), forward
// and backward side by side:
//   x ← x − mean(x);  scale = √(mean(x²) + eps);  y = (x / scale)·w + b
// over the last dimension of rows × dim (row-major f32, byte-address pointers),
// eps = 1e-5 (TL's default cfg.eps), variance biased (ddof 0). w = 0 or b = 0
// (null pointers) leave out the gain or the bias (TL's LayerNormPre has neither).
//
// DETERMINISM CONTRACT, per row, with every sum taken in the canonical 4-lane
// order (lane l sums elements j ≡ l mod 4 in ascending j from +0, then
// ((l0 + l1) + l2) + l3), shared by the SIMD lanes and the scalar loop:
//   mean = Σ x / dim
//   c_j  = x_j − mean;   var = Σ c² / dim;   rstd = 1 / √(var + eps)
//   y_j  = ((c_j · rstd) · w_j) + b_j            (x/scale as c·rstd, llm.c style)
// Backward (llm.c layernorm_backward; the derivative of the same expression):
//   xhat_j = c_j·rstd (recomputed: the forward's op sequence, so the same bits)
//   g_j    = dy_j·w_j;   g1 = Σ g / dim;   g2 = Σ g·xhat / dim
//   dx_j   = ((g_j − g1) − xhat_j·g2) · rstd     (written, or added if accumulate)
//   dw_j  += dy_j·xhat_j;  db_j += dy_j           (rows in ascending order)
// The forward stores mean[row] and rstd[row] (f32 each) for the backward.

export const LAYER_NORM_EPS: f32 = 1e-5;

/**
 * y[rows, dim] = LayerNorm(x)·w + b; mean[rows] and rstd[rows] are written for
 * layerNormBackward. y may equal x (in place).
 */
export function layerNormForward(y: usize, mean: usize, rstd: usize, x: usize, w: usize, b: usize, rows: i32, dim: i32): void {
  if (rows <= 0 || dim <= 0) return;
  const rowBytes = <usize>dim << 2;
  const dimF = <f32>dim;
  for (let i = 0; i < rows; i++) {
    const xRow = x + <usize>i * rowBytes;
    const yRow = y + <usize>i * rowBytes;
    const mu: f32 = rowSum(xRow, dim) / dimF;
    const variance: f32 = centredSquareSum(xRow, dim, mu) / dimF;
    const r: f32 = <f32>1.0 / Mathf.sqrt(variance + LAYER_NORM_EPS);
    store<f32>(mean + (<usize>i << 2), mu);
    store<f32>(rstd + (<usize>i << 2), r);
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const muV = f32x4.splat(mu), rV = f32x4.splat(r);
      for (; j + 4 <= dim; j += 4) {
        const o = <usize>j << 2;
        let v = f32x4.mul(f32x4.sub(v128.load(xRow + o), muV), rV);
        if (w) v = f32x4.mul(v, v128.load(w + o));
        if (b) v = f32x4.add(v, v128.load(b + o));
        v128.store(yRow + o, v);
      }
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      let v: f32 = (load<f32>(xRow + o) - mu) * r;
      if (w) v = v * load<f32>(w + o);
      if (b) v = v + load<f32>(b + o);
      store<f32>(yRow + o, v);
    }
  }
}

/**
 * dx (written, or added to when accumulate = 1: the residual stream's gradient),
 * and dw += Σ_rows dy·xhat, db += Σ_rows dy (rows ascending; skipped when the
 * pointer is 0). x, mean, rstd as given to / stored by layerNormForward.
 */
export function layerNormBackward(
  dx: usize, dw: usize, db: usize, dy: usize, x: usize, mean: usize, rstd: usize, w: usize,
  rows: i32, dim: i32, accumulate: i32,
): void {
  if (rows <= 0 || dim <= 0) return;
  const rowBytes = <usize>dim << 2;
  const dimF = <f32>dim;
  for (let i = 0; i < rows; i++) {
    const xRow = x + <usize>i * rowBytes;
    const dyRow = dy + <usize>i * rowBytes;
    const dxRow = dx + <usize>i * rowBytes;
    const mu = load<f32>(mean + (<usize>i << 2));
    const r = load<f32>(rstd + (<usize>i << 2));
    // g1 = Σ g / dim and g2 = Σ g·xhat / dim, both in the 4-lane order.
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const muV = f32x4.splat(mu), rV = f32x4.splat(r);
      let sums = f32x4.splat(0), dots = sums;
      for (; j + 4 <= dim; j += 4) {
        const o = <usize>j << 2;
        const xhat = f32x4.mul(f32x4.sub(v128.load(xRow + o), muV), rV);
        let g = v128.load(dyRow + o);
        if (w) g = f32x4.mul(g, v128.load(w + o));
        sums = f32x4.add(sums, g);
        dots = f32x4.add(dots, f32x4.mul(g, xhat));
      }
      s0 = f32x4.extract_lane(sums, 0); s1 = f32x4.extract_lane(sums, 1);
      s2 = f32x4.extract_lane(sums, 2); s3 = f32x4.extract_lane(sums, 3);
      t0 = f32x4.extract_lane(dots, 0); t1 = f32x4.extract_lane(dots, 1);
      t2 = f32x4.extract_lane(dots, 2); t3 = f32x4.extract_lane(dots, 3);
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      const xhat: f32 = (load<f32>(xRow + o) - mu) * r;
      let g = load<f32>(dyRow + o);
      if (w) g = g * load<f32>(w + o);
      const gx: f32 = g * xhat;
      const lane = j & 3;
      if (lane == 0) { s0 += g; t0 += gx; }
      else if (lane == 1) { s1 += g; t1 += gx; }
      else if (lane == 2) { s2 += g; t2 += gx; }
      else { s3 += g; t3 += gx; }
    }
    const g1: f32 = (((s0 + s1) + s2) + s3) / dimF;
    const g2: f32 = (((t0 + t1) + t2) + t3) / dimF;
    j = 0;
    if (ASC_FEATURE_SIMD) {
      const muV = f32x4.splat(mu), rV = f32x4.splat(r), g1V = f32x4.splat(g1), g2V = f32x4.splat(g2);
      for (; j + 4 <= dim; j += 4) {
        const o = <usize>j << 2;
        const xhat = f32x4.mul(f32x4.sub(v128.load(xRow + o), muV), rV);
        const dyv = v128.load(dyRow + o);
        const g = w ? f32x4.mul(dyv, v128.load(w + o)) : dyv;
        let d = f32x4.mul(f32x4.sub(f32x4.sub(g, g1V), f32x4.mul(xhat, g2V)), rV);
        if (accumulate) d = f32x4.add(v128.load(dxRow + o), d);
        v128.store(dxRow + o, d);
        if (dw) v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(dyv, xhat)));
        if (db) v128.store(db + o, f32x4.add(v128.load(db + o), dyv));
      }
    }
    for (; j < dim; j++) {
      const o = <usize>j << 2;
      const xhat: f32 = (load<f32>(xRow + o) - mu) * r;
      const dyv = load<f32>(dyRow + o);
      const g: f32 = w ? dyv * load<f32>(w + o) : dyv;
      let d: f32 = ((g - g1) - xhat * g2) * r;
      if (accumulate) d = load<f32>(dxRow + o) + d;
      store<f32>(dxRow + o, d);
      if (dw) store<f32>(dw + o, load<f32>(dw + o) + dyv * xhat);
      if (db) store<f32>(db + o, load<f32>(db + o) + dyv);
    }
  }
}

/** Σ x[0..n) in the canonical 4-lane order. */
function rowSum(x: usize, n: i32): f32 {
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let lanes = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) lanes = f32x4.add(lanes, v128.load(x + (<usize>j << 2)));
    l0 = f32x4.extract_lane(lanes, 0); l1 = f32x4.extract_lane(lanes, 1);
    l2 = f32x4.extract_lane(lanes, 2); l3 = f32x4.extract_lane(lanes, 3);
  }
  for (; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    const lane = j & 3;
    if (lane == 0) l0 += v;
    else if (lane == 1) l1 += v;
    else if (lane == 2) l2 += v;
    else l3 += v;
  }
  return ((l0 + l1) + l2) + l3;
}

/** Σ (x − mu)² over x[0..n) in the canonical 4-lane order. */
function centredSquareSum(x: usize, n: i32, mu: f32): f32 {
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const muV = f32x4.splat(mu);
    let lanes = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) {
      const c = f32x4.sub(v128.load(x + (<usize>j << 2)), muV);
      lanes = f32x4.add(lanes, f32x4.mul(c, c));
    }
    l0 = f32x4.extract_lane(lanes, 0); l1 = f32x4.extract_lane(lanes, 1);
    l2 = f32x4.extract_lane(lanes, 2); l3 = f32x4.extract_lane(lanes, 3);
  }
  for (; j < n; j++) {
    const c: f32 = load<f32>(x + (<usize>j << 2)) - mu;
    const v: f32 = c * c;
    const lane = j & 3;
    if (lane == 0) l0 += v;
    else if (lane == 1) l1 += v;
    else if (lane == 2) l2 += v;
    else l3 += v;
  }
  return ((l0 + l1) + l2) + l3;
}
