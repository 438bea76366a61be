// Causal multi-head self-attention, TransformerLens semantics (the core of
// `Attention.forward` in transformer_lens/components/abstract_attention.py:
// scores = q·kᵀ / √d_head, causal mask with −∞, softmax over keys, z = pattern·v),
// forward and backward side by side, plus the vectorisable exp the softmaxes of
// this file and of crossentropy.ts use.
//
// LAYOUT (all f32, row-major, byte-address pointers):
//   q, k, v, z, dq, dk, dv, dz : [batch, pos, n_heads, d_head]   (x·W_Q reshaped, as in TL)
//   pattern                    : [batch, n_heads, pos, pos]      (TL's attention pattern)
//   stats                      : [batch, n_heads, pos, 2]        (m[i], inv[i] below)
// pattern[b,h,i,j] = softmax_j≤i(scores)[j] for j ≤ i and +0 for j > i (the masked
// entries TL's softmax of −∞ gives), so the buffer can be read as TL's `pattern`.
// Both are optional outputs of the forward (pointer 0: not written). The backward
// needs one of them: it reads P from the pattern when there is one, and otherwise
// recomputes P block by block from q, k and the row statistics (FlashAttention,
// Dao et al. 2022; FlashAttention-2 §3.1), so the B·H·T² pattern need not be kept.
// Outputs must not overlap inputs; scratch: attentionScratchBytes(pos, d_head).
//
// DETERMINISM CONTRACT. With T = pos, D = d_head, scale = f32(1/√D), every value is
// one fixed sequence of f32 operations (no FMA, no relaxed SIMD), sums from +0:
//   s[i,j]   = (Σ_{d=0..D−1 ascending} q[i,d]·k[j,d]) · scale          for j ≤ i
//   m[i]     = max_{j ≤ i} s[i,j]            (max is exact, so its order is free)
//   e[i,j]   = exp(s[i,j] − m[i])            (expPoly below)
//   sum[i]   = Σ_{j=0..i ascending} e[i,j];  inv[i] = 1 / sum[i]
//   P[i,j]   = e[i,j] · inv[i]
//   z[i,d]   = Σ_{j=0..i ascending} P[i,j]·v[j,d]
// stats[i] = (m[i], inv[i]). The backward's P is either read from the pattern or
// recomputed as (exp((Σ_d q[i,d]·k[j,d])·scale − m[i]))·inv[i] from the stored m, inv:
// the same operations on the same operands, so the same bits — both backward modes
// give identical dq, dk, dv.
// backward (the softmax Jacobian, e.g. FlashAttention-2 §2.2 / llm.c attention_backward):
//   dP[i,j]  = Σ_{d ascending} dz[i,d]·v[j,d]
//   Dr[i]    = Σ_{j=0..i ascending} dP[i,j]·P[i,j]
//   dS[i,j]  = (P[i,j]·(dP[i,j] − Dr[i]))·scale          (the 1/√D of both dq and dk)
//   dq[i,d]  = Σ_{j=0..i ascending}   dS[i,j]·k[j,d]
//   dk[j,d]  = Σ_{i=j..T−1 ascending} dS[i,j]·q[i,d]
//   dv[j,d]  = Σ_{i=j..T−1 ascending} P[i,j]·dz[i,d]
// dq, dk, dv are WRITTEN (not accumulated). Every sum runs over exactly the causal
// terms: a value at a later position never enters an earlier output, not even as
// 0·x (which would turn into NaN for x = ∞), so causality holds bit for bit.
//
// SIMD plan (research notes §1.3: for small heads the exp dominates, so it is
// vectorised too). Per (batch, head) the queries go in blocks of 4 and the
// lanes of a vector are those 4 query rows: a "strip" holds [key j][row r].
//  - scores (and dP): 8 keys × 4 rows per tile, k splat from packed [d][8] key
//    panels, q rows as one vector per d from a packed [d][4] strip; each lane
//    sums d in ascending order, as above;
//  - softmax on the strip: lane r walks j ascending (max, exp, sum), so the
//    per-row order is the scalar loop's; keys i0+1..i0+3 of a block are valid
//    only for some rows, and there the invalid lanes are masked to −∞ (max) or
//    exactly +0 (exp, products), which leaves a sum started from +0 unchanged
//    (x + (+0) = x for x ≠ 0, and +0 + (+0) = +0; such a sum is never −0);
//  - the backward rebuilds a row block's P strip (from the pattern, or from the
//    recomputed score strip and the block's m, inv), then dP, dS in a second
//    strip: only these two strips of P and dS exist at any time;
//  - P·v, dS·k: 4 rows × 8 columns of d tiles, P (or dS) splat from the strip,
//    v rows as vectors; the block's causal triangle is added term by term;
//  - dSᵀ·q, Pᵀ·dz: dk and dv are running sums in packed [T4][Dp] accumulators
//    (scratch). Row blocks go in ascending order, and each adds its 4 rows to
//    every key's accumulator, row after row, so every dk[j,d] still sums i
//    ascending. Tiles of 8 columns hold the block's 4 q (dz) rows in registers,
//    P (dS) is splat from the strip; the diagonal block's triangle is again
//    added term by term;
//  - the exp runs on 4 vectors side by side (expVectors).
// The scalar build runs the contract loops directly (and only needs two rows of
// scratch), so both builds give the same bits.

/** Bytes per f32. */
const F32: usize = 4;

// ---------------------------------------------------------------------------
// exp: Cody–Waite range reduction + the Cephes expf polynomial (Moshier,
// Cephes Math Library, expf.c): x = n·ln2 + r, |r| ≤ ln2/2, e^r ≈ 1 + r + r²·P(r),
// then 2^n built from exponent bits. Only add/sub/mul, compare-select and integer ops,
// so a SIMD lane and the scalar function give the same bits. n is rounded to
// nearest by adding and subtracting 1.5·2^23 (Hacker's-Delight style), which
// also leaves n in the low bits of t. 2^n is applied as 2^⌊n/2⌋·2^(n−⌊n/2⌋):
// both factors are normal for n ∈ [−150, 128], the first product is exact and
// the second rounds once, so results that underflow into subnormals are still
// correctly rounded from y·2^n (e^−88 ≈ 6·10^−39 keeps its relative accuracy
// to within the subnormal spacing) and x > 88.73 overflows to +∞. Measured:
// within 0.982 ulp of e^x for every f32 x in (−88, 0) (exhaustive, against f64).

const EXP_MIN_ARG: f32 = -104.0; // e^−104 < 2^−150: the result rounds to 0
const EXP_MAX_ARG: f32 = 89.0; // e^89 > FLT_MAX: the result overflows to +∞
const EXP_LOG2E: f32 = 1.44269504088896341;
const EXP_ROUND: f32 = 12582912.0; // 1.5·2^23
const EXP_ROUND_BITS: i32 = 0x4b400000; // bits of EXP_ROUND
const EXP_LN2_HI: f32 = 0.693359375; // 9 significant bits: n·LN2_HI is exact
const EXP_LN2_LO: f32 = -2.12194440e-4; // ln2 − LN2_HI
const EXP_P0: f32 = 1.9875691500e-4;
const EXP_P1: f32 = 1.3981999507e-3;
const EXP_P2: f32 = 8.3334519073e-3;
const EXP_P3: f32 = 4.1665795894e-2;
const EXP_P4: f32 = 1.6666665459e-1;
const EXP_P5: f32 = 5.0000001201e-1;

/** e^x in f32; the reference op sequence that exp4 repeats lane by lane. */
// @ts-ignore: decorator
@inline function expPoly(x: f32): f32 {
  // The clamp as comparisons, f32x4.pmax/pmin semantics (NaN stays NaN).
  x = x < EXP_MIN_ARG ? EXP_MIN_ARG : x;
  x = EXP_MAX_ARG < x ? EXP_MAX_ARG : x;
  const t: f32 = x * EXP_LOG2E + EXP_ROUND;
  const n: f32 = t - EXP_ROUND;
  const nBits: i32 = reinterpret<i32>(t) - EXP_ROUND_BITS;
  const r: f32 = (x - n * EXP_LN2_HI) - n * EXP_LN2_LO;
  let p: f32 = EXP_P0 * r + EXP_P1;
  p = p * r + EXP_P2;
  p = p * r + EXP_P3;
  p = p * r + EXP_P4;
  p = p * r + EXP_P5;
  const y: f32 = p * (r * r) + r + <f32>1.0;
  const half = nBits >> 1;
  const scaleLo = reinterpret<f32>((half + 127) << 23);
  const scaleHi = reinterpret<f32>((nBits - half + 127) << 23);
  return y * scaleLo * scaleHi;
}

