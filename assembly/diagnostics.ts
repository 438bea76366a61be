// Convergence diagnostics of SGLD chains, computed once, here, for every host (the
// JavaScript estimator calls diagnosticsRun through the engine, the WASI command
// calls it directly), so the numbers in a result are the same bits everywhere:
// f64 only, fixed summation order, the module's own Math.log/exp, IEEE sqrt.
//
// Across chains (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, "Rank-
// normalization, folding, and localization: an improved R̂", Bayesian Analysis
// 16(2)), as ArviZ 0.x stats/diagnostics.py defines them:
//  - split chains: each chain's first ⌊n/2⌋ and last ⌊n/2⌋ draws (an odd middle draw dropped);
//  - rank normalisation: average ranks r over all split draws, z = Φ⁻¹((r − 3/8)/(S + 1/4));
//  - R̂ = sqrt((B/W + n − 1)/n), B = n·var(chain means, ddof 1), W = mean of chain var (ddof 1);
//    bulk R̂ on the z of the split chains, tail R̂ on the z of |x − median| (folded), R̂ = max;
//  - ESS (eq. 10–11): autocovariances (biased, /n) averaged over chains, ρ̂_t = 1 − (W' − ā_t)/var⁺,
//    summed in pairs while positive (Geyer's initial positive sequence), made monotone
//    (Geyer's initial monotone sequence), τ̂ = −1 + 2Σρ̂ (+ the last positive even ρ̂), at least 1/log10(S);
//    bulk ESS on the z of the split chains; tail ESS the min over the 5 % and 95 % quantile
//    indicators (numpy's linear quantile) of the split chains' ESS;
//  - MCSE of the mean = sd(all draws, ddof 1)/sqrt(ESS of the split chains).
// Per chain, on the λ̂ trace v_t = nβ(L_t − L0):
//  - Geweke (1992) z: first 10 % vs last 50 %; S(0) of each segment = γ̂₀·τ̂ with τ̂ from
//    the same Geyer initial-monotone estimator on that segment alone (coda uses an AR fit);
//  - Heidelberger & Welch (1983) as coda heidel.diag (eps 0.1, α 0.05): Cramér–von Mises on
//    the Brownian bridge of the chain after discarding 0, 10, …, 50 %, S(0) from the second
//    half, passed when ω² < 0.46136 (its upper 5 % point, Anderson & Darling 1952); half-width
//    1.96·sqrt(S(0)/n) of the kept part, passed when |half-width / mean| ≤ 0.1;
//  - trend: OLS slope of v on the draw index over the second half, s.e. = sqrt(τ̂·s²/Sxx)
//    (residual variance s² inflated by the residuals' τ̂, since draws are autocorrelated);
//  - fraction of draws with L_t < L0; mean MALA acceptance (NaN when none);
//  - Raftery & Lewis (1992) total draws N for q 0.025, r 0.01, s 0.95, as coda raftery.diag
//    (2-state Markov chain of the indicator v ≤ q-quantile, thinning k by BIC), NaN when the
//    chain has fewer than N_min = ⌈Φ⁻¹((s+1)/2)² q(1−q)/r²⌉ = 937 draws;
//  - spikes: draws with L_t − median > 10 · 1.4826 · MAD of the chain's loss.

import { alloc } from "./memory";

export const DG_RHAT: i32 = 0;
export const DG_RHAT_BULK: i32 = 1;
export const DG_RHAT_TAIL: i32 = 2;
export const DG_ESS_BULK: i32 = 3;
export const DG_ESS_TAIL: i32 = 4;
export const DG_MCSE: i32 = 5;
export const DG_GLOBAL_WORDS: i32 = 6;

export const PC_GEWEKE_Z: i32 = 0;
export const PC_HW_STATIONARY: i32 = 1;
export const PC_HW_START: i32 = 2;
export const PC_HW_CVM: i32 = 3;
export const PC_HW_HALFWIDTH: i32 = 4;
export const PC_HW_MEAN: i32 = 5;
export const PC_HW_PASSED: i32 = 6;
export const PC_TREND_SLOPE: i32 = 7;
export const PC_TREND_SE: i32 = 8;
export const PC_TREND_T: i32 = 9;
export const PC_BELOW_L0: i32 = 10;
export const PC_MALA: i32 = 11;
export const PC_RAFTERY_LEWIS: i32 = 12;
export const PC_SPIKES: i32 = 13;
export const PC_WORDS: i32 = 14;

