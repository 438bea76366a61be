// Bias, activations and the MSE loss (assembly/elementwise.ts) against plain
// f64 references and f32-exact replays, over every size 1..67 (so every SIMD
// tail length occurs), with guard words after each output, in both builds.
//
// A note used throughout: for f32 inputs a, b the f64 result of a+b, a−b or a·b,
// rounded once with Math.fround, IS the IEEE f32 result (f64 has more than
// 2·24+2 significand bits, so the double rounding is innocuous). A single f32
// operation is therefore checked bit for bit against its f64 reference.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, seededUniform } from "../helpers.ts";
import { U, bits, hex, assertSameBits, place, read, loadEngines } from "./buffers.ts";
import type { Engine } from "../../src/engine.ts";

const engines = await loadEngines();

const SIZES = Array.from({ length: 67 }, (_, i) => i + 1);


/** Values with varied exponents (uniform mantissa × 2^-6..2^6), so a changed order or an extra rounding shows in the low bits. */
function testData(n: number, seed: number): Float32Array {
  const u = seededUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = u() * 2 ** Math.round(u() * 6);
  return out;
}




/** Run every kernel call of `body` in both builds and demand bit-identical results. */
function bothBuilds(body: (engine: Engine) => Float32Array[], what: string) {
  const [a, b] = VARIANTS.map((v) => {
    const engine = engines.get(v)!;
    engine.kernels.resetHeap();
    return body(engine);
  });
  a.forEach((x, i) => assertSameBits(x, b[i], `${what} simd vs scalar (output ${i})`));
}

// ── biasAdd ─────────────────────────────────────────────────────────────────

function biasAdd(engine: Engine, Z: Float32Array, b: Float32Array, M: number, N: number, misalign: number): Float32Array {
  engine.kernels.resetHeap();
  const pZ = place(engine, Z, misalign), pb = place(engine, b, (misalign + 4) % 16);
  engine.kernels.biasAdd(pZ, pb, M, N);
  assertSameBits(read(engine, pb, N, "biasAdd b"), b, "biasAdd left b unchanged");
  return read(engine, pZ, M * N, `biasAdd M=${M} N=${N}`);
}

for (const variant of VARIANTS) {
  test(`${variant} biasAdd: Z[i,j] + b[j] rounded once to f32, every N in 1..67, unaligned rows`, () => {
    const engine = engines.get(variant)!;
    for (const M of [1, 2, 5]) {
      for (const N of SIZES) {
        const Z = testData(M * N, M * 100 + N), b = testData(N, 7 * N);
        const got = biasAdd(engine, Z, b, M, N, (N % 4) * 4);
        const want = new Float32Array(M * N);
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) want[i * N + j] = Z[i * N + j] + b[j]; // f64 sum, rounded once on store
        assertSameBits(got, want, `${variant} biasAdd M=${M} N=${N}`);
      }
    }
  });
}

test("biasAdd: SIMD and scalar builds bit-identical", () => {
  for (const N of SIZES) {
    const M = 3, Z = testData(M * N, N), b = testData(N, N + 1000);
    bothBuilds((e) => [biasAdd(e, Z, b, M, N, 4)], `biasAdd N=${N}`);
  }
});

// ── biasGrad ────────────────────────────────────────────────────────────────

function biasGrad(engine: Engine, db0: Float32Array, dZ: Float32Array, M: number, N: number, accumulate: number, misalign: number): Float32Array {
  engine.kernels.resetHeap();
  const pdb = place(engine, db0, misalign), pdZ = place(engine, dZ, (misalign + 8) % 16);
  engine.kernels.biasGrad(pdb, pdZ, M, N, accumulate);
  assertSameBits(read(engine, pdZ, M * N, "biasGrad dZ"), dZ, "biasGrad left dZ unchanged");
  return read(engine, pdb, N, `biasGrad M=${M} N=${N} accumulate=${accumulate}`);
}

