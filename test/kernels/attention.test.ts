// Causal multi-head attention (assembly/attention.ts) against a plain-f64 JS
// reference, central finite differences of that reference, a bit-exact JS replay
// of the kernel's documented f32 operation sequence, the SIMD build against
// the scalar build, and the backward that recomputes the pattern from the row
// statistics against the one that reads the stored pattern, over odd shapes (batch 1..3, pos 1..37, n_heads 1..3,
// d_head 1..9 and a few larger ones, so every tail of the 4-row blocks and the
// 8/4-column tiles occurs), with guard words around every output and scratch.
//
// A note used throughout: for f32 inputs a, b the f64 result of a+b, a−b, a·b
// or a/b rounded once with Math.fround IS the IEEE f32 result (f64 has more than
// 2·24+2 significand bits), so the replay below is exact, not approximate.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, seededUniform } from "../helpers.ts";
import type { Engine, Variant } from "../../src/engine.ts";

const engines = new Map<Variant, Engine>();
for (const variant of VARIANTS) engines.set(variant, await loadEngine(variant));

const U = 2 ** -24; // unit roundoff of f32
const fr = Math.fround;
const GUARD = 0x7fa5a5a5; // a NaN payload no kernel computes
const GUARD_FLOATS = 8;

type Shape = [batch: number, nCtx: number, nHeads: number, dHead: number];

// Every tail: pos % 4 in 0..3 (partial row blocks), pos = 1, d_head % 8 in 0..7
// (8-column tiles, the 4-column tile, partial stores), d_head = 1.
const SHAPES: Shape[] = [
  [1, 1, 1, 1], [1, 2, 1, 1], [1, 1, 2, 5], [2, 3, 1, 2], [1, 4, 1, 3], [1, 5, 2, 4], [3, 6, 1, 5],
  [1, 7, 3, 6], [2, 8, 2, 7], [1, 9, 1, 8], [2, 10, 3, 9], [1, 11, 2, 1], [3, 12, 1, 4], [1, 13, 2, 8],
  [2, 16, 1, 3], [1, 17, 3, 9], [2, 21, 2, 2], [1, 24, 1, 7], [1, 31, 2, 5], [3, 33, 1, 6], [1, 37, 3, 9],
  [2, 37, 1, 1], [1, 20, 2, 12], [1, 19, 1, 16], [1, 15, 1, 17],
];
const BIG_SHAPES: Shape[] = [[1, 128, 2, 32], [2, 64, 3, 20]];

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
const hex = (x: number) => "0x" + (new Uint32Array(new Float32Array([x]).buffer)[0] >>> 0).toString(16).padStart(8, "0");
const label = ([B, T, H, D]: Shape) => `batch=${B} pos=${T} heads=${H} d_head=${D}`;

function assertSameBits(got: Float32Array, want: Float32Array, what: string) {
  const a = bits(got), b = bits(want);
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.unreachable(`${what}: [${i}] = ${got[i]} (${hex(got[i])}), expected ${want[i]} (${hex(want[i])})`);
  }
}

/** Inputs in [-2, 2): scores of a few units, so softmax rows are neither flat nor one-hot. */
function testData(n: number, seed: number, amplitude = 2): Float32Array {
  const u = seededUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = u() * amplitude;
  return out;
}

const qkvIndex = (T: number, H: number, D: number) => (b: number, i: number, h: number, d: number) => ((b * T + i) * H + h) * D + d;

// ── the kernels, run with guards ────────────────────────────────────────────

interface Inputs { q: Float32Array; k: Float32Array; v: Float32Array; dz: Float32Array }
interface Outputs { z: Float32Array; pattern: Float32Array; stats: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }
/**
 * "pattern": the forward writes the pattern and the row statistics, the backward
 * reads the pattern. "recompute": no pattern anywhere (pointer 0), the backward
 * recomputes it from q, k and the statistics.
 */
type Mode = "pattern" | "recompute";

function makeInputs([B, T, H, D]: Shape, seed: number): Inputs {
  const n = B * T * H * D;
  return { q: testData(n, seed * 4 + 1), k: testData(n, seed * 4 + 2), v: testData(n, seed * 4 + 3), dz: testData(n, seed * 4 + 4, 1) };
}

function place(engine: Engine, data: Float32Array, misalign: number): number {
  const ptr = engine.alloc((data.length + 2 * GUARD_FLOATS) * 4 + 16) + misalign + GUARD_FLOATS * 4;
  engine.u32(ptr - GUARD_FLOATS * 4, data.length + 2 * GUARD_FLOATS).fill(GUARD);
  engine.f32(ptr, data.length).set(data);
  return ptr;
}

function read(engine: Engine, ptr: number, n: number, what: string): Float32Array {
  const before = engine.u32(ptr - GUARD_FLOATS * 4, GUARD_FLOATS), after = engine.u32(ptr + n * 4, GUARD_FLOATS);
  for (let g = 0; g < GUARD_FLOATS; g++) {
    if (before[g] !== GUARD || after[g] !== GUARD) assert.unreachable(`${what}: wrote outside its buffer (guard ${g})`);
  }
  return engine.f32(ptr, n).slice();
}

