// TransformerLens LayerNorm (assembly/layernorm.ts) against a plain-f64
// reference with a derived f32 error bound, a bit-exact JS replay of the
// documented operation sequence (4-lane sums), central finite differences of the
// f64 reference for the backward, and SIMD == scalar, for every dim in 1..67 (so
// every SIMD tail occurs), with guard words after every output.
//
// For f32 inputs a, b the f64 result of a+b, a−b, a·b, a/b or √a rounded once with
// Math.fround IS the IEEE f32 result (f64 has more than 2·24+2 significand bits),
// so the replay is exact.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, seededUniform } from "../helpers.ts";
import { U, assertSameBits, place, read, loadEngines } from "./buffers.ts";
import type { Engine } from "../../src/engine.ts";

const engines = await loadEngines();

const EPS = 1e-5;
const fr = Math.fround;
const DIMS = Array.from({ length: 67 }, (_, i) => i + 1);



/** Rows with an offset (so centring matters) and varied spread; values O(1..10). */
function testData(n: number, seed: number, offset = 0): Float32Array {
  const u = seededUniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = offset + u() * 2 ** Math.round(u() * 2);
  return out;
}



interface Case { x: Float32Array; w: Float32Array | null; b: Float32Array | null; dy: Float32Array; dx0: Float32Array; dw0: Float32Array; db0: Float32Array; rows: number; dim: number }

function makeCase(rows: number, dim: number, seed: number, affine = true): Case {
  return {
    x: testData(rows * dim, seed, 3), w: affine ? testData(dim, seed + 1, 1) : null, b: affine ? testData(dim, seed + 2) : null,
    dy: testData(rows * dim, seed + 3), dx0: testData(rows * dim, seed + 4), dw0: testData(dim, seed + 5), db0: testData(dim, seed + 6), rows, dim,
  };
}

interface Result { y: Float32Array; mean: Float32Array; rstd: Float32Array; dx: Float32Array; dw: Float32Array; db: Float32Array }

/** Forward then backward in a fresh heap; dx/dw/db start from the case's nonzero values. */
function run(engine: Engine, c: Case, accumulate: number, misalign = 0, inPlace = false): Result {
  const k = engine.kernels;
  k.resetHeap();
  const { rows, dim } = c;
  const px = place(engine, c.x, misalign);
  const pw = c.w ? place(engine, c.w, (misalign + 4) % 16) : 0, pb = c.b ? place(engine, c.b, (misalign + 8) % 16) : 0;
  const py = inPlace ? px : place(engine, new Float32Array(rows * dim).fill(NaN), (misalign + 12) % 16);
  const pMean = place(engine, new Float32Array(rows).fill(NaN)), pRstd = place(engine, new Float32Array(rows).fill(NaN), 4);
  k.layerNormForward(py, pMean, pRstd, px, pw, pb, rows, dim);
  const y = read(engine, py, rows * dim, "y");
  if (inPlace) engine.f32(px, rows * dim).set(c.x); // the backward needs x again
  const pdy = place(engine, c.dy, misalign), pdx = place(engine, c.dx0, (misalign + 4) % 16);
  const pdw = c.w ? place(engine, c.dw0, misalign) : 0, pdb = c.b ? place(engine, c.db0, (misalign + 8) % 16) : 0;
  k.layerNormBackward(pdx, pdw, pdb, pdy, px, pMean, pRstd, pw, rows, dim, accumulate);
  if (c.w) assertSameBits(read(engine, pw, dim, "w"), c.w, "w unchanged");
  if (!inPlace) assertSameBits(read(engine, px, rows * dim, "x"), c.x, "x unchanged");
  return {
    y, mean: read(engine, pMean, rows, "mean"), rstd: read(engine, pRstd, rows, "rstd"), dx: read(engine, pdx, rows * dim, "dx"),
    dw: c.w ? read(engine, pdw, dim, "dw") : new Float32Array(0), db: c.b ? read(engine, pdb, dim, "db") : new Float32Array(0),
  };
}