const HW_CVM_CRITICAL: f64 = 0.46136;
const HW_EPS: f64 = 0.1;
const SPIKE_MADS: f64 = 10;

@inline function ld(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}
@inline function st(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}
@inline function ldi(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}
@inline function sti(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}

/**
 * Φ⁻¹(p), Acklam's rational approximation (relative error < 1.15e−9 on (0, 1)),
 * with + − × ÷, sqrt and the module's log only; NaN outside (0, 1).
 */
export function normalQuantile(p: f64): f64 {
  if (!(p > 0 && p < 1)) return p == 0 ? -Infinity : p == 1 ? Infinity : NaN;
  const plow: f64 = 0.02425;
  if (p < plow || p > 1 - plow) {
    const q = Math.sqrt(-2 * Math.log(p < plow ? p : 1 - p));
    const x = (((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) * q + 4.374664141464968) * q + 2.938163982698783) /
      ((((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1);
    return p < plow ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r + 1.38357751867269e2) * r - 3.066479806614716e1) * r + 2.506628277459239) * q /
    (((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r + 6.680131188771972e1) * r - 1.328068155288572e1) * r + 1);
}

/** Indices 0..n−1 of the values at `v` in ascending order (stable bottom-up merge sort), into `idx` (n i32), `tmp` scratch. */
function sortIndices(v: usize, n: i32, idx: usize, tmp: usize): void {
  for (let i = 0; i < n; i++) sti(idx, i, i);
  let a = idx, b = tmp;
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += width << 1) {
      const mid = min(lo + width, n), hi = min(lo + (width << 1), n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (ld(v, ldi(a, j)) < ld(v, ldi(a, i))) sti(b, k++, ldi(a, j++));
        else sti(b, k++, ldi(a, i++));
      }
      while (i < mid) sti(b, k++, ldi(a, i++));
      while (j < hi) sti(b, k++, ldi(a, j++));
    }
    const t = a;
    a = b;
    b = t;
  }
  if (a != idx) memory.copy(idx, a, <usize>n << 2);
}

/** numpy quantile (linear, type 7) of the n sorted values at indices `idx` of `v`. */
function quantileSorted(v: usize, idx: usize, n: i32, p: f64): f64 {
  const h = <f64>(n - 1) * p;
  const lo = <i32>Math.floor(h);
  const hi = min(lo + 1, n - 1);
  const a = ld(v, ldi(idx, lo)), b = ld(v, ldi(idx, hi));
  return a + (h - <f64>lo) * (b - a);
}

/** Rank normalisation: z_i = Φ⁻¹((r_i − 3/8)/(n + 1/4)), r the average (fractional) rank of v_i. */
function zScale(v: usize, n: i32, out: usize, idx: usize, tmp: usize): void {
  sortIndices(v, n, idx, tmp);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && ld(v, ldi(idx, j + 1)) == ld(v, ldi(idx, i))) j++;
    const rank = (<f64>(i + 1) + <f64>(j + 1)) / 2;
    const z = normalQuantile((rank - 0.375) / (<f64>n + 0.25));
    for (let k = i; k <= j; k++) st(out, ldi(idx, k), z);
    i = j + 1;
  }
}

/** Split m chains of n draws (rows at `v`) into 2m rows of ⌊n/2⌋ at `out`. */
function splitChains(v: usize, m: i32, n: i32, out: usize): void {
  const half = n >> 1;
  for (let c = 0; c < m; c++) {
    memory.copy(out + (<usize>(2 * c * half) << 3), v + (<usize>(c * n) << 3), <usize>half << 3);
    memory.copy(out + (<usize>((2 * c + 1) * half) << 3), v + (<usize>(c * n + n - half) << 3), <usize>half << 3);
  }
}

function meanRange(v: usize, start: i32, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += ld(v, start + i);
  return s / <f64>n;
}

/** Sample variance (ddof 1) of v[start, start+n). */
function varRange(v: usize, start: i32, n: i32): f64 {
  const m = meanRange(v, start, n);
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const d = ld(v, start + i) - m;
    s += d * d;
  }
  return s / <f64>(n - 1);
}

/** ArviZ _rhat on m rows of n. */
function rhatOf(v: usize, m: i32, n: i32, means: usize): f64 {
  let w: f64 = 0;
  for (let c = 0; c < m; c++) {
    st(means, c, meanRange(v, c * n, n));
    w += varRange(v, c * n, n);
  }
  w /= <f64>m;
  const b = <f64>n * varRange(means, 0, m);
  return Math.sqrt((b / w + <f64>n - 1) / <f64>n);
}