for (const variant of VARIANTS) {
  test(`${variant} biasGrad: rows summed in ascending order in f32 (bit-exact replay) and within the summation bound of f64`, () => {
    const engine = engines.get(variant)!;
    for (const M of [1, 3, 7, 33]) {
      for (const N of SIZES) {
        // db starts as nonzero garbage: with accumulate=0 it must be overwritten.
        const dZ = testData(M * N, 31 * M + N), db0 = testData(N, 5 * N + M);
        for (const accumulate of [0, 1]) {
          const got = biasGrad(engine, db0, dZ, M, N, accumulate, (M % 4) * 4);
          const replay = new Float32Array(N);
          for (let j = 0; j < N; j++) {
            let acc = accumulate ? db0[j] : 0;
            for (let i = 0; i < M; i++) acc = Math.fround(acc + dZ[i * N + j]);
            replay[j] = acc;
          }
          assertSameBits(got, replay, `${variant} biasGrad M=${M} N=${N} accumulate=${accumulate}`);
          for (let j = 0; j < N; j++) {
            let sum = accumulate ? db0[j] : 0, abs = Math.abs(sum);
            for (let i = 0; i < M; i++) {
              sum += dZ[i * N + j];
              abs += Math.abs(dZ[i * N + j]);
            }
            // Recursive f32 summation of n = M (+1 with accumulate) terms has
            // |error| ≤ γ_(n−1)·Σ|terms|, γ_k = k·u/(1−k·u); M·2u ≥ γ_M for these M.
            const bound = M * 2 * U * abs;
            assert.ok(Math.abs(got[j] - sum) <= bound, `${variant} biasGrad M=${M} N=${N} acc=${accumulate} db[${j}] = ${got[j]}, f64 ${sum}, bound ${bound}`);
          }
        }
      }
    }
  });
}

test("biasGrad: SIMD and scalar builds bit-identical", () => {
  for (const N of SIZES) {
    const M = 9, dZ = testData(M * N, N + 77), db0 = testData(N, N + 78);
    bothBuilds((e) => [biasGrad(e, db0, dZ, M, N, 0, 12), biasGrad(e, db0, dZ, M, N, 1, 0)], `biasGrad N=${N}`);
  }
});

// ── activations ─────────────────────────────────────────────────────────────

const IDENTITY = 0, RELU = 1, TANH = 2;
const KIND_NAMES = ["identity", "relu", "tanh"];

/** Special inputs appended to the random ones: signed zeros, subnormals, the tanh saturation edge, infinities. */
const SPECIALS = new Float32Array([0, -0, 1e-40, -1e-40, 1e-30, -1e-30, 9.99, 10, 10.01, -10.01, 30, -30, Infinity, -Infinity, 2 ** -12, 0.2554, -0.55]);

function activationForward(engine: Engine, kind: number, H: Float32Array, misalign: number): Float32Array {
  engine.kernels.resetHeap();
  const p = place(engine, H, misalign);
  engine.kernels.activationForward(kind, p, H.length);
  return read(engine, p, H.length, `activationForward ${KIND_NAMES[kind]} n=${H.length}`);
}

function activationBackward(engine: Engine, kind: number, H: Float32Array, dH: Float32Array, misalign: number): Float32Array {
  engine.kernels.resetHeap();
  const pH = place(engine, H, misalign), pdH = place(engine, dH, (misalign + 4) % 16);
  engine.kernels.activationBackward(kind, pH, pdH, H.length);
  assertSameBits(read(engine, pH, H.length, "activationBackward H"), H, "activationBackward left H unchanged");
  return read(engine, pdH, H.length, `activationBackward ${KIND_NAMES[kind]} n=${H.length}`);
}

/** Spacing of f32 numbers in the binade of |y| (normal y). */
const ulpF32 = (y: number) => 2 ** (Math.floor(Math.log2(Math.abs(Math.fround(y)))) - 23);

function activationInputs(n: number, seed: number): Float32Array {
  // Half the inputs negative so relu's both branches and tanh's odd symmetry occur in every SIMD block.
  return testData(n, seed);
}

