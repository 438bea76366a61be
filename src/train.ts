// Training w* with AdamW inside the engine (full batch or minibatches in data
// order), so that every model the estimator samples around was made here.
import type { Engine } from "./engine.ts";
import type { ModelConfig } from "./config.ts";
import type { Layout } from "./arena.ts";
import { planModel } from "./models.ts";

export interface AdamWOptions {
  steps: number;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Rescale the gradient to at most this L2 norm before the update (PyTorch clip_grad_norm_). */
  maxGradNorm?: number;
  /** Multiply lr by this factor for the last quarter of the steps, to settle into the minimum. */
  finalLrFactor?: number;
}

export interface TrainResult {
  weights: Float32Array; // padded arena
  loss: number; // full-data loss at the end
  gradientNorm: number; // ‖∇L‖ at the end: near 0 at a critical point
}

/**
 * Full-batch AdamW from `init` on (x, y) — or, for the transformer, on token
 * sequences x [n, seqLen] (y empty); deterministic in every host.
 */
export function trainFullBatch(
  engine: Engine, model: ModelConfig, layout: Layout, init: Float32Array,
  x: Float32Array | Int32Array, y: Float32Array, n: number, options: AdamWOptions, seqLen?: number,
): TrainResult {
  const k = engine.kernels;
  const P = layout.padded;
  const params = engine.allocF32(P);
  const grads = engine.allocF32(P);
  const m = engine.allocF32(P);
  const v = engine.allocF32(P);
  const X = engine.allocF32(Math.max(1, x.length));
  const Y = engine.allocF32(Math.max(1, y.length));
  const plan = planModel(engine, model, layout, params, grads, n, seqLen);
  engine.f32(params, P).set(init);
  if (x instanceof Int32Array) engine.i32(X, x.length).set(x);
  else engine.f32(X, x.length).set(x);
  engine.f32(Y, y.length).set(y);
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, maxGradNorm, finalLrFactor = 1 } = options;
  for (let t = 1; t <= options.steps; t++) {
    k.modelLossGrad(plan.address, X, Y, n);
    if (maxGradNorm !== undefined) {
      const norm = Math.sqrt(k.sumOfSquares(grads, P));
      if (norm > maxGradNorm) k.scaleInPlace(grads, P, maxGradNorm / (norm + 1e-6));
    }
    const rate = t > (options.steps * 3) / 4 ? lr * finalLrFactor : lr;
    k.adamwStep(P, params, grads, m, v, rate, beta1, beta2, eps, weightDecay, t);
  }
  const loss = k.modelLossGrad(plan.address, X, Y, n);
  return { weights: engine.f32(params, P).slice(), loss, gradientNorm: Math.sqrt(k.sumOfSquares(grads, P)) };
}