/** Mean over the m rows of the biased lag-`lag` autocovariance (1/n)Σ (x_t − x̄)(x_{t+lag} − x̄). */
function meanAutocov(v: usize, m: i32, n: i32, means: usize, lag: i32): f64 {
  let total: f64 = 0;
  for (let c = 0; c < m; c++) {
    const base = c * n, mu = ld(means, c);
    let s: f64 = 0;
    for (let t = 0; t + lag < n; t++) s += (ld(v, base + t) - mu) * (ld(v, base + t + lag) - mu);
    total += s / <f64>n;
  }
  return total / <f64>m;
}

/** ArviZ _ess on m rows of n (NaN for n < 4 or constant draws); `rho` n f64 and `means` m f64 scratch. */
function essOf(v: usize, m: i32, n: i32, means: usize, rho: usize): f64 {
  if (n < 4) return NaN;
  for (let c = 0; c < m; c++) st(means, c, meanRange(v, c * n, n));
  const nf = <f64>n;
  const acov0 = meanAutocov(v, m, n, means, 0);
  const meanVar = acov0 * nf / (nf - 1);
  let varPlus = meanVar * (nf - 1) / nf;
  if (m > 1) varPlus += varRange(means, 0, m);
  if (!(varPlus > 0)) return NaN;
  for (let t = 0; t < n; t++) st(rho, t, 0);
  let rhoEven: f64 = 1;
  st(rho, 0, rhoEven);
  let rhoOdd = 1 - (meanVar - meanAutocov(v, m, n, means, 1)) / varPlus;
  st(rho, 1, rhoOdd);
  let t = 1;
  while (t < n - 3 && rhoEven + rhoOdd > 0) {
    rhoEven = 1 - (meanVar - meanAutocov(v, m, n, means, t + 1)) / varPlus;
    rhoOdd = 1 - (meanVar - meanAutocov(v, m, n, means, t + 2)) / varPlus;
    if (rhoEven + rhoOdd >= 0) {
      st(rho, t + 1, rhoEven);
      st(rho, t + 2, rhoOdd);
    }
    t += 2;
  }
  const maxT = t - 2;
  if (rhoEven > 0) st(rho, maxT + 1, rhoEven);
  t = 1;
  while (t <= maxT - 2) {
    if (ld(rho, t + 1) + ld(rho, t + 2) > ld(rho, t - 1) + ld(rho, t)) {
      st(rho, t + 1, (ld(rho, t - 1) + ld(rho, t)) / 2);
      st(rho, t + 2, ld(rho, t + 1));
    }
    t += 2;
  }
  const total = <f64>m * nf;
  let sum: f64 = 0;
  for (let k = 0; k <= maxT; k++) sum += ld(rho, k);
  let tau = -1 + 2 * sum + ld(rho, maxT + 1);
  const floor = 1 / (Math.log(total) / Math.log(10));
  if (tau < floor) tau = floor;
  return total / tau;
}

/**
 * A block reused by every call, grown (a fresh block) when a call needs more. The
 * estimator runs the diagnostics after every chain and the engine's heap never frees,
 * so a fresh block per call grew memory by the traces' size at each chain. Zeroed on
 * every take, as alloc's fresh blocks are. State of this WebAssembly instance only.
 */
class Reusable {
  at: usize = 0;
  bytes: usize = 0;
  /** `bytes` zeroed bytes at a 16-byte-aligned address, or 0 when memory cannot grow to them. */
  take(bytes: usize): usize {
    if (bytes > this.bytes) {
      const block = alloc(bytes);
      if (block == 0) return 0;
      this.at = block;
      this.bytes = bytes;
    }
    memory.fill(this.at, 0, bytes);
    return this.at;
  }
}
const SCRATCH = new Reusable();
const IO = new Reusable();

const padded16 = (bytes: usize): usize => (bytes + 15) & ~(<usize>15);

/** Bytes of the scratch of a run of `total` draws over `m` chains of `n`. */
function scratchBytes(total: i32, m: i32, n: i32): usize {
  const f = padded16(<usize>total << 3), ix = padded16(<usize>total << 2);
  return 4 * f + 2 * ix + padded16(<usize>(2 * m + 2) << 3) + padded16(<usize>(n + 2) << 3);
}

