// Model forward/backward plans (src/models.ts + assembly/models.ts) against an
// independent plain-f64 JS model: the loss within a rounding-error bound, the
// gradient against central finite differences of the f64 loss, SIMD vs scalar
// bits, and batches smaller than the plan's maximum.
//
// Error bounds (u = 2^-24, γ_N = N·u/(1 − N·u)). Every wasm quantity is a chain
// of f32 products and sums (matmul k-ascending accumulation, bias add, the MSE
// difference and scale, the backward matmuls) plus tanhf. Standard forward error
// analysis (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1–3.5)
// gives |computed − exact| ≤ γ_N · |·|-evaluation, where the |·|-evaluation runs
// the same expression on |inputs| with every subtraction turned into an addition,
// and N bounds the number of roundings along any path through the expression.
// The reference below computes that |·|-evaluation alongside the values: relu
// keeps the (exact, see the kink margin) 0/1 masks, tanh is replaced by its
// argument (|tanh z| ≤ |z|, 1-Lipschitz, so the argument's error bound carries
// through) and its derivative 1 − h² by 1 + h_abs². tanhf itself is within 2.19
// ulp ≤ 5u relative (exhaustive scan, see test/kernels/elementwise.test.ts), so it
// counts as 5 roundings. N is taken as twice the total number of roundings of the
// forward plus the backward pass, which covers the square in the loss and the
// product of a forward and a backward quantity in ∂L/∂W (each doubles depth).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine, seededUniform } from "./helpers.ts";
import type { Engine, Variant } from "../src/engine.ts";
import type { ModelConfig, TransformerConfig } from "../src/config.ts";
import type { Layout } from "../src/arena.ts";
import { modelLayout, planModel } from "../src/models.ts";

const engines = new Map<Variant, Engine>();
for (const variant of VARIANTS) engines.set(variant, await loadEngine(variant));

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const MAX_BATCH = 40;
const BATCHES = [1, 7, 33];

/** The models this file covers: the transformer has its own test (test/transformer.test.ts). */
type DenseModel = Exclude<ModelConfig, TransformerConfig>;
interface Case { name: string; model: DenseModel }
const MODELS: Case[] = [
  { name: "polynomial [1,2]", model: { kind: "polynomial", powers: [1, 2] } },
  { name: "polynomial [2,2,3]", model: { kind: "polynomial", powers: [2, 2, 3] } },
  { name: "polynomial [0,1]", model: { kind: "polynomial", powers: [0, 1] } },
  { name: "mlp [3,5,2] identity, no bias", model: { kind: "mlp", sizes: [3, 5, 2], activation: "identity", bias: false } },
  { name: "mlp [4,7,6,3] relu, bias", model: { kind: "mlp", sizes: [4, 7, 6, 3], activation: "relu", bias: true } },
  { name: "mlp [2,9,1] tanh, bias", model: { kind: "mlp", sizes: [2, 9, 1], activation: "tanh", bias: true } },
  { name: "mlp [5,3,5] identity, no bias (reduced-rank regression)", model: { kind: "mlp", sizes: [5, 3, 5], activation: "identity", bias: false } },
];

const dims = (model: DenseModel) => (model.kind === "polynomial" ? { dIn: 1, dOut: 1 } : { dIn: model.sizes[0], dOut: model.sizes[model.sizes.length - 1] });

const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

// ── the independent f64 reference ───────────────────────────────────────────

function tensor(layout: Layout, name: string) {
  const t = layout.tensors.find((v) => v.name === name);
  if (!t) throw new Error(`layout lacks ${name}`);
  return t;
}

interface Eval {
  loss: number;
  grad: Float64Array;
  /** Hidden-layer pre-activations, row-major [batch, width] per layer. */
  pre: Float64Array[];
}

/**
 * Loss (mean over batch·outputs of the squared error) and its gradient, in f64.
 * With `absOf` set (the value-mode evaluation at the same point) this is the
 * |·|-evaluation described at the top instead.
 */
