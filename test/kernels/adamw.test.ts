// AdamW step, sum of squares and in-place scaling (assembly/adamw.ts) against
// an f32-exact replay of PyTorch's torch.optim.AdamW sequence, a plain f64
// AdamW, and each other across the SIMD and scalar builds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, seededUniform } from "../helpers.ts";
import { U, GUARD, GUARD_FLOATS, assertSameBits, loadEngines } from "./buffers.ts";
import type { Engine } from "../../src/engine.ts";

const engines = await loadEngines();

const SIZES = [...Array.from({ length: 67 }, (_, i) => i + 1), 1000];
const f = Math.fround;



/** Values with varied exponents (uniform mantissa × 2^-6..2^6). */
function testData(n: number, seed: number, positive = false): Float32Array {
  const u = seededUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = u() * 2 ** Math.round(u() * 6);
    out[i] = positive ? Math.abs(x) : x;
  }
  return out;
}

interface Hyper { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }
interface State { w: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array }

const HYPERS: Hyper[] = [
  { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }, // PyTorch's defaults
  { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.3 },
  { lr: 0.3, beta1: 0, beta2: 0.5, eps: 0.5, weightDecay: 0 },
];

function makeState(n: number, seed: number): State {
  const g = testData(n, seed * 4 + 1);
  // A few exact zeros (g = 0 with v = 0 makes the denominator eps alone).
  for (let i = 0; i < n; i += 11) g[i] = 0;
  const v = testData(n, seed * 4 + 3, true);
  for (let i = 0; i < n; i += 13) v[i] = 0;
  return { w: testData(n, seed * 4), g, m: testData(n, seed * 4 + 2), v };
}

/** One adamwStep in `engine` on copies of the state, with guards after every array. */
function runStep(engine: Engine, s: State, h: Hyper, t: number, misalign = 0): { w: Float32Array; m: Float32Array; v: Float32Array } {
  const k = engine.kernels;
  k.resetHeap();
  const n = s.w.length;
  const place = (x: Float32Array, off: number) => {
    const p = engine.alloc((n + GUARD_FLOATS) * 4 + 16) + off;
    engine.f32(p, n).set(x);
    engine.u32(p + 4 * n, GUARD_FLOATS).fill(GUARD);
    return p;
  };
  const pw = place(s.w, misalign), pg = place(s.g, (misalign + 4) % 16), pm = place(s.m, (misalign + 8) % 16), pv = place(s.v, (misalign + 12) % 16);
  k.adamwStep(n, pw, pg, pm, pv, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, t);
  for (const [p, what] of [[pw, "w"], [pg, "grad"], [pm, "m"], [pv, "v"]] as const) {
    if (!engine.u32(p + 4 * n, GUARD_FLOATS).every((x) => x === GUARD)) assert.unreachable(`adamwStep n=${n}: wrote past the end of ${what}`);
  }
  assertSameBits(engine.f32(pg, n).slice(), s.g, "adamwStep left grad unchanged");
  return { w: engine.f32(pw, n).slice(), m: engine.f32(pm, n).slice(), v: engine.f32(pv, n).slice() };
}

/**
 * The documented sequence with every f32 operation rounded by Math.fround (an
 * f32 +, −, ×, ÷ or √ equals the f64 operation rounded once: f64 carries more
 * than 2·24+2 bits). The scalar constants are computed in f64 and rounded to f32,
 * as in adamw.ts; `pow` supplies β^t (see the bit test for when it is exact).
 */
function referenceF32(s: State, h: Hyper, t: number, pow: (b: number, t: number) => number) {
  const decay = f(1 - h.lr * h.weightDecay);
  const b1 = f(h.beta1), c1 = f(1 - h.beta1), b2 = f(h.beta2), c2 = f(1 - h.beta2);
  const stepSize = f(h.lr / (1 - pow(h.beta1, t)));
  const bc2Sqrt = f(Math.sqrt(1 - pow(h.beta2, t)));
  const eps = f(h.eps);
  const n = s.w.length;
  const w = new Float32Array(n), m = new Float32Array(n), v = new Float32Array(n), update = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = s.g[i];
    const mNew = f(f(b1 * s.m[i]) + f(c1 * g));
    const vNew = f(f(b2 * s.v[i]) + f(c2 * f(g * g)));
    const denom = f(f(f(Math.sqrt(vNew)) / bc2Sqrt) + eps);
    const step = f(f(stepSize * mNew) / denom);
    w[i] = f(f(s.w[i] * decay) - step);
    m[i] = mNew;
    v[i] = vNew;
    update[i] = step;
  }
  return { w, m, v, update };
}

