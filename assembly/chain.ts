// The chain's step loop, run for a block of steps per host call so that small
// models are not dominated by host round trips (and the WASI build and workers
// reuse it): gather a minibatch, forward, backward, record the loss at the
// weights *before* the update (devinterp's sample_single_chain), update.
//
// A chain is described by a plan of i32 words (addresses and sizes) followed by
// f64 hyperparameters; src/sampler.ts mirrors these offsets.

import { modelLoss, modelLossGrad, PLAN_D_IN, PLAN_D_OUT } from "./models";
import { PLAN_KIND, MODEL_TRANSFORMER } from "./plan";
import { transformerBatchRows, transformerFillRowCache } from "./transformer";
import { sgldStep, sgldStat, malaAcceptance, METHOD_SGLD, STAT_GRAD_SQ, STAT_NOISE_SQ, STAT_DIST_SQ, STAT_WEIGHT_SQ, STAT_LOCAL_SQ, STAT_DECAY_SQ, STAT_FORWARD_SQ, STAT_BACKWARD_SQ } from "./sgld";
import { fillNormals, uniformBelow, STREAM_NOISE, STREAM_SHUFFLE } from "./rng";

export const CH_MODEL: i32 = 0;
export const CH_W: i32 = 1;
export const CH_W_STAR: i32 = 2;
export const CH_GRAD: i32 = 3;
export const CH_MASK: i32 = 4;
export const CH_PRECOND: i32 = 5;
export const CH_W_PREV: i32 = 6;
export const CH_D_PREV: i32 = 7;
export const CH_NOISE: i32 = 8;
export const CH_PARAMS: i32 = 9; // arena length in floats, a multiple of 8
export const CH_X: i32 = 10;
export const CH_Y: i32 = 11;
export const CH_N: i32 = 12;
export const CH_XB: i32 = 13;
export const CH_YB: i32 = 14;
export const CH_BATCH: i32 = 15;
export const CH_PERM: i32 = 16;
export const CH_METHOD: i32 = 17;
export const CH_KEY0: i32 = 18;
export const CH_KEY1: i32 = 19;
export const CH_STEP: i32 = 20; // next step index
export const CH_EPOCH: i32 = 21;
export const CH_POS: i32 = 22; // next position in the epoch's permutation
export const CH_RECORDS: i32 = 23; // f64 [block][RECORD_WORDS]
export const CH_HAS_PREV: i32 = 24;
export const CH_WORDS: i32 = 32;
// f64 hyperparameters after the words.
export const CHF_EPSILON: i32 = 0;
export const CHF_NBETA: i32 = 1;
export const CHF_GAMMA: i32 = 2;
export const CHF_WEIGHT_DECAY: i32 = 3;
export const CHF_NOISE_LEVEL: i32 = 4;
export const CHF_BOX: i32 = 5;
export const CHF_ALPHA: i32 = 6;
export const CHF_RMS_EPS: i32 = 7;
export const CHF_U_PREV: i32 = 8; // potential U at the previous step (MALA)
export const CHAIN_PLAN_BYTES: i32 = CH_WORDS * 4 + 16 * 8;

// One record of f64 per step.
export const REC_LOSS: i32 = 0;
export const REC_MALA: i32 = 1; // acceptance of the transition into this step's weights (NaN: none)
export const REC_GRAD_SQ: i32 = 2;
export const REC_NOISE_SQ: i32 = 3;
export const REC_DIST_SQ: i32 = 4;
export const REC_WEIGHT_SQ: i32 = 5;
export const RECORD_WORDS: i32 = 8;

@inline function word(plan: usize, i: i32): i32 {
  return load<i32>(plan + (<usize>i << 2));
}
@inline function setWord(plan: usize, i: i32, v: i32): void {
  store<i32>(plan + (<usize>i << 2), v);
}
@inline function hyper(plan: usize, i: i32): f64 {
  return load<f64>(plan + (<usize>CH_WORDS << 2) + (<usize>i << 3));
}
@inline function setHyper(plan: usize, i: i32, v: f64): void {
  store<f64>(plan + (<usize>CH_WORDS << 2) + (<usize>i << 3), v);
}