// The constants of exp4, each splatted to a whole vector: V8 builds a v128.const
// with several instructions at every use, a load from this table costs one
// (measured ~25% faster).
const EXP_TABLE = memory.data<f32>([
  EXP_MIN_ARG, EXP_MIN_ARG, EXP_MIN_ARG, EXP_MIN_ARG,
  EXP_MAX_ARG, EXP_MAX_ARG, EXP_MAX_ARG, EXP_MAX_ARG,
  EXP_LOG2E, EXP_LOG2E, EXP_LOG2E, EXP_LOG2E,
  EXP_ROUND, EXP_ROUND, EXP_ROUND, EXP_ROUND,
  EXP_LN2_HI, EXP_LN2_HI, EXP_LN2_HI, EXP_LN2_HI,
  EXP_LN2_LO, EXP_LN2_LO, EXP_LN2_LO, EXP_LN2_LO,
  EXP_P0, EXP_P0, EXP_P0, EXP_P0,
  EXP_P1, EXP_P1, EXP_P1, EXP_P1,
  EXP_P2, EXP_P2, EXP_P2, EXP_P2,
  EXP_P3, EXP_P3, EXP_P3, EXP_P3,
  EXP_P4, EXP_P4, EXP_P4, EXP_P4,
  EXP_P5, EXP_P5, EXP_P5, EXP_P5,
  1.0, 1.0, 1.0, 1.0,
], 16);
const EXP_INT_TABLE = memory.data<i32>([EXP_ROUND_BITS, EXP_ROUND_BITS, EXP_ROUND_BITS, EXP_ROUND_BITS, 127, 127, 127, 127], 16);
// Byte offsets into EXP_TABLE / EXP_INT_TABLE.
const X_MIN = 0, X_MAX = 16, X_LOG2E = 32, X_ROUND = 48, X_LN2_HI = 64, X_LN2_LO = 80;
const X_P0 = 96, X_P1 = 112, X_P2 = 128, X_P3 = 144, X_P4 = 160, X_P5 = 176, X_ONE = 192;
const XI_ROUND_BITS = 0, XI_BIAS = 16;

/** expPoly on 4 lanes, the same operations in the same order. */
// @ts-ignore: decorator
@inline function exp4(x: v128): v128 {
  x = f32x4.pmax(x, v128.load(EXP_TABLE, X_MIN)); // x < MIN ? MIN : x
  x = f32x4.pmin(x, v128.load(EXP_TABLE, X_MAX)); // MAX < x ? MAX : x
  const t = f32x4.add(f32x4.mul(x, v128.load(EXP_TABLE, X_LOG2E)), v128.load(EXP_TABLE, X_ROUND));
  const n = f32x4.sub(t, v128.load(EXP_TABLE, X_ROUND));
  const nBits = i32x4.sub(t, v128.load(EXP_INT_TABLE, XI_ROUND_BITS));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, v128.load(EXP_TABLE, X_LN2_HI))), f32x4.mul(n, v128.load(EXP_TABLE, X_LN2_LO)));
  let p = f32x4.add(f32x4.mul(v128.load(EXP_TABLE, X_P0), r), v128.load(EXP_TABLE, X_P1));
  p = f32x4.add(f32x4.mul(p, r), v128.load(EXP_TABLE, X_P2));
  p = f32x4.add(f32x4.mul(p, r), v128.load(EXP_TABLE, X_P3));
  p = f32x4.add(f32x4.mul(p, r), v128.load(EXP_TABLE, X_P4));
  p = f32x4.add(f32x4.mul(p, r), v128.load(EXP_TABLE, X_P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), v128.load(EXP_TABLE, X_ONE));
  const half = i32x4.shr_s(nBits, 1);
  const bias = v128.load(EXP_INT_TABLE, XI_BIAS);
  const scaleLo = i32x4.shl(i32x4.add(half, bias), 23);
  const scaleHi = i32x4.shl(i32x4.add(i32x4.sub(nBits, half), bias), 23);
  return f32x4.mul(f32x4.mul(y, scaleLo), scaleHi);
}

/**
 * For k < count: e_k = exp4(v128 at src + 16k − shift), stored at dst + 16k
 * (unless dst = 0; dst = src is fine), and acc = acc + e_k in ascending k;
 * returns acc. Four vectors go through exp4 side by side, step by step: the
 * polynomial is one long dependency chain, and written one exp after another
 * the out-of-order window does not reach the next one (measured: 4 interleaved
 * vectors run ~1.8× faster). Lanes never mix, so the bits are exp4's.
 */
function expVectors(dst: usize, src: usize, count: i32, shift: v128, acc: v128): v128 {
  return expVectorsImpl(dst, src, count, shift, acc, false, acc, acc);
}

/**
 * dst_k = exp4(v128 at src + 16k · scale − shift) · inv for k < count (dst = src
 * is fine): the softmax numerator of stripSoftmax (x·scale, then exp(x − m))
 * and its normalisation (· inv) in one pass, the same operations in the same order.
 */
function expVectorsScaled(dst: usize, src: usize, count: i32, scale: v128, shift: v128, inv: v128): void {
  expVectorsImpl(dst, src, count, shift, f32x4.splat(0), true, scale, inv);
}

/** expVectors, and with `scaled` (a constant) expVectorsScaled; Binaryen folds the branches away. */
// @ts-ignore: decorator
@inline function expVectorsImpl(dst: usize, src: usize, count: i32, shift: v128, acc: v128, scaled: bool, scale: v128, inv: v128): v128 {
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    const o = <usize>k << 4;
    const lo = v128.load(EXP_TABLE, X_MIN), hi = v128.load(EXP_TABLE, X_MAX);
    let s0 = v128.load(src + o), s1 = v128.load(src + o, 16), s2 = v128.load(src + o, 32), s3 = v128.load(src + o, 48);
    if (scaled) {
      s0 = f32x4.mul(s0, scale); s1 = f32x4.mul(s1, scale);
      s2 = f32x4.mul(s2, scale); s3 = f32x4.mul(s3, scale);
    }
    const x0 = f32x4.pmin(f32x4.pmax(f32x4.sub(s0, shift), lo), hi);
    const x1 = f32x4.pmin(f32x4.pmax(f32x4.sub(s1, shift), lo), hi);
    const x2 = f32x4.pmin(f32x4.pmax(f32x4.sub(s2, shift), lo), hi);
    const x3 = f32x4.pmin(f32x4.pmax(f32x4.sub(s3, shift), lo), hi);
    const log2e = v128.load(EXP_TABLE, X_LOG2E), round = v128.load(EXP_TABLE, X_ROUND);
    const t0 = f32x4.add(f32x4.mul(x0, log2e), round), t1 = f32x4.add(f32x4.mul(x1, log2e), round);
    const t2 = f32x4.add(f32x4.mul(x2, log2e), round), t3 = f32x4.add(f32x4.mul(x3, log2e), round);
    const n0 = f32x4.sub(t0, round), n1 = f32x4.sub(t1, round), n2 = f32x4.sub(t2, round), n3 = f32x4.sub(t3, round);
    const ln2Hi = v128.load(EXP_TABLE, X_LN2_HI), ln2Lo = v128.load(EXP_TABLE, X_LN2_LO);
    const r0 = f32x4.sub(f32x4.sub(x0, f32x4.mul(n0, ln2Hi)), f32x4.mul(n0, ln2Lo));
    const r1 = f32x4.sub(f32x4.sub(x1, f32x4.mul(n1, ln2Hi)), f32x4.mul(n1, ln2Lo));
    const r2 = f32x4.sub(f32x4.sub(x2, f32x4.mul(n2, ln2Hi)), f32x4.mul(n2, ln2Lo));
    const r3 = f32x4.sub(f32x4.sub(x3, f32x4.mul(n3, ln2Hi)), f32x4.mul(n3, ln2Lo));
    const c0 = v128.load(EXP_TABLE, X_P0), c1 = v128.load(EXP_TABLE, X_P1);
    let p0 = f32x4.add(f32x4.mul(c0, r0), c1), p1 = f32x4.add(f32x4.mul(c0, r1), c1);
    let p2 = f32x4.add(f32x4.mul(c0, r2), c1), p3 = f32x4.add(f32x4.mul(c0, r3), c1);
    let cv = v128.load(EXP_TABLE, X_P2);
    p0 = f32x4.add(f32x4.mul(p0, r0), cv); p1 = f32x4.add(f32x4.mul(p1, r1), cv);
    p2 = f32x4.add(f32x4.mul(p2, r2), cv); p3 = f32x4.add(f32x4.mul(p3, r3), cv);
    cv = v128.load(EXP_TABLE, X_P3);
    p0 = f32x4.add(f32x4.mul(p0, r0), cv); p1 = f32x4.add(f32x4.mul(p1, r1), cv);
    p2 = f32x4.add(f32x4.mul(p2, r2), cv); p3 = f32x4.add(f32x4.mul(p3, r3), cv);
    cv = v128.load(EXP_TABLE, X_P4);
    p0 = f32x4.add(f32x4.mul(p0, r0), cv); p1 = f32x4.add(f32x4.mul(p1, r1), cv);
    p2 = f32x4.add(f32x4.mul(p2, r2), cv); p3 = f32x4.add(f32x4.mul(p3, r3), cv);
    cv = v128.load(EXP_TABLE, X_P5);
    p0 = f32x4.add(f32x4.mul(p0, r0), cv); p1 = f32x4.add(f32x4.mul(p1, r1), cv);
    p2 = f32x4.add(f32x4.mul(p2, r2), cv); p3 = f32x4.add(f32x4.mul(p3, r3), cv);
    const one = v128.load(EXP_TABLE, X_ONE);
    const y0 = f32x4.add(f32x4.add(f32x4.mul(p0, f32x4.mul(r0, r0)), r0), one);
    const y1 = f32x4.add(f32x4.add(f32x4.mul(p1, f32x4.mul(r1, r1)), r1), one);
    const y2 = f32x4.add(f32x4.add(f32x4.mul(p2, f32x4.mul(r2, r2)), r2), one);
    const y3 = f32x4.add(f32x4.add(f32x4.mul(p3, f32x4.mul(r3, r3)), r3), one);
    const roundBits = v128.load(EXP_INT_TABLE, XI_ROUND_BITS), bias = v128.load(EXP_INT_TABLE, XI_BIAS);
    const b0 = i32x4.sub(t0, roundBits), b1 = i32x4.sub(t1, roundBits), b2 = i32x4.sub(t2, roundBits), b3 = i32x4.sub(t3, roundBits);
    const h0 = i32x4.shr_s(b0, 1), h1 = i32x4.shr_s(b1, 1), h2 = i32x4.shr_s(b2, 1), h3 = i32x4.shr_s(b3, 1);
    const e0 = f32x4.mul(f32x4.mul(y0, i32x4.shl(i32x4.add(h0, bias), 23)), i32x4.shl(i32x4.add(i32x4.sub(b0, h0), bias), 23));
    const e1 = f32x4.mul(f32x4.mul(y1, i32x4.shl(i32x4.add(h1, bias), 23)), i32x4.shl(i32x4.add(i32x4.sub(b1, h1), bias), 23));
    const e2 = f32x4.mul(f32x4.mul(y2, i32x4.shl(i32x4.add(h2, bias), 23)), i32x4.shl(i32x4.add(i32x4.sub(b2, h2), bias), 23));
    const e3 = f32x4.mul(f32x4.mul(y3, i32x4.shl(i32x4.add(h3, bias), 23)), i32x4.shl(i32x4.add(i32x4.sub(b3, h3), bias), 23));
    if (scaled) {
      v128.store(dst + o, f32x4.mul(e0, inv));
      v128.store(dst + o, f32x4.mul(e1, inv), 16);
      v128.store(dst + o, f32x4.mul(e2, inv), 32);
      v128.store(dst + o, f32x4.mul(e3, inv), 48);
      continue;
    }
    if (dst) {
      v128.store(dst + o, e0);
      v128.store(dst + o, e1, 16);
      v128.store(dst + o, e2, 32);
      v128.store(dst + o, e3, 48);
    }
    acc = f32x4.add(f32x4.add(f32x4.add(f32x4.add(acc, e0), e1), e2), e3);
  }
  for (; k < count; k++) {
    const o = <usize>k << 4;
    let s = v128.load(src + o);
    if (scaled) s = f32x4.mul(s, scale);
    const e = exp4(f32x4.sub(s, shift));
    if (scaled) {
      v128.store(dst + o, f32x4.mul(e, inv));
      continue;
    }
    if (dst) v128.store(dst + o, e);
    acc = f32x4.add(acc, e);
  }
  return acc;
}