/** Σ in the canonical order: lane l sums j ≡ l (mod 4) ascending, then ((l0+l1)+l2)+l3, all f32. */
function sum4(n: number, term: (j: number) => number): number {
  const lanes = [0, 0, 0, 0];
  for (let j = 0; j < n; j++) lanes[j & 3] = fr(lanes[j & 3] + term(j));
  return fr(fr(fr(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
}

/** The contract at the top of assembly/layernorm.ts, op for op in f32. */
function replay(c: Case, accumulate: number): Result {
  const { rows, dim, x, w, b, dy } = c;
  const y = new Float32Array(rows * dim), mean = new Float32Array(rows), rstd = new Float32Array(rows);
  const dx = accumulate ? c.dx0.slice() : new Float32Array(rows * dim), dw = c.dw0.slice(), db = c.db0.slice();
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    const mu = fr(sum4(dim, (j) => x[o + j]) / dim);
    const variance = fr(sum4(dim, (j) => fr(fr(x[o + j] - mu) * fr(x[o + j] - mu))) / dim);
    const r = fr(1 / fr(Math.sqrt(fr(variance + fr(EPS)))));
    mean[i] = mu;
    rstd[i] = r;
    const xhat = (j: number) => fr(fr(x[o + j] - mu) * r);
    for (let j = 0; j < dim; j++) {
      let v = xhat(j);
      if (w) v = fr(v * w[j]);
      if (b) v = fr(v + b[j]);
      y[o + j] = v;
    }
    const g = (j: number) => (w ? fr(dy[o + j] * w[j]) : dy[o + j]);
    const g1 = fr(sum4(dim, g) / dim), g2 = fr(sum4(dim, (j) => fr(g(j) * xhat(j))) / dim);
    for (let j = 0; j < dim; j++) {
      const d = fr(fr(fr(g(j) - g1) - fr(xhat(j) * g2)) * r);
      dx[o + j] = accumulate ? fr(dx[o + j] + d) : d;
      dw[j] = fr(dw[j] + fr(dy[o + j] * xhat(j)));
      db[j] = fr(db[j] + dy[o + j]);
    }
  }
  return { y, mean, rstd, dx, dw: w ? dw : new Float32Array(0), db: b ? db : new Float32Array(0) };
}

/** Plain f64 TL LayerNorm of one row: y = (x − mean)/√(var + eps)·w + b. */
function rowF64(x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null, dim: number) {
  let mean = 0;
  for (let j = 0; j < dim; j++) mean += x[j];
  mean /= dim;
  let variance = 0;
  for (let j = 0; j < dim; j++) variance += (x[j] - mean) ** 2;
  variance /= dim;
  const scale = Math.sqrt(variance + EPS);
  const y = new Float64Array(dim), xhat = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    xhat[j] = (x[j] - mean) / scale;
    y[j] = xhat[j] * (w ? w[j] : 1) + (b ? b[j] : 0);
  }
  return { y, xhat, mean, variance, rstd: 1 / scale };
}

// 1 and 3 rows take the per-row path; 5, 8 and 13 the SIMD build's pipelined one
// (rows > 3 and dim % 4 = 0), with its prologue, every stage active at once, and
// its epilogue.
const ROWS = [1, 3, 5, 8, 13];

for (const variant of VARIANTS) {
  test(`${variant} layerNormForward and Backward: bit-exact to the JS replay of the documented f32 sequence (affine, LNPre, accumulate 0/1)`, () => {
    const engine = engines.get(variant)!;
    for (const dim of DIMS) {
      for (const rows of ROWS) {
        for (const affine of [true, false]) {
          const c = makeCase(rows, dim, dim * 10 + rows, affine);
          for (const accumulate of [0, 1]) {
            const got = run(engine, c, accumulate, (dim % 4) * 4);
            const want = replay(c, accumulate);
            for (const key of ["y", "mean", "rstd", "dx", "dw", "db"] as const) {
              assertSameBits(got[key], want[key], `${variant} rows=${rows} dim=${dim} affine=${affine} accumulate=${accumulate} ${key}`);
            }
          }
        }
      }
    }
  });

  test(`${variant} layerNormForward: within the derived f32 error bound of the f64 TransformerLens formula`, () => {
    const engine = engines.get(variant)!;
    for (const dim of DIMS) {
      const rows = 3;
      const c = makeCase(rows, dim, 5000 + dim);
      const got = run(engine, c, 0);
      for (let i = 0; i < rows; i++) {
        const x = c.x.subarray(i * dim, (i + 1) * dim);
        const ref = rowF64(x, c.w, c.b, dim);
        let absMean = 0, absC = 0;
        for (let j = 0; j < dim; j++) {
          absMean += Math.abs(x[j]) / dim;
          absC += Math.abs(x[j] - ref.mean) / dim;
        }
        // Error propagation (γ_n ≤ 1.01·n·u for these n): the mean is an n-term sum
        // and a division, |Δmean| ≤ (n+1)·1.01u·mean|x|; each centred value adds u.
        // var: the n-term sum of squares of values off by Δmean, and a division,
        // ρ_var ≤ 2·Δmean·mean|c|/var + (n+3)·1.01u (relative); the +eps, √ and 1/·
        // add 3u, and √ halves ρ_var, so ρ_rstd ≤ ρ_var/2 + 3u. Then
        // |Δxhat| ≤ rstd·(Δmean + u|c|) + |xhat|·(ρ_rstd + u), and ·w, +b round once each.
        const dMean = (dim + 1) * 1.01 * U * absMean;
        const rhoVar = ref.variance > 0 ? (2 * dMean * absC) / ref.variance + (dim + 3) * 1.01 * U : 0;
        const rhoRstd = (rhoVar / 2) * (ref.variance / (ref.variance + EPS)) + 3 * U;
        assert.ok(Math.abs(got.rstd[i] - ref.rstd) <= rhoRstd * ref.rstd * 1.01, `dim=${dim} row ${i}: rstd ${got.rstd[i]} vs f64 ${ref.rstd}`);
        for (let j = 0; j < dim; j++) {
          const cj = Math.abs(x[j] - ref.mean);
          const dXhat = ref.rstd * (dMean + U * cj) + Math.abs(ref.xhat[j]) * (rhoRstd + U);
          const bound = (Math.abs(c.w![j]) * (dXhat + U * Math.abs(ref.xhat[j])) + U * Math.abs(ref.y[j])) * 1.02 + 1e-40;
          const g = got.y[i * dim + j];
          if (!(Math.abs(g - ref.y[j]) <= bound)) assert.unreachable(`${variant} dim=${dim} y[${i},${j}] = ${g}, f64 ${ref.y[j]}, |err| ${Math.abs(g - ref.y[j])} > ${bound}`);
        }
      }
    }
  });

  test(`${variant} layerNormBackward: dx, dw, db match central finite differences of the f64 reference`, () => {
    const engine = engines.get(variant)!;
    const h = 1e-4;
    for (const dim of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 67]) {
      const rows = 3;
      const c = makeCase(rows, dim, 7000 + dim);
      const got = run(engine, c, 0);
      const x = Float64Array.from(c.x), w = Float64Array.from(c.w!), b = Float64Array.from(c.b!);
      // L = Σ y·dy: its gradient is (dx, dw, db) for upstream gradient dy.
      const loss = () => {
        let L = 0;
        for (let i = 0; i < rows; i++) {
          const { y } = rowF64(x.subarray(i * dim, (i + 1) * dim), w, b, dim);
          for (let j = 0; j < dim; j++) L += y[j] * c.dy[i * dim + j];
        }
        return L;
      };
      const fd = (target: Float64Array, e: number) => {
        const keep = target[e];
        target[e] = keep + h;
        const up = loss();
        target[e] = keep - h;
        const down = loss();
        target[e] = keep;
        return (up - down) / (2 * h);
      };
      for (const [name, target, grad, start] of [["dx", x, got.dx, null], ["dw", w, got.dw, c.dw0], ["db", b, got.db, c.db0]] as const) {
        const numeric = Array.from(target, (_, e) => fd(target, e));
        const scale = Math.max(1e-3, ...numeric.map(Math.abs));
        numeric.forEach((want, e) => {
          // dw, db were accumulated onto dw0, db0: subtract the start in f64 (≤ 1 ulp of it).
          const value = start ? grad[e] - start[e] : grad[e];
          const slack = start ? 2 * U * Math.abs(start[e]) + 2 * U * Math.abs(grad[e]) : 0;
          // The central difference of the f64 reference is exact to ~h²·|L'''| ≈ 1e-8;
          // the kernel's f32 sums over ≤ 67 elements (rows ≤ 3) err by ≲ 100·u ≈ 6e-6
          // of the scale; 2e-5 of the largest entry bounds both. Forgetting the mean
          // of g or of g·xhat, or rstd, errs by O(scale).
          if (!(Math.abs(value - want) <= 2e-5 * scale + slack)) assert.unreachable(`${variant} dim=${dim} ${name}[${e}] = ${value}, finite difference ${want}`);
        });
      }
    }
  });

  test(`${variant} layerNorm: in place (y = x), dim = 1 gives y = b, constant rows stay finite (var = 0 → 1/√eps)`, () => {
    const engine = engines.get(variant)!;
    for (const dim of [1, 4, 7, 33, 64]) {
      for (const rows of [2, 9]) { // 9 rows: the pipelined forward writes row i while later rows are still read
        const c = makeCase(rows, dim, 9000 + dim + rows);
        assertSameBits(run(engine, c, 0, 4, true).y, run(engine, c, 0, 4, false).y, `in place rows=${rows} dim=${dim}`);
      }
    }
    const one = makeCase(4, 1, 11);
    const r = run(engine, one, 0);
    assertSameBits(r.y, new Float32Array(4).fill(one.b![0]), "dim = 1: y = 0·w + b = b");
    const flat: Case = { ...makeCase(2, 9, 12), x: new Float32Array(18).fill(2.5) };
    const f = run(engine, flat, 0);
    assert.ok(f.rstd.every((v) => v === fr(1 / fr(Math.sqrt(fr(EPS))))), "constant row: rstd = 1/√eps");
    assertSameBits(f.y, Float32Array.from({ length: 18 }, (_, e) => flat.b![e % 9]), "constant row: y = b");
    assert.ok(f.dx.every(Number.isFinite), "constant row: finite dx");
  });
}

test("layerNorm: SIMD and scalar builds bit-identical (forward and backward, every dim 1..67)", () => {
  for (const dim of DIMS) {
    for (const affine of [true, false]) {
      const c = makeCase(3, dim, 20000 + dim, affine);
      for (const accumulate of [0, 1]) {
        const a = run(engines.get("simd")!, c, accumulate, 4), b = run(engines.get("scalar")!, c, accumulate, 8);
        for (const key of ["y", "mean", "rstd", "dx", "dw", "db"] as const) assertSameBits(a[key], b[key], `simd vs scalar dim=${dim} affine=${affine} ${key}`);
      }
    }
  }
});

test("the test data can tell summation orders apart (the bitwise replay has teeth)", () => {
  // A plain ascending sum instead of the 4-lane order changes the mean's bits for some dims.
  let differs = 0;
  for (const dim of DIMS.filter((d) => d > 4)) {
    const x = testData(dim, dim * 10 + 1, 3);
    let plain = 0;
    for (let j = 0; j < dim; j++) plain = fr(plain + x[j]);
    if (plain !== sum4(dim, (j) => x[j])) differs++;
  }
  assert.ok(differs > 10, `only ${differs} dims distinguish the orders`);
});

test.run();