function evaluate(model: DenseModel, layout: Layout, w: Float64Array, X: Float32Array, Y: Float32Array, batch: number, absOf: Eval | null = null): Eval {
  const A = absOf ? Math.abs : (x: number) => x;
  const { dIn, dOut } = dims(model);
  const count = batch * dOut;
  const grad = new Float64Array(layout.size);
  if (model.kind === "polynomial") {
    const k = model.powers.length;
    const wv = Array.from({ length: k }, (_, i) => A(w[tensor(layout, "weights").offset + i]));
    const factor = (i: number, p: number) => (p === 0 ? 1 : wv[i] ** p);
    const product = (skip: number) => wv.reduce((acc, _, i) => (i === skip ? acc : acc * factor(i, model.powers[i])), 1);
    const P = product(-1);
    let loss = 0, dProduct = 0;
    for (let b = 0; b < batch; b++) {
      const pred = A(X[b]) * P;
      const d = absOf ? pred + A(Y[b]) : pred - Y[b];
      loss += d * d;
      dProduct += ((2 * d) / count) * A(X[b]);
    }
    for (let i = 0; i < k; i++) {
      const p = model.powers[i];
      grad[i] = p === 0 ? 0 : dProduct * p * factor(i, p - 1) * product(i);
    }
    return { loss: loss / count, grad, pre: [] };
  }
  const { sizes, activation } = model;
  const L = sizes.length - 1;
  const weight = (l: number) => tensor(layout, `layers.${l}.weight`); // PyTorch nn.Linear: [out, in]
  const bias = (l: number) => (model.bias ? tensor(layout, `layers.${l}.bias`) : null);
  const hs: Float64Array[] = [Float64Array.from(X.subarray(0, batch * dIn), A)];
  const pre: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    const W = weight(l).offset, B = bias(l);
    const h = hs[l], z = new Float64Array(batch * fout);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < fout; o++) {
        let s = B ? A(w[B.offset + o]) : 0;
        for (let i = 0; i < fin; i++) s += h[b * fin + i] * A(w[W + o * fin + i]);
        z[b * fout + o] = s;
      }
    }
    if (l === L - 1) {
      hs.push(z);
      break;
    }
    pre.push(z);
    const act = z.map((v, e) => {
      if (activation === "identity") return v;
      if (activation === "relu") return (absOf ? absOf.pre[l][e] > 0 : v > 0) ? v : 0;
      return absOf ? v : Math.tanh(v);
    });
    hs.push(act);
  }
  const pred = hs[L];
  let loss = 0;
  let dZ = new Float64Array(count);
  for (let e = 0; e < count; e++) {
    const d = absOf ? pred[e] + A(Y[e]) : pred[e] - Y[e];
    loss += d * d;
    dZ[e] = (2 * d) / count;
  }
  for (let l = L - 1; l >= 0; l--) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    const W = weight(l).offset, B = bias(l), h = hs[l];
    for (let o = 0; o < fout; o++) {
      for (let i = 0; i < fin; i++) {
        let s = 0;
        for (let b = 0; b < batch; b++) s += dZ[b * fout + o] * h[b * fin + i];
        grad[W + o * fin + i] = s;
      }
      if (B) {
        let s = 0;
        for (let b = 0; b < batch; b++) s += dZ[b * fout + o];
        grad[B.offset + o] = s;
      }
    }
    if (l === 0) break;
    const dH = new Float64Array(batch * fin);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < fin; i++) {
        let s = 0;
        for (let o = 0; o < fout; o++) s += dZ[b * fout + o] * A(w[W + o * fin + i]);
        const e = b * fin + i, hv = h[e];
        const slope =
          activation === "identity" ? 1
          : activation === "relu" ? ((absOf ? absOf.pre[l - 1][e] : pre[l - 1][e]) > 0 ? 1 : 0)
          : absOf ? 1 + hv * hv : 1 - hv * hv;
        dH[e] = s * slope;
      }
    }
    dZ = dH;
  }
  return { loss: loss / count, grad, pre };
}

/** N of γ_N for a model and batch: twice the roundings along the forward and backward passes (see top). */
function roundingDepth(model: DenseModel, batch: number): number {
  if (model.kind === "polynomial") {
    // f32 roundings: pred, difference, 2/count, dPred, the stored gradient; the
    // f64 products and sums add ≤ (k + batch)·2^-53, counted as one more.
    return 2 * 6;
  }
  const { sizes } = model;
  let forward = 0, backward = 3; // difference, 2/count, product
  for (let l = 0; l + 1 < sizes.length; l++) {
    forward += sizes[l] + 1 + 5; // K products/sums, bias add, tanhf (or nothing)
    backward += Math.max(batch, sizes[l + 1]) + 3; // ∂W/∂b sums over the batch or ∂H over outputs, and h·h, 1 − ·, ×
  }
  return 2 * (forward + backward);
}