/** Scratch the kernels below carve out of one reused block (SCRATCH), and the λ̂ trace `v`. */
class Scratch {
  split: usize; z: usize; work: usize; idx: usize; tmp: usize; means: usize; rho: usize; v: usize;
  constructor(total: i32, m: i32, n: i32) {
    const f = padded16(<usize>total << 3), ix = padded16(<usize>total << 2);
    let at = SCRATCH.take(scratchBytes(total, m, n));
    this.split = at; at += f;
    this.z = at; at += f;
    this.work = at; at += f;
    this.v = at; at += f;
    this.idx = at; at += ix;
    this.tmp = at; at += ix;
    this.means = at; at += padded16(<usize>(2 * m + 2) << 3);
    this.rho = at;
  }
}

/**
 * The inputs and output of diagnosticsRun for `chains` × `draws`, in one reused block:
 * loss at the address returned, mala `total` f64 after it, out `total` f64 after that
 * (DG_GLOBAL_WORDS + chains·PC_WORDS f64). Also grows the scratch, so a run that would
 * not fit is refused here: 0 when memory cannot grow to both.
 */
export function diagnosticsIo(chains: i32, draws: i32): usize {
  const total = max(chains * draws, 1);
  if (SCRATCH.take(scratchBytes(total, max(chains, 1), max(draws, 1))) == 0) return 0;
  return IO.take((<usize>(2 * total + DG_GLOBAL_WORDS + chains * PC_WORDS)) << 3);
}

/** S(0)/γ̂₀ proxy: γ̂₀·τ̂ for one segment, τ̂ = n/ESS (Geyer). */
function spectrum0(v: usize, n: i32, s: Scratch): f64 {
  const ess = essOf(v, 1, n, s.means, s.rho);
  const mu = meanRange(v, 0, n);
  let g0: f64 = 0;
  for (let i = 0; i < n; i++) {
    const d = ld(v, i) - mu;
    g0 += d * d;
  }
  g0 /= <f64>n;
  return g0 * (<f64>n / ess);
}

function geweke(v: usize, n: i32, s: Scratch): f64 {
  const na = <i32>Math.floor(0.1 * <f64>n), nb = <i32>Math.floor(0.5 * <f64>n);
  if (na < 4 || nb < 4) return NaN;
  const b = v + (<usize>(n - nb) << 3);
  const ma = meanRange(v, 0, na), mb = meanRange(b, 0, nb);
  return (ma - mb) / Math.sqrt(spectrum0(v, na, s) / <f64>na + spectrum0(b, nb, s) / <f64>nb);
}

function heidelberger(v: usize, n: i32, s: Scratch, out: usize): void {
  st(out, PC_HW_STATIONARY, NaN);
  st(out, PC_HW_START, NaN);
  st(out, PC_HW_CVM, NaN);
  st(out, PC_HW_HALFWIDTH, NaN);
  st(out, PC_HW_MEAN, NaN);
  st(out, PC_HW_PASSED, NaN);
  if (n < 10) return;
  const half = n - (n >> 1);
  const s0 = spectrum0(v + (<usize>(n >> 1) << 3), half, s);
  let start = 0, cvm: f64 = NaN, stationary = false;
  for (let k = 0; k <= 5; k++) {
    start = <i32>Math.floor(<f64>k * 0.1 * <f64>n);
    const m = n - start;
    const p = v + (<usize>start << 3);
    const ybar = meanRange(p, 0, m);
    let cum: f64 = 0, sum: f64 = 0;
    for (let i = 0; i < m; i++) {
      cum += ld(p, i);
      const bb = cum - ybar * <f64>(i + 1);
      sum += (bb * bb) / (<f64>m * s0);
    }
    cvm = sum / <f64>m;
    if (cvm < HW_CVM_CRITICAL) {
      stationary = true;
      break;
    }
  }
  st(out, PC_HW_STATIONARY, stationary ? 1 : 0);
  st(out, PC_HW_START, <f64>start);
  st(out, PC_HW_CVM, cvm);
  const m = n - start;
  const p = v + (<usize>start << 3);
  const ybar = meanRange(p, 0, m);
  const hw = 1.96 * Math.sqrt(spectrum0(p, m, s) / <f64>m);
  st(out, PC_HW_HALFWIDTH, hw);
  st(out, PC_HW_MEAN, ybar);
  st(out, PC_HW_PASSED, stationary && Math.abs(hw / ybar) <= HW_EPS ? 1 : 0);
}