for (const variant of VARIANTS) {
  test(`${variant} activationForward identity: leaves H untouched (bits, incl. −0 and NaN)`, () => {
    const engine = engines.get(variant)!;
    for (const n of SIZES) {
      const H = activationInputs(n, n);
      assertSameBits(activationForward(engine, IDENTITY, H, (n % 4) * 4), H, `identity n=${n}`);
    }
    const special = new Float32Array([...SPECIALS, NaN]);
    assertSameBits(activationForward(engine, IDENTITY, special, 0), special, "identity specials");
  });

  test(`${variant} activationForward relu: max(x, 0) for every n in 1..67; relu(+0) = relu(−0) = +0`, () => {
    const engine = engines.get(variant)!;
    for (const n of SIZES) {
      const H = activationInputs(n, 1000 + n);
      const want = H.map((x) => (x > 0 ? x : 0));
      assertSameBits(activationForward(engine, RELU, H, (n % 4) * 4), want, `relu n=${n}`);
    }
    // Documented behaviour at the kink: wasm f32.max orders −0 below +0, so both
    // zeros map to +0 (as PyTorch's relu does); −0 is checked in the SIMD body
    // (first 4 lanes) and in the scalar tail (lane 4).
    for (const n of [1, 5]) {
      const zeros = new Float32Array(n).fill(-0);
      const got = bits(activationForward(engine, RELU, zeros, 0));
      for (let i = 0; i < n; i++) assert.is(got[i], 0, `relu(−0) at index ${i} of ${n} must be +0, got ${hex(new Float32Array(got.buffer)[i])}`);
      const pos = bits(activationForward(engine, RELU, new Float32Array(n), 0));
      for (let i = 0; i < n; i++) assert.is(pos[i], 0, `relu(+0) at index ${i} of ${n} must be +0`);
    }
    // NaN propagates (f32.max of NaN is NaN), ±∞ → +∞ / 0, subnormals kept.
    const got = activationForward(engine, RELU, new Float32Array([NaN, Infinity, -Infinity, 1e-40, -1e-40]), 0);
    assert.ok(Number.isNaN(got[0]), "relu(NaN) is NaN");
    assert.equal([...got.subarray(1)], [Infinity, 0, Math.fround(1e-40), 0]);
  });

  test(`${variant} activationForward tanh: within 2.5 ulp of f64 Math.tanh; odd; exact ±1 beyond 10`, () => {
    const engine = engines.get(variant)!;
    const check = (H: Float32Array, what: string) => {
      const got = activationForward(engine, TANH, H, 4);
      for (let i = 0; i < H.length; i++) {
        const want = Math.tanh(H[i]);
        if (want === 0 || Math.abs(H[i]) < 2 ** -126) {
          // Zeros and subnormals: musl returns x itself (tanh x = x to within x³/3, far below an ulp).
          assert.is(bits(got.subarray(i, i + 1))[0], bits(H.subarray(i, i + 1))[0], `${what}: tanh(${H[i]}) must return x`);
          continue;
        }
        // Mathf.tanh is musl's tanhf (expm1f-based). An exhaustive scan of every
        // positive normal f32 below 10 against f64 Math.tanh (run when this test was
        // written, ~2 min) found a worst error of 2.19 ulp (at x = 0.23329562);
        // tanhf is odd (copysign) and returns exactly 1 above 10, so 2.5 ulp bounds
        // all inputs. A wrong branch constant or missing copysign errs by ≫ 1 ulp.
        const err = Math.abs(got[i] - want) / ulpF32(want);
        if (!(err <= 2.5)) assert.unreachable(`${what}: tanh(${H[i]}) = ${got[i]}, Math.tanh ${want}, ${err.toFixed(2)} ulp`);
        if (Math.abs(H[i]) > 10) assert.is(got[i], Math.sign(H[i]), `tanh(${H[i]}) saturates to ±1 exactly`);
      }
    };
    for (const n of SIZES) check(activationInputs(n, 2000 + n), `tanh n=${n}`);
    check(SPECIALS, "tanh specials");
    // Oddness, bit for bit: tanh(−x) = −tanh(x).
    const H = activationInputs(67, 5);
    const pos = activationForward(engine, TANH, H, 0), neg = activationForward(engine, TANH, H.map((x) => -x), 0);
    assertSameBits(neg, pos.map((x) => -x), "tanh(−x) = −tanh(x)");
  });

  test(`${variant} activationBackward: identity unchanged; relu passes dH where H > 0 else +0; tanh dH·(1 − H²) in f32`, () => {
    const engine = engines.get(variant)!;
    for (const n of SIZES) {
      // H as produced by the forward pass: relu outputs (≥ 0, with exact zeros), tanh outputs (in (−1, 1)).
      const dH = testData(n, 3000 + n);
      const Hrelu = activationInputs(n, 4000 + n).map((x) => (x > 0 ? x : 0));
      const Htanh = activationInputs(n, 5000 + n).map((x) => Math.tanh(x));
      assertSameBits(activationBackward(engine, IDENTITY, Hrelu, dH, (n % 4) * 4), dH, `identity backward n=${n}`);
      assertSameBits(activationBackward(engine, RELU, Hrelu, dH, (n % 4) * 4), dH.map((g, i) => (Hrelu[i] > 0 ? g : 0)), `relu backward n=${n}`);
      const got = activationBackward(engine, TANH, Htanh, dH, (n % 4) * 4);
      // Bit-exact replay of the documented sequence: h·h, 1 − ·, dH · (three f32 roundings).
      const replay = dH.map((g, i) => Math.fround(g * Math.fround(1 - Math.fround(Htanh[i] * Htanh[i]))));
      assertSameBits(got, replay, `tanh backward n=${n}`);
      for (let i = 0; i < n; i++) {
        // vs f64 dH·(1 − h²): h² rounds by ≤ u·h² ≤ u (absolute), 1 − h² by ≤ u·(1−h²),
        // the product by ≤ u·|result|; so |error| ≤ |dH|·(u + 2u(1−h²)) ≤ 3u·|dH|.
        const want = dH[i] * (1 - Htanh[i] * Htanh[i]);
        assert.ok(Math.abs(got[i] - want) <= 3 * U * Math.abs(dH[i]), `tanh backward [${i}] = ${got[i]}, f64 ${want}`);
      }
    }
    // The kink: H = +0 or −0 means "not active" (relu's subgradient 0 at 0, as
    // PyTorch's threshold_backward uses result > 0); the result is +0 even for dH < 0.
    const H = new Float32Array([0, -0, 0, -0, 0, -0, 1e-40]);
    const dH = new Float32Array([-1, -2, 3, 4, -5, 6, -7]);
    const got = activationBackward(engine, RELU, H, dH, 0);
    assertSameBits(got, new Float32Array([0, 0, 0, 0, 0, 0, -7]), "relu backward at H = ±0 (and a subnormal H > 0)");
  });
}

