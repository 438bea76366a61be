// The estimate itself, for the WASI command: the same planning as src/models.ts
// planModel and src/sampler.ts createChainRunner (the same plan words, arenas
// padded to 8 floats, buffers sized for the batch), the same L0 rules as
// src/estimator.ts prepareEstimate, the step loop of assembly/chain.ts
// (chainReset / chainRun / datasetLoss, called here instead of from JavaScript),
// and the statistics of src/estimator.ts summarize in the same f64 operation
// order, written as the JavaScript CLI writes its result (resultJson).

import { alloc } from "../memory";
import { MALA_TOO_LOW } from "../../src/limits";
import { matmulScratchBytes } from "../matmul";
import {
  MODEL_POLYNOMIAL, MODEL_MLP, PLAN_KIND, PLAN_MAX_BATCH, PLAN_D_IN, PLAN_D_OUT, PLAN_PARAMS, PLAN_GRADS, PLAN_SCRATCH, PLAN_PRED, PLAN_DPRED,
  PLAN_ARENA_FLOATS, PLAN_WORDS_FIXED,
} from "../plan";
import { POLY_K, POLY_POWERS, MLP_LAYERS, MLP_ACTIVATION, MLP_GRAD_A, MLP_GRAD_B, MLP_LAYER0, MLP_LAYER_WORDS } from "../models";
import {
  CH_RECORDS, CHAIN_PLAN_BYTES, RECORD_WORDS, chainPlanWrite, chainHyperparametersWrite, REC_LOSS, REC_MALA, REC_GRAD_SQ, REC_NOISE_SQ, REC_DIST_SQ, REC_WEIGHT_SQ,
  chainReset, chainRun, datasetLoss, defaultNbeta,
} from "../chain";
import { diagnosticsRun, DG_GLOBAL_WORDS, PC_WORDS, PC_TREND_T, PC_TREND_SLOPE, PC_SPIKES, DG_RHAT } from "../diagnostics";
import { METHOD_SGLD, METHOD_RMSPROP_SGLD } from "../sgld";
import { ACT_IDENTITY, ACT_RELU, ACT_TANH } from "../elementwise";
import { Config, MODEL_POLYNOMIAL_KIND, RESTRICT_LIST, RESTRICT_RECORD, configError, writeConfig } from "./config";
import { SafetensorsFile, Tensor, elementAsF64, DT_F32, DT_F64 } from "./safetensors";
import { fail } from "./errors";
import { findByName, namesOf } from "./names";
import { formatNumber, toPrecision, CharSink } from "./numbers";
import { quoteJson } from "./json";
import { JsonWriter } from "./writer";
import { Output, writeText, nowMs, encodeUtf8, ByteSink, FileBytes } from "./io";

/** Steps per chainRun call, as src/sampler.ts STEPS_PER_CALL (the bits do not depend on it). */
const STEPS_PER_CALL = 64;
const ARENA_ALIGN_FLOATS = 8;
export const ENGINE_NAME = "llc-wasm";
export const ENGINE_VERSION = "0.1.0";
export const ENGINE_VARIANT = "wasi";

// ───────────────────────────── memory ─────────────────────────────

const MEMORY_LIMIT: f64 = 4294967296;

/** src/engine.ts alloc: zeroed, 16-byte multiples, with a clear error instead of a trap when memory runs out. */
function engineAlloc(bytes: f64): usize {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const top = <f64>heap.alloc(16);
  const need = top + size + 256;
  const have = <f64>memory.size() * 65536;
  if (need > have) {
    const pages = <i32>Math.ceil((need - have) / 65536);
    if (need > MEMORY_LIMIT - 65536 || memory.grow(pages) < 0) {
      fail("OutOfMemoryError", "out of memory: could not reserve " + formatNumber(bytes) + " bytes of WebAssembly memory (limit 4 GiB per instance)");
    }
  }
  return alloc(<usize>size);
}
function allocF32(count: f64): usize {
  return engineAlloc(count * 4);
}
function allocF64(count: f64): usize {
  return engineAlloc(count * 8);
}
function allocI32(count: f64): usize {
  return engineAlloc(count * 4);
}
@inline function setWord(plan: usize, index: i32, value: i32): void {
  store<i32>(plan + (<usize>index << 2), value);
}
@inline function getWord(plan: usize, index: i32): i32 {
  return load<i32>(plan + (<usize>index << 2));
}

// ───────────────────────────── layout ─────────────────────────────