/**
 * Forward, then backward with the kernel's own pattern (or, mode "recompute",
 * its own row statistics and no pattern), in a fresh heap. Outputs start as NaN
 * garbage (so "written" is checked), inputs sit `misalign` bytes off a 16-byte
 * boundary, and a guard follows the attentionScratchBytes region.
 */
function runKernels(engine: Engine, shape: Shape, inputs: Inputs, misalign = 0, backward = true, mode: Mode = "pattern"): Outputs {
  const [B, T, H, D] = shape;
  const k = engine.kernels;
  k.resetHeap();
  const n = B * T * H * D, np = B * H * T * T, ns = B * H * T * 2;
  const garbage = (len: number) => new Float32Array(len).fill(NaN);
  const pq = place(engine, inputs.q, misalign), pk = place(engine, inputs.k, (misalign + 4) % 16), pv = place(engine, inputs.v, (misalign + 8) % 16);
  const pdz = place(engine, inputs.dz, misalign);
  const pz = place(engine, garbage(n), (misalign + 12) % 16), pp = mode === "pattern" ? place(engine, garbage(np), misalign) : 0;
  const ps = place(engine, garbage(ns), (misalign + 4) % 16);
  const pdq = place(engine, garbage(n), misalign), pdk = place(engine, garbage(n), (misalign + 4) % 16), pdv = place(engine, garbage(n), (misalign + 8) % 16);
  const scratchBytes = k.attentionScratchBytes(T, H, D);
  assert.ok(scratchBytes >= 0, `attentionScratchBytes(${T}, ${H}, ${D}) = ${scratchBytes}`);
  const pScratch = engine.alloc(scratchBytes + GUARD_FLOATS * 4);
  engine.u32(pScratch + scratchBytes, GUARD_FLOATS).fill(GUARD);
  const low = new Uint8Array(k.memory.buffer, 0, 1024).slice();
  k.attentionForward(pz, pp, ps, pq, pk, pv, B, T, H, D, pScratch);
  if (backward) k.attentionBackward(pdq, pdk, pdv, pdz, pp, ps, pq, pk, pv, B, T, H, D, pScratch);
  const what = `${engine.variant} ${label(shape)} ${mode}`;
  // A pattern pointer of 0 means "none": nothing may land at (or be read as) address 0.
  assert.equal([...new Uint8Array(k.memory.buffer, 0, 1024)], [...low], `${what}: low memory changed`);
  assert.ok(engine.u32(pScratch + scratchBytes, GUARD_FLOATS).every((w) => w === GUARD), `${what}: wrote past attentionScratchBytes`);
  for (const [name, ptr, data] of [["q", pq, inputs.q], ["k", pk, inputs.k], ["v", pv, inputs.v], ["dz", pdz, inputs.dz]] as const) {
    assertSameBits(read(engine, ptr, n, `${what} ${name}`), data, `${what}: input ${name} unchanged`);
  }
  const empty = new Float32Array(0);
  return {
    z: read(engine, pz, n, `${what} z`),
    pattern: pp ? read(engine, pp, np, `${what} pattern`) : empty,
    stats: read(engine, ps, ns, `${what} stats`),
    dq: backward ? read(engine, pdq, n, `${what} dq`) : empty,
    dk: backward ? read(engine, pdk, n, `${what} dk`) : empty,
    dv: backward ? read(engine, pdv, n, `${what} dv`) : empty,
  };
}

// ── the exp, replayed in JS ─────────────────────────────────────────────────

const f32Scratch = new Float32Array(1), i32Scratch = new Int32Array(f32Scratch.buffer);
const f32Bits = (x: number) => ((f32Scratch[0] = x), i32Scratch[0]);
const fromBits = (b: number) => ((i32Scratch[0] = b), f32Scratch[0]);
const C = {
  LOG2E: fr(1.44269504088896341), ROUND: 12582912, HI: fr(0.693359375), LO: fr(-2.1219444e-4),
  P: [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(fr),
};

/** attention.ts expPoly, one f32 rounding per operation, in its order. */
function expReplay(x: number): number {
  x = Math.min(Math.max(fr(x), -104), 89);
  const t = fr(fr(x * C.LOG2E) + C.ROUND);
  const n = fr(t - C.ROUND);
  const nBits = f32Bits(t) - 0x4b400000;
  const r = fr(fr(x - fr(n * C.HI)) - fr(n * C.LO));
  let p = fr(fr(C.P[0] * r) + C.P[1]);
  for (let c = 2; c < 6; c++) p = fr(fr(p * r) + C.P[c]);
  const y = fr(fr(fr(p * fr(r * r)) + r) + 1);
  const half = nBits >> 1;
  return fr(fr(y * fromBits((half + 127) << 23)) * fromBits((nBits - half + 127) << 23));
}

function expShiftedSum(engine: Engine, x: Float32Array, shift: number): { e: Float32Array; sum: number } {
  engine.kernels.resetHeap();
  const src = place(engine, x, 4), dst = place(engine, new Float32Array(x.length).fill(NaN), 8);
  const sum = engine.kernels.expShiftedSum(dst, src, x.length, shift);
  return { e: read(engine, dst, x.length, "expShiftedSum"), sum };
}

// ── references ──────────────────────────────────────────────────────────────

/** Plain f64 attention of one head: q, k, v as [T][D]; returns z [T][D] and pattern [T][T]. */
function headF64(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, T: number, D: number) {
  const scale = 1 / Math.sqrt(D);
  const z = new Float64Array(T * D), P = new Float64Array(T * T);
  const s = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    let m = -Infinity;
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[i * D + d] * k[j * D + d];
      s[j] = dot * scale;
      m = Math.max(m, s[j]);
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - m));
    for (let j = 0; j <= i; j++) {
      P[i * T + j] = s[j] / sum;
      for (let d = 0; d < D; d++) z[i * D + d] += P[i * T + j] * v[j * D + d];
    }
  }
  return { z, P };
}