test("activations: SIMD and scalar builds bit-identical, forward and backward", () => {
  for (const n of SIZES) {
    const H = activationInputs(n, 6000 + n), dH = testData(n, 7000 + n);
    for (const kind of [IDENTITY, RELU, TANH]) {
      bothBuilds((e) => {
        const out = activationForward(e, kind, H, 8);
        return [out, activationBackward(e, kind, out, dH, 4)];
      }, `${KIND_NAMES[kind]} n=${n}`);
    }
  }
  for (const kind of [RELU, TANH]) bothBuilds((e) => [activationForward(e, kind, SPECIALS, 0)], `${KIND_NAMES[kind]} specials`);
});

// ── mseLoss ─────────────────────────────────────────────────────────────────

function mseLoss(engine: Engine, pred: Float32Array, y: Float32Array, withGrad: boolean): { loss: number; dPred: Float32Array | null } {
  engine.kernels.resetHeap();
  const n = pred.length;
  const pp = place(engine, pred, 4), py = place(engine, y, 8);
  const pd = withGrad ? place(engine, testData(n, 1), 12) : 0;
  const loss = engine.kernels.mseLoss(pp, py, n, pd);
  assertSameBits(read(engine, pp, n, "mse pred"), pred, "mseLoss left pred unchanged");
  assertSameBits(read(engine, py, n, "mse y"), y, "mseLoss left y unchanged");
  return { loss, dPred: withGrad ? read(engine, pd, n, `mseLoss dPred count=${n}`) : null };
}

const COUNTS = [...SIZES, 1000, 4097];

