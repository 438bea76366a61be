// selfTest(): a fixed, small SGLD run entirely inside WebAssembly, reduced to
// one FNV-1a hash. It needs nothing from its host (no arguments, no JS glue,
// only the env.abort import every build has), so any engine that can call one
// export can check that it computes the same bits as every other: V8,
// SpiderMonkey and JavaScriptCore shells, wabt's interpreter
// (test/portability.test.ts). SIMD and scalar builds give the same hash.
//
// The run: an MLP 6→12→5 with biases and tanh (so every matmul takes its 8-wide,
// 4-wide and scalar-column paths in the SIMD build), 40 rows of data from the
// module's own normals, batches of 16 (epochs reshuffle mid-batch), one weight
// frozen by the mask; the init loss, then 100 SGLD steps (chain 0, with MALA)
// and 60 RMSprop-SGLD steps (chain 1). Hashed: the init loss, every step
// record (loss, MALA, norms) and the final weights of each chain.
//
// The plan words mirror src/models.ts (planModel) and src/sampler.ts
// (createChainRunner). Memory comes from the bump allocator and is not given
// back (a few tens of KB per call).

import { alloc } from "./memory";
import { matmulScratchBytes } from "./matmul";
import { ACT_TANH } from "./elementwise";
import { fillNormals, STREAM_USER } from "./rng";
import { METHOD_SGLD, METHOD_RMSPROP_SGLD } from "./sgld";
import {
  MODEL_MLP, PLAN_KIND, PLAN_MAX_BATCH, PLAN_D_IN, PLAN_D_OUT, PLAN_PARAMS, PLAN_GRADS, PLAN_SCRATCH, PLAN_PRED, PLAN_DPRED,
  MLP_LAYERS, MLP_ACTIVATION, MLP_GRAD_A, MLP_GRAD_B, MLP_LAYER0, MLP_LAYER_WORDS,
} from "./models";
import { CH_METHOD, CHAIN_PLAN_BYTES, RECORD_WORDS, chainPlanWrite, chainHyperparametersWrite, chainReset, chainRun, datasetLoss } from "./chain";

const D_IN: i32 = 6;
const HIDDEN: i32 = 12;
const D_OUT: i32 = 5;
const ROWS: i32 = 40;
const BATCH: i32 = 16;
const SEED: u32 = 20261125;
const BLOCK: i32 = 20; // steps per chainRun call, as the host runs a chain in blocks
// PyTorch order: layers.0.weight [12, 6], layers.0.bias [12], layers.1.weight [5, 12], layers.1.bias [5].
const W0: i32 = 0;
const B0: i32 = W0 + HIDDEN * D_IN;
const W1: i32 = B0 + HIDDEN;
const B1: i32 = W1 + D_OUT * HIDDEN;
const SIZE: i32 = B1 + D_OUT; // 149
const PADDED: i32 = (SIZE + 7) & ~7; // 152
const FROZEN: i32 = B0 + 3; // a weight the mask holds at w* (weight-refined LLC)

const FNV_OFFSET: u32 = 0x811c9dc5;
const FNV_PRIME: u32 = 0x01000193;

@inline function fnvWord(hash: u32, word: u32): u32 {
  for (let i = 0; i < 4; i++) {
    hash = (hash ^ ((word >>> (<u32>i << 3)) & 0xff)) * FNV_PRIME;
  }
  return hash;
}

/** FNV-1a over the little-endian bytes of an f64; every NaN hashes as the canonical one. */
function fnvF64(hash: u32, x: f64): u32 {
  const bits: u64 = x != x ? 0x7ff8000000000000 : reinterpret<u64>(x);
  return fnvWord(fnvWord(hash, <u32>bits), <u32>(bits >>> 32));
}

function fnvF32s(hash: u32, ptr: usize, count: i32): u32 {
  for (let i = 0; i < count; i++) {
    const x = load<f32>(ptr + (<usize>i << 2));
    hash = fnvWord(hash, x != x ? 0x7fc00000 : reinterpret<u32>(x));
  }
  return hash;
}

@inline function f32s(count: i32): usize {
  return alloc(<usize>count << 2);
}

/** Standard normals × scale (f32 multiply) from the user stream (SEED, purpose). */
function normals(count: i32, purpose: u32, scale: f32): usize {
  const padded = (count + 7) & ~7;
  const ptr = f32s(padded);
  fillNormals(ptr, padded, SEED, purpose, 0, STREAM_USER);
  for (let i = 0; i < padded; i++) {
    const p = ptr + (<usize>i << 2);
    store<f32>(p, i < count ? load<f32>(p) * scale : 0);
  }
  return ptr;
}

function setLayer(plan: usize, layer: i32, fanIn: i32, fanOut: i32, weight: i32, bias: i32, output: usize): void {
  const base = plan + (<usize>(MLP_LAYER0 + layer * MLP_LAYER_WORDS) << 2);
  store<i32>(base, fanIn);
  store<i32>(base, fanOut, 4);
  store<i32>(base, weight, 8);
  store<i32>(base, bias, 12);
  store<i32>(base, <i32>output, 16);
}