/** Slice head (b, h) out of a [B, T, H, D] tensor as [T][D] (f64). */
function headSlice(x: Float32Array | Float64Array, [, T, H, D]: Shape, b: number, h: number): Float64Array {
  const at = qkvIndex(T, H, D), out = new Float64Array(T * D);
  for (let i = 0; i < T; i++) for (let d = 0; d < D; d++) out[i * D + d] = x[at(b, i, h, d)];
  return out;
}

/** The kernel's contract (top of assembly/attention.ts) in f32, op for op. */
function contractF32(shape: Shape, { q, k, v, dz }: Inputs): Outputs {
  const [B, T, H, D] = shape;
  const at = qkvIndex(T, H, D);
  const scale = fr(1 / Math.sqrt(D));
  const n = B * T * H * D;
  const z = new Float32Array(n), dq = new Float32Array(n), dk = new Float32Array(n), dv = new Float32Array(n);
  const pattern = new Float32Array(B * H * T * T), stats = new Float32Array(B * H * T * 2);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const P = (i: number, j: number) => ((b * H + h) * T + i) * T + j;
      const dS = new Float32Array(T * T);
      for (let i = 0; i < T; i++) {
        let m = -Infinity;
        const s = new Float32Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot = fr(dot + fr(q[at(b, i, h, d)] * k[at(b, j, h, d)]));
          s[j] = fr(dot * scale);
          m = Math.max(m, s[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum = fr(sum + (s[j] = expReplay(fr(s[j] - m))));
        const inv = fr(1 / sum);
        stats[((b * H + h) * T + i) * 2] = m;
        stats[((b * H + h) * T + i) * 2 + 1] = inv;
        for (let j = 0; j <= i; j++) pattern[P(i, j)] = fr(s[j] * inv);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc = fr(acc + fr(pattern[P(i, j)] * v[at(b, j, h, d)]));
          z[at(b, i, h, d)] = acc;
        }
        let dr = 0;
        const dP = new Float32Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot = fr(dot + fr(dz[at(b, i, h, d)] * v[at(b, j, h, d)]));
          dP[j] = dot;
          dr = fr(dr + fr(dot * pattern[P(i, j)]));
        }
        for (let j = 0; j <= i; j++) dS[i * T + j] = fr(fr(pattern[P(i, j)] * fr(dP[j] - dr)) * scale);
      }
      for (let i = 0; i < T; i++) {
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc = fr(acc + fr(dS[i * T + j] * k[at(b, j, h, d)]));
          dq[at(b, i, h, d)] = acc;
          let accK = 0, accV = 0;
          for (let r = i; r < T; r++) {
            accK = fr(accK + fr(dS[r * T + i] * q[at(b, r, h, d)]));
            accV = fr(accV + fr(pattern[P(r, i)] * dz[at(b, r, h, d)]));
          }
          dk[at(b, i, h, d)] = accK;
          dv[at(b, i, h, d)] = accV;
        }
      }
    }
  }
  return { z, pattern, stats, dq, dk, dv };
}

// ── exp ─────────────────────────────────────────────────────────────────────