interface Data { w: Float32Array; X: Float32Array; Y: Float32Array }

function makeData(model: DenseModel, layout: Layout, batch: number, seed: number): Data {
  const u = seededUniform(seed);
  const { dIn, dOut } = dims(model);
  const w = new Float32Array(layout.size);
  if (model.kind === "polynomial") {
    // Weights of modulus 0.4..1.2, either sign, so every factor matters.
    for (let i = 0; i < w.length; i++) w[i] = (u() < 0 ? -1 : 1) * (0.8 + 0.4 * u());
  } else {
    for (const t of layout.tensors) {
      const scale = t.name.endsWith(".bias") ? 0.5 : 1;
      for (let i = 0; i < t.size; i++) w[t.offset + i] = scale * u();
    }
  }
  const X = Float32Array.from({ length: batch * dIn }, () => 1.5 * u());
  const Y = Float32Array.from({ length: batch * dOut }, () => u());
  return { w, X, Y };
}

interface Reference { data: Data; value: Eval; abs: Eval; fd: Float64Array; fdErr: Float64Array; depth: number; attempts: number }

/**
 * Data and reference for one (model, batch): the f64 evaluation, its
 * |·|-evaluation, and central differences with an error estimate. For relu the
 * data are resampled until no hidden pre-activation lies within the f32 error
 * bound of 0 (so the wasm takes the same side of every kink) and no finite
 * difference step crosses a kink (same activation pattern at w ± h, w ± 2h).
 */
function reference(model: DenseModel, layout: Layout, batch: number, seed: number): Reference {
  const depth = roundingDepth(model, batch);
  const patternOf = (e: Eval) => e.pre.map((z) => Array.from(z, (v) => (v > 0 ? 1 : 0)).join("")).join("|");
  for (let attempt = 0; attempt < 50; attempt++) {
    const data = makeData(model, layout, batch, seed * 1000 + attempt);
    const w = Float64Array.from(data.w);
    const value = evaluate(model, layout, w, data.X, data.Y, batch);
    const abs = evaluate(model, layout, w, data.X, data.Y, batch, value);
    const pattern = patternOf(value);
    let kinkSafe = value.pre.every((z, l) => z.every((v, e) => Math.abs(v) > 2 * gamma(depth) * abs.pre[l][e]));
    const fd = new Float64Array(layout.size), fdErr = new Float64Array(layout.size);
    for (let i = 0; i < layout.size && kinkSafe; i++) {
      // h ~ 1e-4·max(1,|w|): truncation error ~h²·L'''/6 ≈ 1e-9 relative, far below
      // the f32 tolerance; f64 roundoff in L (≤ ~depth·2^-53·L_abs) divided by 2h stays ≤ 1e-10·L_abs.
      const h = 1e-4 * Math.max(1, Math.abs(w[i]));
      const at = (delta: number) => {
        const wp = w.slice();
        wp[i] += delta;
        const e = evaluate(model, layout, wp, data.X, data.Y, batch);
        if (patternOf(e) !== pattern) kinkSafe = false;
        return e.loss;
      };
      const d1 = (at(h) - at(-h)) / (2 * h);
      const d2 = (at(2 * h) - at(-2 * h)) / (4 * h);
      fd[i] = d1;
      // d1 = g + c·h² + O(h⁴) and d2 = g + 4c·h² + …, so |d2 − d1|/3 estimates
      // d1's truncation error; twice that (the O(h⁴) rest is far smaller) plus the
      // roundoff of two f64 loss evaluations over 2h.
      fdErr[i] = (2 * Math.abs(d2 - d1)) / 3 + (depth * 2 ** -53 * abs.loss) / h;
    }
    if (kinkSafe) return { data, value, abs, fd, fdErr, depth, attempts: attempt + 1 };
  }
  throw new Error("no kink-free sample in 50 attempts");
}

// ── running the wasm plan ───────────────────────────────────────────────────

const NAN_FILL = 0x7fc0dead; // a quiet NaN: any read of rows beyond the batch poisons the result

interface Run { loss: number; lossOnly: number; grad: Float32Array }

/**
 * Fresh heap, plan for `maxBatch` rows, X/Y rows beyond `batch` and the
 * gradient arena prefilled with NaN (gradients must be written, not added),
 * then modelLossGrad and modelLoss.
 */