class View {
  name: string;
  shape: f64[];
  offset: f64;
  size: f64;
  constructor(name: string, shape: f64[], offset: f64, size: f64) {
    this.name = name;
    this.shape = shape;
    this.offset = offset;
    this.size = size;
  }
}

class Layout {
  tensors: View[] = [];
  size: f64 = 0;
  padded: f64 = ARENA_ALIGN_FLOATS;
  find(name: string): View | null {
    return findByName<View>(this.tensors, name);
  }
  names(): string {
    return namesOf<View>(this.tensors);
  }
  add(name: string, shape: f64[]): void {
    let size: f64 = 1;
    for (let i = 0; i < shape.length; i++) size *= shape[i];
    this.tensors.push(new View(name, shape, this.size, size));
    this.size += size;
    this.padded = Math.ceil(this.size / ARENA_ALIGN_FLOATS) * ARENA_ALIGN_FLOATS;
    if (this.padded == 0) this.padded = ARENA_ALIGN_FLOATS;
  }
}

/** src/models.ts modelLayout: PyTorch names and shapes. */
function modelLayout(c: Config): Layout {
  const layout = new Layout();
  if (c.model.kind == MODEL_POLYNOMIAL_KIND) {
    layout.add("weights", [<f64>c.model.powers.length]);
    return layout;
  }
  const sizes = c.model.sizes;
  for (let i = 0; i + 1 < sizes.length; i++) {
    layout.add("layers." + i.toString() + ".weight", [sizes[i + 1], sizes[i]]);
    if (c.model.bias) layout.add("layers." + i.toString() + ".bias", [sizes[i + 1]]);
  }
  return layout;
}

function formatShape(shape: f64[]): string {
  const parts: string[] = [];
  for (let i = 0; i < shape.length; i++) parts.push(formatNumber(shape[i]));
  return "[" + parts.join(", ") + "]";
}

function inputError(field: string, message: string): void {
  fail("InputError", field + ": " + message);
}

// ───────────────────────────── inputs ─────────────────────────────

/** src/estimator.ts loadWeights: w* into a padded f32 arena (in module memory). */
function loadWeights(layout: Layout, weights: SafetensorsFile, arena: usize): void {
  for (let v = 0; v < layout.tensors.length; v++) {
    const view = layout.tensors[v];
    const field = 'weights["' + view.name + '"]';
    const found = weights.get(view.name);
    if (found == null) inputError(field, "missing tensor; expected shape " + formatShape(view.shape) + " (model tensors: " + layout.names() + ")");
    const t = changetype<Tensor>(found);
    if (t.code != DT_F32 && t.code != DT_F64) inputError(field, "expected dtype F32 or F64, got " + t.dtype);
    let same = t.shape.length == view.shape.length;
    for (let i = 0; same && i < t.shape.length; i++) same = t.shape[i] == view.shape[i];
    if (!same) inputError(field, "expected shape " + formatShape(view.shape) + ", got " + formatShape(t.shape));
    const size = <i32>view.size;
    for (let i = 0; i < size; i++) {
      const value = elementAsF64(t, i);
      if (!isFinite(value)) inputError(field + "[" + i.toString() + "]", "expected a finite weight, got " + formatNumber(value));
      store<f32>(arena + ((<usize>view.offset + <usize>i) << 2), <f32>value);
    }
  }
  for (let i = 0; i < weights.tensors.length; i++) {
    const name = weights.tensors[i].name;
    if (layout.find(name) == null) inputError('weights["' + name + '"]', "not a tensor of this model (expected: " + layout.names() + ")");
  }
}

class DataTensor {
  ptr: usize;
  n: f64;
  constructor(ptr: usize, n: f64) {
    this.ptr = ptr;
    this.n = n;
  }
}

/** src/estimator.ts loadData's get(): a tensor [n, width] as f32 in module memory. */
function loadDataTensor(data: SafetensorsFile, name: string, width: f64): DataTensor {
  const field = 'data["' + name + '"]';
  const found = data.get(name);
  if (found == null) {
    const present = data.tensors.length ? data.names() : "none";
    inputError(field, "missing tensor; expected shape [n, " + formatNumber(width) + "] (present: " + present + ")");
  }
  const t = changetype<Tensor>(found);
  const ok = (t.shape.length == 2 && t.shape[1] == width) || (t.shape.length == 1 && width == 1);
  if (!ok) inputError(field, "expected shape [n, " + formatNumber(width) + "], got " + formatShape(t.shape));
  const count = t.count;
  const ptr = allocF32(Math.max(1, count));
  const total = <i32>count;
  for (let i = 0; i < total; i++) store<f32>(ptr + (<usize>i << 2), <f32>elementAsF64(t, i));
  for (let i = 0; i < total; i++) {
    const v = load<f32>(ptr + (<usize>i << 2));
    if (!isFinite(v)) inputError(field, "expected finite values, element " + i.toString() + " is " + formatNumber(<f64>v));
  }
  return new DataTensor(ptr, t.shape[0]);
}