/** Spacing of f32 values around |x| (2^-149 for subnormals). */
function ulpF32(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

for (const variant of VARIANTS) {
  test(`${variant} exp: within 1 ulp of Math.exp over [−88, 88] (subnormal results: 1 subnormal step), special values`, () => {
    const engine = engines.get(variant)!;
    // Dense grid plus the f32 neighbours of interesting points; odd length so the scalar tail runs.
    const xs: number[] = [];
    for (let i = 0; i <= 200001; i++) xs.push(-88 + (88 * i) / 200001);
    for (let i = 0; i <= 20001; i++) xs.push((88 * i) / 20001);
    for (const c of [0, -Math.LN2 / 2, Math.LN2 / 2, -87.33654, -88, 88.5, 88.72, -1e-8, 1e-8]) {
      for (let d = -3; d <= 3; d++) if (c !== 0 || d >= 0) xs.push(fromBits(f32Bits(c) + d));
    }
    const x = new Float32Array(xs);
    const { e } = expShiftedSum(engine, x, 0);
    let worst = 0, worstAt = 0;
    for (let i = 0; i < x.length; i++) {
      const want = Math.exp(x[i]);
      // Cody–Waite leaves |r| ≤ ln2/2 with an error ≪ 1 ulp, then the Cephes
      // polynomial and 7 f32 roundings. An exhaustive scan of every f32 in
      // (−88, 0) against Math.exp (run once when this was written, ~3 min) found
      // a worst error of 0.982 ulp (at −81.394791); below 2^−126 only the last
      // product rounds, onto the subnormal grid (ulpF32 = 2^−149 there). So the
      // bound is 1 ulp: a wrong coefficient, a lost Cody–Waite term or a bad
      // exponent construction errs by far more.
      const err = Math.abs(e[i] - want) / ulpF32(want);
      if (err > worst) { worst = err; worstAt = x[i]; }
      if (!(err <= 1)) assert.unreachable(`exp(${x[i]}) = ${e[i]}, Math.exp ${want}: ${err.toFixed(2)} ulp`);
    }
    assert.ok(worst > 0.25, `worst error ${worst} ulp at ${worstAt}: the comparison is not vacuous`);
    const special = new Float32Array([0, -0, -Infinity, Infinity, NaN, -104, -110, -1e30, 89, 100, 88.72, -87.5]);
    const s = expShiftedSum(engine, special, 0).e;
    assert.is(s[0], 1, "exp(0) = 1 exactly (the softmax max term)");
    assert.is(s[1], 1, "exp(−0) = 1");
    assert.ok(Object.is(s[2], 0) && Object.is(s[5], 0) && Object.is(s[6], 0) && Object.is(s[7], 0), "exp(≤ −104) = +0");
    assert.is(s[3], Infinity);
    assert.ok(Number.isNaN(s[4]), "exp(NaN) = NaN");
    assert.is(s[8], Infinity, "exp(89) overflows");
    assert.is(s[9], Infinity);
    assert.ok(Number.isFinite(s[10]) && s[10] > 3e38, "exp(88.72) is finite");
    assert.ok(s[11] > 0 && s[11] < 2 ** -126, "exp(−87.5) is a positive subnormal");
  });

  test(`${variant} expShiftedSum: e = exp(x − shift) bit-exact to the JS replay, sum in the 4-lane order, every length 1..67`, () => {
    const engine = engines.get(variant)!;
    for (let n = 1; n <= 67; n++) {
      const x = testData(n, 100 + n, 20);
      const shift = fr(Math.max(...x));
      const { e, sum } = expShiftedSum(engine, x, shift);
      assertSameBits(e, x.map((xi) => expReplay(fr(xi - shift))), `exp replay n=${n}`);
      const lanes = [0, 0, 0, 0];
      for (let j = 0; j < n; j++) lanes[j & 3] = fr(lanes[j & 3] + e[j]);
      assert.ok(Object.is(sum, fr(fr(fr(lanes[0] + lanes[1]) + lanes[2]) + lanes[3])), `n=${n}: sum ${sum} not in the 4-lane order`);
    }
    // dst = 0 stores nothing and returns the same sum.
    engine.kernels.resetHeap();
    const x = testData(13, 5, 3);
    const src = place(engine, x, 0);
    const low = new Uint8Array(engine.kernels.memory.buffer, 0, 256).slice();
    const sum = engine.kernels.expShiftedSum(0, src, 13, 0.5);
    assert.equal([...new Uint8Array(engine.kernels.memory.buffer, 0, 256)], [...low], "dst = 0 wrote to low memory");
    assert.ok(Object.is(sum, expShiftedSum(engine, x, 0.5).sum));
  });
}

test("exp / expShiftedSum: SIMD and scalar builds bit-identical", () => {
  for (let n = 1; n <= 67; n += 3) {
    const x = testData(n, 900 + n, 60);
    const a = expShiftedSum(engines.get("simd")!, x, 1.5), b = expShiftedSum(engines.get("scalar")!, x, 1.5);
    assertSameBits(a.e, b.e, `n=${n}`);
    assert.ok(Object.is(a.sum, b.sum), `n=${n} sum`);
  }
});

// ── forward ─────────────────────────────────────────────────────────────────

for (const variant of VARIANTS) {
  test(`${variant} attentionForward: z and pattern within f32 error bounds of the f64 reference; masked entries +0; rows sum to 1`, () => {
    const engine = engines.get(variant)!;
    [...SHAPES, ...BIG_SHAPES].forEach((shape, s) => {
      const [B, T, H, D] = shape;
      const inputs = makeInputs(shape, s);
      const { z, pattern } = runKernels(engine, shape, inputs, (s % 4) * 4, false);
      const at = qkvIndex(T, H, D);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const qh = headSlice(inputs.q, shape, b, h), kh = headSlice(inputs.k, shape, b, h), vh = headSlice(inputs.v, shape, b, h);
          const ref = headF64(qh, kh, vh, T, D);
          for (let i = 0; i < T; i++) {
            // Error budget of row i (u = 2^-24). A score is a D-term f32 dot product
            // (|error| ≤ γ_D·Σ|q·k|, γ_n ≤ 1.01·n·u here) times scale (two more
            // roundings: the product and f32(1/√D)), so |Δs_j| ≤ δ := max_j scale·(D+2)·1.01u·Σ_d|q·k|.
            // Subtracting the max, exp (≤ 2 ulp, tested above), the (i+1)-term sum,
            // 1/sum and the product perturb P_ij relatively by at most
            // 2δ + 3u + (i+1)·1.01u + 2u (a shift of every score by ≤ δ moves the
            // softmax by ≤ 2δ relatively). z adds an (i+1)-term dot product with v.
            const rowBase = ((b * H + h) * T + i) * T;
            let delta = 0;
            for (let j = 0; j <= i; j++) {
              let abs = 0;
              for (let d = 0; d < D; d++) abs += Math.abs(qh[i * D + d] * kh[j * D + d]);
              delta = Math.max(delta, (1 / Math.sqrt(D)) * (D + 2) * 1.01 * U * abs);
            }
            const pRel = 2 * delta + (5 + 1.01 * (i + 1)) * U;
            let rowSum = 0;
            for (let j = 0; j < T; j++) {
              const got = pattern[rowBase + j];
              if (j > i) {
                if (!Object.is(got, 0)) assert.unreachable(`${variant} ${label(shape)}: pattern[${b},${h},${i},${j}] = ${got}, masked entries must be +0`);
                continue;
              }
              rowSum += got;
              const want = ref.P[i * T + j];
              if (!(Math.abs(got - want) <= pRel * want * 1.01 + 1e-45)) assert.unreachable(`${variant} ${label(shape)}: pattern[${b},${h},${i},${j}] = ${got}, f64 ${want}, rel bound ${pRel}`);
            }
            // Σ_j f32(e_j·inv) = (Σ e_j)(1 ± (i+1)u)/(f32 sum)·(1 ± u)… : within (i+3)·1.01u of 1.
            if (!(Math.abs(rowSum - 1) <= (i + 3) * 1.01 * U)) assert.unreachable(`${variant} ${label(shape)}: pattern row ${i} sums to 1 + ${rowSum - 1}`);
            for (let d = 0; d < D; d++) {
              let mag = 0;
              for (let j = 0; j <= i; j++) mag += ref.P[i * T + j] * Math.abs(vh[j * D + d]);
              const bound = (pRel + (i + 2) * 1.01 * U) * mag * 1.01 + 1e-30;
              const got = z[at(b, i, h, d)], want = ref.z[i * D + d];
              if (!(Math.abs(got - want) <= bound)) assert.unreachable(`${variant} ${label(shape)}: z[${b},${i},${h},${d}] = ${got}, f64 ${want}, |err| ${Math.abs(got - want)} > ${bound}`);
            }
          }
        }
      }
    });
  });

  test(`${variant} attention forward and backward: bit-exact to the JS replay of the documented f32 contract`, () => {
    const engine = engines.get(variant)!;
    [...SHAPES, BIG_SHAPES[1]].forEach((shape, s) => {
      const inputs = makeInputs(shape, 50 + s);
      const got = runKernels(engine, shape, inputs, ((s + 1) % 4) * 4);
      const want = contractF32(shape, inputs);
      for (const key of ["z", "pattern", "stats", "dq", "dk", "dv"] as const) assertSameBits(got[key], want[key], `${variant} ${label(shape)} ${key}`);
    });
  });
}