function run(engine: Engine, model: DenseModel, maxBatch: number, data: Data, batch: number): Run {
  const k = engine.kernels;
  k.resetHeap();
  const layout = modelLayout(model);
  const { dIn, dOut } = dims(model);
  const params = engine.allocF32(layout.padded);
  const grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, model, layout, params, grads, maxBatch);
  assert.is(plan.maxBatch, maxBatch);
  assert.equal([plan.dIn, plan.dOut], [dIn, dOut]);
  const pX = engine.allocF32(maxBatch * dIn), pY = engine.allocF32(maxBatch * dOut);
  engine.u32(pX, maxBatch * dIn).fill(NAN_FILL);
  engine.u32(pY, maxBatch * dOut).fill(NAN_FILL);
  engine.f32(pX, batch * dIn).set(data.X);
  engine.f32(pY, batch * dOut).set(data.Y);
  engine.f32(params, layout.size).set(data.w);
  engine.u32(grads, layout.size).fill(NAN_FILL);
  const loss = k.modelLossGrad(plan.address, pX, pY, batch);
  const grad = engine.f32(grads, layout.size).slice();
  const lossOnly = k.modelLoss(plan.address, pX, pY, batch);
  // Inputs are read-only.
  assert.equal([...bits(engine.f32(params, layout.size))], [...bits(data.w)], "modelLossGrad changed the parameters");
  assert.equal([...bits(engine.f32(pX, batch * dIn))], [...bits(data.X)], "modelLossGrad changed X");
  return { loss, lossOnly, grad };
}

// Reference data per (model, batch), shared by both builds.
const references = new Map<string, Reference>();
function referenceFor(c: Case, batch: number): Reference {
  const key = `${c.name}/${batch}`;
  if (!references.has(key)) references.set(key, reference(c.model, modelLayout(c.model), batch, 17 * batch + MODELS.indexOf(c)));
  return references.get(key)!;
}

// ── tests ───────────────────────────────────────────────────────────────────

test("modelLayout: PyTorch tensor names, shapes and order; arena padded to a multiple of 8", () => {
  const names = (m: ModelConfig) => modelLayout(m).tensors.map((t) => `${t.name}[${t.shape.join(",")}]@${t.offset}`);
  assert.equal(names({ kind: "polynomial", powers: [2, 2, 3] }), ["weights[3]@0"]);
  assert.equal(names({ kind: "mlp", sizes: [4, 7, 6, 3], activation: "relu", bias: true }), [
    "layers.0.weight[7,4]@0", "layers.0.bias[7]@28", "layers.1.weight[6,7]@35", "layers.1.bias[6]@77",
    "layers.2.weight[3,6]@83", "layers.2.bias[3]@101",
  ]);
  assert.equal(names({ kind: "mlp", sizes: [5, 3, 5], activation: "identity", bias: false }), ["layers.0.weight[3,5]@0", "layers.1.weight[5,3]@15"]);
  const l = modelLayout({ kind: "mlp", sizes: [4, 7, 6, 3], activation: "relu", bias: true });
  assert.is(l.size, 104);
  assert.is(l.padded, 104);
  assert.is(modelLayout({ kind: "mlp", sizes: [3, 5, 2], activation: "identity", bias: false }).padded, 32); // 25 → 32
});

test("f64 reference: analytic gradient matches its own central differences (validates the reference)", () => {
  for (const c of MODELS) {
    for (const batch of BATCHES) {
      const r = referenceFor(c, batch);
      for (let i = 0; i < r.fd.length; i++) {
        // Both are f64; the difference is the FD error estimate (plus f64 roundoff).
        const tol = r.fdErr[i] + 1e-12 * (Math.abs(r.fd[i]) + r.abs.grad[i]);
        assert.ok(Math.abs(r.value.grad[i] - r.fd[i]) <= tol, `${c.name} batch ${batch}: ∂L/∂w[${i}] analytic ${r.value.grad[i]}, FD ${r.fd[i]}`);
      }
    }
  }
});