/** Plain f64 PyTorch AdamW (decoupled decay, bias-corrected moments). */
function referenceF64(s: State, h: Hyper, t: number) {
  const n = s.w.length;
  const w = new Float64Array(n), update = new Float64Array(n);
  const bc1 = 1 - h.beta1 ** t, bc2 = 1 - h.beta2 ** t;
  for (let i = 0; i < n; i++) {
    const g = s.g[i];
    const m = h.beta1 * s.m[i] + (1 - h.beta1) * g;
    const v = h.beta2 * s.v[i] + (1 - h.beta2) * g * g;
    update[i] = ((h.lr / bc1) * m) / (Math.sqrt(v) / Math.sqrt(bc2) + h.eps);
    w[i] = s.w[i] * (1 - h.lr * h.weightDecay) - update[i];
  }
  return { w, update };
}

// AssemblyScript's Math.pow returns x for y = 1 and x·x for y = 2 before its
// general (musl) path, so for t = 1, 2 β^t is known exactly on both sides.
const exactPow = (b: number, t: number) => (t === 1 ? b : t === 2 ? b * b : NaN);

for (const variant of VARIANTS) {
  test(`${variant} adamwStep: bit-identical to the f32 replay for t = 1 and t = 2, every n in 1..67 and 1000`, () => {
    const engine = engines.get(variant)!;
    for (const n of SIZES) {
      HYPERS.forEach((h, hi) => {
        for (const t of [1, 2]) {
          const s = makeState(n, n * 10 + hi);
          const got = runStep(engine, s, h, t, (n % 4) * 4);
          const want = referenceF32(s, h, t, exactPow);
          const what = `${variant} n=${n} hyper#${hi} t=${t}`;
          assertSameBits(got.m, want.m, `${what} m`);
          assertSameBits(got.v, want.v, `${what} v`);
          assertSameBits(got.w, want.w, `${what} w`);
        }
      });
    }
  });

  test(`${variant} adamwStep: t = 3, 10, 1000 — m, v exact; w within the rounding of the bias-correction constants`, () => {
    const engine = engines.get(variant)!;
    for (const n of [1, 5, 8, 67]) {
      HYPERS.forEach((h, hi) => {
        for (const t of [3, 10, 1000]) {
          const s = makeState(n, n * 7 + hi);
          const got = runStep(engine, s, h, t);
          const want = referenceF32(s, h, t, Math.pow);
          const what = `${variant} n=${n} hyper#${hi} t=${t}`;
          assertSameBits(got.m, want.m, `${what} m`); // independent of t
          assertSameBits(got.v, want.v, `${what} v`);
          for (let i = 0; i < n; i++) {
            // β^t comes from wasm's musl pow and V8's Math.pow, each within ~1 ulp
            // of f64, so 1 − β^t agrees to ~2^-52 absolute (≥ 0.001 here); rounded to
            // f32, stepSize and √(1−β2^t) then agree or are adjacent (≤ 2u relative
            // each). Those two perturbations, and the three downstream roundings
            // (×, ÷ and the +eps of the denominator) each possibly landing on the
            // neighbouring float (≤ 2u), move the update by ≤ 10u·|update|; the
            // final subtraction may then round to the neighbour of w (≤ 2u·|w|).
            const bound = 10 * U * Math.abs(want.update[i]) + 2 * U * Math.abs(want.w[i]);
            const err = Math.abs(got.w[i] - want.w[i]);
            if (!(err <= bound)) assert.unreachable(`${what} w[${i}] = ${got.w[i]}, replay ${want.w[i]}, |err| ${err} > ${bound}`);
          }
        }
      });
    }
  });

  test(`${variant} adamwStep: agrees with a plain f64 AdamW within the f32 error budget`, () => {
    const engine = engines.get(variant)!;
    for (const n of [3, 17, 64]) {
      HYPERS.forEach((h, hi) => {
        for (const t of [1, 2, 5, 100]) {
          const s = makeState(n, n * 3 + hi);
          const got = runStep(engine, s, h, t);
          const ref = referenceF64(s, h, t);
          for (let i = 0; i < n; i++) {
            // Relative f32 errors (u = 2^-24): β, 1−β and the constants ≤ u each;
            // m̂ = β1m + (1−β1)g ≤ 3u of its magnitude sum |β1m| + |(1−β1)g| — which
            // may exceed |m̂| under cancellation, so the bound uses that sum; v (all
            // terms ≥ 0) ≤ 4u, √ halves it and rounds (≤ 3u), ÷√bc2, +eps ≤ 3u more;
            // stepSize·m ÷ denom ≤ 3u + m's. Summed: ≤ 16u·(|update| computed with
            // the magnitude sum of m); then w·decay and the subtraction ≤ 2u·|w|.
            const mAbs = Math.abs(h.beta1 * s.m[i]) + Math.abs((1 - h.beta1) * s.g[i]);
            const mVal = Math.abs(h.beta1 * s.m[i] + (1 - h.beta1) * s.g[i]);
            const updAbs = mVal === 0 ? mAbs * (Math.abs(ref.update[i]) + 1) : Math.abs(ref.update[i]) * (mAbs / mVal);
            const bound = 16 * U * updAbs + 2 * U * (Math.abs(s.w[i]) + Math.abs(ref.w[i])) + 1e-38;
            const err = Math.abs(got.w[i] - ref.w[i]);
            if (!(err <= bound)) assert.unreachable(`${variant} n=${n} hyper#${hi} t=${t} w[${i}] = ${got.w[i]}, f64 ${ref.w[i]}, |err| ${err} > ${bound}`);
          }
        }
      });
    }
  });

  test(`${variant} adamwStep: the first step from m = v = 0 moves each weight by ≈ lr·sign(g) after decay`, () => {
    const engine = engines.get(variant)!;
    const n = 23, h: Hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
    const s: State = { w: testData(n, 1), g: testData(n, 2), m: new Float32Array(n), v: new Float32Array(n) };
    s.g.forEach((x, i) => (s.g[i] = Math.sign(x) * Math.max(Math.abs(x), 0.01))); // |g| ≥ 0.01 ≫ eps
    const got = runStep(engine, s, h, 1);
    for (let i = 0; i < n; i++) {
      // Bias correction makes m̂ = g and v̂ = g², so the update is lr·g/(|g| + eps)
      // = lr·sign(g)·(1 − O(eps/|g|) = 1e-6); the f32 work adds ≤ 20u relative.
      const want = s.w[i] * (1 - h.lr * h.weightDecay) - h.lr * Math.sign(s.g[i]);
      assert.ok(Math.abs(got.w[i] - want) <= h.lr * 2e-6 + 4 * U * Math.abs(s.w[i]), `w[${i}] = ${got.w[i]}, expected ≈ ${want}`);
      assert.ok(Math.abs(got.m[i] - 0.1 * s.g[i]) <= 2 * U * Math.abs(s.g[i]), `m[${i}]`);
      assert.ok(Math.abs(got.v[i] - 0.001 * s.g[i] ** 2) <= 4 * U * s.g[i] ** 2, `v[${i}]`);
    }
  });
}