// ── backward ────────────────────────────────────────────────────────────────

/** L = Σ z·G of one head (the random linear functional whose gradient is (dq, dk, dv) for dz = G). */
function headLoss(q: Float64Array, k: Float64Array, v: Float64Array, G: Float64Array, T: number, D: number): number {
  const { z } = headF64(q, k, v, T, D);
  let L = 0;
  for (let e = 0; e < z.length; e++) L += z[e] * G[e];
  return L;
}

for (const variant of VARIANTS) for (const mode of ["pattern", "recompute"] as const) {
  const how = mode === "pattern" ? "" : " (pattern recomputed from the row statistics)";
  test(`${variant} attentionBackward${how}: dq, dk, dv match central finite differences of the f64 reference`, () => {
    const engine = engines.get(variant)!;
    const h = 1e-4;
    [...SHAPES, ...BIG_SHAPES].forEach((shape, s) => {
      const [B, T, H, D] = shape;
      const inputs = makeInputs(shape, 200 + s);
      const out = runKernels(engine, shape, inputs, (s % 4) * 4, true, mode);
      const at = qkvIndex(T, H, D);
      const big = T * D > 1000;
      const pick = seededUniform(7 + s);
      for (let b = 0; b < B; b++) {
        for (let hd = 0; hd < H; hd++) {
          const x = { q: headSlice(inputs.q, shape, b, hd), k: headSlice(inputs.k, shape, b, hd), v: headSlice(inputs.v, shape, b, hd) };
          const G = headSlice(inputs.dz, shape, b, hd);
          for (const [name, grad] of [["q", out.dq], ["k", out.dk], ["v", out.dv]] as const) {
            const target = x[name];
            // All entries for the small shapes, 40 random ones per head for the big ones.
            const entries = big ? Array.from({ length: 40 }, () => Math.floor(((pick() + 1) / 2) * T * D)) : Array.from({ length: T * D }, (_, e) => e);
            const fd = entries.map((e) => {
              const keep = target[e];
              target[e] = keep + h;
              const up = headLoss(x.q, x.k, x.v, G, T, D);
              target[e] = keep - h;
              const down = headLoss(x.q, x.k, x.v, G, T, D);
              target[e] = keep;
              return (up - down) / (2 * h);
            });
            const scaleOf = Math.max(1e-3, ...fd.map(Math.abs));
            entries.forEach((e, n) => {
              const i = Math.floor(e / D), d = e % D;
              const got = grad[at(b, i, hd, d)];
              // The f64 central difference is exact to O(h²·L''') ≈ 1e-8 plus
              // rounding ≈ 1e-16·|L|/h ≈ 1e-11, i.e. ≪ the f32 kernel's own error:
              // sums of up to pos·d_head ≤ ~4k products of O(1) values, ≲ 4k·u ≈ 2.5e-4
              // of the gradient's scale in the worst case, ~1e-6 typically. 3e-4 of
              // the largest gradient entry of the tensor bounds that; a wrong formula
              // (missing scale or Dr term, a transposed product, a non-causal term)
              // errs by a sizeable fraction of it.
              if (!(Math.abs(got - fd[n]) <= 3e-4 * scaleOf)) assert.unreachable(`${variant} ${label(shape)}: d${name}[${b},${i},${hd},${d}] = ${got}, finite difference ${fd[n]} (scale ${scaleOf})`);
            });
          }
        }
      }
    });
  });
}