@inline function setWord(plan: usize, i: i32, v: i32): void {
  store<i32>(plan + (<usize>i << 2), v);
}

/** Run `steps` steps of the chain in blocks, hashing every record; then the final weights. */
function runAndHash(hash: u32, plan: usize, records: usize, w: usize, steps: i32): u32 {
  let done = 0;
  while (done < steps) {
    const asked = min(BLOCK, steps - done);
    const ran = chainRun(plan, asked);
    hash = fnvWord(hash, <u32>ran);
    const recorded = ran < asked ? ran + 1 : ran; // a diverged step still has its loss
    for (let r = 0; r < recorded * RECORD_WORDS; r++) hash = fnvF64(hash, load<f64>(records + (<usize>r << 3)));
    if (ran < asked) return hash;
    done += asked;
  }
  return fnvF32s(hash, w, PADDED);
}

/** FNV-1a hash of a fixed SGLD + RMSprop-SGLD run (see the top of this file). */
export function selfTest(): u32 {
  // Model plan (src/models.ts planModel).
  const modelWords = MLP_LAYER0 + 2 * MLP_LAYER_WORDS;
  const model = alloc(<usize>modelWords << 2);
  const params = f32s(PADDED), grads = f32s(PADDED);
  let scratch: i32 = 0;
  scratch = max(scratch, max(matmulScratchBytes(BATCH, HIDDEN, D_IN), max(matmulScratchBytes(HIDDEN, D_IN, BATCH), matmulScratchBytes(BATCH, D_IN, HIDDEN))));
  scratch = max(scratch, max(matmulScratchBytes(BATCH, D_OUT, HIDDEN), max(matmulScratchBytes(D_OUT, HIDDEN, BATCH), matmulScratchBytes(BATCH, HIDDEN, D_OUT))));
  const pred = f32s(BATCH * D_OUT);
  setWord(model, PLAN_KIND, MODEL_MLP);
  setWord(model, PLAN_MAX_BATCH, BATCH);
  setWord(model, PLAN_D_IN, D_IN);
  setWord(model, PLAN_D_OUT, D_OUT);
  setWord(model, PLAN_PARAMS, <i32>params);
  setWord(model, PLAN_GRADS, <i32>grads);
  setWord(model, PLAN_SCRATCH, <i32>alloc(<usize>max(scratch, 16)));
  setWord(model, PLAN_PRED, <i32>pred);
  setWord(model, PLAN_DPRED, <i32>f32s(BATCH * D_OUT));
  setWord(model, MLP_LAYERS, 2);
  setWord(model, MLP_ACTIVATION, ACT_TANH);
  setWord(model, MLP_GRAD_A, <i32>f32s(BATCH * HIDDEN));
  setWord(model, MLP_GRAD_B, <i32>f32s(BATCH * HIDDEN));
  setLayer(model, 0, D_IN, HIDDEN, W0, B0, f32s(BATCH * HIDDEN));
  setLayer(model, 1, HIDDEN, D_OUT, W1, B1, pred);

  // Data and w*: x ~ N(0, 1), y ~ 0.5·N(0, 1), w* ~ 0.3·N(0, 1), from the module's own normals.
  const x = normals(ROWS * D_IN, 1, 1);
  const y = normals(ROWS * D_OUT, 2, 0.5);
  const wStar = normals(SIZE, 3, 0.3);
  const mask = f32s(PADDED);
  for (let i = 0; i < SIZE; i++) store<f32>(mask + (<usize>i << 2), i == FROZEN ? 0 : 1);

  // Chain plan (src/sampler.ts createChainRunner).
  const plan = alloc(<usize>CHAIN_PLAN_BYTES);
  const records = alloc(<usize>(BLOCK * RECORD_WORDS) << 3);
  chainPlanWrite(
    plan, model, params, wStar, grads, mask, f32s(PADDED), f32s(PADDED), f32s(PADDED), f32s(PADDED), PADDED,
    x, y, ROWS, f32s(BATCH * D_IN), f32s(BATCH * D_OUT), BATCH, alloc(<usize>ROWS << 2), METHOD_SGLD, records,
  );
  chainHyperparametersWrite(plan, 1e-3, 8, 100, 0.01, 1, 0, 0.99, 0.1);

  let hash = FNV_OFFSET;
  // Init loss at w* over the first two batches in data order (devinterp's L0).
  memory.copy(params, wStar, <usize>PADDED << 2);
  hash = fnvF64(hash, datasetLoss(plan, 0, 2 * BATCH));

  chainReset(plan, SEED, 0);
  hash = runAndHash(hash, plan, records, params, 100);

  setWord(plan, CH_METHOD, METHOD_RMSPROP_SGLD);
  chainReset(plan, SEED, 1);
  hash = runAndHash(hash, plan, records, params, 60);
  return hash;
}