test("adamwStep: SIMD and scalar builds bit-identical, single steps at many t", () => {
  for (const n of SIZES) {
    for (const t of [1, 2, 3, 7, 50]) {
      const h = HYPERS[n % HYPERS.length], s = makeState(n, n + 500 * t);
      const a = runStep(engines.get("simd")!, s, h, t, 4), b = runStep(engines.get("scalar")!, s, h, t, 4);
      assertSameBits(a.w, b.w, `n=${n} t=${t} w`);
      assertSameBits(a.m, b.m, `n=${n} t=${t} m`);
      assertSameBits(a.v, b.v, `n=${n} t=${t} v`);
    }
  }
});

test("adamwStep: ten steps on a quadratic decrease the loss every step (both builds, identical trajectories)", () => {
  const n = 37;
  const u = seededUniform(77);
  const a = Float64Array.from({ length: n }, () => 1.25 + 0.75 * u()); // curvatures in [0.5, 2)
  const c = Float64Array.from({ length: n }, () => 2 * u()); // optimum in [−2, 2)
  const w0 = Float32Array.from(c, (ci) => ci + (u() < 0 ? -1 : 1) * (1 + (u() + 1) / 2)); // 1 to 2 away
  const loss = (w: Float32Array) => w.reduce((sum, wi, i) => sum + 0.5 * a[i] * (wi - c[i]) ** 2, 0);
  const h: Hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const finals: Float32Array[] = [];
  for (const variant of VARIANTS) {
    const engine = engines.get(variant)!;
    const k = engine.kernels;
    k.resetHeap();
    const pw = engine.allocF32(n), pg = engine.allocF32(n), pm = engine.allocF32(n), pv = engine.allocF32(n);
    engine.f32(pw, n).set(w0);
    let prev = loss(w0);
    for (let t = 1; t <= 10; t++) {
      const w = engine.f32(pw, n), g = engine.f32(pg, n);
      for (let i = 0; i < n; i++) g[i] = a[i] * (w[i] - c[i]);
      k.adamwStep(n, pw, pg, pm, pv, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, t);
      const now = loss(engine.f32(pw, n));
      // Every coordinate starts ≥ 1 from its optimum and Adam moves it ≤ ~lr = 0.01
      // per step toward it (the decay term 1e-4·|w| is smaller), so no coordinate
      // can overshoot in 10 steps and the loss must fall at every step.
      assert.ok(now < prev, `${variant} step ${t}: loss ${now} did not fall below ${prev}`);
      prev = now;
    }
    const w = engine.f32(pw, n);
    for (let i = 0; i < n; i++) {
      // Constant gradient sign: each step is ≈ lr (Adam's normalised step), so the
      // total move is 10·lr within the few-percent effect of decay and of m̂/√v̂
      // drifting as |g| shrinks.
      const moved = Math.abs(w[i] - w0[i]);
      assert.ok(moved > 0.09 && moved < 0.11, `${variant} w[${i}] moved ${moved}, expected ≈ 0.1`);
    }
    finals.push(w.slice());
  }
  assertSameBits(finals[0], finals[1], "simd vs scalar after 10 steps");
});

