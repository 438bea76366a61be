// Counter-based RNG (assembly/rng.ts): Philox4x32-10 against Random123's
// known-answer vectors and an independent JS implementation, the f32 logf, the
// Box–Muller normals (SIMD vs scalar bits, prefix property, an f64 reference,
// moments) and uniformBelow, in both builds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, seededUniform } from "../helpers.ts";
import type { Engine, Variant } from "../../src/engine.ts";

const engines = new Map<Variant, Engine>();
for (const variant of VARIANTS) engines.set(variant, await loadEngine(variant));
const simd = engines.get("simd")!;
const scalar = engines.get("scalar")!;

const hex = (x: number) => (x >>> 0).toString(16).padStart(8, "0");
const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
const f32bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

/** Seeded u32 stream (from the mulberry32 helper) for counters and keys. */
function seededU32(seed: number): () => number {
  const u = seededUniform(seed);
  return () => Math.floor(((u() + 1) / 2) * 4294967296) >>> 0;
}

// ── Independent JS Philox4x32-10 ────────────────────────────────────────────

/** High and low 32 bits of the 64-bit product a·b (u32 operands), from 16-bit halves: every partial sum stays below 2^53. */
function mulhilo(a: number, b: number): [hi: number, lo: number] {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff); // < 3·2^16
  const hi = (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/** Philox4x32-10 as specified by Salmon et al. (Random123 philox.h), written from the paper, not from rng.ts. */
function philoxJS(ctr: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = ctr.map((x) => x >>> 0);
  let [k0, k1] = key.map((x) => x >>> 0);
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

function philoxWasm(engine: Engine, ctr: readonly number[], key: readonly number[]): number[] {
  const k = engine.kernels;
  k.philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]);
  return [0, 1, 2, 3].map((i) => k.philoxOut(i) >>> 0);
}