// ── causality ───────────────────────────────────────────────────────────────

for (const variant of VARIANTS) {
  test(`${variant} causality: changing q, k, v (even to ±∞/NaN) at position t+1 leaves z and pattern rows ≤ t bit-identical`, () => {
    const engine = engines.get(variant)!;
    for (const shape of [[2, 13, 2, 5], [1, 37, 3, 9], [1, 8, 1, 16], [3, 6, 2, 3]] as Shape[]) {
      const [B, T, H, D] = shape;
      const at = qkvIndex(T, H, D);
      const inputs = makeInputs(shape, 300 + T);
      const base = runKernels(engine, shape, inputs, 0, false);
      for (let t = 0; t + 1 < T; t++) {
        for (const poison of ["random", "inf", "nan"] as const) {
          const changed: Inputs = { q: inputs.q.slice(), k: inputs.k.slice(), v: inputs.v.slice(), dz: inputs.dz };
          const u = seededUniform(t * 7 + 1);
          for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
            for (const x of [changed.q, changed.k, changed.v]) {
              x[at(b, t + 1, h, d)] = poison === "random" ? u() * 3 : poison === "inf" ? (d % 2 ? Infinity : -Infinity) : NaN;
            }
          }
          const got = runKernels(engine, shape, changed, 4, false);
          const what = `${variant} ${label(shape)} t=${t} ${poison}`;
          for (let b = 0; b < B; b++) {
            for (let h = 0; h < H; h++) {
              for (let i = 0; i <= t; i++) {
                const row = ((b * H + h) * T + i) * T;
                assertSameBits(got.pattern.subarray(row, row + T), base.pattern.subarray(row, row + T), `${what}: pattern row ${i}`);
              }
              for (let i = 0; i <= t; i++) {
                const o = at(b, i, h, 0);
                assertSameBits(got.z.subarray(o, o + D), base.z.subarray(o, o + D), `${what}: z row ${i}`);
              }
            }
          }
          // Teeth: position t+1's own output did change.
          const o = at(0, t + 1, 0, 0);
          assert.ok(bits(got.z.subarray(o, o + D)).some((w, d) => w !== bits(base.z.subarray(o, o + D))[d]), `${what}: z at t+1 unchanged?`);
        }
      }
    }
  });

  test(`${variant} backward term sets: dz at position t (even NaN) changes only dq row t and dk, dv rows ≤ t`, () => {
    const engine = engines.get(variant)!;
    for (const shape of [[2, 11, 2, 5], [1, 21, 1, 9], [1, 7, 2, 16]] as Shape[]) {
      const [B, T, H, D] = shape;
      const at = qkvIndex(T, H, D);
      const inputs = makeInputs(shape, 400 + T);
      const base = runKernels(engine, shape, inputs, 0);
      for (let t = 0; t < T; t++) {
        const dz = inputs.dz.slice();
        for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) dz[at(b, t, h, d)] = NaN;
        const got = runKernels(engine, shape, { ...inputs, dz }, 8);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            for (let i = 0; i < T; i++) {
              const o = at(b, i, h, 0), what = `${variant} ${label(shape)} NaN dz at ${t}`;
              if (i !== t) assertSameBits(got.dq.subarray(o, o + D), base.dq.subarray(o, o + D), `${what}: dq row ${i}`);
              if (i > t) {
                assertSameBits(got.dk.subarray(o, o + D), base.dk.subarray(o, o + D), `${what}: dk row ${i}`);
                assertSameBits(got.dv.subarray(o, o + D), base.dv.subarray(o, o + D), `${what}: dv row ${i}`);
              } else {
                assert.ok(got.dv.subarray(o, o + D).every(Number.isNaN), `${what}: dv row ${i} must see dz[${t}]`);
              }
            }
          }
        }
      }
    }
  });
}

