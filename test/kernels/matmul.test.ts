// matmulAB / matmulABt / matmulAtB against two JS references, in both builds.
//
// The determinism contract (assembly/matmul.ts): every C element is
//   acc = accumulate ? C[i,j] : 0;  for k ascending: acc = f32(acc + f32(a_ik * b_kj))
// so the kernels must match, bit for bit, a JS loop that applies Math.fround
// after every multiply and every add in that order (exact: f64 holds the
// product of two f32 exactly and rounds an f32 sum only once, research notes
// §3.2). A second, f64 reference checks that the bits are also the right
// numbers, within the textbook error bound of recursive summation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, seededUniform } from "../helpers.ts";
import type { Engine, Variant } from "../../src/engine.ts";

type Op = "matmulAB" | "matmulABt" | "matmulAtB";
const OPS: Op[] = ["matmulAB", "matmulABt", "matmulAtB"];
type Shape = [M: number, N: number, K: number];

/** Where element (i,k) of the left factor and (k,j) of the right factor live in A and B. */
const layout: Record<Op, { a: (i: number, k: number, M: number, K: number) => number; b: (k: number, j: number, N: number, K: number) => number; what: string }> = {
  matmulAB: { a: (i, k, _M, K) => i * K + k, b: (k, j, N) => k * N + j, what: "A[M,K]·B[K,N]" },
  matmulABt: { a: (i, k, _M, K) => i * K + k, b: (k, j, _N, K) => j * K + k, what: "A[M,K]·B[N,K]ᵀ" },
  matmulAtB: { a: (i, k, M) => k * M + i, b: (k, j, N) => k * N + j, what: "A[K,M]ᵀ·B[K,N]" },
};

// Every edge of the kernel: M%4 in 0..3 (4-row tiles, 1-row leftovers), N%8 in
// 0..7 (8-wide panels, the 4-wide panel, 1–3 scalar columns), M below and above
// the row count at which A·B / Aᵀ·B start packing B (8), K = 1, odd K, and K
// across the kernel's K blocks (whose running sums must resume exactly).
const FIXED_SHAPES: Shape[] = [
  [1, 1, 1], [1, 7, 3], [3, 1, 5], [4, 8, 1], [5, 9, 17], [13, 31, 7], [33, 17, 67], [67, 67, 67],
  [64, 64, 64], [2, 67, 1], [4, 4, 4], [4, 12, 2], [7, 5, 9], [8, 8, 8], [8, 15, 67], [9, 13, 11],
  [11, 14, 1], [12, 20, 3], [16, 4, 16], [6, 6, 6], [1, 67, 67], [67, 1, 67], [40, 36, 23], [3, 11, 2],
  [10, 23, 5], [17, 3, 30], [2, 2, 67],
  // K beyond one K block (256 in assembly/matmul.ts), M over 16 rows (several
  // A strips packed at once), and more 8-wide panels than one L2 group holds
  // (16 at a full K block), with the 4-wide panel in the second group.
  [21, 12, 300], [6, 9, 513], [37, 20, 257], [9, 140, 260],
];
const RANDOM_SHAPES: Shape[] = (() => {
  const u = seededUniform(20240611);
  const dim = () => 1 + Math.floor(((u() + 1) / 2) * 67); // 1..67
  return Array.from({ length: 16 }, () => [dim(), dim(), dim()] as Shape);
})();
const SHAPES = [...FIXED_SHAPES, ...RANDOM_SHAPES];

/**
 * Test data with varied exponents (uniform mantissa times 2^-6..2^6), so that
 * any change in the order of additions shows up in the low bits.
 */
function fillTestData(view: Float32Array, seed: number): void {
  const u = seededUniform(seed);
  for (let i = 0; i < view.length; i++) view[i] = u() * 2 ** Math.round(u() * 6);
}

interface Inputs { A: Float32Array; B: Float32Array; C0: Float32Array }

function makeInputs(shape: Shape, seed: number): Inputs {
  const [M, N, K] = shape;
  const A = new Float32Array(M * K), B = new Float32Array(K * N), C0 = new Float32Array(M * N);
  fillTestData(A, seed * 3 + 1);
  fillTestData(B, seed * 3 + 2);
  fillTestData(C0, seed * 3 + 3);
  return { A, B, C0 };
}

/** The contract, written out in JS: f32 multiply, f32 add, k ascending, from C or +0. */
function referenceF32(op: Op, [M, N, K]: Shape, { A, B, C0 }: Inputs, accumulate: number, kOrder: "ascending" | "descending" = "ascending"): Float32Array {
  const { a, b } = layout[op];
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = accumulate ? C0[i * N + j] : 0;
      for (let t = 0; t < K; t++) {
        const k = kOrder === "ascending" ? t : K - 1 - t;
        acc = Math.fround(acc + Math.fround(A[a(i, k, M, K)] * B[b(k, j, N, K)]));
      }
      out[i * N + j] = acc;
    }
  }
  return out;
}

