// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 "Parallel
// random numbers: as easy as 1, 2, 3") and standard normals by Box–Muller with
// our own f32 log/sin/cos polynomials.
//
// Why counter-based: the value at (key, counter) depends on nothing else, so a
// chain's noise is fixed by (seed, chain, step, index) whether it runs serially,
// in a worker, under WASI, in the SIMD or the scalar build. Why our own
// polynomials: JS Math.* differs between engines (research notes §3.4); add,
// mul, div and sqrt are IEEE-exact in WebAssembly, so these are bit-identical
// everywhere, and the SIMD lanes use exactly the scalar operation sequence.

const PHILOX_M0: u32 = 0xd2511f53;
const PHILOX_M1: u32 = 0xcd9e8d57;
const PHILOX_W0: u32 = 0x9e3779b9;
const PHILOX_W1: u32 = 0xbb67ae85;

// Counter word 2 names the purpose of a stream, so streams never overlap.
export const STREAM_NOISE: u32 = 0;
export const STREAM_SHUFFLE: u32 = 1;
export const STREAM_USER: u32 = 2;

// Philox output block, read with philoxOut(i) after philox4x32().
const philoxBlock = memory.data(16, 16);

/** Philox4x32-10 of counter (c0..c3) under key (k0, k1); result in philoxOut(0..3). */
export function philox4x32(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32): void {
  for (let round = 0; round < 10; round++) {
    const p0 = <u64>PHILOX_M0 * <u64>c0;
    const p1 = <u64>PHILOX_M1 * <u64>c2;
    const n0 = (<u32>(p1 >> 32)) ^ c1 ^ k0;
    const n2 = (<u32>(p0 >> 32)) ^ c3 ^ k1;
    c1 = <u32>p1;
    c3 = <u32>p0;
    c0 = n0;
    c2 = n2;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  store<u32>(philoxBlock, c0, 0);
  store<u32>(philoxBlock, c1, 4);
  store<u32>(philoxBlock, c2, 8);
  store<u32>(philoxBlock, c3, 12);
}

export function philoxOut(i: i32): u32 {
  return load<u32>(philoxBlock + (<usize>(i & 3) << 2));
}

/** Uniform integer in [0, bound) by multiply-shift (bias below bound/2^32, Lemire 2019). */
export function uniformBelow(bound: u32, c0: u32, c1: u32, c2: u32, k0: u32, k1: u32): u32 {
  philox4x32(c0, c1, c2, 0, k0, k1);
  return <u32>((<u64>philoxOut(0) * <u64>bound) >> 32);
}

// ---- f32 log, sin, cos: coefficients of musl's logf and Taylor series ----
// log on [√½, √2) after exponent extraction (musl logf: Lg1..Lg4).
const LG1: f32 = 0.66666662693;
const LG2: f32 = 0.40000972152;
const LG3: f32 = 0.28498786688;
const LG4: f32 = 0.24279078841;
const LN2_HI: f32 = 6.9313812256e-1;
const LN2_LO: f32 = 9.0580006145e-6;
// sin/cos on [-π/4, π/4]: truncation error below 4e-7 (x⁹/9!, x¹⁰/10! at π/4).
const S3: f32 = -1.0 / 6.0;
const S5: f32 = 1.0 / 120.0;
const S7: f32 = -1.0 / 5040.0;
const C2: f32 = -0.5;
const C4: f32 = 1.0 / 24.0;
const C6: f32 = -1.0 / 720.0;
const C8: f32 = 1.0 / 40320.0;
const TWO_PI: f32 = 6.2831853071795864;

/** Natural log for normal positive f32 (inputs here lie in [2^-24, 1]). */
export function logf(x: f32): f32 {
  let ix = reinterpret<i32>(x) + (0x3f800000 - 0x3f3504f3);
  const k: f32 = <f32>((ix >> 23) - 0x7f);
  ix = (ix & 0x007fffff) + 0x3f3504f3;
  const f: f32 = reinterpret<f32>(ix) - <f32>1.0;
  const s: f32 = f / (<f32>2.0 + f);
  const z: f32 = s * s;
  const w: f32 = z * z;
  const t1: f32 = w * (LG2 + w * LG4);
  const t2: f32 = z * (LG1 + w * LG3);
  const r: f32 = t2 + t1;
  const hfsq: f32 = <f32>0.5 * f * f;
  return s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI;
}

@inline function logf4(x: v128): v128 {
  let ix = i32x4.add(x, i32x4.splat(0x3f800000 - 0x3f3504f3));
  const k = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_s(ix, 23), i32x4.splat(0x7f)));
  ix = i32x4.add(v128.and(ix, i32x4.splat(0x007fffff)), i32x4.splat(0x3f3504f3));
  const f = f32x4.sub(ix, f32x4.splat(1.0));
  const s = f32x4.div(f, f32x4.add(f32x4.splat(2.0), f));
  const z = f32x4.mul(s, s);
  const w = f32x4.mul(z, z);
  const t1 = f32x4.mul(w, f32x4.add(f32x4.splat(LG2), f32x4.mul(w, f32x4.splat(LG4))));
  const t2 = f32x4.mul(z, f32x4.add(f32x4.splat(LG1), f32x4.mul(w, f32x4.splat(LG3))));
  const r = f32x4.add(t2, t1);
  const hfsq = f32x4.mul(f32x4.mul(f32x4.splat(0.5), f), f);
  const a = f32x4.add(f32x4.mul(s, f32x4.add(hfsq, r)), f32x4.mul(k, f32x4.splat(LN2_LO)));
  return f32x4.add(f32x4.add(f32x4.sub(a, hfsq), f), f32x4.mul(k, f32x4.splat(LN2_HI)));
}