/** src/arena.ts restrictionMask (tensor names; the models here have no other selectors). */
function restrictionMask(layout: Layout, c: Config, mask: usize): void {
  if (c.restrictKind == RESTRICT_LIST) {
    for (let i = 0; i < c.selectors.length; i++) {
      const view = layout.find(c.selectors[i]);
      if (view == null) configError("restrict[" + i.toString() + "]", "unknown selector " + quoteJson(c.selectors[i]) + " (expected tensor names)");
      const v = changetype<View>(view);
      for (let k: f64 = 0; k < v.size; k++) store<f32>(mask + (<usize>(v.offset + k) << 2), 1);
    }
    return;
  }
  if (c.restrictKind == RESTRICT_RECORD) {
    for (let e = 0; e < c.entries.length; e++) {
      const entry = c.entries[e];
      const field = "restrict." + entry.name;
      const view = layout.find(entry.name);
      if (view == null) configError(field, "no such tensor in the model (tensors: " + layout.names() + ")");
      const v = changetype<View>(view);
      if (entry.all) {
        for (let k: f64 = 0; k < v.size; k++) store<f32>(mask + (<usize>(v.offset + k) << 2), 1);
        continue;
      }
      if (<f64>entry.mask.length != v.size) {
        configError(field, "expected a flattened 0/1 mask of " + formatNumber(v.size) + " entries (shape " + formatShape(v.shape) + "), got " + entry.mask.length.toString());
      }
      for (let k = 0; k < entry.mask.length; k++) store<f32>(mask + (<usize>(v.offset + <f64>k) << 2), <f32>entry.mask[k]);
    }
    let frees = false;
    for (let k: f64 = 0; k < layout.size; k++) if (load<f32>(mask + (<usize>k << 2)) != 0) frees = true;
    if (!frees) configError(c.entries.length == 1 ? "restrict." + c.entries[0].name : "restrict", 'every mask entry is 0, so no parameter moves; give at least one 1 (or "all")');
    return;
  }
  for (let k: f64 = 0; k < layout.size; k++) store<f32>(mask + (<usize>k << 2), 1);
}

// ───────────────────────────── planning ─────────────────────────────