for (const c of MODELS) {
  for (const variant of VARIANTS) {
    test(`${variant} ${c.name}: loss vs f64 reference, gradient vs central differences (batches ${BATCHES.join(", ")})`, () => {
      const engine = engines.get(variant)!;
      for (const batch of BATCHES) {
        const r = referenceFor(c, batch);
        const got = run(engine, c.model, MAX_BATCH, r.data, batch);
        const g = gamma(r.depth);
        const what = `${variant} ${c.name} batch ${batch}`;
        // (a) loss: |computed − exact| ≤ γ_N · (|·|-evaluated loss).
        const lossTol = g * r.abs.loss;
        assert.ok(Math.abs(got.loss - r.value.loss) <= lossTol, `${what}: loss ${got.loss}, f64 ${r.value.loss}, |err| ${Math.abs(got.loss - r.value.loss)} > ${lossTol}`);
        assert.ok(Object.is(got.lossOnly, got.loss), `${what}: modelLoss ${got.lossOnly} ≠ modelLossGrad's loss ${got.loss}`);
        // (b) gradient: the f32 error bound γ_N·(|·|-evaluated gradient) plus the
        // finite differences' own error estimate. A wrong transpose, a missing
        // 2/count, an activation derivative on the wrong layer or a dropped bias
        // term is off by O(|gradient|), orders of magnitude above this.
        for (let i = 0; i < got.grad.length; i++) {
          const tol = g * r.abs.grad[i] + r.fdErr[i];
          const err = Math.abs(got.grad[i] - r.fd[i]);
          if (!(err <= tol)) assert.unreachable(`${what}: ∂L/∂w[${i}] = ${got.grad[i]}, central difference ${r.fd[i]}, |err| ${err} > ${tol}`);
        }
      }
    });
  }

  test(`${c.name}: SIMD and scalar builds give bit-identical loss and gradient`, () => {
    for (const batch of [...BATCHES, MAX_BATCH]) {
      const layout = modelLayout(c.model);
      const data = makeData(c.model, layout, batch, 99 + batch);
      const [a, b] = VARIANTS.map((v) => run(engines.get(v)!, c.model, MAX_BATCH, data, batch));
      assert.ok(Object.is(a.loss, b.loss), `batch ${batch}: loss simd ${a.loss} vs scalar ${b.loss}`);
      assert.ok(Object.is(a.lossOnly, b.lossOnly), `batch ${batch}: modelLoss simd vs scalar`);
      const A = bits(a.grad), B = bits(b.grad);
      for (let i = 0; i < A.length; i++) assert.is(A[i], B[i], `batch ${batch}: ∂L/∂w[${i}] simd ${a.grad[i]} vs scalar ${b.grad[i]}`);
    }
  });

  test(`${c.name}: batch < maxBatch ignores the rows beyond it and matches a plan sized for the batch exactly`, () => {
    for (const variant of VARIANTS) {
      const engine = engines.get(variant)!;
      for (const batch of [1, 7]) {
        const data = makeData(c.model, modelLayout(c.model), batch, 5 + batch);
        // Rows batch..maxBatch−1 of X and Y hold NaN and the gradient arena starts as
        // NaN (see run), so reading past the batch or accumulating would show.
        const big = run(engine, c.model, MAX_BATCH, data, batch);
        const exact = run(engine, c.model, batch, data, batch);
        assert.ok(Number.isFinite(big.loss) && big.grad.every(Number.isFinite), `${variant} batch ${batch}: non-finite result (read past the batch or gradient accumulated into NaN)`);
        assert.ok(Object.is(big.loss, exact.loss), `${variant} batch ${batch}: loss with maxBatch ${MAX_BATCH} ${big.loss} vs maxBatch ${batch} ${exact.loss}`);
        assert.equal([...bits(big.grad)], [...bits(exact.grad)], `${variant} batch ${batch}: gradient depends on maxBatch`);
        // A second call on the same plan gives the same gradient (written, not accumulated).
        const again = run(engine, c.model, MAX_BATCH, data, batch);
        assert.equal([...bits(again.grad)], [...bits(big.grad)], `${variant} batch ${batch}: repeat differs`);
      }
    }
  });
}

test("kink avoidance for relu resampled rarely (the data are not hand-picked to dodge the test)", () => {
  const relu = MODELS.find((c) => c.model.kind === "mlp" && c.model.activation === "relu")!;
  for (const batch of BATCHES) {
    const r = referenceFor(relu, batch);
    assert.ok(r.attempts <= 10, `batch ${batch}: needed ${r.attempts} attempts`);
    // Both relu branches occur, so the mask is exercised.
    const active = r.value.pre.flatMap((z) => Array.from(z, (v) => (v > 0 ? 1 : 0)));
    assert.ok(active.includes(0) && active.includes(1), `batch ${batch}: relu pattern is all one side`);
  }
});

test.run();