/** Permutation of 0..n−1 for an epoch: Fisher–Yates from identity, counters (i, epoch, SHUFFLE). */
function shuffleEpoch(plan: usize): void {
  const perm = <usize>word(plan, CH_PERM);
  const n = word(plan, CH_N);
  const epoch = <u32>word(plan, CH_EPOCH);
  const k0 = <u32>word(plan, CH_KEY0), k1 = <u32>word(plan, CH_KEY1);
  for (let i = 0; i < n; i++) store<i32>(perm + (<usize>i << 2), i);
  for (let i = n - 1; i > 0; i--) {
    const j = <i32>uniformBelow(<u32>(i + 1), <u32>i, epoch, STREAM_SHUFFLE, k0, k1);
    const pi = perm + (<usize>i << 2), pj = perm + (<usize>j << 2);
    const t = load<i32>(pi);
    store<i32>(pi, load<i32>(pj));
    store<i32>(pj, t);
  }
}

function copyRow(dst: usize, src: usize, row: i32, width: i32, dstRow: i32): void {
  memory.copy(dst + (<usize>(dstRow * width) << 2), src + (<usize>(row * width) << 2), <usize>width << 2);
}

/**
 * Next minibatch into XB/YB: the concatenation of per-epoch permutations read in
 * order, so every batch has exactly `batch` distinct rows within an epoch and an
 * epoch boundary may fall inside a batch.
 */
@inline function isTransformer(model: usize): bool {
  return load<i32>(model + (<usize>PLAN_KIND << 2)) == MODEL_TRANSFORMER;
}

/** Fill the model's row cache (transformer.ts TF_ROW_CACHE) from the chain's data rows at w = w*; no-op without one. */
export function chainFillRowCache(plan: usize): void {
  const model = <usize>word(plan, CH_MODEL);
  if (!isTransformer(model) || transformerBatchRows(model) == 0) return;
  memory.copy(<usize>word(plan, CH_W), <usize>word(plan, CH_W_STAR), <usize>word(plan, CH_PARAMS) << 2);
  transformerFillRowCache(model, <usize>word(plan, CH_X), word(plan, CH_N));
}

function gatherBatch(plan: usize): void {
  const model = <usize>word(plan, CH_MODEL);
  const dIn = load<i32>(model + (<usize>PLAN_D_IN << 2)), dOut = load<i32>(model + (<usize>PLAN_D_OUT << 2));
  const n = word(plan, CH_N), batch = word(plan, CH_BATCH);
  const perm = <usize>word(plan, CH_PERM);
  const cacheRows = isTransformer(model) ? transformerBatchRows(model) : 0;
  for (let b = 0; b < batch; b++) {
    let pos = word(plan, CH_POS);
    if (pos == n) {
      setWord(plan, CH_EPOCH, word(plan, CH_EPOCH) + 1);
      shuffleEpoch(plan);
      pos = 0;
    }
    const row = load<i32>(perm + (<usize>pos << 2));
    copyRow(<usize>word(plan, CH_XB), <usize>word(plan, CH_X), row, dIn, b);
    copyRow(<usize>word(plan, CH_YB), <usize>word(plan, CH_Y), row, dOut, b);
    if (cacheRows) store<i32>(cacheRows + (<usize>b << 2), row);
    setWord(plan, CH_POS, pos + 1);
  }
}

/** Start (or restart) a chain at w = w*: zero optimizer state, epoch 0 permutation. */
export function chainReset(plan: usize, key0: u32, key1: u32): void {
  const bytes = <usize>word(plan, CH_PARAMS) << 2;
  memory.copy(<usize>word(plan, CH_W), <usize>word(plan, CH_W_STAR), bytes);
  memory.fill(<usize>word(plan, CH_PRECOND), 0, bytes);
  memory.fill(<usize>word(plan, CH_W_PREV), 0, bytes);
  memory.fill(<usize>word(plan, CH_D_PREV), 0, bytes);
  setWord(plan, CH_KEY0, <i32>key0);
  setWord(plan, CH_KEY1, <i32>key1);
  setWord(plan, CH_STEP, 0);
  setWord(plan, CH_EPOCH, 0);
  setWord(plan, CH_POS, 0);
  setWord(plan, CH_HAS_PREV, 0);
  setHyper(plan, CHF_U_PREV, 0);
  shuffleEpoch(plan);
}