/** src/models.ts planModel for the polynomial and the MLP. */
function planModel(c: Config, layout: Layout, params: usize, grads: usize, maxBatch: f64, dIn: f64, dOut: f64): usize {
  const isMlp = c.model.kind != MODEL_POLYNOMIAL_KIND;
  const sizes = c.model.sizes;
  const words = isMlp ? MLP_LAYER0 + (sizes.length - 1) * MLP_LAYER_WORDS : PLAN_WORDS_FIXED;
  const plan = allocI32(words);
  setWord(plan, PLAN_MAX_BATCH, <i32>maxBatch);
  setWord(plan, PLAN_D_IN, <i32>dIn);
  setWord(plan, PLAN_D_OUT, <i32>dOut);
  setWord(plan, PLAN_PARAMS, <i32>params);
  setWord(plan, PLAN_GRADS, <i32>grads);
  setWord(plan, PLAN_ARENA_FLOATS, <i32>layout.padded);
  setWord(plan, PLAN_PRED, <i32>allocF32(maxBatch * dOut));
  setWord(plan, PLAN_DPRED, <i32>allocF32(maxBatch * dOut));
  if (!isMlp) {
    const k = c.model.powers.length;
    const powers = allocF64(k);
    for (let i = 0; i < k; i++) store<f64>(powers + (<usize>i << 3), c.model.powers[i]);
    setWord(plan, PLAN_KIND, MODEL_POLYNOMIAL);
    setWord(plan, POLY_K, k);
    setWord(plan, POLY_POWERS, <i32>powers);
    return plan;
  }
  const layers = sizes.length - 1;
  let widest: f64 = 0;
  for (let i = 0; i < sizes.length; i++) widest = Math.max(widest, sizes[i]);
  let scratchBytes: f64 = 0;
  const mb = <i32>maxBatch;
  for (let l = 0; l < layers; l++) {
    const fanIn = <i32>sizes[l], fanOut = <i32>sizes[l + 1];
    scratchBytes = Math.max(
      scratchBytes,
      Math.max(<f64>matmulScratchBytes(mb, fanOut, fanIn), Math.max(<f64>matmulScratchBytes(fanOut, fanIn, mb), <f64>matmulScratchBytes(mb, fanIn, fanOut))),
    );
  }
  setWord(plan, PLAN_KIND, MODEL_MLP);
  setWord(plan, PLAN_SCRATCH, <i32>engineAlloc(scratchBytes));
  setWord(plan, MLP_LAYERS, layers);
  const act = c.model.activation;
  setWord(plan, MLP_ACTIVATION, act == "relu" ? ACT_RELU : act == "tanh" ? ACT_TANH : ACT_IDENTITY);
  setWord(plan, MLP_GRAD_A, <i32>allocF32(maxBatch * widest));
  setWord(plan, MLP_GRAD_B, <i32>allocF32(maxBatch * widest));
  const pred = getWord(plan, PLAN_PRED);
  for (let l = 0; l < layers; l++) {
    const base = MLP_LAYER0 + l * MLP_LAYER_WORDS;
    const weight = changetype<View>(layout.find("layers." + l.toString() + ".weight"));
    const bias = layout.find("layers." + l.toString() + ".bias");
    setWord(plan, base, <i32>sizes[l]);
    setWord(plan, base + 1, <i32>sizes[l + 1]);
    setWord(plan, base + 2, <i32>weight.offset);
    setWord(plan, base + 3, bias != null ? <i32>changetype<View>(bias).offset : -1);
    setWord(plan, base + 4, l == layers - 1 ? pred : <i32>allocF32(maxBatch * sizes[l + 1]));
  }
  return plan;
}

// ───────────────────────────── running ─────────────────────────────

class Traces {
  count: i32 = 0;
  loss: usize;
  mala: usize; // NaN: none (null in the result)
  grad: usize;
  noise: usize;
  dist: usize;
  weight: usize;
  constructor(draws: f64) {
    this.loss = allocF64(draws);
    this.mala = allocF64(draws);
    this.grad = allocF64(draws);
    this.noise = allocF64(draws);
    this.dist = allocF64(draws);
    this.weight = allocF64(draws);
  }
  @inline at(buffer: usize, i: i32): f64 {
    return load<f64>(buffer + (<usize>i << 3));
  }
}

@inline function put(buffer: usize, i: i32, v: f64): void {
  store<f64>(buffer + (<usize>i << 3), v);
}

let quiet = false;
let startMs: f64 = 0;
let lastProgressMs: f64 = 0;

/** The JavaScript CLI's progress line: only once a run has lasted a second, at most every half second. */
function progress(chain: i32, draw: i32, draws: f64, loss: f64): void {
  if (quiet) return;
  const now = nowMs();
  if (now - startMs < 1000 || now - lastProgressMs < 500) return;
  lastProgressMs = now;
  writeText(2, "chain " + chain.toString() + " draw " + (draw + 1).toString() + "/" + formatNumber(draws) + " loss " + toPrecision(loss, 6) + "\n");
}

function diverged(chain: i32, step: f64, draw: f64, loss: f64, failFast: bool): void {
  const what = isNaN(loss) ? "NaN" : loss > 0 ? "Inf" : "-Inf";
  const where = draw >= 0 ? "chain " + chain.toString() + ", draw " + formatNumber(draw) : "chain " + chain.toString() + ", burn-in step " + formatNumber(step);
  // This command always stops at the first diverged chain (as sampler.fail_fast); without
  // fail_fast the JavaScript CLI runs the other chains, so the difference is said.
  fail(
    "ChainDivergedError",
    what + " detected in loss at " + where + " (SGLD step " + formatNumber(step) +
      "); the chain diverged: try a smaller sampler.epsilon, a larger sampler.gamma, or a sampler.bounding_box" +
      (failFast ? "" : " (the WASI command stops at the first diverged chain; llc estimate runs the others and estimates over the healthy ones)"),
  );
}