/**
 * dst[j] = exp(src[j] − shift) for j < n (nothing stored when dst = 0), and
 * returns Σ_j dst[j] in the canonical 4-lane order: lane l sums the j ≡ l (mod 4)
 * in ascending j, result ((l0 + l1) + l2) + l3. The softmax row of crossentropy.ts
 * (shift = the row max); with shift = 0 it is plain exp, which the tests use.
 */
export function expShiftedSum(dst: usize, src: usize, n: i32, shift: f32): f32 {
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const vectors = n >> 2;
    const lanes = expVectors(dst, src, vectors, f32x4.splat(shift), f32x4.splat(0));
    j = vectors << 2;
    l0 = f32x4.extract_lane(lanes, 0);
    l1 = f32x4.extract_lane(lanes, 1);
    l2 = f32x4.extract_lane(lanes, 2);
    l3 = f32x4.extract_lane(lanes, 3);
  }
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const e0 = expPoly(load<f32>(src + o) - shift);
    const e1 = expPoly(load<f32>(src + o, 4) - shift);
    const e2 = expPoly(load<f32>(src + o, 8) - shift);
    const e3 = expPoly(load<f32>(src + o, 12) - shift);
    if (dst) {
      store<f32>(dst + o, e0);
      store<f32>(dst + o, e1, 4);
      store<f32>(dst + o, e2, 8);
      store<f32>(dst + o, e3, 12);
    }
    l0 += e0;
    l1 += e1;
    l2 += e2;
    l3 += e3;
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const e = expPoly(load<f32>(src + o) - shift);
    if (dst) store<f32>(dst + o, e);
    const lane = j & 3;
    if (lane == 0) l0 += e;
    else if (lane == 1) l1 += e;
    else l2 += e;
  }
  return ((l0 + l1) + l2) + l3;
}

// ---------------------------------------------------------------------------
// Public entry points.

/**
 * Scratch bytes attentionForward / attentionBackward may use for this context
 * length, head count and head size (any batch): the SIMD build's packed copies of
 * one batch element's heads, accumulators and strips; the scalar build's two rows
 * fit inside. Same value in both builds. About (28·n_heads + 8)·pos·d_head bytes
 * (7.6 MB at pos 1024, 8 heads of 32): no pos² term, as neither pass keeps more
 * than a 4-row block of the pattern.
 */
export function attentionScratchBytes(nCtx: i32, nHeads: i32, dHead: i32): i32 {
  if (nCtx <= 0 || nHeads <= 0 || dHead <= 0) return 0;
  const T4 = (nCtx + 3) & ~3, T8 = (nCtx + 7) & ~7, Dp = (dHead + 3) & ~3;
  // The backward's layout (the forward's fits in it), see "SIMD build" below: per
  // head q and dz strips, k and v panels, k/q/dz rows; then the dk/dv accumulators
  // and two row strips.
  return (nHeads * (2 * T4 * dHead + 2 * T8 * dHead + 3 * T4 * Dp) + 2 * T4 * Dp + 2 * 4 * T8) * <i32>F32;
}

/**
 * z = softmax(causal(q·kᵀ·scale))·v for every (batch, head). z is written, and
 * so are the pattern and the row statistics (m, inv) when their pointers are not
 * 0. Layouts: see the top of the file.
 */
export function attentionForward(
  z: usize, pattern: usize, stats: usize, q: usize, k: usize, v: usize,
  batch: i32, nCtx: i32, nHeads: i32, dHead: i32, scratch: usize,
): void {
  if (batch <= 0 || nCtx <= 0 || nHeads <= 0 || dHead <= 0) return;
  const rowStride = <usize>nHeads * <usize>dHead * F32;
  const scale = <f32>(1.0 / Math.sqrt(<f64>dHead));
  for (let b = 0; b < batch; b++) {
    const offset = headOffset(b, 0, nCtx, nHeads, dHead);
    const patternBatch: usize = pattern ? pattern + patternHeadOffset(b, 0, nCtx, nHeads) : 0;
    const statsBatch: usize = stats ? stats + statsHeadOffset(b, 0, nCtx, nHeads) : 0;
    if (ASC_FEATURE_SIMD) {
      simdForwardBatch(z + offset, patternBatch, statsBatch, q + offset, k + offset, v + offset, rowStride, nCtx, nHeads, dHead, scale, scratch);
      continue;
    }
    for (let h = 0; h < nHeads; h++) {
      const column = <usize>h * <usize>dHead * F32;
      scalarForwardHead(
        z + offset + column, patternBatch ? patternBatch + patternHeadOffset(0, h, nCtx, nHeads) : 0,
        statsBatch ? statsBatch + statsHeadOffset(0, h, nCtx, nHeads) : 0,
        q + offset + column, k + offset + column, v + offset + column, rowStride, nCtx, dHead, scale, scratch,
      );
    }
  }
}

/**
 * dq, dk, dv (written) from dz and the forward's inputs q, k, v, with P read from
 * the pattern attentionForward stored when `pattern` is not 0, else recomputed
 * from q, k and the row statistics it stored at `stats` (same bits either way).
 * With both pointers 0 nothing is written. Layouts: see the top of the file.
 */