/** The exact-ish value (f64 sums of exact products) and Σ|terms| for the error bound. */
function referenceF64(op: Op, [M, N, K]: Shape, { A, B, C0 }: Inputs, accumulate: number) {
  const { a, b } = layout[op];
  const value = new Float64Array(M * N), magnitude = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = accumulate ? C0[i * N + j] : 0;
      let abs = Math.abs(sum);
      for (let k = 0; k < K; k++) {
        const p = A[a(i, k, M, K)] * B[b(k, j, N, K)];
        sum += p;
        abs += Math.abs(p);
      }
      value[i * N + j] = sum;
      magnitude[i * N + j] = abs;
    }
  }
  return { value, magnitude };
}

const GUARD_FLOATS = 8;
const GUARD_BITS = 0x7fa5a5a5; // a NaN payload no kernel computes

interface Run { C: Float32Array; guardsIntact: boolean; inputsIntact: boolean; scratchGuardIntact: boolean }

/**
 * Run one product in a fresh heap. A, B and C sit `misalign` bytes past a
 * 16-byte boundary (arena slices need not be aligned), with guard words before
 * and after C and after the scratch region matmulScratchBytes asked for.
 */
function runKernel(engine: Engine, op: Op, shape: Shape, inputs: Inputs, accumulate: number, misalign = 0): Run {
  const [M, N, K] = shape;
  const k = engine.kernels;
  k.resetHeap();
  const scratchBytes = k.matmulScratchBytes(M, N, K);
  assert.ok(scratchBytes >= 0, `matmulScratchBytes(${shape}) = ${scratchBytes}`);
  const pA = engine.alloc(inputs.A.byteLength + 16) + misalign;
  const pB = engine.alloc(inputs.B.byteLength + 16) + misalign;
  const pCRegion = engine.alloc((M * N + 2 * GUARD_FLOATS) * 4 + 16) + misalign;
  const pC = pCRegion + GUARD_FLOATS * 4;
  const pScratch = engine.alloc(scratchBytes + GUARD_FLOATS * 4);
  engine.f32(pA, inputs.A.length).set(inputs.A);
  engine.f32(pB, inputs.B.length).set(inputs.B);
  engine.u32(pCRegion, M * N + 2 * GUARD_FLOATS).fill(GUARD_BITS);
  // With accumulate=0 C starts as nonzero garbage, so a kernel that added to it would fail.
  engine.f32(pC, M * N).set(inputs.C0);
  engine.u32(pScratch + scratchBytes, GUARD_FLOATS).fill(GUARD_BITS);

  k[op](pC, pA, pB, M, N, K, accumulate, pScratch);

  const region = engine.u32(pCRegion, M * N + 2 * GUARD_FLOATS);
  const guardsIntact =
    region.subarray(0, GUARD_FLOATS).every((w) => w === GUARD_BITS) &&
    region.subarray(GUARD_FLOATS + M * N).every((w) => w === GUARD_BITS);
  const sameBits = (x: Float32Array, y: Float32Array) => firstMismatch(new Uint32Array(x.buffer, x.byteOffset, x.length), new Uint32Array(y.buffer, y.byteOffset, y.length)) < 0;
  const inputsIntact = sameBits(engine.f32(pA, inputs.A.length), inputs.A) && sameBits(engine.f32(pB, inputs.B.length), inputs.B);
  const scratchGuardIntact = engine.u32(pScratch + scratchBytes, GUARD_FLOATS).every((w) => w === GUARD_BITS);
  return { C: engine.f32(pC, M * N).slice(), guardsIntact, inputsIntact, scratchGuardIntact };
}