/** src/sampler.ts run(): one chain from w*, its draws picked out of the step records. */
function runChain(plan: usize, c: Config, chain: i32): Traces {
  const s = c.sampler;
  const traces = new Traces(s.draws);
  const records = <usize>getWord(plan, CH_RECORDS);
  const burnin = s.burnin, thin = s.thin, draws = s.draws;
  const totalSteps = burnin + draws * thin;
  const halfEps = s.epsilon / 2;
  const noiseScale = Math.sqrt(s.epsilon) * s.noiseLevel;
  chainReset(plan, <u32>s.seed, <u32>chain);
  let step: f64 = 0;
  while (step < totalSteps) {
    const asked = <i32>Math.min(<f64>STEPS_PER_CALL, totalSteps - step);
    const done = chainRun(plan, asked);
    const recorded = done < asked ? done + 1 : done;
    for (let r = 0; r < recorded; r++, step++) {
      const isDraw = step >= burnin && (step + 1 - burnin) % thin == 0;
      const rec = records + (<usize>(r * RECORD_WORDS) << 3);
      if (r == done) {
        diverged(chain, step, isDraw ? (step - burnin - thin + 1) / thin : -1, load<f64>(rec, REC_LOSS << 3), s.failFast);
      }
      if (!isDraw) continue;
      const d = traces.count++;
      put(traces.loss, d, load<f64>(rec, REC_LOSS << 3));
      put(traces.mala, d, load<f64>(rec, REC_MALA << 3));
      // devinterp's GradientNorm ‖(ε/2)·nβ·g‖ and NoiseNorm ‖√ε·σ·ξ‖.
      put(traces.grad, d, halfEps * Math.sqrt(load<f64>(rec, REC_GRAD_SQ << 3)));
      put(traces.noise, d, noiseScale * Math.sqrt(load<f64>(rec, REC_NOISE_SQ << 3)));
      put(traces.dist, d, Math.sqrt(load<f64>(rec, REC_DIST_SQ << 3)));
      put(traces.weight, d, Math.sqrt(load<f64>(rec, REC_WEIGHT_SQ << 3)));
    }
    if (traces.count > 0) progress(chain, traces.count - 1, draws, traces.at(traces.loss, traces.count - 1));
  }
  return traces;
}

// ───────────────────────────── statistics ─────────────────────────────

/** xs.reduce((a, b) => a + b, 0) / xs.length over n consecutive f64s: the order src/estimator.ts sums in. */
function meanOf(ptr: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) total += load<f64>(ptr + (<usize>i << 3));
  return total / <f64>n;
}

/** src/estimator.ts sampleStd (ddof 1); NaN stands for null (fewer than 2 values). */
function sampleStdOf(ptr: usize, n: i32): f64 {
  if (n < 2) return NaN;
  const m = meanOf(ptr, n);
  let total: f64 = 0;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(ptr + (<usize>i << 3));
    total += (x - m) * (x - m);
  }
  return Math.sqrt(total / <f64>(n - 1));
}

function fnv1a(h: u32, ptr: usize, len: i32): u32 {
  for (let i = 0; i < len; i++) h = (h ^ <u32>load<u8>(ptr + <usize>i)) * 0x01000193;
  return (h ^ 0xff) * 0x01000193;
}

function hex8(v: u32): string {
  const out = new CharSink();
  for (let s = 28; s >= 0; s -= 4) {
    const d = <i32>((v >> s) & 15);
    out.push(d < 10 ? 48 + d : 87 + d);
  }
  return out.toString();
}

/** src/io/results.ts fingerprint(config JSON with workers 1, weight bytes, data bytes). */
function jobFingerprint(c: Config, weightBytes: FileBytes, dataBytes: FileBytes): string {
  const text = new CharSink();
  writeConfig(new JsonWriter(text, 0), c, 1, false);
  const utf8 = new ByteSink();
  encodeUtf8(text.ptr, text.len, utf8);
  let h: u32 = 0x811c9dc5;
  h = fnv1a(h, utf8.ptr, utf8.len);
  h = fnv1a(h, weightBytes.ptr, weightBytes.len);
  h = fnv1a(h, dataBytes.ptr, dataBytes.len);
  return hex8(h);
}

function writeTrace(w: JsonWriter, out: Output, traces: Traces[], pick: i32, initLoss: f64, nbeta: f64): void {
  w.beginArray();
  for (let c = 0; c < traces.length; c++) {
    const t = traces[c];
    const buffer = pick == 0 ? t.loss : pick == 1 ? t.mala : pick == 2 ? t.grad : pick == 3 ? t.noise : pick == 4 ? t.dist : pick == 5 ? t.weight : t.loss;
    w.beginArray();
    for (let d = 0; d < t.count; d++) {
      const v = t.at(buffer, d);
      w.number(pick == 6 ? nbeta * (v - initLoss) : v); // 6: llc/trace; mala NaN → null
      out.maybeFlush();
    }
    w.endArray();
  }
  w.endArray();
}