// ── builds ──────────────────────────────────────────────────────────────────

test("attention: SIMD and scalar builds bit-identical (z, pattern, dq, dk, dv)", () => {
  [...SHAPES, ...BIG_SHAPES].forEach((shape, s) => {
    const inputs = makeInputs(shape, 500 + s);
    const a = runKernels(engines.get("simd")!, shape, inputs, 4);
    const b = runKernels(engines.get("scalar")!, shape, inputs, 12);
    for (const key of ["z", "pattern", "dq", "dk", "dv"] as const) assertSameBits(a[key], b[key], `simd vs scalar ${label(shape)} ${key}`);
  });
});

test("pos 1024 (the largest context): SIMD == scalar bit for bit, scratch suffices, pattern rows sum to 1", () => {
  const shape: Shape = [1, 1024, 1, 8];
  const inputs = makeInputs(shape, 1024);
  const a = runKernels(engines.get("simd")!, shape, inputs, 4);
  const b = runKernels(engines.get("scalar")!, shape, inputs, 0);
  for (const key of ["z", "pattern", "dq", "dk", "dv"] as const) assertSameBits(a[key], b[key], `simd vs scalar ${label(shape)} ${key}`);
  for (const i of [0, 1, 511, 1022, 1023]) {
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += a.pattern[i * 1024 + j];
    assert.ok(Math.abs(sum - 1) <= (i + 3) * 1.01 * U, `row ${i} sums to 1 + ${sum - 1}`);
  }
});

// ── the backward without a stored pattern ───────────────────────────────────

// Besides SHAPES: pos 1, 5, 37, 128 with d_head 1, 7, 32 (every combination).
const RECOMPUTE_SHAPES: Shape[] = [
  ...SHAPES, ...BIG_SHAPES,
  [2, 1, 2, 7], [1, 1, 3, 32], [1, 5, 2, 1], [2, 5, 2, 7], [1, 5, 1, 32], [1, 37, 2, 7], [2, 37, 1, 32],
  [1, 128, 2, 1], [1, 128, 1, 7],
];

for (const variant of VARIANTS) {
  test(`${variant} recomputed pattern: z, stats, dq, dk, dv bit-identical with and without a stored pattern`, () => {
    const engine = engines.get(variant)!;
    RECOMPUTE_SHAPES.forEach((shape, s) => {
      const inputs = makeInputs(shape, 600 + s);
      const stored = runKernels(engine, shape, inputs, (s % 4) * 4, true, "pattern");
      const recomputed = runKernels(engine, shape, inputs, ((s + 2) % 4) * 4, true, "recompute");
      for (const key of ["z", "stats", "dq", "dk", "dv"] as const) assertSameBits(recomputed[key], stored[key], `${variant} ${label(shape)} ${key}`);
      assert.is(recomputed.pattern.length, 0);
    });
  });

  test(`${variant} recomputed pattern: bit-exact to the JS replay of the contract`, () => {
    const engine = engines.get(variant)!;
    [...SHAPES.slice(0, 12), [2, 37, 1, 32], [1, 5, 2, 7]].forEach((shape, s) => {
      const inputs = makeInputs(shape as Shape, 700 + s);
      const got = runKernels(engine, shape as Shape, inputs, (s % 4) * 4, true, "recompute");
      const want = contractF32(shape as Shape, inputs);
      for (const key of ["z", "stats", "dq", "dk", "dv"] as const) assertSameBits(got[key], want[key], `${variant} ${label(shape as Shape)} ${key}`);
    });
  });

  test(`${variant} causality, both backward modes: q, k, v, dz after position t (even ±∞/NaN) leave z, stats and dq rows ≤ t bit-identical`, () => {
    // The recomputed score strips of a row block include keys after some of its rows
    // (masked lanes): poisoned later keys must not reach the earlier rows through them.
    const engine = engines.get(variant)!;
    for (const shape of [[2, 13, 2, 5], [1, 37, 1, 9], [1, 9, 2, 32]] as Shape[]) {
      const [B, T, H, D] = shape;
      const at = qkvIndex(T, H, D);
      const inputs = makeInputs(shape, 800 + T);
      for (const mode of ["pattern", "recompute"] as const) {
        const base = runKernels(engine, shape, inputs, 0, true, mode);
        for (let t = 0; t + 1 < T; t++) {
          for (const poison of ["inf", "nan"] as const) {
            const changed: Inputs = { q: inputs.q.slice(), k: inputs.k.slice(), v: inputs.v.slice(), dz: inputs.dz.slice() };
            for (let b = 0; b < B; b++) for (let i = t + 1; i < T; i++) for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) {
              for (const x of [changed.q, changed.k, changed.v, changed.dz]) x[at(b, i, h, d)] = poison === "inf" ? (d % 2 ? Infinity : -Infinity) : NaN;
            }
            const got = runKernels(engine, shape, changed, 4, true, mode);
            const what = `${variant} ${mode} ${label(shape)} t=${t} ${poison}`;
            for (let b = 0; b < B; b++) {
              for (let h = 0; h < H; h++) {
                const so = ((b * H + h) * T) * 2;
                assertSameBits(got.stats.subarray(so, so + 2 * (t + 1)), base.stats.subarray(so, so + 2 * (t + 1)), `${what}: stats rows ≤ t`);
                for (let i = 0; i <= t; i++) {
                  const o = at(b, i, h, 0);
                  assertSameBits(got.z.subarray(o, o + D), base.z.subarray(o, o + D), `${what}: z row ${i}`);
                  assertSameBits(got.dq.subarray(o, o + D), base.dq.subarray(o, o + D), `${what}: dq row ${i}`);
                }
              }
            }
          }
        }
      }
    }
  });
}