for (const variant of VARIANTS) {
  test(`${variant} mseLoss: f64 mean of squared f32 differences; dPred = (pred − y)·(2/count) in f32`, () => {
    const engine = engines.get(variant)!;
    for (const count of COUNTS) {
      const pred = testData(count, 8000 + count), y = testData(count, 9000 + count);
      const { loss, dPred } = mseLoss(engine, pred, y, true);
      // Bit-exact replay of the documented sequence (JS f64 arithmetic is wasm's).
      const scale = Math.fround(2 / count);
      let sum = 0;
      const replay = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const diff = Math.fround(pred[i] - y[i]);
        sum += diff * diff;
        replay[i] = diff * scale;
      }
      assert.ok(Object.is(loss, sum / count), `count=${count}: loss ${loss} vs replay ${sum / count}`);
      assertSameBits(dPred!, replay, `${variant} mseLoss dPred count=${count}`);
      // Plain f64 reference. Each term's difference rounds once to f32 (relative
      // u), so its square is off by ≤ 2u + u²; the f64 sums/divisions of both sides
      // add ≤ (count + 2)·2^-53 relative each (all terms are nonnegative).
      let ref = 0;
      for (let i = 0; i < count; i++) ref += (pred[i] - y[i]) ** 2;
      ref /= count;
      const bound = (2 * U + U * U + 2 * (count + 2) * 2 ** -53) * ref;
      assert.ok(Math.abs(loss - ref) <= bound, `count=${count}: loss ${loss}, f64 ${ref}, |err| ${Math.abs(loss - ref)} > ${bound}`);
      for (let i = 0; i < count; i++) {
        // Three f32 roundings (difference, 2/count, product): ≤ 3u(1+u)² < 4u relative.
        const want = ((pred[i] - y[i]) * 2) / count;
        assert.ok(Math.abs(dPred![i] - want) <= 4 * U * Math.abs(want), `count=${count} dPred[${i}] = ${dPred![i]}, f64 ${want}`);
      }
    }
  });

  test(`${variant} mseLoss: dPred = 0 computes the same loss and writes nothing (memory at address 0 unchanged)`, () => {
    const engine = engines.get(variant)!;
    for (const count of [1, 7, 67]) {
      const pred = testData(count, count), y = testData(count, count + 1);
      const before = new Uint8Array(engine.kernels.memory.buffer, 0, 4 * count + 64).slice();
      const { loss } = mseLoss(engine, pred, y, false);
      const after = new Uint8Array(engine.kernels.memory.buffer, 0, 4 * count + 64);
      assert.equal([...after], [...before], `count=${count}: low memory changed`);
      assert.ok(Object.is(loss, mseLoss(engine, pred, y, true).loss), "same loss with and without dPred");
    }
  });

  test(`${variant} mseLoss: zero when pred = y, and exact on a hand-computed case`, () => {
    const engine = engines.get(variant)!;
    const v = testData(9, 3);
    const same = mseLoss(engine, v, v, true);
    assert.is(same.loss, 0);
    assert.ok(same.dPred!.every((x) => x === 0));
    // pred − y = (1, −2, 3): Σ² = 14, mean 14/3; dPred = (2/3, −4/3, 2)·… in f32.
    const r = mseLoss(engine, new Float32Array([2, 0, 3.5]), new Float32Array([1, 2, 0.5]), true);
    assert.is(r.loss, 14 / 3);
    assertSameBits(r.dPred!, new Float32Array([Math.fround(2 / 3), Math.fround(-2 * Math.fround(2 / 3)), Math.fround(3 * Math.fround(2 / 3))]), "hand case dPred");
  });
}

test("mseLoss: SIMD and scalar builds bit-identical", () => {
  for (const count of COUNTS) {
    const pred = testData(count, count + 11), y = testData(count, count + 12);
    const a = mseLoss(engines.get("simd")!, pred, y, true), b = mseLoss(engines.get("scalar")!, pred, y, true);
    assert.ok(Object.is(a.loss, b.loss), `count=${count}: loss simd ${a.loss} vs scalar ${b.loss}`);
    assertSameBits(a.dPred!, b.dPred!, `count=${count} dPred simd vs scalar`);
  }
});

test.run();