// Box–Muller from two 32-bit words: u1 in (0, 1] (never 0, so log is finite),
// angle t = u2 − ½ in [−½, ½) turns; q = nearest quarter turn, r = t − q/4 is
// exact, so only the polynomial on [−π/4, π/4] rounds.
@inline function uniformOpen(bits: u32): f32 {
  return <f32>((bits >> 8) + 1) * <f32>(1.0 / 16777216.0);
}

const normalPair = memory.data(8, 8);

/** Two standard normals from words (a, b); read them with normalPairOut(0|1). */
export function boxMuller(a: u32, b: u32): void {
  const radius: f32 = Mathf.sqrt(<f32>-2.0 * logf(uniformOpen(a)));
  const t: f32 = <f32>(b >> 8) * <f32>(1.0 / 16777216.0) - <f32>0.5;
  const q = <i32>nearest<f32>(t * <f32>4.0);
  const phi: f32 = (t - <f32>q * <f32>0.25) * TWO_PI;
  const p2: f32 = phi * phi;
  const s: f32 = phi + phi * p2 * (S3 + p2 * (S5 + p2 * S7));
  const c: f32 = <f32>1.0 + p2 * (C2 + p2 * (C4 + p2 * (C6 + p2 * C8)));
  // Rotate by q quarter turns: (cos, sin)(φ + qπ/2).
  const odd = (q & 1) != 0;
  const neg = (q & 2) != 0;
  let cosv = odd ? -s : c;
  let sinv = odd ? c : s;
  if (neg) {
    cosv = -cosv;
    sinv = -sinv;
  }
  store<f32>(normalPair, radius * cosv, 0);
  store<f32>(normalPair, radius * sinv, 4);
}

export function normalPairOut(i: i32): f32 {
  return load<f32>(normalPair + (<usize>(i & 1) << 2));
}