// ───────────────────────────── diagnostics ─────────────────────────────

/** src/estimator.ts initLossSe (NaN: null), with the plan's params at w*. */
function initLossSeOf(plan: usize, c: Config, n: f64): f64 {
  const s = c.sampler;
  if (s.initLoss == "number") return NaN;
  if (s.initLoss == "full") return 0;
  const rows = Math.min(s.chains * s.batchSize, n);
  if (rows == n) return 0;
  const losses = allocF64(rows);
  for (let i = 0; i < <i32>rows; i++) put(losses, i, datasetLoss(plan, i, 1));
  const sd = sampleStdOf(losses, <i32>rows);
  return isNaN(sd) ? NaN : (sd / Math.sqrt(rows)) * Math.sqrt((n - rows) / (n - 1));
}

/** src/diagnostics.ts fmt: toPrecision with −0 as 0. */
function fmt(x: f64, digits: i32 = 3): string {
  return toPrecision(x == 0 ? 0 : x, digits);
}

/** src/diagnostics.ts verdictOf, worded identically (no chain diverges here: this command stops at one). */
function verdict(g: usize, chains: i32, draws: i32, nbeta: f64, llcMean: f64, mala: f64, se: f64): string[] {
  const names: string[] = [], reasons: string[] = [];
  const notConverged: string[] = [];
  const rhat = load<f64>(g + (<usize>DG_RHAT << 3));
  if (!isNaN(rhat) && rhat > 1.01) notConverged.push("R̂ = " + fmt(rhat, 4) + " > 1.01");
  for (let c = 0; c < chains; c++) {
    const o = g + (<usize>(DG_GLOBAL_WORDS + c * PC_WORDS) << 3);
    const t = load<f64>(o + (<usize>PC_TREND_T << 3));
    if (!isNaN(t) && Math.abs(t) > 3.29)
      notConverged.push("chain " + c.toString() + " trends (slope " + fmt(load<f64>(o + (<usize>PC_TREND_SLOPE << 3))) + " per draw, t = " + fmt(t) + ")");
  }
  if (notConverged.length) {
    names.push("not converged");
    for (let i = 0; i < notConverged.length; i++) reasons.push(notConverged[i]);
  }
  const large: string[] = [];
  if (!isNaN(mala) && mala < MALA_TOO_LOW) large.push("MALA acceptance " + fmt(mala) + " < " + fmt(MALA_TOO_LOW));
  for (let c = 0; c < chains; c++) {
    const spikes = load<f64>(g + (<usize>(DG_GLOBAL_WORDS + c * PC_WORDS + PC_SPIKES) << 3));
    if (!isNaN(spikes) && draws > 0 && spikes / <f64>draws > 0.01)
      large.push("chain " + c.toString() + " has " + formatNumber(spikes) + " loss spikes in " + draws.toString() + " draws");
  }
  if (large.length) {
    names.push("ε too large");
    for (let i = 0; i < large.length; i++) reasons.push(large[i]);
  }
  if (!isNaN(se) && se * nbeta > 0.1 * Math.abs(llcMean)) {
    names.push("L0 uncertain");
    reasons.push("s.e.(L0)·nβ = " + fmt(se * nbeta) + " > |λ̂|/10 = " + fmt(Math.abs(llcMean) / 10) + ': try init_loss: "full"');
  }
  return [names.length ? names.join(", ") : "healthy", reasons.join("; ")];
}

const GLOBAL_KEYS = ["rhat", "rhat_bulk", "rhat_tail", "ess_bulk", "ess_tail", "mcse"];
/** src/diagnostics.ts PER_CHAIN: names in PC_* order; true: written as a boolean. */
const PER_CHAIN_KEYS = [
  "geweke_z", "heidelberger_stationary", "heidelberger_start", "heidelberger_cvm", "heidelberger_halfwidth", "heidelberger_mean",
  "heidelberger_passed", "trend_slope", "trend_se", "trend_t", "below_init_loss", "mala_accept", "raftery_lewis_n", "spikes",
];

