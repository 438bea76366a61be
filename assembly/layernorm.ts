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
//
// SOFTWARE PIPELINING (SIMD build, dim a multiple of 4). A row's sums are single
// f32x4 dependency chains (the contract fixes their order), so one row at a
// time is latency-bound: dim/4 dependent adds for Σx, then dim/4 for Σc², then
// the horizontal sums, a divide, a sqrt and a divide before the normalise loop
// can start. The pipelined kernels keep every row's op sequence (so its bits)
// and interleave rows in one j loop instead: the forward sums row i + SUM_LEAD,
// centres and squares row i + SQUARE_LEAD and normalises row i (mean[] and
// rstd[] carry a row's figures from stage to stage); the backward takes Σg and
// Σg·xhat of row i + 1 while it writes dx, dw, db of row i (so dw, db still
// accumulate row after row). Each chain gets one add per iteration and the
// loop is bound by throughput. Three things TurboFan (V8) needed to get there:
// the j loops are do-while, because it hoists loop invariants (splats, row
// addresses, the g1/g2 divides) only out of a loop whose body dominates the
// exit; values a row hands on are computed at the end of the previous row's
// loop, not recomputed from its sums at the top of the next (V8 sank those into
// the j loop); and the loops are unswitched for w, b (dw, db) present, the
// transformer's case, because V8 leaves loop-invariant tests in the loop, which
// is bound by instruction count. GFLOP/s at the bench's shapes and FLOP counts
// (bench/layernorm.bench.ts), median of 8 alternating best-of runs, old → new,
// on the shared 2-core Zen 3 VM, Node 20 (tinybench means there swing ±30%):
//   forward           2048×64  7.1 → 13.6   4096×128  8.3 → 16.9   32768×256  8.6 → 12.5
//   forward+backward  2048×64 12.0 → 18.2   4096×128 13.6 → 20.3   32768×256 11.8 → 14.3
// (32768×256 streams 32 MB operands from DRAM and stays memory-bound.) Four
// rows interleaved without pipelining measured slower at 256 and in the
// backward (V8 allocates at most 15 xmm registers and spilled); the pipelined
// j loops run without v128 spills (TurboFan disassembly). A lead of 2 rows
// for the backward's g1, g2 measured no faster (≤ 2%) and was left out.

export const LAYER_NORM_EPS: f32 = 1e-5;

// Forward pipeline depth: a row's Σc² chain runs one row loop after its Σx
// chain, its normalise two after that, so the rstd's scalar latency (horizontal
// sum, divide, sqrt, divide) is a whole row loop ahead of its use. Leads 2/1,
// 3/2 and 4/2 measured within noise of each other; 2/1 ~5% slower at 2048×64.
const SUM_LEAD = 3;
const SQUARE_LEAD = 2;

/**
 * y[rows, dim] = LayerNorm(x)·w + b; mean[rows] and rstd[rows] are written for
 * layerNormBackward. y may equal x (in place).
 */
export function layerNormForward(y: usize, mean: usize, rstd: usize, x: usize, w: usize, b: usize, rows: i32, dim: i32): void {
  if (rows <= 0 || dim <= 0) return;
  if (ASC_FEATURE_SIMD) {
    if ((dim & 3) == 0 && rows > SUM_LEAD) {
      if (w && b) forwardPipelinedAffine(y, mean, rstd, x, w, b, rows, dim);
      else forwardPipelined(y, mean, rstd, x, w, b, rows, dim, w != 0, b != 0);
      return;
    }
  }
  const rowBytes = <usize>dim << 2;
  for (let i = 0; i < rows; i++) {
    const xRow = x + <usize>i * rowBytes;
    const mu = rowMean(xRow, dim);
    const r = rowRstd(xRow, dim, mu);
    store<f32>(mean + (<usize>i << 2), mu);
    store<f32>(rstd + (<usize>i << 2), r);
    normaliseRow(y + <usize>i * rowBytes, xRow, w, b, dim, mu, r);
  }
}