/**
 * Run up to `steps` steps, writing one record per step. Returns the number of
 * steps completed; fewer than asked means the minibatch loss was NaN or ±Inf at
 * the next step (its record holds that loss, the weights are not updated).
 */
export function chainRun(plan: usize, steps: i32): i32 {
  const model = <usize>word(plan, CH_MODEL);
  const n = word(plan, CH_PARAMS);
  const records = <usize>word(plan, CH_RECORDS);
  const method = word(plan, CH_METHOD);
  const epsilon = hyper(plan, CHF_EPSILON), nbeta = hyper(plan, CHF_NBETA), gamma = hyper(plan, CHF_GAMMA);
  const weightDecay = hyper(plan, CHF_WEIGHT_DECAY), noiseLevel = hyper(plan, CHF_NOISE_LEVEL);
  for (let s = 0; s < steps; s++) {
    const rec = records + (<usize>(s * RECORD_WORDS) << 3);
    const step = word(plan, CH_STEP);
    gatherBatch(plan);
    const loss = modelLossGrad(model, <usize>word(plan, CH_XB), <usize>word(plan, CH_YB), word(plan, CH_BATCH));
    store<f64>(rec, loss, REC_LOSS << 3);
    if (!isFinite(loss)) return s;
    fillNormals(<usize>word(plan, CH_NOISE), n, <u32>word(plan, CH_KEY0), <u32>word(plan, CH_KEY1), <u32>step, STREAM_NOISE);
    sgldStep(
      method, n, <usize>word(plan, CH_W), <usize>word(plan, CH_W_STAR), <usize>word(plan, CH_GRAD), <usize>word(plan, CH_MASK),
      <usize>word(plan, CH_NOISE), <usize>word(plan, CH_PRECOND), <usize>word(plan, CH_W_PREV), <usize>word(plan, CH_D_PREV),
      epsilon, nbeta, gamma, weightDecay, noiseLevel, hyper(plan, CHF_BOX), hyper(plan, CHF_ALPHA), hyper(plan, CHF_RMS_EPS),
    );
    // MALA potential U = nβ·L + γ/2‖M(w−w*)‖² + λ_wd/2‖Mw‖² (devinterp omits the last; it is 0 by default).
    // Undefined at step 0 and for preconditioned proposals.
    const potential = nbeta * loss + 0.5 * gamma * sgldStat(STAT_LOCAL_SQ) + 0.5 * weightDecay * sgldStat(STAT_DECAY_SQ);
    const accept = word(plan, CH_HAS_PREV) && method == METHOD_SGLD
      ? malaAcceptance(sgldStat(STAT_FORWARD_SQ), sgldStat(STAT_BACKWARD_SQ), epsilon, noiseLevel, hyper(plan, CHF_U_PREV), potential)
      : NaN;
    store<f64>(rec, accept, REC_MALA << 3);
    store<f64>(rec, sgldStat(STAT_GRAD_SQ), REC_GRAD_SQ << 3);
    store<f64>(rec, sgldStat(STAT_NOISE_SQ), REC_NOISE_SQ << 3);
    store<f64>(rec, sgldStat(STAT_DIST_SQ), REC_DIST_SQ << 3);
    store<f64>(rec, sgldStat(STAT_WEIGHT_SQ), REC_WEIGHT_SQ << 3);
    setHyper(plan, CHF_U_PREV, potential);
    setWord(plan, CH_HAS_PREV, 1);
    setWord(plan, CH_STEP, step + 1);
  }
  return steps;
}

/**
 * Mean loss at the current weights over rows [start, start + count) taken in
 * dataset order (wrapping), evaluated in batches of at most `batch` rows and
 * weighted by their size: the init loss L0 (devinterp get_init_loss_multi_batch
 * when count = chains·batch; the full-data loss when start = 0, count = n).
 */