// ── sumOfSquares, scaleInPlace ──────────────────────────────────────────────

for (const variant of VARIANTS) {
  test(`${variant} sumOfSquares: exact replay of the 4-lane f64 order, and within n·2^-53 of the f64 sum`, () => {
    const engine = engines.get(variant)!;
    for (const n of [0, ...SIZES, 4099]) {
      engine.kernels.resetHeap();
      const x = testData(n, 40 + n);
      const p = engine.allocF32(Math.max(n, 1));
      engine.f32(p, n).set(x);
      const got = engine.kernels.sumOfSquares(p, n);
      // Lanes as documented: l0..l3 over blocks of four, the tail into l0, l1, l2,
      // then l0 + l1 + l2 + l3. f32·f32 is exact in f64 (48 ≤ 53 bits).
      const l = [0, 0, 0, 0];
      let i = 0;
      for (; i + 4 <= n; i += 4) for (let j = 0; j < 4; j++) l[j] += x[i + j] * x[i + j];
      for (let lane = 0; i < n; i++, lane++) l[lane] += x[i] * x[i];
      assert.ok(Object.is(got, l[0] + l[1] + l[2] + l[3]), `n=${n}: ${got} vs lane replay ${l[0] + l[1] + l[2] + l[3]}`);
      let sum = 0;
      for (let j = 0; j < n; j++) sum += x[j] * x[j];
      // Two f64 summations of the same n exact nonnegative terms, each ≤ (n−1)·2^-53 relative off.
      assert.ok(Math.abs(got - sum) <= 2 * n * 2 ** -53 * sum, `n=${n}: ${got} vs f64 ${sum}`);
    }
    const p = engine.allocF32(3);
    engine.f32(p, 3).set([3, -4, 12]);
    assert.is(engine.kernels.sumOfSquares(p, 3), 169);
  });

  test(`${variant} scaleInPlace: x·f32(s), one rounding, exactly n floats`, () => {
    const engine = engines.get(variant)!;
    for (const n of SIZES) {
      for (const s of [0.1, -3, 0, 1e-3, 1]) {
        engine.kernels.resetHeap();
        const x = testData(n, n + 900);
        const p = engine.alloc((n + GUARD_FLOATS) * 4);
        engine.f32(p, n).set(x);
        engine.u32(p + 4 * n, GUARD_FLOATS).fill(GUARD);
        engine.kernels.scaleInPlace(p, n, s);
        // s is an f32 parameter, so the wasm sees f32(s); the product rounds once.
        const want = x.map((xi) => xi * f(s));
        assertSameBits(engine.f32(p, n).slice(), want, `n=${n} s=${s}`);
        assert.ok(engine.u32(p + 4 * n, GUARD_FLOATS).every((g) => g === GUARD), `n=${n}: wrote past n`);
      }
    }
  });
}

test("sumOfSquares and scaleInPlace: SIMD and scalar builds bit-identical", () => {
  for (const n of SIZES) {
    const x = testData(n, n + 1234);
    const [a, b] = VARIANTS.map((variant) => {
      const e = engines.get(variant)!;
      e.kernels.resetHeap();
      const p = e.allocF32(n);
      e.f32(p, n).set(x);
      const sum = e.kernels.sumOfSquares(p, n);
      e.kernels.scaleInPlace(p, n, 0.37);
      return { sum, x: e.f32(p, n).slice() };
    });
    assert.ok(Object.is(a.sum, b.sum), `n=${n} sumOfSquares`);
    assertSameBits(a.x, b.x, `n=${n} scaleInPlace`);
  }
});

test.run();