export function attentionBackward(
  dq: usize, dk: usize, dv: usize, dz: usize, pattern: usize, stats: usize, q: usize, k: usize, v: usize,
  batch: i32, nCtx: i32, nHeads: i32, dHead: i32, scratch: usize,
): void {
  if (batch <= 0 || nCtx <= 0 || nHeads <= 0 || dHead <= 0) return;
  if (!pattern && !stats) return;
  const rowStride = <usize>nHeads * <usize>dHead * F32;
  const scale = <f32>(1.0 / Math.sqrt(<f64>dHead));
  for (let b = 0; b < batch; b++) {
    const offset = headOffset(b, 0, nCtx, nHeads, dHead);
    const patternBatch: usize = pattern ? pattern + patternHeadOffset(b, 0, nCtx, nHeads) : 0;
    const statsBatch: usize = pattern ? 0 : stats + statsHeadOffset(b, 0, nCtx, nHeads);
    if (ASC_FEATURE_SIMD) {
      simdBackwardBatch(
        dq + offset, dk + offset, dv + offset, dz + offset, patternBatch, statsBatch,
        q + offset, k + offset, v + offset, rowStride, nCtx, nHeads, dHead, scale, scratch,
      );
      continue;
    }
    for (let h = 0; h < nHeads; h++) {
      const column = <usize>h * <usize>dHead * F32;
      scalarBackwardHead(
        dq + offset + column, dk + offset + column, dv + offset + column, dz + offset + column,
        patternBatch ? patternBatch + patternHeadOffset(0, h, nCtx, nHeads) : 0,
        statsBatch ? statsBatch + statsHeadOffset(0, h, nCtx, nHeads) : 0,
        q + offset + column, k + offset + column, v + offset + column, rowStride, nCtx, dHead, scale, scratch,
      );
    }
  }
}

/** Byte offset of head (b, h)'s [pos, pos] block in a [batch, n_heads, pos, pos] pattern. */
// @ts-ignore: decorator
@inline function patternHeadOffset(b: i32, h: i32, nCtx: i32, nHeads: i32): usize {
  return <usize>(b * nHeads + h) * <usize>nCtx * <usize>nCtx * F32;
}

/** Byte offset of head (b, h)'s [pos, 2] block in a [batch, n_heads, pos, 2] stats tensor. */
// @ts-ignore: decorator
@inline function statsHeadOffset(b: i32, h: i32, nCtx: i32, nHeads: i32): usize {
  return <usize>(b * nHeads + h) * <usize>nCtx * 2 * F32;
}

/** Byte offset of element [b, 0, h, 0] in a [batch, pos, n_heads, d_head] tensor. */
// @ts-ignore: decorator
@inline function headOffset(b: i32, h: i32, nCtx: i32, nHeads: i32, dHead: i32): usize {
  return (<usize>b * <usize>nCtx * <usize>nHeads + <usize>h) * <usize>dHead * F32;
}

// ---------------------------------------------------------------------------
// Scalar build: the contract loops, one head at a time.

function scalarForwardHead(
  z: usize, patternHead: usize, statsHead: usize, q: usize, k: usize, v: usize,
  rowStride: usize, T: i32, D: i32, scale: f32, scratch: usize,
): void {
  const rowBytes = <usize>T * F32;
  for (let i = 0; i < T; i++) {
    // The row's scores, then P: in the pattern row, or in scratch when there is none.
    const pRow = patternHead ? patternHead + <usize>i * rowBytes : scratch;
    const qi = q + <usize>i * rowStride;
    let m = f32.NEGATIVE_INFINITY;
    for (let j = 0; j <= i; j++) {
      const s = rowScore(qi, k + <usize>j * rowStride, D, scale);
      store<f32>(pRow + (<usize>j << 2), s);
      m = max<f32>(m, s);
    }
    let sum: f32 = 0;
    for (let j = 0; j <= i; j++) {
      const p = pRow + (<usize>j << 2);
      const e = expPoly(load<f32>(p) - m);
      store<f32>(p, e);
      sum += e;
    }
    const inv: f32 = <f32>1.0 / sum;
    for (let j = 0; j <= i; j++) {
      const p = pRow + (<usize>j << 2);
      store<f32>(p, load<f32>(p) * inv);
    }
    if (statsHead) {
      store<f32>(statsHead + (<usize>i << 3), m);
      store<f32>(statsHead + (<usize>i << 3), inv, 4);
    }
    if (patternHead && i + 1 < T) memory.fill(pRow + (<usize>(i + 1) << 2), 0, <usize>(T - i - 1) << 2);
    // z[i] = Σ_j P[i,j]·v[j], running sums kept (exactly) in z.
    const zi = z + <usize>i * rowStride;
    memory.fill(zi, 0, <usize>D << 2);
    for (let j = 0; j <= i; j++) {
      const pij = load<f32>(pRow + (<usize>j << 2));
      const vj = v + <usize>j * rowStride;
      for (let d = 0; d < D; d++) {
        const o = <usize>d << 2;
        store<f32>(zi + o, load<f32>(zi + o) + pij * load<f32>(vj + o));
      }
    }
  }
}

/** s[i,j] of the contract: (Σ_{d ascending} q[i,d]·k[j,d], from +0) · scale. */
// @ts-ignore: decorator
@inline function rowScore(qi: usize, kj: usize, D: i32, scale: f32): f32 {
  let dot: f32 = 0;
  for (let d = 0; d < D; d++) dot += load<f32>(qi + (<usize>d << 2)) * load<f32>(kj + (<usize>d << 2));
  return dot * scale;
}

