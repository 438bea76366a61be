// Each model's forward and backward pass as a sequence of kernels. A model is
// described by a plan: i32 words in linear memory written once by the host
// (src/models.ts mirrors these offsets), pointing into the one parameter arena
// and the activation buffers planned for the largest batch.

import { matmulABt, matmulAtB, matmulAB } from "./matmul";
import { biasAdd, biasGrad, activationForward, activationBackward, mseLoss } from "./elementwise";

export * from "./plan";
import {
  MODEL_POLYNOMIAL, MODEL_TRANSFORMER, PLAN_KIND, PLAN_D_OUT, PLAN_PARAMS, PLAN_GRADS, PLAN_SCRATCH, PLAN_PRED, PLAN_DPRED, planWord,
} from "./plan";
import { transformerLoss } from "./transformer";

// Polynomial: f(x) = x·∏ w_i^{p_i} (devinterp's normal-crossing toy).
export const POLY_K: i32 = 10;
export const POLY_POWERS: i32 = 11; // address of k f64 powers
// MLP: PyTorch nn.Linear layers, y = x·Wᵀ + b, activation between layers only.
export const MLP_LAYERS: i32 = 10;
export const MLP_ACTIVATION: i32 = 11;
export const MLP_GRAD_A: i32 = 12; // two ping-pong buffers [batch, max width] for ∂L/∂H
export const MLP_GRAD_B: i32 = 13;
export const MLP_LAYER0: i32 = 16;
export const MLP_LAYER_WORDS: i32 = 5; // in, out, weight offset, bias offset (−1: none), output buffer

@inline function word(plan: usize, i: i32): i32 {
  return planWord(plan, i);
}
@inline function layerWord(plan: usize, layer: i32, field: i32): i32 {
  return word(plan, MLP_LAYER0 + layer * MLP_LAYER_WORDS + field);
}
@inline function floatAt(base: usize, offset: i32): usize {
  return base + (<usize>offset << 2);
}

/** Forward pass for `batch` rows of X; the prediction lands in the PLAN_PRED buffer. */
export function modelForward(plan: usize, X: usize, batch: i32): void {
  const kind = word(plan, PLAN_KIND);
  if (kind == MODEL_POLYNOMIAL) polynomialForward(plan, X, batch);
  else mlpForward(plan, X, batch);
}

/** Mean minibatch loss without gradients (the init loss L0 uses it). */
export function modelLoss(plan: usize, X: usize, Y: usize, batch: i32): f64 {
  if (word(plan, PLAN_KIND) == MODEL_TRANSFORMER) return transformerLoss(plan, X, batch, false);
  modelForward(plan, X, batch);
  return mseLoss(<usize>word(plan, PLAN_PRED), Y, batch * word(plan, PLAN_D_OUT), 0);
}

/** Mean minibatch loss, and its gradient written (not added) into the PLAN_GRADS arena. */
export function modelLossGrad(plan: usize, X: usize, Y: usize, batch: i32): f64 {
  if (word(plan, PLAN_KIND) == MODEL_TRANSFORMER) return transformerLoss(plan, X, batch, true);
  modelForward(plan, X, batch);
  const dPred = <usize>word(plan, PLAN_DPRED);
  const loss = mseLoss(<usize>word(plan, PLAN_PRED), Y, batch * word(plan, PLAN_D_OUT), dPred);
  if (word(plan, PLAN_KIND) == MODEL_POLYNOMIAL) polynomialBackward(plan, X, batch);
  else mlpBackward(plan, X, batch);
  return loss;
}

// ---------------------------------------------------------------- polynomial
// Computed in f64 (k is tiny); only the stored prediction and gradients are f32.

function powerOf(w: f64, p: f64): f64 {
  if (p == 0) return 1;
  const n = <i32>p;
  if (<f64>n == p && n > 0 && n <= 64) {
    let r: f64 = 1;
    for (let i = 0; i < n; i++) r *= w;
    return r;
  }
  return Math.pow(w, p); // compiled-in musl pow, not the host's
}

function polynomialProduct(plan: usize, skip: i32): f64 {
  const k = word(plan, POLY_K);
  const w = <usize>word(plan, PLAN_PARAMS);
  const powers = <usize>word(plan, POLY_POWERS);
  let product: f64 = 1;
  for (let i = 0; i < k; i++) {
    if (i == skip) continue;
    product *= powerOf(<f64>load<f32>(w + (<usize>i << 2)), load<f64>(powers + (<usize>i << 3)));
  }
  return product;
}