/** Four Box–Muller pairs lane-wise, the exact operation sequence of boxMuller(). */
@inline function boxMuller4(a: v128, b: v128, out: usize): void {
  const u1 = f32x4.mul(f32x4.convert_i32x4_u(i32x4.add(i32x4.shr_u(a, 8), i32x4.splat(1))), f32x4.splat(1.0 / 16777216.0));
  const radius = f32x4.sqrt(f32x4.mul(f32x4.splat(-2.0), logf4(u1)));
  const t = f32x4.sub(f32x4.mul(f32x4.convert_i32x4_u(i32x4.shr_u(b, 8)), f32x4.splat(1.0 / 16777216.0)), f32x4.splat(0.5));
  const qf = f32x4.nearest(f32x4.mul(t, f32x4.splat(4.0)));
  const q = i32x4.trunc_sat_f32x4_s(qf);
  const phi = f32x4.mul(f32x4.sub(t, f32x4.mul(qf, f32x4.splat(0.25))), f32x4.splat(TWO_PI));
  const p2 = f32x4.mul(phi, phi);
  const spoly = f32x4.add(f32x4.splat(S5), f32x4.mul(p2, f32x4.splat(S7)));
  const s = f32x4.add(phi, f32x4.mul(f32x4.mul(phi, p2), f32x4.add(f32x4.splat(S3), f32x4.mul(p2, spoly))));
  const cpoly = f32x4.add(f32x4.splat(C6), f32x4.mul(p2, f32x4.splat(C8)));
  const c = f32x4.add(f32x4.splat(1.0), f32x4.mul(p2, f32x4.add(f32x4.splat(C2), f32x4.mul(p2, f32x4.add(f32x4.splat(C4), f32x4.mul(p2, cpoly))))));
  const odd = i32x4.ne(v128.and(q, i32x4.splat(1)), i32x4.splat(0));
  const negSign = i32x4.shl(v128.and(q, i32x4.splat(2)), 30); // sign bit where q & 2
  let cosv = v128.bitselect(f32x4.neg(s), c, odd);
  let sinv = v128.bitselect(c, s, odd);
  cosv = v128.xor(cosv, negSign);
  sinv = v128.xor(sinv, negSign);
  v128.store(out, f32x4.mul(radius, cosv));
  v128.store(out, f32x4.mul(radius, sinv), 16);
}

/**
 * Philox4x32-10 of the four counters (c0 + l, c1, c2, c3), l = 0..3, side by side:
 * lane l of the vector at out + 16w is word w of counter l's output. The u32×u32
 * → u64 products come from i64x2.extmul (lanes 0–1, then 2–3), their halves are
 * regrouped by shuffles; all integer ops, so each lane is philox4x32's exact
 * result. Scalar Philox was 60% of fillNormals' time (two 64-bit multiplies per
 * round, ten rounds, twice per 8 normals).
 */