function scalarBackwardHead(
  dq: usize, dk: usize, dv: usize, dz: usize, patternHead: usize, statsHead: usize, q: usize, k: usize, v: usize,
  rowStride: usize, T: i32, D: i32, scale: f32, scratch: usize,
): void {
  const rowBytes = <usize>T * F32;
  const dBytes = <usize>D << 2;
  for (let j = 0; j < T; j++) {
    memory.fill(dk + <usize>j * rowStride, 0, dBytes);
    memory.fill(dv + <usize>j * rowStride, 0, dBytes);
  }
  const dsRow = scratch; // dP[i, 0..i], then dS[i, 0..i]
  const pBuffer = scratch + rowBytes; // P[i, 0..i] recomputed, when there is no pattern
  // Rows i in ascending order: dk[j] and dv[j] receive their terms i = j, j+1, … in order.
  for (let i = 0; i < T; i++) {
    const dzi = dz + <usize>i * rowStride;
    const qi = q + <usize>i * rowStride;
    let pRow = pBuffer;
    if (patternHead) {
      pRow = patternHead + <usize>i * rowBytes;
    } else {
      // The forward's P, op for op: e = exp(s − m), P = e · inv.
      const m = load<f32>(statsHead + (<usize>i << 3)), inv = load<f32>(statsHead + (<usize>i << 3), 4);
      for (let j = 0; j <= i; j++) {
        const e = expPoly(rowScore(qi, k + <usize>j * rowStride, D, scale) - m);
        store<f32>(pRow + (<usize>j << 2), e * inv);
      }
    }
    let dr: f32 = 0;
    for (let j = 0; j <= i; j++) {
      const vj = v + <usize>j * rowStride;
      let dot: f32 = 0;
      for (let d = 0; d < D; d++) dot += load<f32>(dzi + (<usize>d << 2)) * load<f32>(vj + (<usize>d << 2));
      store<f32>(dsRow + (<usize>j << 2), dot);
      dr += dot * load<f32>(pRow + (<usize>j << 2));
    }
    for (let j = 0; j <= i; j++) {
      const p = dsRow + (<usize>j << 2);
      store<f32>(p, (load<f32>(pRow + (<usize>j << 2)) * (load<f32>(p) - dr)) * scale);
    }
    const dqi = dq + <usize>i * rowStride;
    memory.fill(dqi, 0, dBytes);
    for (let j = 0; j <= i; j++) {
      const ds = load<f32>(dsRow + (<usize>j << 2));
      const pij = load<f32>(pRow + (<usize>j << 2));
      const kj = k + <usize>j * rowStride;
      const dkj = dk + <usize>j * rowStride;
      const dvj = dv + <usize>j * rowStride;
      for (let d = 0; d < D; d++) {
        const o = <usize>d << 2;
        store<f32>(dqi + o, load<f32>(dqi + o) + ds * load<f32>(kj + o));
        store<f32>(dkj + o, load<f32>(dkj + o) + ds * load<f32>(qi + o));
        store<f32>(dvj + o, load<f32>(dvj + o) + pij * load<f32>(dzi + o));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// SIMD build. Everything below is reached only through `if (ASC_FEATURE_SIMD)`.
//
// Per batch element, with T4 = roundUp4(T), T8 = roundUp8(T), Dp = roundUp4(D) and
// H heads, scratch holds
//   qStrips    H × [T4/4][D][4]  q, 4 rows per block, lane = row (forward; backward without pattern)
//   kPanels    H × [T8/8][D][8]  k, 8 keys per panel, zero keys ≥ T (same)
//   dzStrips   H × [T4/4][D][4]  dz (backward)
//   vPanels    H × [T8/8][D][8]  v (backward)
//   rows       3 × H × [T4][Dp]  v (forward); k, q, dz (backward), zero padded
//   dkAcc, dvAcc 2 × [T4][Dp]    one head's running sums of dk and dv (backward)
//   strip      [T8][4]           the current row block's scores → pattern, or dP → dS
//   pStrip     [T8][4]           the current row block's pattern (backward)
// (the forward uses the first three and a strip). All heads of a batch element are
// packed in one pass over its [T][H·D] rows, which reads memory in order: packing
// one head at a time reads one D-float piece of every T-row, a stride the hardware
// prefetchers do not follow, and with activations of several MB (batch 16, 128
// positions, 8 heads of 16) that packing took 14% of forward + backward, against
// 4% when the same data sat in L2. Panels keep every score tile's operand stream
// contiguous: kᵀ as [D][T] rows would put the d-steps of a tile T·4 bytes apart,
// which at T = 1024 maps all of them onto one L1 set.

/** Lanes r ≥ t of a block's key i0 + t (t = 1, 2, 3): the causal triangle. */
// @ts-ignore: decorator
@inline function triangleMask(t: i32): v128 {
  return t == 1 ? i32x4(0, -1, -1, -1) : t == 2 ? i32x4(0, 0, -1, -1) : i32x4(0, 0, 0, -1);
}

/** Lanes r < rows: the rows of a block that exist (the last block may be partial). */
// @ts-ignore: decorator
@inline function rowMask(rows: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(rows));
}

/** One batch element's heads: pack them all (see the layout above), then one head at a time. */
function simdForwardBatch(
  z: usize, patternBatch: usize, statsBatch: usize, q: usize, k: usize, v: usize,
  rowStride: usize, T: i32, H: i32, D: i32, scale: f32, scratch: usize,
): void {
  const T4 = (T + 3) & ~3, T8 = (T + 7) & ~7, Dp = (D + 3) & ~3;
  const stripsBytes = <usize>(T4 * D) * F32, panelsBytes = <usize>(T8 * D) * F32, rowsBytes = <usize>(T4 * Dp) * F32;
  const qStrips = scratch;
  const kPanels = qStrips + <usize>H * stripsBytes;
  const vRows = kPanels + <usize>H * panelsBytes;
  const strip = vRows + <usize>H * rowsBytes;
  packStrips(qStrips, stripsBytes, q, rowStride, T, H, D);
  packPanels(kPanels, panelsBytes, k, rowStride, T, H, D);
  packRows(vRows, rowsBytes, v, rowStride, T, H, D, Dp);
  const rowBytes = <usize>T * F32;
  for (let h = 0; h < H; h++) {
    const zHead = z + <usize>h * <usize>D * F32;
    const patternHead: usize = patternBatch ? patternBatch + <usize>h * <usize>T * rowBytes : 0;
    const statsHead: usize = statsBatch ? statsBatch + (<usize>(h * T) << 3) : 0;
    const qHead = qStrips + <usize>h * stripsBytes, kHead = kPanels + <usize>h * panelsBytes, vHead = vRows + <usize>h * rowsBytes;
    for (let i0 = 0; i0 < T; i0 += 4) {
      const rows = min(4, T - i0);
      stripScores(strip, qHead + <usize>i0 * <usize>D * F32, kHead, D, i0 + 4);
      stripSoftmax(strip, i0, rows, scale, statsHead ? statsHead + (<usize>i0 << 3) : 0);
      if (patternHead) storePatternRows(patternHead + <usize>i0 * rowBytes, rowBytes, T, strip, i0, rows);
      stripTimesRows(zHead + <usize>i0 * rowStride, rowStride, strip, vHead, Dp, D, i0, rows);
    }
  }
}

/** One batch element's heads: pack them all (see the layout above), then one head at a time. */
function simdBackwardBatch(
  dq: usize, dk: usize, dv: usize, dz: usize, patternBatch: usize, statsBatch: usize, q: usize, k: usize, v: usize,
  rowStride: usize, T: i32, H: i32, D: i32, scale: f32, scratch: usize,
): void {
  const T4 = (T + 3) & ~3, T8 = (T + 7) & ~7, Dp = (D + 3) & ~3;
  const stripsBytes = <usize>(T4 * D) * F32, panelsBytes = <usize>(T8 * D) * F32;
  const rowsBytes = <usize>(T4 * Dp) * F32;
  const heads = <usize>H;
  const qStrips = scratch;
  const kPanels = qStrips + heads * stripsBytes;
  const dzStrips = kPanels + heads * panelsBytes;
  const vPanels = dzStrips + heads * stripsBytes;
  const kRows = vPanels + heads * panelsBytes;
  const qRows = kRows + heads * rowsBytes;
  const dzRows = qRows + heads * rowsBytes;
  const dkAcc = dzRows + heads * rowsBytes;
  const dvAcc = dkAcc + rowsBytes;
  const dsStrip = dvAcc + rowsBytes;
  const pStrip = dsStrip + (<usize>T8 << 4);
  if (!patternBatch) {
    packStrips(qStrips, stripsBytes, q, rowStride, T, H, D);
    packPanels(kPanels, panelsBytes, k, rowStride, T, H, D);
  }
  packStrips(dzStrips, stripsBytes, dz, rowStride, T, H, D);
  packPanels(vPanels, panelsBytes, v, rowStride, T, H, D);
  packRows(kRows, rowsBytes, k, rowStride, T, H, D, Dp);
  packRows(qRows, rowsBytes, q, rowStride, T, H, D, Dp);
  packRows(dzRows, rowsBytes, dz, rowStride, T, H, D, Dp);
  const rowBytes = <usize>T * F32;
  const accRowStride = <usize>Dp * F32;
  for (let h = 0; h < H; h++) {
    const column = <usize>h * <usize>D * F32;
    const patternHead: usize = patternBatch ? patternBatch + <usize>h * <usize>T * rowBytes : 0;
    const statsHead: usize = statsBatch ? statsBatch + (<usize>(h * T) << 3) : 0;
    const qStripsHead = qStrips + <usize>h * stripsBytes, kPanelsHead = kPanels + <usize>h * panelsBytes;
    const dzStripsHead = dzStrips + <usize>h * stripsBytes, vPanelsHead = vPanels + <usize>h * panelsBytes;
    const kRowsHead = kRows + <usize>h * rowsBytes, qRowsHead = qRows + <usize>h * rowsBytes, dzRowsHead = dzRows + <usize>h * rowsBytes;
    memory.fill(dkAcc, 0, 2 * rowsBytes); // dk and dv sum from +0
    for (let i0 = 0; i0 < T; i0 += 4) {
      const rows = min(4, T - i0);
      if (patternHead) {
        loadPatternStrip(pStrip, patternHead + <usize>i0 * rowBytes, rowBytes, i0, rows);
      } else {
        stripScores(pStrip, qStripsHead + <usize>i0 * <usize>D * F32, kPanelsHead, D, i0 + 4); // the forward's dots
        stripPatternFromStats(pStrip, statsHead + (<usize>i0 << 3), i0, rows, scale);
      }
      stripScores(dsStrip, dzStripsHead + <usize>i0 * <usize>D * F32, vPanelsHead, D, i0 + 4); // dP
      stripSoftmaxBackward(dsStrip, pStrip, i0, rows, scale); // dP → dS
      stripTimesRows(dq + column + <usize>i0 * rowStride, rowStride, dsStrip, kRowsHead, Dp, D, i0, rows);
      const blockRows = <usize>i0 * accRowStride;
      stripTransposedAccumulate(dkAcc, dsStrip, qRowsHead + blockRows, Dp, i0, rows);
      stripTransposedAccumulate(dvAcc, pStrip, dzRowsHead + blockRows, Dp, i0, rows);
    }
    unpackRows(dk + column, rowStride, dkAcc, T, D, Dp);
    unpackRows(dv + column, rowStride, dvAcc, T, D, Dp);
  }
}

// ---- packing (copies only: no value is combined, so packing cannot change bits)

/** 4 vectors at src + c·srcStride → dst + r·dstStride holds [src0[r], src1[r], src2[r], src3[r]]. */
// @ts-ignore: decorator
@inline function transpose4x4(dst: usize, dstStride: usize, src: usize, srcStride: usize): void {
  storeTransposed4x4(
    dst, dstStride, v128.load(src), v128.load(src + srcStride), v128.load(src + 2 * srcStride), v128.load(src + 3 * srcStride),
  );
}

/** dst + r·dstStride ← [x0[r], x1[r], x2[r], x3[r]] for r = 0..3: a 4×4 transpose in registers. */
// @ts-ignore: decorator
@inline function storeTransposed4x4(dst: usize, dstStride: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const lo01 = i32x4.shuffle(x0, x1, 0, 4, 1, 5), hi01 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const lo23 = i32x4.shuffle(x2, x3, 0, 4, 1, 5), hi23 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
  v128.store(dst + dstStride, i32x4.shuffle(lo01, lo23, 2, 3, 6, 7));
  v128.store(dst + 2 * dstStride, i32x4.shuffle(hi01, hi23, 0, 1, 4, 5));
  v128.store(dst + 3 * dstStride, i32x4.shuffle(hi01, hi23, 2, 3, 6, 7));
}

// Each packer walks the rows of one batch element in order and, within a row (or a
// group of 4 rows), its H heads left to right: head h's copy is written at
// dst + h·headBytes, from the D floats at column h·D of every row.

/** dst[h][block][d][r] = src[4·block + r][h·D + d], +0 for rows ≥ T. */
function packStrips(dst: usize, headBytes: usize, src: usize, rowStride: usize, T: i32, H: i32, D: i32): void {
  const blockBytes = <usize>D << 4;
  const headColumn = <usize>D << 2;
  for (let i0 = 0; i0 < T; i0 += 4) {
    const rows = min(4, T - i0);
    for (let h = 0; h < H; h++) {
      const out = dst + <usize>h * headBytes + <usize>(i0 >> 2) * blockBytes;
      const in0 = src + <usize>i0 * rowStride + <usize>h * headColumn;
      let d = 0;
      if (rows == 4) {
        for (; d + 4 <= D; d += 4) transpose4x4(out + (<usize>d << 4), 16, in0 + (<usize>d << 2), rowStride);
      }
      for (; d < D; d++) {
        for (let r = 0; r < 4; r++) {
          const value: f32 = r < rows ? load<f32>(in0 + <usize>r * rowStride + (<usize>d << 2)) : 0;
          store<f32>(out + (<usize>d << 4) + (<usize>r << 2), value);
        }
      }
    }
  }
}

/** dst[h][j / 8][d][j % 8] = src[j][h·D + d] for j < T, +0 for T ≤ j < roundUp8(T). */
function packPanels(dst: usize, headBytes: usize, src: usize, rowStride: usize, T: i32, H: i32, D: i32): void {
  const panelBytes = <usize>D << 5;
  const headColumn = <usize>D << 2;
  const T8 = (T + 7) & ~7;
  let j = 0;
  for (; j + 4 <= T; j += 4) {
    for (let h = 0; h < H; h++) {
      const in0 = src + <usize>j * rowStride + <usize>h * headColumn;
      const out = dst + <usize>h * headBytes + <usize>(j >> 3) * panelBytes + (<usize>(j & 7) << 2);
      let d = 0;
      for (; d + 4 <= D; d += 4) transpose4x4(out + (<usize>d << 5), 32, in0 + (<usize>d << 2), rowStride);
      for (; d < D; d++) {
        for (let r = 0; r < 4; r++) store<f32>(out + (<usize>d << 5) + (<usize>r << 2), load<f32>(in0 + <usize>r * rowStride + (<usize>d << 2)));
      }
    }
  }
  for (; j < T8; j++) {
    for (let h = 0; h < H; h++) {
      const out = dst + <usize>h * headBytes + <usize>(j >> 3) * panelBytes + (<usize>(j & 7) << 2);
      for (let d = 0; d < D; d++) {
        const value: f32 = j < T ? load<f32>(src + <usize>j * rowStride + <usize>h * headColumn + (<usize>d << 2)) : 0;
        store<f32>(out + (<usize>d << 5), value);
      }
    }
  }
}

/** dst[h][j][0..Dp) = src[j][h·D .. h·D + D) then +0, for j < T4; rows T..T4−1 are +0. */
function packRows(dst: usize, headBytes: usize, src: usize, rowStride: usize, T: i32, H: i32, D: i32, Dp: i32): void {
  const dstStride = <usize>Dp * F32;
  const headColumn = <usize>D << 2;
  const T4 = (T + 3) & ~3;
  const zero = f32x4.splat(0);
  for (let j = 0; j < T4; j++) {
    for (let h = 0; h < H; h++) {
      const out = dst + <usize>h * headBytes + <usize>j * dstStride;
      if (j >= T) {
        for (let d = 0; d < Dp; d += 4) v128.store(out + (<usize>d << 2), zero);
        continue;
      }
      const row = src + <usize>j * rowStride + <usize>h * headColumn;
      let d = 0;
      for (; d + 4 <= D; d += 4) v128.store(out + (<usize>d << 2), v128.load(row + (<usize>d << 2)));
      for (; d < Dp; d++) store<f32>(out + (<usize>d << 2), d < D ? load<f32>(row + (<usize>d << 2)) : <f32>0);
    }
  }
}

/** dst[j][0..D) = src[j][0..D) for j < T: the inverse of packRows, for dk and dv. */
function unpackRows(dst: usize, rowStride: usize, src: usize, T: i32, D: i32, Dp: i32): void {
  const srcStride = <usize>Dp * F32;
  for (let j = 0; j < T; j++) memory.copy(dst + <usize>j * rowStride, src + <usize>j * srcStride, <usize>D << 2);
}

/** Store +0 to n floats at p. */
function zeroFloats(p: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(p + (<usize>j << 2), zero);
  for (; j < n; j++) store<f32>(p + (<usize>j << 2), 0);
}

// ---- forward pieces

/**
 * strip[j][r] = Σ_d a[r][d]·b[j][d] (d ascending, from +0) for j < roundUp8(cols):
 * aStrip is a packed [D][4] block of rows, panels the [T8/8][D][8] packed b.
 * Scores (a = q, b = k; scaled later) and dP (a = dz, b = v).
 * A tile is the matmul microkernel's 4 rows × 8 keys with keys in the lanes (two
 * key vectors, four row splats, eight accumulators), then transposed in registers
 * into the strip's [key][row] layout. With rows in the lanes instead (one row
 * vector, eight key splats) V8 11.3 keeps all eight splats live, runs out of its
 * 15 registers and spills an accumulator, which put a store-to-load round trip
 * into every iteration: that tile ran at half this one's speed. Each lane still
 * sums d ascending (x·y = y·x exactly), so the bits are the same.
 */
function stripScores(strip: usize, aStrip: usize, panels: usize, D: i32, cols: i32): void {
  const aEnd = aStrip + (<usize>D << 4);
  const panelBytes = <usize>D << 5;
  for (let j0 = 0; j0 < cols; j0 += 8) {
    let acc00 = f32x4.splat(0), acc01 = acc00, acc10 = acc00, acc11 = acc00;
    let acc20 = acc00, acc21 = acc00, acc30 = acc00, acc31 = acc00;
    let b = panels + <usize>(j0 >> 3) * panelBytes;
    for (let a = aStrip; a < aEnd; a += 16) {
      const b0 = v128.load(b), b1 = v128.load(b, 16);
      let s = v128.load32_splat(a);
      acc00 = f32x4.add(acc00, f32x4.mul(s, b0));
      acc01 = f32x4.add(acc01, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 4);
      acc10 = f32x4.add(acc10, f32x4.mul(s, b0));
      acc11 = f32x4.add(acc11, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 8);
      acc20 = f32x4.add(acc20, f32x4.mul(s, b0));
      acc21 = f32x4.add(acc21, f32x4.mul(s, b1));
      s = v128.load32_splat(a, 12);
      acc30 = f32x4.add(acc30, f32x4.mul(s, b0));
      acc31 = f32x4.add(acc31, f32x4.mul(s, b1));
      b += 32;
    }
    const out = strip + (<usize>j0 << 4);
    storeTransposed4x4(out, 16, acc00, acc10, acc20, acc30);
    storeTransposed4x4(out + 64, 16, acc01, acc11, acc21, acc31);
  }
}

/**
 * Raw dot products → pattern, in place, for the block of rows i0..i0+3: scale,
 * max, exp, sum, normalise, lane r walking keys 0..i0+r in ascending order.
 * Keys i0+1..i0+3 are masked for the rows before them (−∞ for the max, +0 for
 * the sum and the stored value). With `stats` ≠ 0, (m, inv) of the `rows`
 * existing rows are stored there ([rows][2]).
 */
function stripSoftmax(strip: usize, i0: i32, rows: i32, scale: f32, stats: usize): void {
  const scaleV = f32x4.splat(scale);
  const negInf = f32x4.splat(f32.NEGATIVE_INFINITY);
  const diagonal = strip + (<usize>i0 << 4); // key i0, valid in every row
  let m = negInf;
  for (let p = strip; p <= diagonal; p += 16) {
    const s = f32x4.mul(v128.load(p), scaleV);
    v128.store(p, s);
    m = f32x4.max(m, s);
  }
  for (let t = 1; t < 4; t++) {
    const p = diagonal + (<usize>t << 4);
    const s = f32x4.mul(v128.load(p), scaleV);
    v128.store(p, s);
    m = f32x4.max(m, v128.bitselect(s, negInf, triangleMask(t)));
  }
  let sum = expVectors(strip, strip, i0 + 1, m, f32x4.splat(0));
  for (let t = 1; t < 4; t++) {
    const p = diagonal + (<usize>t << 4);
    const e = v128.and(exp4(f32x4.sub(v128.load(p), m)), triangleMask(t));
    v128.store(p, e);
    sum = f32x4.add(sum, e);
  }
  const inv = f32x4.div(f32x4.splat(1.0), sum);
  const end = diagonal + 64;
  for (let p = strip; p < end; p += 16) v128.store(p, f32x4.mul(v128.load(p), inv));
  if (stats) {
    // [m0, inv0, m1, inv1], [m2, inv2, m3, inv3]
    const count = rows << 1;
    storeLanes(stats, i32x4.shuffle(m, inv, 0, 4, 1, 5), count);
    storeLanes(stats + 16, i32x4.shuffle(m, inv, 2, 6, 3, 7), count - 4);
  }
}

/**
 * Raw dot products → pattern, in place, from the row statistics (m, inv) the
 * forward stored for rows i0..i0+rows−1 (at `stats`): the forward's operations
 * on the forward's operands, P = exp(dot·scale − m)·inv, so the forward's bits.
 * Like loadPatternStrip, keys after a row and rows that do not exist are +0.
 */
function stripPatternFromStats(strip: usize, stats: usize, i0: i32, rows: i32, scale: f32): void {
  const diagonalOffset = <usize>i0 << 4;
  let m = f32x4.splat(0), inv = m; // lanes of missing rows stay 0: masked below
  if (rows == 4) {
    const lo = v128.load(stats), hi = v128.load(stats, 16);
    m = i32x4.shuffle(lo, hi, 0, 2, 4, 6);
    inv = i32x4.shuffle(lo, hi, 1, 3, 5, 7);
  } else {
    m = f32x4.replace_lane(m, 0, load<f32>(stats));
    inv = f32x4.replace_lane(inv, 0, load<f32>(stats, 4));
    if (rows > 1) {
      m = f32x4.replace_lane(m, 1, load<f32>(stats, 8));
      inv = f32x4.replace_lane(inv, 1, load<f32>(stats, 12));
    }
    if (rows > 2) {
      m = f32x4.replace_lane(m, 2, load<f32>(stats, 16));
      inv = f32x4.replace_lane(inv, 2, load<f32>(stats, 20));
    }
  }
  expVectorsScaled(strip, strip, i0 + 4, f32x4.splat(scale), m, inv);
  const exists = rowMask(rows);
  if (rows < 4) {
    for (let o: usize = 0; o <= diagonalOffset; o += 16) v128.store(strip + o, v128.and(v128.load(strip + o), exists));
  }
  for (let t = 1; t < 4; t++) {
    const p = strip + diagonalOffset + (<usize>t << 4);
    v128.store(p, v128.and(v128.load(p), v128.and(triangleMask(t), exists)));
  }
}

/** Pattern rows i0..i0+rows−1 from the strip: P for keys ≤ i, +0 after. */
function storePatternRows(patternRows: usize, rowBytes: usize, T: i32, strip: usize, i0: i32, rows: i32): void {
  let jStart = 0;
  if (rows == 4) {
    for (let j0 = 0; j0 < i0; j0 += 4) transpose4x4(patternRows + (<usize>j0 << 2), rowBytes, strip + (<usize>j0 << 4), 16);
    jStart = i0;
  }
  for (let r = 0; r < rows; r++) {
    const row = patternRows + <usize>r * rowBytes;
    const last = i0 + r;
    for (let j = jStart; j <= last; j++) store<f32>(row + (<usize>j << 2), load<f32>(strip + (<usize>j << 4) + (<usize>r << 2)));
    zeroFloats(row + (<usize>(last + 1) << 2), T - last - 1);
  }
}

/** Store the first `count` (0..4) lanes of v at p. */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  if (count > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * out[i0 + r][d] = Σ_{j=0..i0+r ascending} strip[j][r]·mat[j][d] for the existing
 * rows r < rows and d < D: z = P·v (forward) and dq = dS·k (backward). mat is a
 * packed [T4][Dp] copy. Columns go 8 at a time, then 4 (Dp is a multiple of 4).
 */
function stripTimesRows(out: usize, outRowStride: usize, strip: usize, mat: usize, Dp: i32, D: i32, i0: i32, rows: i32): void {
  const matRowStride = <usize>Dp * F32;
  let d0 = 0;
  for (; d0 + 8 <= Dp; d0 += 8) {
    rowsTile4x8(out + (<usize>d0 << 2), outRowStride, strip, mat + (<usize>d0 << 2), matRowStride, i0, rows, D - d0);
  }
  if (d0 < Dp) rowsTile4x4(out + (<usize>d0 << 2), outRowStride, strip, mat + (<usize>d0 << 2), matRowStride, i0, rows, D - d0);
}

/** One 4-row × 8-column tile of stripTimesRows; `cols` (≥ 1) of the 8 are stored. */
function rowsTile4x8(out: usize, outRowStride: usize, strip: usize, mat: usize, matRowStride: usize, i0: i32, rows: i32, cols: i32): void {
  let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00;
  let a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const diagonal = strip + (<usize>i0 << 4);
  let m = mat;
  let p = strip;
  // Keys 0..i0: every row of the block.
  for (; p <= diagonal; p += 16) {
    const b0 = v128.load(m), b1 = v128.load(m, 16);
    let s = v128.load32_splat(p);
    a00 = f32x4.add(a00, f32x4.mul(s, b0));
    a01 = f32x4.add(a01, f32x4.mul(s, b1));
    s = v128.load32_splat(p, 4);
    a10 = f32x4.add(a10, f32x4.mul(s, b0));
    a11 = f32x4.add(a11, f32x4.mul(s, b1));
    s = v128.load32_splat(p, 8);
    a20 = f32x4.add(a20, f32x4.mul(s, b0));
    a21 = f32x4.add(a21, f32x4.mul(s, b1));
    s = v128.load32_splat(p, 12);
    a30 = f32x4.add(a30, f32x4.mul(s, b0));
    a31 = f32x4.add(a31, f32x4.mul(s, b1));
    m += matRowStride;
  }
  // The causal triangle: key i0 + t only for rows r ≥ t (that exist).
  if (rows > 1) {
    const b0 = v128.load(m), b1 = v128.load(m, 16);
    let s = v128.load32_splat(p, 4);
    a10 = f32x4.add(a10, f32x4.mul(s, b0));
    a11 = f32x4.add(a11, f32x4.mul(s, b1));
    if (rows > 2) {
      s = v128.load32_splat(p, 8);
      a20 = f32x4.add(a20, f32x4.mul(s, b0));
      a21 = f32x4.add(a21, f32x4.mul(s, b1));
    }
    if (rows > 3) {
      s = v128.load32_splat(p, 12);
      a30 = f32x4.add(a30, f32x4.mul(s, b0));
      a31 = f32x4.add(a31, f32x4.mul(s, b1));
    }
  }
  if (rows > 2) {
    const m2 = m + matRowStride, p2 = p + 16;
    const b0 = v128.load(m2), b1 = v128.load(m2, 16);
    let s = v128.load32_splat(p2, 8);
    a20 = f32x4.add(a20, f32x4.mul(s, b0));
    a21 = f32x4.add(a21, f32x4.mul(s, b1));
    if (rows > 3) {
      s = v128.load32_splat(p2, 12);
      a30 = f32x4.add(a30, f32x4.mul(s, b0));
      a31 = f32x4.add(a31, f32x4.mul(s, b1));
    }
  }
  if (rows > 3) {
    const m3 = m + 2 * matRowStride, p3 = p + 32;
    const s = v128.load32_splat(p3, 12);
    a30 = f32x4.add(a30, f32x4.mul(s, v128.load(m3)));
    a31 = f32x4.add(a31, f32x4.mul(s, v128.load(m3, 16)));
  }
  const hiCols = cols - 4;
  storeLanes(out, a00, cols);
  storeLanes(out + 16, a01, hiCols);
  if (rows > 1) {
    const o = out + outRowStride;
    storeLanes(o, a10, cols);
    storeLanes(o + 16, a11, hiCols);
  }
  if (rows > 2) {
    const o = out + 2 * outRowStride;
    storeLanes(o, a20, cols);
    storeLanes(o + 16, a21, hiCols);
  }
  if (rows > 3) {
    const o = out + 3 * outRowStride;
    storeLanes(o, a30, cols);
    storeLanes(o + 16, a31, hiCols);
  }
}

/** The 4-column version of rowsTile4x8 (the last columns when Dp % 8 = 4). */
function rowsTile4x4(out: usize, outRowStride: usize, strip: usize, mat: usize, matRowStride: usize, i0: i32, rows: i32, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const diagonal = strip + (<usize>i0 << 4);
  let m = mat;
  let p = strip;
  for (; p <= diagonal; p += 16) {
    const b = v128.load(m);
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p), b));
    a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(p, 4), b));
    a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p, 8), b));
    a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p, 12), b));
    m += matRowStride;
  }
  if (rows > 1) {
    const b = v128.load(m);
    a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(p, 4), b));
    if (rows > 2) a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p, 8), b));
    if (rows > 3) a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p, 12), b));
  }
  if (rows > 2) {
    const b = v128.load(m + matRowStride);
    a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p + 16, 8), b));
    if (rows > 3) a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p + 16, 12), b));
  }
  if (rows > 3) a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p + 32, 12), v128.load(m + 2 * matRowStride)));
  storeLanes(out, a0, cols);
  if (rows > 1) storeLanes(out + outRowStride, a1, cols);
  if (rows > 2) storeLanes(out + 2 * outRowStride, a2, cols);
  if (rows > 3) storeLanes(out + 3 * outRowStride, a3, cols);
}