/** src/diagnostics.ts diagnose: the diagnostics/* keys, in its order. */
function writeDiagnostics(w: JsonWriter, traces: Traces[], initLoss: f64, nbeta: f64, se: f64, llcMean: f64, mala: f64): void {
  const chains = traces.length;
  let draws = traces[0].count;
  for (let i = 1; i < chains; i++) draws = min(draws, traces[i].count);
  const total = max(1, chains * draws);
  const loss = allocF64(total), acc = allocF64(total);
  for (let c = 0; c < chains; c++) {
    memory.copy(loss + (<usize>(c * draws) << 3), traces[c].loss, <usize>draws << 3);
    memory.copy(acc + (<usize>(c * draws) << 3), traces[c].mala, <usize>draws << 3);
  }
  const g = allocF64(DG_GLOBAL_WORDS + chains * PC_WORDS);
  diagnosticsRun(loss, acc, chains, draws, initLoss, nbeta, g);
  const v = verdict(g, chains, draws, nbeta, llcMean, mala, se);
  w.key("diagnostics/verdict");
  w.string(v[0]);
  w.key("diagnostics/reasons");
  w.string(v[1]);
  for (let i = 0; i < GLOBAL_KEYS.length; i++) {
    w.key("diagnostics/" + GLOBAL_KEYS[i]);
    w.number(load<f64>(g + (<usize>i << 3)));
  }
  w.key("diagnostics/init_loss_se");
  w.number(se);
  for (let k = 0; k < PER_CHAIN_KEYS.length; k++) {
    const name = PER_CHAIN_KEYS[k];
    const isBool = name == "heidelberger_stationary" || name == "heidelberger_passed";
    w.key("diagnostics/" + name);
    w.beginArray();
    for (let c = 0; c < chains; c++) {
      const x = load<f64>(g + (<usize>(DG_GLOBAL_WORDS + c * PC_WORDS + k) << 3));
      if (isNaN(x)) w.nullValue();
      else if (isBool) w.boolean(x == 1);
      else w.number(x);
    }
    w.endArray();
  }
}

// ───────────────────────────── the estimate ─────────────────────────────