// @ts-ignore: decorator
@inline function philox4x32x4(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32, out: usize): void {
  let x0 = i32x4.add(i32x4.splat(c0), i32x4(0, 1, 2, 3));
  let x1 = i32x4.splat(c1), x2 = i32x4.splat(c2), x3 = i32x4.splat(c3);
  const m0 = i32x4.splat(PHILOX_M0), m1 = i32x4.splat(PHILOX_M1);
  for (let round = 0; round < 10; round++) {
    const p0a = i64x2.extmul_low_i32x4_u(x0, m0), p0b = i64x2.extmul_high_i32x4_u(x0, m0);
    const p1a = i64x2.extmul_low_i32x4_u(x2, m1), p1b = i64x2.extmul_high_i32x4_u(x2, m1);
    const lo0 = i32x4.shuffle(p0a, p0b, 0, 2, 4, 6), hi0 = i32x4.shuffle(p0a, p0b, 1, 3, 5, 7);
    const lo1 = i32x4.shuffle(p1a, p1b, 0, 2, 4, 6), hi1 = i32x4.shuffle(p1a, p1b, 1, 3, 5, 7);
    const n0 = v128.xor(v128.xor(hi1, x1), i32x4.splat(k0));
    const n2 = v128.xor(v128.xor(hi0, x3), i32x4.splat(k1));
    x1 = lo1;
    x3 = lo0;
    x0 = n0;
    x2 = n2;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  v128.store(out, x0);
  v128.store(out, x1, 16);
  v128.store(out, x2, 32);
  v128.store(out, x3, 48);
}

// Four counters' Philox words (philox4x32x4), words of the c3 = 0 and c3 = 1 streams.
const philoxWordsA = memory.data(64, 16);
const philoxWordsB = memory.data(64, 16);

/** [word 0..3 of counter l] from philox4x32x4's [word w][counter l] block: a 4×4 transpose. */
// @ts-ignore: decorator
@inline function counterWords(words: usize, l: i32): v128 {
  const w0 = v128.load(words), w1 = v128.load(words, 16), w2 = v128.load(words, 32), w3 = v128.load(words, 48);
  if (l == 0) return i32x4.shuffle(i32x4.shuffle(w0, w1, 0, 4, 0, 4), i32x4.shuffle(w2, w3, 0, 4, 0, 4), 0, 1, 4, 5);
  if (l == 1) return i32x4.shuffle(i32x4.shuffle(w0, w1, 1, 5, 1, 5), i32x4.shuffle(w2, w3, 1, 5, 1, 5), 0, 1, 4, 5);
  if (l == 2) return i32x4.shuffle(i32x4.shuffle(w0, w1, 2, 6, 2, 6), i32x4.shuffle(w2, w3, 2, 6, 2, 6), 0, 1, 4, 5);
  return i32x4.shuffle(i32x4.shuffle(w0, w1, 3, 7, 3, 7), i32x4.shuffle(w2, w3, 3, 7, 3, 7), 0, 1, 4, 5);
}

/**
 * Standard normals z[0..n) for the stream (k0, k1, step, stream): block j of 8
 * values comes from Philox counters (j, step, stream, 0) and (j, step, stream, 1);
 * lane l gives z[8j+l] = r·cos, z[8j+4+l] = r·sin. n is rounded up to a multiple
 * of 8 (callers pad their buffers). The SIMD build runs four blocks' Philox at
 * once (philox4x32x4), then each block's Box–Muller.
 */
export function fillNormals(dst: usize, n: i32, k0: u32, k1: u32, step: u32, stream: u32): void {
  const blocks = (n + 7) >> 3;
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= blocks; j += 4) {
      philox4x32x4(<u32>j, step, stream, 0, k0, k1, philoxWordsA);
      philox4x32x4(<u32>j, step, stream, 1, k0, k1, philoxWordsB);
      const out = dst + (<usize>j << 5);
      boxMuller4(counterWords(philoxWordsA, 0), counterWords(philoxWordsB, 0), out);
      boxMuller4(counterWords(philoxWordsA, 1), counterWords(philoxWordsB, 1), out + 32);
      boxMuller4(counterWords(philoxWordsA, 2), counterWords(philoxWordsB, 2), out + 64);
      boxMuller4(counterWords(philoxWordsA, 3), counterWords(philoxWordsB, 3), out + 96);
    }
  }
  for (; j < blocks; j++) {
    const out = dst + (<usize>j << 5);
    if (ASC_FEATURE_SIMD) {
      philox4x32(<u32>j, step, stream, 0, k0, k1);
      const a = v128.load(philoxBlock);
      philox4x32(<u32>j, step, stream, 1, k0, k1);
      boxMuller4(a, v128.load(philoxBlock), out);
    } else {
      philox4x32(<u32>j, step, stream, 0, k0, k1);
      const a0 = philoxOut(0), a1 = philoxOut(1), a2 = philoxOut(2), a3 = philoxOut(3);
      philox4x32(<u32>j, step, stream, 1, k0, k1);
      const b0 = philoxOut(0), b1 = philoxOut(1), b2 = philoxOut(2), b3 = philoxOut(3);
      boxMuller(a0, b0); store<f32>(out, normalPairOut(0), 0); store<f32>(out, normalPairOut(1), 16);
      boxMuller(a1, b1); store<f32>(out, normalPairOut(0), 4); store<f32>(out, normalPairOut(1), 20);
      boxMuller(a2, b2); store<f32>(out, normalPairOut(0), 8); store<f32>(out, normalPairOut(1), 24);
      boxMuller(a3, b3); store<f32>(out, normalPairOut(0), 12); store<f32>(out, normalPairOut(1), 28);
    }
  }
}