// ---- backward pieces

/**
 * The strip of pattern rows i0..i0+3 (keys 0..i0+3): P[i0+r][j] where j ≤ i0+r
 * and the row exists, +0 elsewhere.
 */
function loadPatternStrip(strip: usize, patternRows: usize, rowBytes: usize, i0: i32, rows: i32): void {
  let jStart = 0;
  if (rows == 4) {
    for (let j0 = 0; j0 < i0; j0 += 4) transpose4x4(strip + (<usize>j0 << 4), 16, patternRows + (<usize>j0 << 2), rowBytes);
    jStart = i0;
  }
  const end = i0 + 4;
  for (let j = jStart; j < end; j++) {
    for (let r = 0; r < 4; r++) {
      const value: f32 = r < rows && j <= i0 + r ? load<f32>(patternRows + <usize>r * rowBytes + (<usize>j << 2)) : 0;
      store<f32>(strip + (<usize>j << 4) + (<usize>r << 2), value);
    }
  }
}

/**
 * dP strip → dS strip in place: Dr = Σ_j dP·P per lane (j ascending; masked
 * terms exactly +0), then dS = (P·(dP − Dr))·scale, +0 where the key is after
 * the row or the row does not exist.
 */
function stripSoftmaxBackward(ds: usize, pStrip: usize, i0: i32, rows: i32, scale: f32): void {
  const scaleV = f32x4.splat(scale);
  const exists = rowMask(rows);
  const diagonalOffset = <usize>i0 << 4;
  let dr = f32x4.splat(0);
  for (let o: usize = 0; o <= diagonalOffset; o += 16) {
    dr = f32x4.add(dr, f32x4.mul(v128.load(ds + o), v128.load(pStrip + o)));
  }
  for (let t = 1; t < 4; t++) {
    const o = diagonalOffset + (<usize>t << 4);
    dr = f32x4.add(dr, v128.and(f32x4.mul(v128.load(ds + o), v128.load(pStrip + o)), triangleMask(t)));
  }
  for (let o: usize = 0; o <= diagonalOffset; o += 16) {
    const p = v128.load(pStrip + o);
    v128.store(ds + o, v128.and(f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(ds + o), dr)), scaleV), exists));
  }
  for (let t = 1; t < 4; t++) {
    const o = diagonalOffset + (<usize>t << 4);
    const p = v128.load(pStrip + o);
    const value = f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(ds + o), dr)), scaleV);
    v128.store(ds + o, v128.and(value, v128.and(triangleMask(t), exists)));
  }
}