function firstMismatch(x: Uint32Array, y: Uint32Array): number {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
const hex = (f: number) => "0x" + (new Uint32Array(new Float32Array([f]).buffer)[0] >>> 0).toString(16).padStart(8, "0");

function assertSameBits(got: Float32Array, want: Float32Array, N: number, what: string) {
  const at = firstMismatch(bits(got), bits(want));
  if (at >= 0) {
    const i = Math.floor(at / N), j = at % N;
    assert.unreachable(`${what}: C[${i},${j}] = ${got[at]} (${hex(got[at])}), expected ${want[at]} (${hex(want[at])})`);
  }
}

const engines = new Map<Variant, Engine>();
for (const variant of VARIANTS) engines.set(variant, await loadEngine(variant));

const label = (op: Op, shape: Shape, accumulate: number) => `${op} ${layout[op].what} M,N,K=${shape.join(",")} accumulate=${accumulate}`;

for (const variant of VARIANTS) {
  for (const op of OPS) {
    test(`${variant} ${op}: bit-identical to the f32-exact JS reference (k ascending)`, () => {
      const engine = engines.get(variant)!;
      SHAPES.forEach((shape, s) => {
        const inputs = makeInputs(shape, s);
        for (const accumulate of [0, 1]) {
          const { C } = runKernel(engine, op, shape, inputs, accumulate, (s % 4) * 4);
          assertSameBits(C, referenceF32(op, shape, inputs, accumulate), shape[1], `${variant} ${label(op, shape, accumulate)}`);
        }
      });
    });

    test(`${variant} ${op}: within the f32 summation error bound of an f64 reference`, () => {
      const engine = engines.get(variant)!;
      SHAPES.forEach((shape, s) => {
        const K = shape[2];
        const inputs = makeInputs(shape, s);
        for (const accumulate of [0, 1]) {
          const { C } = runKernel(engine, op, shape, inputs, accumulate);
          const { value, magnitude } = referenceF64(op, shape, inputs, accumulate);
          for (let e = 0; e < C.length; e++) {
            // Recursive summation of n = K terms (K+1 with the starting C) in f32,
            // each product rounded once: |error| <= γ · Σ|terms| with
            // γ = n·u/(1 - n·u), u = 2^-24. K·2^-23 = 2K·u covers γ_(K+1) for every
            // K >= 1; the tiny absolute term absorbs underflow (none expected here).
            const bound = K * 2 ** -23 * magnitude[e] + 1e-37;
            const err = Math.abs(C[e] - value[e]);
            if (!(err <= bound)) assert.unreachable(`${variant} ${label(op, shape, accumulate)}: C[${e}] = ${C[e]}, f64 ${value[e]}, |err| ${err} > ${bound}`);
          }
        }
      });
    });

    test(`${variant} ${op}: writes only C and scratch (guards around C and after scratch, inputs unchanged)`, () => {
      const engine = engines.get(variant)!;
      SHAPES.forEach((shape, s) => {
        const inputs = makeInputs(shape, s);
        for (const accumulate of [0, 1]) {
          const run = runKernel(engine, op, shape, inputs, accumulate, (s % 4) * 4);
          const what = `${variant} ${label(op, shape, accumulate)}`;
          assert.ok(run.guardsIntact, `${what}: wrote outside C`);
          assert.ok(run.inputsIntact, `${what}: modified A or B`);
          assert.ok(run.scratchGuardIntact, `${what}: wrote past matmulScratchBytes`);
        }
      });
    });
  }
}

for (const op of OPS) {
  test(`${op}: SIMD build and scalar build agree bit for bit`, () => {
    SHAPES.forEach((shape, s) => {
      const inputs = makeInputs(shape, 1000 + s);
      for (const accumulate of [0, 1]) {
        const simd = runKernel(engines.get("simd")!, op, shape, inputs, accumulate);
        const scalar = runKernel(engines.get("scalar")!, op, shape, inputs, accumulate, 4);
        assertSameBits(simd.C, scalar.C, shape[1], `simd vs scalar ${label(op, shape, accumulate)}`);
      }
    });
  });
}

test("the test data can tell orders apart (so the bitwise checks have teeth)", () => {
  // If the kernels ignored `accumulate`, split K, or summed k in another order,
  // would the bitwise comparisons notice? They would if the references for those
  // behaviours differ from the contract's on this data.
  let orderDiffers = 0, accumulateDiffers = 0;
  SHAPES.forEach((shape, s) => {
    const inputs = makeInputs(shape, s);
    for (const op of OPS) {
      const forward = bits(referenceF32(op, shape, inputs, 0));
      if (firstMismatch(forward, bits(referenceF32(op, shape, inputs, 0, "descending"))) >= 0) orderDiffers++;
      if (firstMismatch(forward, bits(referenceF32(op, shape, inputs, 1))) >= 0) accumulateDiffers++;
    }
  });
  // K <= 2 shapes cannot show an order change (two-term sums commute exactly).
  const orderSensitiveCases = SHAPES.filter(([, , K]) => K > 2).length * OPS.length;
  assert.is(orderDiffers, orderSensitiveCases, "reversing k changes some bits for every shape with K > 2");
  assert.is(accumulateDiffers, SHAPES.length * OPS.length, "accumulate=1 changes the result for every shape");
});

test("accumulate=0 starts from +0: a sum of -0 products is +0, as in the reference", () => {
  // 0 + (-0) = +0 in IEEE arithmetic. A kernel that started from the first
  // product instead of +0 (or whose compiler folded the +0 away) would return -0.
  for (const variant of VARIANTS) {
    const engine = engines.get(variant)!;
    for (const op of OPS) {
      for (const shape of [[1, 1, 1], [5, 13, 3], [8, 8, 2]] as Shape[]) {
        const [M, N, K] = shape;
        const inputs: Inputs = { A: new Float32Array(M * K).fill(-1), B: new Float32Array(K * N).fill(0), C0: new Float32Array(M * N).fill(7) };
        const { C } = runKernel(engine, op, shape, inputs, 0);
        assertSameBits(C, referenceF32(op, shape, inputs, 0), N, `${variant} ${label(op, shape, 0)} with -0 products`);
        assert.ok(C.every((x) => Object.is(x, 0)), `${variant} ${op}: expected +0 everywhere`);
      }
    }
  }
});

test("matmulScratchBytes is the same in both builds and never negative", () => {
  for (const shape of [...SHAPES, [256, 256, 256], [4096, 32, 256]] as Shape[]) {
    const simd = engines.get("simd")!.kernels.matmulScratchBytes(...shape);
    const scalar = engines.get("scalar")!.kernels.matmulScratchBytes(...shape);
    assert.is(simd, scalar, `shape ${shape}`);
    assert.ok(simd >= 0, `shape ${shape}`);
  }
});

test.run();