function trend(v: usize, n: i32, s: Scratch, out: usize): void {
  const start = n >> 1, m = n - start;
  st(out, PC_TREND_SLOPE, NaN);
  st(out, PC_TREND_SE, NaN);
  st(out, PC_TREND_T, NaN);
  if (m < 4) return;
  const p = v + (<usize>start << 3);
  const tbar = (<f64>m - 1) / 2, ybar = meanRange(p, 0, m);
  let sxx: f64 = 0, sxy: f64 = 0;
  for (let i = 0; i < m; i++) {
    const dt = <f64>i - tbar;
    sxx += dt * dt;
    sxy += dt * (ld(p, i) - ybar);
  }
  const slope = sxy / sxx;
  const res = s.work;
  let rss: f64 = 0;
  for (let i = 0; i < m; i++) {
    const r = ld(p, i) - ybar - slope * (<f64>i - tbar);
    st(res, i, r);
    rss += r * r;
  }
  const ess = essOf(res, 1, m, s.means, s.rho);
  const tau = isNaN(ess) ? 1 : <f64>m / ess;
  const se = Math.sqrt((tau * rss) / <f64>(m - 2) / sxx);
  st(out, PC_TREND_SLOPE, slope);
  st(out, PC_TREND_SE, se);
  st(out, PC_TREND_T, slope / se);
}

/** coda raftery.diag's N (burn-in + kept draws) for q, r, s; NaN below N_min. */
export function rafteryLewis(v: usize, n: i32, q: f64, r: f64, s: f64, idx: usize, tmp: usize, ind: usize): f64 {
  const phi = normalQuantile((s + 1) / 2);
  const nmin = Math.ceil((q * (1 - q) * phi * phi) / (r * r));
  if (<f64>n < nmin) return NaN;
  sortIndices(v, n, idx, tmp);
  const quant = quantileSorted(v, idx, n, q);
  for (let i = 0; i < n; i++) sti(ind, i, ld(v, i) <= quant ? 1 : 0);
  let k = 0, bic: f64 = 1, len = 0;
  const cnt = new StaticArray<f64>(8);
  while (bic >= 0) {
    k++;
    len = (n + k - 1) / k;
    if (len < 3) return NaN;
    for (let j = 0; j < 8; j++) cnt[j] = 0;
    for (let i = 0; i + 2 < len; i++) cnt[(ldi(ind, i * k) << 2) | (ldi(ind, (i + 1) * k) << 1) | ldi(ind, (i + 2) * k)] += 1;
    let g2: f64 = 0;
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 2; c++) {
      const x = cnt[(a << 2) | (b << 1) | c];
      if (x == 0) continue;
      const ab = cnt[(a << 2) | (b << 1)] + cnt[(a << 2) | (b << 1) | 1];
      const bc = cnt[(b << 1) | c] + cnt[4 | (b << 1) | c];
      const bb = cnt[(b << 1)] + cnt[(b << 1) | 1] + cnt[4 | (b << 1)] + cnt[4 | (b << 1) | 1];
      g2 += x * Math.log(x / ((ab * bc) / bb)) * 2;
    }
    bic = g2 - Math.log(<f64>(len - 2)) * 2;
  }
  // 2×2 transitions of the thinned indicator (coda: index 1 = FALSE, 2 = TRUE).
  let t00: f64 = 0, t01: f64 = 0, t10: f64 = 0, t11: f64 = 0;
  for (let i = 0; i + 1 < len; i++) {
    const a = ldi(ind, i * k), b = ldi(ind, (i + 1) * k);
    if (a == 0) { if (b == 0) t00++; else t01++; } else { if (b == 0) t10++; else t11++; }
  }
  const alpha = t01 / (t00 + t01), beta = t10 / (t10 + t11);
  const tempburn = Math.log((0.001 * (alpha + beta)) / Math.max(alpha, beta)) / Math.log(Math.abs(1 - alpha - beta));
  const nburn = Math.ceil(tempburn) * <f64>k;
  const tempprec = ((2 - alpha - beta) * alpha * beta * phi * phi) / ((alpha + beta) * (alpha + beta) * (alpha + beta) * r * r);
  return nburn + Math.ceil(tempprec) * <f64>k;
}

/** Draws of one chain's loss more than SPIKE_MADS robust s.d. (1.4826·MAD) above its median. */
function spikes(loss: usize, n: i32, s: Scratch): f64 {
  if (n < 4) return 0;
  sortIndices(loss, n, s.idx, s.tmp);
  const med = quantileSorted(loss, s.idx, n, 0.5);
  for (let i = 0; i < n; i++) st(s.work, i, Math.abs(ld(loss, i) - med));
  sortIndices(s.work, n, s.idx, s.tmp);
  const mad = 1.4826 * quantileSorted(s.work, s.idx, n, 0.5);
  if (!(mad > 0)) return 0;
  let count: f64 = 0;
  for (let i = 0; i < n; i++) if (ld(loss, i) - med > SPIKE_MADS * mad) count++;
  return count;
}