function polynomialForward(plan: usize, X: usize, batch: i32): void {
  const product = polynomialProduct(plan, -1);
  const pred = <usize>word(plan, PLAN_PRED);
  for (let b = 0; b < batch; b++) {
    const o = <usize>b << 2;
    store<f32>(pred + o, <f32>(<f64>load<f32>(X + o) * product));
  }
}

function polynomialBackward(plan: usize, X: usize, batch: i32): void {
  // ∂L/∂w_i = Σ_b ∂L/∂pred_b · x_b · p_i w_i^{p_i − 1} ∏_{j≠i} w_j^{p_j}
  const dPred = <usize>word(plan, PLAN_DPRED);
  let dProduct: f64 = 0;
  for (let b = 0; b < batch; b++) {
    const o = <usize>b << 2;
    dProduct += <f64>load<f32>(dPred + o) * <f64>load<f32>(X + o);
  }
  const k = word(plan, POLY_K);
  const w = <usize>word(plan, PLAN_PARAMS);
  const grads = <usize>word(plan, PLAN_GRADS);
  const powers = <usize>word(plan, POLY_POWERS);
  for (let i = 0; i < k; i++) {
    const p = load<f64>(powers + (<usize>i << 3));
    const wi = <f64>load<f32>(w + (<usize>i << 2));
    const dFactor = p == 0 ? 0 : p * powerOf(wi, p - 1);
    store<f32>(grads + (<usize>i << 2), <f32>(dProduct * dFactor * polynomialProduct(plan, i)));
  }
}

// ---------------------------------------------------------------------- mlp

function mlpForward(plan: usize, X: usize, batch: i32): void {
  const layers = word(plan, MLP_LAYERS);
  const activation = word(plan, MLP_ACTIVATION);
  const w = <usize>word(plan, PLAN_PARAMS);
  const scratch = <usize>word(plan, PLAN_SCRATCH);
  let input = X;
  for (let l = 0; l < layers; l++) {
    const fanIn = layerWord(plan, l, 0);
    const fanOut = layerWord(plan, l, 1);
    const biasOffset = layerWord(plan, l, 3);
    const out = <usize>layerWord(plan, l, 4);
    matmulABt(out, input, floatAt(w, layerWord(plan, l, 2)), batch, fanOut, fanIn, 0, scratch);
    if (biasOffset >= 0) biasAdd(out, floatAt(w, biasOffset), batch, fanOut);
    if (l < layers - 1) activationForward(activation, out, batch * fanOut);
    input = out;
  }
}

function mlpBackward(plan: usize, X: usize, batch: i32): void {
  const layers = word(plan, MLP_LAYERS);
  const activation = word(plan, MLP_ACTIVATION);
  const w = <usize>word(plan, PLAN_PARAMS);
  const grads = <usize>word(plan, PLAN_GRADS);
  const scratch = <usize>word(plan, PLAN_SCRATCH);
  let dOut = <usize>word(plan, PLAN_DPRED);
  let spare = <usize>word(plan, MLP_GRAD_A);
  for (let l = layers - 1; l >= 0; l--) {
    const fanIn = layerWord(plan, l, 0);
    const fanOut = layerWord(plan, l, 1);
    const weightOffset = layerWord(plan, l, 2);
    const biasOffset = layerWord(plan, l, 3);
    const input = l == 0 ? X : <usize>layerWord(plan, l - 1, 4);
    // dOut already holds ∂L/∂Z_l (the last layer has no activation).
    matmulAtB(floatAt(grads, weightOffset), dOut, input, fanOut, fanIn, batch, 0, scratch);
    if (biasOffset >= 0) biasGrad(floatAt(grads, biasOffset), dOut, batch, fanOut, 0);
    if (l == 0) break;
    matmulAB(spare, dOut, floatAt(w, weightOffset), batch, fanIn, fanOut, 0, scratch);
    activationBackward(activation, input, spare, batch * fanIn);
    const used = dOut;
    dOut = spare;
    spare = used == <usize>word(plan, PLAN_DPRED) ? <usize>word(plan, MLP_GRAD_B) : used;
  }
}