/**
 * layerNormForward for dim ≡ 0 mod 4 and rows > SUM_LEAD: the first rows' sums
 * before the pipelined loop, the last rows' after it. In place is safe: the j
 * loop writes row i and reads rows i (x before y), i + SQUARE_LEAD, i + SUM_LEAD.
 */
// @ts-ignore: decorator
@inline function forwardPipelined(
  y: usize, mean: usize, rstd: usize, x: usize, w: usize, b: usize, rows: i32, dim: i32, hasW: bool, hasB: bool,
): void {
  const rowBytes = <usize>dim << 2;
  const dimF = <f32>dim;
  for (let i = 0; i < SUM_LEAD; i++) store<f32>(mean + (<usize>i << 2), rowMean(x + <usize>i * rowBytes, dim));
  for (let i = 0; i < SQUARE_LEAD; i++) storeRowRstd(rstd, mean, x, i, dim);
  const steady = rows - SUM_LEAD;
  for (let i = 0; i < steady; i++) {
    const xSum = x + <usize>(i + SUM_LEAD) * rowBytes;
    const xSquare = x + <usize>(i + SQUARE_LEAD) * rowBytes;
    const xRow = x + <usize>i * rowBytes, yRow = y + <usize>i * rowBytes;
    const muSquare = f32x4.splat(load<f32>(mean + (<usize>(i + SQUARE_LEAD) << 2)));
    const muV = f32x4.splat(load<f32>(mean + (<usize>i << 2)));
    const rV = f32x4.splat(load<f32>(rstd + (<usize>i << 2)));
    let sums = f32x4.splat(0), squares = sums;
    let o: usize = 0;
    do {
      sums = f32x4.add(sums, v128.load(xSum + o));
      const c = f32x4.sub(v128.load(xSquare + o), muSquare);
      squares = f32x4.add(squares, f32x4.mul(c, c));
      normaliseVector(yRow + o, xRow + o, w + o, b + o, muV, rV, hasW, hasB);
      o += 16;
    } while (o < rowBytes);
    store<f32>(mean + (<usize>(i + SUM_LEAD) << 2), laneSum(sums) / dimF);
    store<f32>(rstd + (<usize>(i + SQUARE_LEAD) << 2), rstdOf(laneSum(squares), dimF));
  }
  for (let i = steady + SQUARE_LEAD; i < rows; i++) storeRowRstd(rstd, mean, x, i, dim);
  for (let i = steady; i < rows; i++) {
    normaliseRow(y + <usize>i * rowBytes, x + <usize>i * rowBytes, w, b, dim,
      load<f32>(mean + (<usize>i << 2)), load<f32>(rstd + (<usize>i << 2)));
  }
}

/**
 * forwardPipelined unswitched for w and b given. A function of its own: two
 * @inline copies in one function were merged back into one by binaryen.
 */
function forwardPipelinedAffine(y: usize, mean: usize, rstd: usize, x: usize, w: usize, b: usize, rows: i32, dim: i32): void {
  forwardPipelined(y, mean, rstd, x, w, b, rows, dim, true, true);
}

/** rstd[i] from x's row i and mean[i]. */
function storeRowRstd(rstd: usize, mean: usize, x: usize, i: i32, dim: i32): void {
  const xRow = x + <usize>i * (<usize>dim << 2);
  store<f32>(rstd + (<usize>i << 2), rowRstd(xRow, dim, load<f32>(mean + (<usize>i << 2))));
}