/**
 * acc[j][d] += Σ_{r ascending} strip[j][r]·mat[r][d] for keys j ≤ i0 + r and the
 * rows r of block i0 (mat: its 4 rows, packed [4][Dp]; rows past T are +0 there
 * and in the strip, so they add exactly +0), d < Dp: block i0's terms of
 * dk = dSᵀ·q and dv = Pᵀ·dz, added to the running sums row after row. The
 * diagonal block's key i0 + t takes rows r ≥ t only (no 0·x for later rows).
 */
function stripTransposedAccumulate(acc: usize, strip: usize, mat: usize, Dp: i32, i0: i32, rows: i32): void {
  const rowStride = <usize>Dp * F32;
  let d0 = 0;
  for (; d0 + 8 <= Dp; d0 += 8) accumulateTile4x8(acc + (<usize>d0 << 2), rowStride, strip, mat + (<usize>d0 << 2), i0, rows);
  if (d0 < Dp) accumulateTile4x4(acc + (<usize>d0 << 2), rowStride, strip, mat + (<usize>d0 << 2), i0, rows);
}

/** 8 columns of stripTransposedAccumulate: the block's 4 rows × 8 columns stay in registers. */
function accumulateTile4x8(acc: usize, rowStride: usize, strip: usize, mat: usize, i0: i32, rows: i32): void {
  const b00 = v128.load(mat), b01 = v128.load(mat, 16);
  const m1 = mat + rowStride, m2 = mat + 2 * rowStride, m3 = mat + 3 * rowStride;
  const b10 = v128.load(m1), b11 = v128.load(m1, 16);
  const b20 = v128.load(m2), b21 = v128.load(m2, 16);
  const b30 = v128.load(m3), b31 = v128.load(m3, 16);
  const diagonal = strip + (<usize>i0 << 4);
  let a = acc;
  let p = strip;
  // Keys 0..i0: every row of the block, r ascending.
  for (; p <= diagonal; p += 16) {
    let a0 = v128.load(a), a1 = v128.load(a, 16);
    let s = v128.load32_splat(p);
    a0 = f32x4.add(a0, f32x4.mul(s, b00));
    a1 = f32x4.add(a1, f32x4.mul(s, b01));
    s = v128.load32_splat(p, 4);
    a0 = f32x4.add(a0, f32x4.mul(s, b10));
    a1 = f32x4.add(a1, f32x4.mul(s, b11));
    s = v128.load32_splat(p, 8);
    a0 = f32x4.add(a0, f32x4.mul(s, b20));
    a1 = f32x4.add(a1, f32x4.mul(s, b21));
    s = v128.load32_splat(p, 12);
    a0 = f32x4.add(a0, f32x4.mul(s, b30));
    a1 = f32x4.add(a1, f32x4.mul(s, b31));
    v128.store(a, a0);
    v128.store(a, a1, 16);
    a += rowStride;
  }
  // The causal triangle: key i0 + t only from rows r ≥ t (that exist).
  if (rows > 1) {
    let a0 = v128.load(a), a1 = v128.load(a, 16);
    let s = v128.load32_splat(p, 4);
    a0 = f32x4.add(a0, f32x4.mul(s, b10));
    a1 = f32x4.add(a1, f32x4.mul(s, b11));
    if (rows > 2) {
      s = v128.load32_splat(p, 8);
      a0 = f32x4.add(a0, f32x4.mul(s, b20));
      a1 = f32x4.add(a1, f32x4.mul(s, b21));
    }
    if (rows > 3) {
      s = v128.load32_splat(p, 12);
      a0 = f32x4.add(a0, f32x4.mul(s, b30));
      a1 = f32x4.add(a1, f32x4.mul(s, b31));
    }
    v128.store(a, a0);
    v128.store(a, a1, 16);
  }
  if (rows > 2) {
    const a2 = a + rowStride, p2 = p + 16;
    let a0 = v128.load(a2), a1 = v128.load(a2, 16);
    let s = v128.load32_splat(p2, 8);
    a0 = f32x4.add(a0, f32x4.mul(s, b20));
    a1 = f32x4.add(a1, f32x4.mul(s, b21));
    if (rows > 3) {
      s = v128.load32_splat(p2, 12);
      a0 = f32x4.add(a0, f32x4.mul(s, b30));
      a1 = f32x4.add(a1, f32x4.mul(s, b31));
    }
    v128.store(a2, a0);
    v128.store(a2, a1, 16);
  }
  if (rows > 3) {
    const a3 = a + 2 * rowStride;
    const s = v128.load32_splat(p + 32, 12);
    v128.store(a3, f32x4.add(v128.load(a3), f32x4.mul(s, b30)));
    v128.store(a3, f32x4.add(v128.load(a3, 16), f32x4.mul(s, b31)), 16);
  }
}