// Random123 kat_vectors, "philox4x32 10" lines: counter, key, expected output.
const KAT: { ctr: number[]; key: number[]; out: number[] }[] = [
  { ctr: [0, 0, 0, 0], key: [0, 0], out: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

test("mulhilo (16-bit halves) agrees with BigInt on edge and random operands", () => {
  const next = seededU32(7);
  const cases: [number, number][] = [[0, 0], [1, 0xffffffff], [0xffffffff, 0xffffffff], [0xd2511f53, 0xcd9e8d57], [0x10000, 0x10000]];
  for (let i = 0; i < 500; i++) cases.push([next(), next()]);
  for (const [a, b] of cases) {
    const p = BigInt(a) * BigInt(b);
    const [hi, lo] = mulhilo(a, b);
    assert.is(hi, Number(p >> 32n), `hi of ${hex(a)}·${hex(b)}`);
    assert.is(lo, Number(p & 0xffffffffn), `lo of ${hex(a)}·${hex(b)}`);
  }
});

test("JS Philox reproduces the Random123 known-answer vectors (validates the reference itself)", () => {
  for (const { ctr, key, out } of KAT) assert.equal(philoxJS(ctr, key).map(hex), out.map(hex), `ctr ${ctr.map(hex)} key ${key.map(hex)}`);
});

for (const variant of VARIANTS) {
  test(`${variant} philox4x32: Random123 known-answer vectors`, () => {
    const engine = engines.get(variant)!;
    for (const { ctr, key, out } of KAT) {
      assert.equal(philoxWasm(engine, ctr, key).map(hex), out.map(hex), `ctr ${ctr.map(hex)} key ${key.map(hex)}`);
    }
  });

  test(`${variant} philox4x32: agrees with the independent JS Philox on 400 random counters and keys`, () => {
    const engine = engines.get(variant)!;
    const next = seededU32(2024 + (variant === "simd" ? 0 : 1));
    for (let i = 0; i < 400; i++) {
      const ctr = [next(), next(), next(), next()];
      const key = [next(), next()];
      assert.equal(philoxWasm(engine, ctr, key).map(hex), philoxJS(ctr, key).map(hex), `ctr ${ctr.map(hex)} key ${key.map(hex)}`);
    }
    // philoxOut masks its index to 0..3.
    assert.is(engine.kernels.philoxOut(4) >>> 0, engine.kernels.philoxOut(0) >>> 0);
  });
}

// ── logf ────────────────────────────────────────────────────────────────────

/** Spacing of f32 numbers at |y| (the ulp of the binade holding |y|), for normal |y|. */
function ulpF32(y: number): number {
  const a = Math.abs(Math.fround(y));
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Test inputs for logf: every power of two in [2^-24, 1], 4000 log-spaced f32 values, and the f32 neighbours of 1. */
function logInputs(): Float32Array {
  const xs: number[] = [];
  for (let e = -24; e <= 0; e++) xs.push(2 ** e);
  for (let i = 0; i <= 4000; i++) xs.push(Math.fround(2 ** (-24 * (i / 4000))));
  const u = seededUniform(99);
  for (let i = 0; i < 4000; i++) xs.push(Math.fround(2 ** (-24 * ((u() + 1) / 2))));
  // Inputs of the form ((bits >> 8) + 1)/2^24 that Box–Muller feeds in, near 1 and near the bottom.
  for (let m = 1; m <= 64; m++) xs.push(m / 2 ** 24, (2 ** 24 - m + 1) / 2 ** 24);
  xs.push(Math.fround(Math.SQRT1_2), Math.fround(Math.SQRT2 / 2) + 2 ** -24, 1 - 2 ** -24);
  return new Float32Array(xs.filter((x) => x >= 2 ** -24 && x <= 1));
}

test("logf: within 1 ulp of Math.log over [2^-24, 1], exact at 1, both builds bit-identical", () => {
  const xs = logInputs();
  let worst = 0;
  for (const x of xs) {
    const got = simd.kernels.logf(x);
    const other = scalar.kernels.logf(x);
    assert.is(f32bits(got), f32bits(other), `logf(${x}) simd ${got} vs scalar ${other}`);
    const want = Math.log(x); // f64 log: error ~1e-16 relative, the exact value for an f32 comparison
    if (x === 1) {
      assert.is(f32bits(got), 0, "logf(1) must be +0");
      continue;
    }
    // The algorithm is musl's/FreeBSD's logf (same Lg1..Lg4, same evaluation
    // order), documented there as accurate to < 1 ulp; the true log's own f32
    // rounding is ≤ ½ ulp of that. So a correct port stays within 1 ulp of the f64
    // value; a wrong coefficient or a dropped k·ln2_lo term (≈ 9e-6·k) breaks it.
    const err = Math.abs(got - want) / ulpF32(want);
    worst = Math.max(worst, err);
    if (!(err <= 1)) assert.unreachable(`logf(${x}) = ${got}, Math.log = ${want}, error ${err.toFixed(3)} ulp > 1`);
  }
  assert.ok(worst > 0, "logf matched Math.log to the last bit everywhere: suspicious (is the test calling logf?)");
});

// ── fillNormals ─────────────────────────────────────────────────────────────

/** fillNormals into a fresh buffer padded to 8 (as rng.ts requires), returned as a copy. */
function normals(engine: Engine, n: number, k0: number, k1: number, step: number, stream: number): Float32Array {
  engine.kernels.resetHeap();
  const padded = Math.ceil(n / 8) * 8;
  const dst = engine.allocF32(padded);
  engine.kernels.fillNormals(dst, n, k0, k1, step, stream);
  return engine.f32(dst, padded).slice();
}

/** f64 Box–Muller from the same Philox words, with the value of r for the tolerance. */
function normalsReference(n: number, k0: number, k1: number, step: number, stream: number): { z: Float64Array; r: Float64Array } {
  const padded = Math.ceil(n / 8) * 8;
  const z = new Float64Array(padded), r = new Float64Array(padded);
  for (let j = 0; j < padded / 8; j++) {
    const a = philoxJS([j, step, stream, 0], [k0, k1]);
    const b = philoxJS([j, step, stream, 1], [k0, k1]);
    for (let l = 0; l < 4; l++) {
      const u1 = ((a[l] >>> 8) + 1) / 2 ** 24;
      const t = (b[l] >>> 8) / 2 ** 24 - 0.5;
      const radius = Math.sqrt(-2 * Math.log(u1));
      z[8 * j + l] = radius * Math.cos(2 * Math.PI * t);
      z[8 * j + 4 + l] = radius * Math.sin(2 * Math.PI * t);
      r[8 * j + l] = r[8 * j + 4 + l] = radius;
    }
  }
  return { z, r };
}

const NORMAL_CASES: [n: number, k0: number, k1: number, step: number, stream: number][] = [
  [8, 0, 0, 0, 0],
  [24, 0x12345678, 0x9abcdef0, 3, 0],
  [1000, 0xffffffff, 0xffffffff, 0xffffffff, 2],
  [4096, 42, 7, 123456, 0],
  [13, 1, 2, 3, 1],
];

test("fillNormals: SIMD and scalar builds give the same bits", () => {
  for (const [n, k0, k1, step, stream] of NORMAL_CASES) {
    const a = normals(simd, n, k0, k1, step, stream), b = normals(scalar, n, k0, k1, step, stream);
    const A = bits(a), B = bits(b);
    for (let i = 0; i < A.length; i++) {
      if (A[i] !== B[i]) assert.unreachable(`n=${n} key=(${k0},${k1}) step=${step} stream=${stream}: z[${i}] simd ${a[i]} vs scalar ${b[i]}`);
    }
  }
});

for (const variant of VARIANTS) {
  test(`${variant} fillNormals: value at index i does not depend on n (prefix of a longer fill); writes exactly ⌈n/8⌉·8 floats`, () => {
    const engine = engines.get(variant)!;
    const long = bits(normals(engine, 1024, 5, 6, 7, 0));
    for (const n of [1, 8, 13, 16, 100, 1023]) {
      const short = bits(normals(engine, n, 5, 6, 7, 0));
      for (let i = 0; i < short.length; i++) assert.is(short[i], long[i], `n=${n}: z[${i}] differs from the n=1024 fill`);
    }
    // n=13 is rounded up to 16 floats: index 16 onwards must be left alone.
    engine.kernels.resetHeap();
    const dst = engine.allocF32(24);
    engine.u32(dst, 24).fill(0x7fa5a5a5);
    engine.kernels.fillNormals(dst, 13, 5, 6, 7, 0);
    const out = engine.u32(dst, 24);
    for (let i = 0; i < 16; i++) assert.is(out[i], long[i], `rounded-up fill z[${i}]`);
    for (let i = 16; i < 24; i++) assert.is(out[i], 0x7fa5a5a5, `fillNormals(n=13) wrote past 16 floats at index ${i}`);
  });

  test(`${variant} fillNormals: agrees with an f64 Box–Muller reference on the same Philox words`, () => {
    const engine = engines.get(variant)!;
    let worst = 0;
    for (const [n, k0, k1, step, stream] of NORMAL_CASES) {
      const got = normals(engine, n, k0, k1, step, stream);
      const { z, r } = normalsReference(n, k0, k1, step, stream);
      for (let i = 0; i < got.length; i++) {
        // Error budget of the f32 path (u = 2^-24): u1, t and t − q/4 are exact
        // (24-bit integers scaled by powers of two); logf ≤ 1 ulp (tested above) and
        // sqrt's rounding give r a relative error ≤ 2^-23 ≈ 1.2e-7; φ = fl(fl(2π)·t')
        // is off by ≤ 2u·π/4 ≈ 1e-7; the Taylor polynomials on [−π/4, π/4] truncate
        // at ≤ (π/4)^9/9! ≈ 3.1e-7 and round ≤ ~7u ≈ 4.2e-7 in Horner form; so
        // |cos|,|sin| are off by ≤ 8.3e-7 absolute and the final product adds u·|z|.
        // Total ≤ r·(8.3e-7 + 1.2e-7 + 0.6e-7) ≈ 1.01e-6·r. Bound: 1.2e-6·r (r ≤ 5.77).
        // A lane or cos/sin swap, a wrong quarter-turn rotation or a wrong counter
        // word produces O(1) errors.
        const tol = 1.2e-6 * r[i] + 1e-30;
        const err = Math.abs(got[i] - z[i]);
        worst = Math.max(worst, err / (r[i] || 1));
        if (!(err <= tol)) assert.unreachable(`n=${n} key=(${k0},${k1}) step=${step} stream=${stream}: z[${i}] = ${got[i]}, f64 ${z[i]} (r=${r[i]}), |err| ${err} > ${tol}`);
      }
    }
    assert.ok(worst > 0, "bit-exact agreement with f64 cos/sin is implausible");
  });

  test(`${variant} fillNormals: a different key, step or stream gives different values`, () => {
    const engine = engines.get(variant)!;
    const base = bits(normals(engine, 1024, 11, 12, 13, 0));
    const variants: [string, Float32Array][] = [
      ["k0", normals(engine, 1024, 10, 12, 13, 0)],
      ["k1", normals(engine, 1024, 11, 13, 13, 0)],
      ["step", normals(engine, 1024, 11, 12, 14, 0)],
      ["stream", normals(engine, 1024, 11, 12, 13, 1)],
    ];
    for (const [what, other] of variants) {
      const o = bits(other);
      let same = 0;
      for (let i = 0; i < o.length; i++) if (o[i] === base[i]) same++;
      // Independent 24-bit-quantised normals coincide with probability ~2^-20 each.
      assert.ok(same <= 2, `changing ${what} left ${same} of 1024 values unchanged`);
    }
  });
}

test("fillNormals: moments of 2^20 samples match N(0, 1) (simd build; scalar is bit-identical above)", () => {
  const N = 2 ** 20;
  const z = normals(simd, N, 0xdeadbeef, 0x01234567, 9, 0);
  let s1 = 0;
  for (let i = 0; i < N; i++) s1 += z[i];
  const mean = s1 / N;
  let m2 = 0, m4 = 0;
  for (let i = 0; i < N; i++) {
    const d = z[i] - mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= N;
  m4 /= N;
  const kurtosis = m4 / (m2 * m2);
  // Standard errors for N i.i.d. standard normals: mean 1/√N, sample variance
  // √(2/N), sample kurtosis √(24/N) (≈ 0.0048 here). Five standard errors: a
  // correct generator fails with probability < 1e-6 per statistic, while a
  // radius without the factor 2 (variance ½), a half-range angle or a uniform
  // mix-up shifts them by far more. The generator's truncation at
  // |z| ≤ √(2·24·ln 2) ≈ 5.77 removes mass ~1e-8, shifting the kurtosis by ~1e-6.
  assert.ok(Math.abs(mean) <= 5 / Math.sqrt(N), `mean ${mean}`);
  assert.ok(Math.abs(m2 - 1) <= 5 * Math.sqrt(2 / N), `variance ${m2}`);
  assert.ok(Math.abs(kurtosis - 3) <= 5 * Math.sqrt(24 / N), `kurtosis ${kurtosis}`);
  // Tail check: P(|z| > 3) = 0.0026998; binomial SE √(p(1−p)/N) ≈ 5.1e-5.
  let tail = 0;
  for (let i = 0; i < N; i++) if (Math.abs(z[i]) > 3) tail++;
  const p = 0.0026997960632601866;
  assert.ok(Math.abs(tail / N - p) <= 5 * Math.sqrt((p * (1 - p)) / N), `P(|z|>3) = ${tail / N}, expected ${p}`);
});

// ── uniformBelow ────────────────────────────────────────────────────────────

for (const variant of VARIANTS) {
  test(`${variant} uniformBelow: in [0, bound), equal to ⌊philox word 0 · bound / 2^32⌋, roughly uniform`, () => {
    const k = engines.get(variant)!.kernels;
    const next = seededU32(31337);
    for (const bound of [1, 2, 3, 7, 10, 1000, 0x7fffffff, 0x80000000, 0xffffffff]) {
      for (let i = 0; i < 200; i++) {
        const c = [next(), next(), next()], key = [next(), next()];
        const got = k.uniformBelow(bound, c[0], c[1], c[2], key[0], key[1]) >>> 0;
        assert.ok(got < bound, `uniformBelow(${bound}) = ${got}`);
        const word = philoxJS([c[0], c[1], c[2], 0], key)[0];
        const want = Number((BigInt(word) * BigInt(bound)) >> 32n);
        assert.is(got, want, `uniformBelow(${bound}, ctr ${c.map(hex)}, key ${key.map(hex)})`);
      }
    }
    // Chi-square over 10 cells from 10^4 consecutive counters: 9 degrees of
    // freedom, P(χ² > 33.7) ≈ 1e-4, so a correct generator essentially never fails.
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 10000; i++) counts[k.uniformBelow(10, i, 0, 1, 99, 100) >>> 0]++;
    const chi2 = counts.reduce((s, c) => s + (c - 1000) ** 2 / 1000, 0);
    assert.ok(chi2 < 33.7, `χ² = ${chi2}, counts ${counts}`);
  });
}

test.run();