/** y = ((x − mu)·r)·w + b over one row. */
function normaliseRow(yRow: usize, xRow: usize, w: usize, b: usize, dim: i32, mu: f32, r: f32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const muV = f32x4.splat(mu), rV = f32x4.splat(r);
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j << 2;
      normaliseVector(yRow + o, xRow + o, w + o, b + o, muV, rV, w != 0, b != 0);
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

/** Four elements of normaliseRow. */
// @ts-ignore: decorator
@inline function normaliseVector(yAt: usize, xAt: usize, wAt: usize, bAt: usize, muV: v128, rV: v128, hasW: bool, hasB: bool): void {
  let v = f32x4.mul(f32x4.sub(v128.load(xAt), muV), rV);
  if (hasW) v = f32x4.mul(v, v128.load(wAt));
  if (hasB) v = f32x4.add(v, v128.load(bAt));
  v128.store(yAt, v);
}

function rowMean(xRow: usize, dim: i32): f32 {
  return rowSum(xRow, dim) / <f32>dim;
}

function rowRstd(xRow: usize, dim: i32, mu: f32): f32 {
  return rstdOf(centredSquareSum(xRow, dim, mu), <f32>dim);
}

/** 1 / √(Σc²/dim + eps). */
// @ts-ignore: decorator
@inline function rstdOf(squareSum: f32, dimF: f32): f32 {
  const variance: f32 = squareSum / dimF;
  return <f32>1.0 / Mathf.sqrt(variance + LAYER_NORM_EPS);
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
  if (ASC_FEATURE_SIMD) {
    if ((dim & 3) == 0 && rows > 1) {
      if (w && dw && db) backwardPipelinedAffine(dx, dw, db, dy, x, mean, rstd, w, rows, dim, accumulate);
      else backwardPipelined(dx, dw, db, dy, x, mean, rstd, w, rows, dim, w != 0, dw != 0, db != 0, accumulate != 0);
      return;
    }
  }
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
        const xhat = xhatVector(xRow + o, muV, rV);
        const g = gainVector(v128.load(dyRow + o), w + o, w != 0);
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
        const dyv = v128.load(dyRow + o);
        gradientVector(dxRow + o, dw + o, db + o, dyv, gainVector(dyv, w + o, w != 0), xhatVector(xRow + o, muV, rV),
          rV, g1V, g2V, dw != 0, db != 0, accumulate != 0);
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

/**
 * layerNormBackward for dim ≡ 0 mod 4 and rows > 1: row 0's sums before the
 * pipelined loop, row rows − 1's dx after it. g1V, g2V are carried from one row
 * loop to the next as values, not recomputed from sums, dots at the top of the
 * next: computed there, V8 sank them (two divides) into the j loop.
 */
// @ts-ignore: decorator
@inline function backwardPipelined(
  dx: usize, dw: usize, db: usize, dy: usize, x: usize, mean: usize, rstd: usize, w: usize,
  rows: i32, dim: i32, hasW: bool, hasDw: bool, hasDb: bool, accumulate: bool,
): void {
  const rowBytes = <usize>dim << 2;
  const dimF = <f32>dim;
  let sums = f32x4.splat(0), dots = sums;
  {
    const muV = f32x4.splat(load<f32>(mean)), rV = f32x4.splat(load<f32>(rstd));
    let o: usize = 0;
    do {
      const g = gainVector(v128.load(dy + o), w + o, hasW);
      sums = f32x4.add(sums, g);
      dots = f32x4.add(dots, f32x4.mul(g, xhatVector(x + o, muV, rV)));
      o += 16;
    } while (o < rowBytes);
  }
  let g1V = f32x4.splat(laneSum(sums) / dimF), g2V = f32x4.splat(laneSum(dots) / dimF);
  for (let i = 0; i < rows - 1; i++) {
    const at = <usize>i * rowBytes;
    const xRow = x + at, dyRow = dy + at, dxRow = dx + at;
    const xNext = xRow + rowBytes, dyNext = dyRow + rowBytes;
    const muV = f32x4.splat(load<f32>(mean + (<usize>i << 2))), rV = f32x4.splat(load<f32>(rstd + (<usize>i << 2)));
    const muNext = f32x4.splat(load<f32>(mean + (<usize>i << 2), 4)), rNext = f32x4.splat(load<f32>(rstd + (<usize>i << 2), 4));
    sums = f32x4.splat(0); dots = sums;
    let o: usize = 0;
    do {
      // w loaded once for both rows: the loop is bound by instruction count.
      const wv = hasW ? v128.load(w + o) : sums;
      const gNext = hasW ? f32x4.mul(v128.load(dyNext + o), wv) : v128.load(dyNext + o);
      sums = f32x4.add(sums, gNext);
      dots = f32x4.add(dots, f32x4.mul(gNext, xhatVector(xNext + o, muNext, rNext)));
      const dyv = v128.load(dyRow + o);
      const g = hasW ? f32x4.mul(dyv, wv) : dyv;
      gradientVector(dxRow + o, dw + o, db + o, dyv, g, xhatVector(xRow + o, muV, rV), rV, g1V, g2V, hasDw, hasDb, accumulate);
      o += 16;
    } while (o < rowBytes);
    g1V = f32x4.splat(laneSum(sums) / dimF);
    g2V = f32x4.splat(laneSum(dots) / dimF);
  }
  const last = <usize>(rows - 1) * rowBytes;
  const muV = f32x4.splat(load<f32>(mean + (<usize>(rows - 1) << 2))), rV = f32x4.splat(load<f32>(rstd + (<usize>(rows - 1) << 2)));
  let o: usize = 0;
  do {
    const dyv = v128.load(dy + last + o);
    gradientVector(dx + last + o, dw + o, db + o, dyv, gainVector(dyv, w + o, hasW), xhatVector(x + last + o, muV, rV),
      rV, g1V, g2V, hasDw, hasDb, accumulate);
    o += 16;
  } while (o < rowBytes);
}

/** backwardPipelined unswitched for w, dw, db given and for accumulate (see forwardPipelinedAffine). */
function backwardPipelinedAffine(
  dx: usize, dw: usize, db: usize, dy: usize, x: usize, mean: usize, rstd: usize, w: usize,
  rows: i32, dim: i32, accumulate: i32,
): void {
  if (accumulate) backwardPipelined(dx, dw, db, dy, x, mean, rstd, w, rows, dim, true, true, true, true);
  else backwardPipelined(dx, dw, db, dy, x, mean, rstd, w, rows, dim, true, true, true, false);
}

// @ts-ignore: decorator
@inline function xhatVector(xAt: usize, muV: v128, rV: v128): v128 {
  return f32x4.mul(f32x4.sub(v128.load(xAt), muV), rV);
}

/** g = dy·w (dy without w). */
// @ts-ignore: decorator
@inline function gainVector(dyv: v128, wAt: usize, hasW: bool): v128 {
  return hasW ? f32x4.mul(dyv, v128.load(wAt)) : dyv;
}

/** Four elements of dx, dw, db from the row's rstd, g1, g2. */
// @ts-ignore: decorator
@inline function gradientVector(
  dxAt: usize, dwAt: usize, dbAt: usize, dyv: v128, g: v128, xhat: v128,
  rV: v128, g1V: v128, g2V: v128, hasDw: bool, hasDb: bool, accumulate: bool,
): void {
  let d = f32x4.mul(f32x4.sub(f32x4.sub(g, g1V), f32x4.mul(xhat, g2V)), rV);
  if (accumulate) d = f32x4.add(v128.load(dxAt), d);
  v128.store(dxAt, d);
  if (hasDw) v128.store(dwAt, f32x4.add(v128.load(dwAt), f32x4.mul(dyv, xhat)));
  if (hasDb) v128.store(dbAt, f32x4.add(v128.load(dbAt), dyv));
}

/** ((l0 + l1) + l2) + l3 of a 4-lane sum. */
// @ts-ignore: decorator
@inline function laneSum(lanes: v128): f32 {
  return ((f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1)) + f32x4.extract_lane(lanes, 2)) + f32x4.extract_lane(lanes, 3);
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