/** ESS of the split indicator x ≤ quantile(x, p). */
function essQuantile(v: usize, m: i32, n: i32, p: f64, s: Scratch): f64 {
  const total = m * n;
  sortIndices(v, total, s.idx, s.tmp);
  const quant = quantileSorted(v, s.idx, total, p);
  for (let i = 0; i < total; i++) st(s.work, i, ld(v, i) <= quant ? 1 : 0);
  splitChains(s.work, m, n, s.z);
  return essOf(s.z, 2 * m, n >> 1, s.means, s.rho);
}

/**
 * Every statistic above for `chains` chains of `draws` draws: `loss` and `mala`
 * [chains][draws] f64 (mala NaN: none), L0 and nβ; writes DG_GLOBAL_WORDS + chains·PC_WORDS
 * f64 at `out` (NaN: not defined, e.g. too few draws). Its scratch is one reused block (diagnosticsIo).
 */
export function diagnosticsRun(loss: usize, mala: usize, chains: i32, draws: i32, initLoss: f64, nbeta: f64, out: usize): void {
  const m = chains, n = draws, total = m * n;
  const s = new Scratch(max(total, 1), max(m, 1), max(n, 1));
  const v = s.v;
  for (let i = 0; i < total; i++) st(v, i, nbeta * (ld(loss, i) - initLoss));
  for (let i = 0; i < DG_GLOBAL_WORDS; i++) st(out, i, NaN);
  const half = n >> 1;
  if (m >= 1 && half >= 2) {
    const sm = 2 * m, sn = half, st2 = sm * sn;
    splitChains(v, m, n, s.split);
    zScale(s.split, st2, s.z, s.idx, s.tmp);
    const bulk = rhatOf(s.z, sm, sn, s.means);
    const essBulk = essOf(s.z, sm, sn, s.means, s.rho);
    sortIndices(s.split, st2, s.idx, s.tmp);
    const med = quantileSorted(s.split, s.idx, st2, 0.5);
    for (let i = 0; i < st2; i++) st(s.work, i, Math.abs(ld(s.split, i) - med));
    zScale(s.work, st2, s.z, s.idx, s.tmp);
    const tail = rhatOf(s.z, sm, sn, s.means);
    st(out, DG_RHAT_BULK, bulk);
    st(out, DG_RHAT_TAIL, tail);
    st(out, DG_RHAT, isNaN(bulk) || isNaN(tail) ? NaN : Math.max(bulk, tail));
    st(out, DG_ESS_BULK, essBulk);
    const lo = essQuantile(v, m, n, 0.05, s), hi = essQuantile(v, m, n, 0.95, s);
    st(out, DG_ESS_TAIL, isNaN(lo) || isNaN(hi) ? NaN : Math.min(lo, hi));
    const essMean = essOf(s.split, sm, sn, s.means, s.rho);
    st(out, DG_MCSE, Math.sqrt(varRange(v, 0, total)) / Math.sqrt(essMean));
  }
  for (let c = 0; c < m; c++) {
    const o = out + (<usize>(DG_GLOBAL_WORDS + c * PC_WORDS) << 3);
    const vc = v + (<usize>(c * n) << 3), lc = loss + (<usize>(c * n) << 3), ac = mala + (<usize>(c * n) << 3);
    st(o, PC_GEWEKE_Z, geweke(vc, n, s));
    heidelberger(vc, n, s, o);
    trend(vc, n, s, o);
    let below: f64 = 0, acc: f64 = 0, accN: f64 = 0;
    for (let i = 0; i < n; i++) {
      if (ld(lc, i) < initLoss) below++;
      const a = ld(ac, i);
      if (!isNaN(a)) {
        acc += a;
        accN++;
      }
    }
    st(o, PC_BELOW_L0, n > 0 ? below / <f64>n : NaN);
    st(o, PC_MALA, accN > 0 ? acc / accN : NaN);
    st(o, PC_RAFTERY_LEWIS, rafteryLewis(vc, n, 0.025, 0.01, 0.95, s.idx, s.tmp, s.work));
    st(o, PC_SPIKES, spikes(lc, n, s));
  }
}