export function datasetLoss(plan: usize, start: i32, count: i32): f64 {
  const model = <usize>word(plan, CH_MODEL);
  const dIn = load<i32>(model + (<usize>PLAN_D_IN << 2)), dOut = load<i32>(model + (<usize>PLAN_D_OUT << 2));
  const n = word(plan, CH_N), batch = word(plan, CH_BATCH);
  let total: f64 = 0;
  let done = 0;
  while (done < count) {
    const rows = min(batch, count - done);
    for (let b = 0; b < rows; b++) {
      const row = (start + done + b) % n;
      copyRow(<usize>word(plan, CH_XB), <usize>word(plan, CH_X), row, dIn, b);
      copyRow(<usize>word(plan, CH_YB), <usize>word(plan, CH_Y), row, dOut, b);
    }
    total += modelLoss(model, <usize>word(plan, CH_XB), <usize>word(plan, CH_YB), rows) * <f64>rows;
    done += rows;
  }
  return total / <f64>count;
}

/**
 * devinterp's default_nbeta: b / ln b for batch size b (1 when b ≤ 1), with the
 * module's own log: the host's Math.log differs between engines (research notes §3.4).
 */
export function defaultNbeta(batch: f64): f64 {
  return batch <= 1 ? 1.0 : batch / Math.log(batch);
}

/**
 * Write a chain plan from buffers the caller allocated — what src/sampler.ts
 * createChainRunner writes from a JS host; hosts without JS (the WASI command,
 * the self-test) call this, so the plan's layout is spelled out only here.
 */
export function chainPlanWrite(
  plan: usize, model: usize, params: usize, wStar: usize, grads: usize, mask: usize,
  precond: usize, wPrev: usize, dPrev: usize, noise: usize, arenaFloats: i32,
  X: usize, Y: usize, n: i32, Xb: usize, Yb: usize, batch: i32, perm: usize, method: i32, records: usize,
): void {
  setWord(plan, CH_MODEL, <i32>model);
  setWord(plan, CH_W, <i32>params);
  setWord(plan, CH_W_STAR, <i32>wStar);
  setWord(plan, CH_GRAD, <i32>grads);
  setWord(plan, CH_MASK, <i32>mask);
  setWord(plan, CH_PRECOND, <i32>precond);
  setWord(plan, CH_W_PREV, <i32>wPrev);
  setWord(plan, CH_D_PREV, <i32>dPrev);
  setWord(plan, CH_NOISE, <i32>noise);
  setWord(plan, CH_PARAMS, arenaFloats);
  setWord(plan, CH_X, <i32>X);
  setWord(plan, CH_Y, <i32>Y);
  setWord(plan, CH_N, n);
  setWord(plan, CH_XB, <i32>Xb);
  setWord(plan, CH_YB, <i32>Yb);
  setWord(plan, CH_BATCH, batch);
  setWord(plan, CH_PERM, <i32>perm);
  setWord(plan, CH_METHOD, method);
  setWord(plan, CH_RECORDS, <i32>records);
}

/** The sampler's hyperparameters in a chain plan (ε, nβ, γ, λ_wd, σ, box (0: none), RMSprop α and eps). */
export function chainHyperparametersWrite(
  plan: usize, epsilon: f64, nbeta: f64, gamma: f64, weightDecay: f64, noiseLevel: f64, box: f64, alpha: f64, rmsEps: f64,
): void {
  setHyper(plan, CHF_EPSILON, epsilon);
  setHyper(plan, CHF_NBETA, nbeta);
  setHyper(plan, CHF_GAMMA, gamma);
  setHyper(plan, CHF_WEIGHT_DECAY, weightDecay);
  setHyper(plan, CHF_NOISE_LEVEL, noiseLevel);
  setHyper(plan, CHF_BOX, box);
  setHyper(plan, CHF_ALPHA, alpha);
  setHyper(plan, CHF_RMS_EPS, rmsEps);
}