/** prepareEstimate + estimate + summarize + resultJson, for the config and its two files. */
export function runEstimate(c: Config, weightsFile: SafetensorsFile, dataFile: SafetensorsFile, weightBytes: FileBytes, dataBytes: FileBytes, beQuiet: bool, started: f64): void {
  quiet = beQuiet;
  startMs = started;
  const s = c.sampler;
  const layout = modelLayout(c);
  const wStar = allocF32(layout.padded);
  loadWeights(layout, weightsFile, wStar);
  const mask = allocF32(layout.padded);
  restrictionMask(layout, c, mask);
  const isPoly = c.model.kind == MODEL_POLYNOMIAL_KIND;
  const dIn: f64 = isPoly ? 1 : c.model.sizes[0];
  const dOut: f64 = isPoly ? 1 : c.model.sizes[c.model.sizes.length - 1];
  const x = loadDataTensor(dataFile, "x", dIn);
  const y = loadDataTensor(dataFile, "y", dOut);
  if (x.n != y.n) inputError('data["y"]', "expected " + formatNumber(x.n) + " rows to match x, got " + formatNumber(y.n));
  if (x.n < 1) inputError('data["x"]', "expected at least one row");
  const n = x.n;
  if (s.batchSize > n) inputError("sampler.batch_size", "expected at most the number of data rows (" + formatNumber(n) + "), got " + formatNumber(s.batchSize));
  const nbeta = s.nbetaDefault ? defaultNbeta(s.batchSize) : s.nbeta;

  const P = layout.padded;
  const params = allocF32(P);
  const grads = allocF32(P);
  const batch = s.batchSize;
  const model = planModel(c, layout, params, grads, batch, dIn, dOut);

  // src/sampler.ts createChainRunner: the chain plan.
  const plan = engineAlloc(CHAIN_PLAN_BYTES);
  const wStarArena = allocF32(P);
  memory.copy(wStarArena, wStar, <usize>P << 2);
  const maskArena = allocF32(P);
  memory.copy(maskArena, mask, <usize>P << 2);
  chainPlanWrite(
    plan, model, params, wStarArena, grads, maskArena, allocF32(P), allocF32(P), allocF32(P), allocF32(P), <i32>P,
    x.ptr, y.ptr, <i32>n, allocF32(batch * dIn), allocF32(batch * dOut), <i32>batch, allocI32(n),
    s.method == "rmsprop_sgld" ? METHOD_RMSPROP_SGLD : METHOD_SGLD, allocF64(STEPS_PER_CALL * RECORD_WORDS),
  );
  chainHyperparametersWrite(plan, s.epsilon, nbeta, s.gamma, s.weightDecay, s.noiseLevel, s.boxNull ? 0 : s.box, s.alpha, s.eps);

  // L0 at w*: the first `chains` batches in data order (at most the data once), the full data, or given.
  memory.copy(params, wStar, <usize>P << 2);
  const initLoss =
    s.initLoss == "number" ? s.initLossValue
    : s.initLoss == "full" ? datasetLoss(plan, 0, <i32>n)
    : datasetLoss(plan, 0, <i32>Math.min(s.chains * batch, n));
  if (!isFinite(initLoss)) inputError("weights", "the loss at w* is " + formatNumber(initLoss) + "; expected a finite init loss");
  const initLossSe = initLossSeOf(plan, c, n); // at w*, before any chain moves the params

  const chains = <i32>s.chains;
  const traces: Traces[] = [];
  for (let chain = 0; chain < chains; chain++) traces.push(runChain(plan, c, chain));

  // summarize()
  const perChain = allocF64(chains);
  const column = allocF64(chains);
  for (let i = 0; i < chains; i++) {
    const t = traces[i];
    put(perChain, i, nbeta * (meanOf(t.loss, t.count) - initLoss));
  }
  let draws = traces[0].count;
  for (let i = 1; i < chains; i++) draws = min(draws, traces[i].count);

  const out = new Output();
  const w = new JsonWriter(out.chars, 1);
  w.beginObject();
  w.key("llc/mean");
  w.number(meanOf(perChain, chains));
  w.key("llc/std");
  w.number(sampleStdOf(perChain, chains));
  w.key("llc/means");
  w.beginArray();
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < chains; i++) put(column, i, nbeta * (traces[i].at(traces[i].loss, d) - initLoss));
    w.number(meanOf(column, chains));
    out.maybeFlush();
  }
  w.endArray();
  w.key("llc/stds");
  w.beginArray();
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < chains; i++) put(column, i, nbeta * (traces[i].at(traces[i].loss, d) - initLoss));
    w.number(sampleStdOf(column, chains));
    out.maybeFlush();
  }
  w.endArray();
  w.key("llc/trace");
  writeTrace(w, out, traces, 6, initLoss, nbeta);
  w.key("loss/trace");
  writeTrace(w, out, traces, 0, initLoss, nbeta);
  w.key("init_loss");
  w.number(initLoss);
  w.key("nbeta");
  w.number(nbeta);
  w.key("mala_accept/trace");
  writeTrace(w, out, traces, 1, initLoss, nbeta);
  // Mean of the accepted values in chain order (flatMap, then reduce from 0).
  let accepted: f64 = 0;
  let acceptedCount = 0;
  for (let i = 0; i < chains; i++) {
    const t = traces[i];
    for (let d = 0; d < t.count; d++) {
      const a = t.at(t.mala, d);
      if (!isNaN(a)) {
        accepted += a;
        acceptedCount++;
      }
    }
  }
  w.key("mala_accept/mean");
  w.number(acceptedCount > 0 ? accepted / <f64>acceptedCount : NaN);
  w.key("gradient_norm/trace");
  writeTrace(w, out, traces, 2, initLoss, nbeta);
  w.key("noise_norm/trace");
  writeTrace(w, out, traces, 3, initLoss, nbeta);
  w.key("distance/trace");
  writeTrace(w, out, traces, 4, initLoss, nbeta);
  w.key("weight_norm/trace");
  writeTrace(w, out, traces, 5, initLoss, nbeta);
  writeDiagnostics(w, traces, initLoss, nbeta, initLossSe, meanOf(perChain, chains), acceptedCount > 0 ? accepted / <f64>acceptedCount : NaN);
  w.key("status");
  w.string("complete");
  w.key("chains_completed");
  w.number(<f64>chains);
  w.key("config");
  writeConfig(w, c, s.workers);
  w.key("engine");
  w.beginObject();
  w.key("name");
  w.string(ENGINE_NAME);
  w.key("version");
  w.string(ENGINE_VERSION);
  w.key("variant");
  w.string(ENGINE_VARIANT);
  w.endObject();
  for (let i = 0; i < chains; i++) {
    w.key("llc-chain/" + i.toString());
    w.number(load<f64>(perChain + (<usize>i << 3)));
  }
  w.key("job");
  w.string(jobFingerprint(c, weightBytes, dataBytes));
  w.endObject();
  out.chars.push(10);
  out.flush();
}