test("recomputed pattern: SIMD and scalar builds bit-identical (z, stats, dq, dk, dv)", () => {
  RECOMPUTE_SHAPES.forEach((shape, s) => {
    const inputs = makeInputs(shape, 900 + s);
    const a = runKernels(engines.get("simd")!, shape, inputs, 8, true, "recompute");
    const b = runKernels(engines.get("scalar")!, shape, inputs, 4, true, "recompute");
    for (const key of ["z", "stats", "dq", "dk", "dv"] as const) assertSameBits(a[key], b[key], `simd vs scalar ${label(shape)} ${key}`);
  });
});

test("pos 1024, recomputed pattern: equal to the stored-pattern backward in both builds", () => {
  const shape: Shape = [1, 1024, 1, 8];
  const inputs = makeInputs(shape, 1025);
  const stored = runKernels(engines.get("simd")!, shape, inputs, 0, true, "pattern");
  for (const variant of VARIANTS) {
    const got = runKernels(engines.get(variant)!, shape, inputs, 4, true, "recompute");
    for (const key of ["z", "stats", "dq", "dk", "dv"] as const) assertSameBits(got[key], stored[key], `${variant} ${label(shape)} ${key}`);
  }
});

test("attentionScratchBytes: same in both builds, grows with pos, heads and d_head, 0 for empty shapes", () => {
  const bytes = (variant: Variant, T: number, H: number, D: number) => engines.get(variant)!.kernels.attentionScratchBytes(T, H, D);
  for (const [T, H, D] of [[1, 1, 1], [5, 2, 3], [37, 3, 9], [128, 8, 32], [1024, 8, 32], [1024, 4, 64]]) {
    const a = bytes("simd", T, H, D);
    assert.is(a, bytes("scalar", T, H, D), `pos=${T} n_heads=${H} d_head=${D}`);
    assert.ok(a >= 4 * T, `pos=${T}: room for the scalar build's row`);
    assert.ok(bytes("simd", T + 8, H, D) > a && bytes("simd", T, H + 1, D) > a && bytes("simd", T, H, D + 4) > a, `grows from ${T}, ${H}, ${D}`);
  }
  assert.is(bytes("simd", 0, 8, 4), 0);
  assert.is(bytes("simd", 16, 0, 4), 0);
  // No pos² term: the paper-size model's 8 heads of 32 at pos 1024 need 7.6 MB, not the 32 MB of one head's pattern.
  assert.ok(bytes("simd", 1024, 8, 32) < 8 * 1024 * 1024, "pos 1024, 8 heads of 32: under 8 MiB");
});

test("the test data can tell orders apart (so the bitwise replay has teeth)", () => {
  // Summing z over j in descending order, or dividing by the sum instead of
  // multiplying by its reciprocal, changes some bits of the replay on these inputs.
  const shape: Shape = [1, 37, 1, 9];
  const inputs = makeInputs(shape, 77);
  const { pattern, z } = contractF32(shape, inputs);
  const T = 37, D = 9;
  let orderDiffers = false;
  for (let i = 2; i < T && !orderDiffers; i++) {
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let j = i; j >= 0; j--) acc = fr(acc + fr(pattern[i * T + j] * inputs.v[j * D + d]));
      if (acc !== z[i * D + d]) orderDiffers = true;
    }
  }
  assert.ok(orderDiffers, "descending j gives different z bits");
});

test.run();