/** The 4-column version of accumulateTile4x8 (the last columns when Dp % 8 = 4). */
function accumulateTile4x4(acc: usize, rowStride: usize, strip: usize, mat: usize, i0: i32, rows: i32): void {
  const b0 = v128.load(mat), b1 = v128.load(mat + rowStride);
  const b2 = v128.load(mat + 2 * rowStride), b3 = v128.load(mat + 3 * rowStride);
  const diagonal = strip + (<usize>i0 << 4);
  let a = acc;
  let p = strip;
  for (; p <= diagonal; p += 16) {
    let a0 = v128.load(a);
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p), b0));
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p, 4), b1));
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p, 8), b2));
    a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p, 12), b3));
    v128.store(a, a0);
    a += rowStride;
  }
  if (rows > 1) {
    let a0 = f32x4.add(v128.load(a), f32x4.mul(v128.load32_splat(p, 4), b1));
    if (rows > 2) a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p, 8), b2));
    if (rows > 3) a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p, 12), b3));
    v128.store(a, a0);
  }
  if (rows > 2) {
    const a2 = a + rowStride;
    let a0 = f32x4.add(v128.load(a2), f32x4.mul(v128.load32_splat(p + 16, 8), b2));
    if (rows > 3) a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p + 16, 12), b3));
    v128.store(a2, a0);
  }
  if (rows > 3) {
    const a3 = a + 2 * rowStride;
    v128.store(a3, f32x4.add(v128.load(a3), f32x4.mul(v128.load32_splat(p + 32, 12), b3)));
  }
}
