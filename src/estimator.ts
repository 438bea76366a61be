// The LLC estimator (Lau et al. 2023, §4; devinterp 1.3.2 slt/llc.py):
//   λ̂_c = nβ · ( mean over draws of L_m(w_t) − L0 ),  per chain c,
//   llc/mean, llc/std (ddof = 1) across chains; nβ defaults to b / ln b.
// Refined variants (Wang et al. 2024): a restriction mask (weight-refined) and
// the data the caller passes (data-refined) change what is sampled, not this.
import type { Engine } from "./engine.ts";
import type { EstimateConfig, SamplerConfig, TransformerConfig } from "./config.ts";
import { formatShape, restrictionMask, type Layout } from "./arena.ts";
import { freezeTensors, measureAllocations, modelDims, modelLayout, planKlReference, planModel, transformerSelector, TRANSFORMER_SELECTORS } from "./models.ts";
import { createChainRunner, ChainDivergedError, EstimateError, type ChainTraces, type Divergence, type Progress, type RunOptions } from "./sampler.ts";

export { EstimateError };
import { tensorToFloat64, type Tensor } from "./io/safetensors.ts";
import { diagnose, type Diagnostics } from "./diagnostics.ts";

export const ENGINE_NAME = "llc-wasm";
export const ENGINE_VERSION = "0.1.0";

/** devinterp utils.default_nbeta: b / ln b for the (effective) batch size b; 1 when b ≤ 1 (log computed in the engine). */
export function defaultNbeta(engine: Engine, batchSize: number): number {
  return engine.kernels.defaultNbeta(batchSize);
}

export class InputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "InputError";
    this.field = field;
  }
}

export interface EstimateInputs {
  /** w*: tensors named as the model's layout (f32 or f64). */
  weights: Map<string, Tensor>;
  /** Tensors "x" [n, d_in] and "y" [n, d_out]. */
  data: Map<string, Tensor>;
  /** The KL loss's reference checkpoint (config.loss.reference a path): its model and tensors. */
  reference?: { model: TransformerConfig; weights: Map<string, Tensor> };
}

export interface EstimateOptions {
  onProgress?: (p: Progress) => void;
  /** Called after each finished chain, so a caller can save partial results. */
  onChain?: (chain: number, traces: ChainTraces, partial: EstimateResult) => void | Promise<void>;
  /** Traces of chains finished by an earlier, interrupted run of the same job (resume). */
  completed?: ChainTraces[];
  signal?: AbortSignal;
  /** Compute every gradient, and every activation at every step, even where `restrict` freezes whole tensors (freezeTensors off): the reference path of the bit-identity test and the bench. */
  fullBackward?: boolean;
}

export interface EstimateSummary {
  "llc/mean": number;
  "llc/std": number | null;
  [chainKey: `llc-chain/${number}`]: number;
  "llc/means": number[];
  "llc/stds": (number | null)[];
  "llc/trace": number[][];
  "loss/trace": number[][];
  init_loss: number;
  /** Written when L0 is known rather than estimated (the KL loss to w*). */
  init_loss_method?: string;
  nbeta: number;
  "mala_accept/trace": (number | null)[][];
  "mala_accept/mean": number | null;
  "gradient_norm/trace": number[][];
  "noise_norm/trace": number[][];
  "distance/trace": number[][];
  "weight_norm/trace": number[][];
  /**
   * complete: every chain ran all its draws. diverged: every chain ran, some diverged
   * (llc/* are over the healthy ones). partial: stopped early (killed, cancelled), resumable.
   * error: stopped at a diverged chain (sampler.fail_fast).
   */
  status: "complete" | "diverged" | "partial" | "error";
  error?: string;
  /** Chains that ran all their draws (the healthy ones). */
  chains_completed: number;
  /** Present when a chain diverged: how many chains llc/mean, llc/std, llc/means and mala_accept/mean are over. */
  /** Present when a chain diverged: each diverged chain, where, and its error. */
  diverged_chains?: Divergence[];
  config: EstimateConfig;
  engine: { name: string; version: string; variant: string };
}

/** An estimate's result with its convergence diagnostics and verdict (src/diagnostics.ts). */
export type EstimateResult = EstimateSummary & Diagnostics;

/** Copy w* into a padded f32 arena, checking every tensor's presence and shape. */
/** Said of a value that must fit f32 (F64 inputs are rounded to f32 in the engine). */
const F32_RANGE = " within the f32 range (|x| up to about 3.4028e38)";

export function loadWeights(layout: Layout, weights: Map<string, Tensor>, field = "weights"): Float32Array {
  const arena = new Float32Array(layout.padded);
  for (const view of layout.tensors) {
    const t = weights.get(view.name);
    if (!t) throw new InputError(`${field}["${view.name}"]`, `missing tensor; expected shape ${formatShape(view.shape)} (model tensors: ${layout.tensors.map((v) => v.name).join(", ")})`);
    if (t.dtype !== "F32" && t.dtype !== "F64") throw new InputError(`${field}["${view.name}"]`, `expected dtype F32 or F64, got ${t.dtype}`);
    if (t.shape.length !== view.shape.length || t.shape.some((d, i) => d !== view.shape[i]))
      throw new InputError(`${field}["${view.name}"]`, `expected shape ${formatShape(view.shape)}, got ${formatShape(t.shape)}`);
    const values = t.data as Float32Array | Float64Array;
    for (let i = 0; i < view.size; i++) {
      arena[view.offset + i] = values[i];
      // An F64 weight beyond ±3.4e38 is finite but becomes ±Infinity in f32.
      if (!Number.isFinite(arena[view.offset + i])) throw new InputError(`${field}["${view.name}"][${i}]`, `expected a finite weight${F32_RANGE}, got ${values[i]}`);
    }
  }
  const known = new Set(layout.tensors.map((v) => v.name));
  for (const name of weights.keys())
    if (!known.has(name)) throw new InputError(`${field}["${name}"]`, `not a tensor of this model (expected: ${[...known].join(", ")})`);
  return arena;
}

/** Data tensors x [n, d_in], y [n, d_out] as f32, checked against the model. */
export function loadData(data: Map<string, Tensor>, dIn: number, dOut: number, field = "data"): { x: Float32Array; y: Float32Array; n: number } {
  const get = (name: "x" | "y", width: number) => {
    const t = data.get(name);
    if (!t) throw new InputError(`${field}["${name}"]`, `missing tensor; expected shape [n, ${width}] (present: ${[...data.keys()].join(", ") || "none"})`);
    const ok = (t.shape.length === 2 && t.shape[1] === width) || (t.shape.length === 1 && width === 1);
    if (!ok) throw new InputError(`${field}["${name}"]`, `expected shape [n, ${width}], got ${formatShape(t.shape)}`);
    const given = tensorToFloat64(t);
    const values = Float32Array.from(given);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`${field}["${name}"]`, `expected finite values${F32_RANGE}, element ${bad} is ${given[bad]}`);
    return { values, n: t.shape[0] };
  };
  const x = get("x", dIn);
  const y = get("y", dOut);
  if (x.n !== y.n) throw new InputError(`${field}["y"]`, `expected ${x.n} rows to match x, got ${y.n}`);
  if (x.n < 1) throw new InputError(`${field}["x"]`, "expected at least one row");
  return { x: x.values, y: y.values, n: x.n };
}

/**
 * Token sequences "tokens" [n_seq, T] (I32 or I64) for the transformer: 2 ≤ T ≤ n_ctx
 * (T − 1 next-token predictions per sequence) and every token in [0, d_vocab).
 */
export function loadTokens(data: Map<string, Tensor>, model: TransformerConfig, field = "data"): { x: Int32Array; y: Float32Array; n: number; seqLen: number } {
  const t = data.get("tokens");
  const at = `${field}["tokens"]`;
  if (!t) throw new InputError(at, `missing tensor; expected int32 token sequences [n_seq, T] (present: ${[...data.keys()].join(", ") || "none"})`);
  if (t.dtype !== "I32" && t.dtype !== "I64") throw new InputError(at, `expected dtype I32 or I64, got ${t.dtype}`);
  if (t.shape.length !== 2) throw new InputError(at, `expected shape [n_seq, T], got ${formatShape(t.shape)}`);
  const [n, seqLen] = t.shape;
  if (seqLen > model.n_ctx) throw new InputError(at, `sequences of ${seqLen} tokens are longer than the model's n_ctx = ${model.n_ctx}`);
  if (seqLen < 2) throw new InputError(at, `expected sequences of at least 2 tokens (one next-token prediction), got ${seqLen}`);
  if (n < 1) throw new InputError(at, "expected at least one sequence");
  const values = tensorToFloat64(t);
  const x = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const token = values[i];
    if (!(token >= 0 && token < model.d_vocab) || !Number.isInteger(token))
      throw new InputError(`${at}[${Math.floor(i / seqLen)}][${i % seqLen}]`, `expected a token id in [0, ${model.d_vocab}) (d_vocab), got ${token}`);
    x[i] = token;
  }
  return { x, y: new Float32Array(0), n, seqLen };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (ddof = 1, torch's default); null for fewer than 2 values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / (xs.length - 1));
}

/**
 * Summarize chain traces (chains 0, 1, … in order) into devinterp's result keys. A
 * diverged chain keeps its traces (the loss ends with its non-finite value, which
 * JSON writes as null) and its llc-chain/{i} is null; llc/mean, llc/std, llc/means,
 * llc/stds and mala_accept/mean are over the healthy chains, whose number is
 * chains_completed; the `diverged_chains` list is written when any diverged.
 */
export function summarize(traces: ChainTraces[], initLoss: number, nbeta: number, config: EstimateConfig, variant: string, status: EstimateResult["status"], engine: Engine, initLossSe: number | null): EstimateResult {
  const healthy = traces.filter((t) => !t.diverged);
  const llcOf = (t: ChainTraces) => nbeta * (mean(t.loss) - initLoss);
  const perChain = traces.map((t) => (t.diverged ? NaN : llcOf(t)));
  const healthyLlc = healthy.map(llcOf);
  const online = traces.map((t) => t.loss.map((l) => nbeta * (l - initLoss)));
  const healthyOnline = healthy.map((t) => t.loss.map((l) => nbeta * (l - initLoss)));
  const draws = Math.min(...healthyOnline.map((o) => o.length));
  const column = (d: number) => healthyOnline.map((o) => o[d]);
  const accepted = healthy.flatMap((t) => t.mala.filter((a): a is number => a !== null));
  const diverged = traces.filter((t) => t.diverged).map((t) => t.diverged!);
  const llcMean = healthyLlc.length ? mean(healthyLlc) : NaN;
  const malaMean = accepted.length ? mean(accepted) : null;
  const diagnostics = diagnose(engine, {
    loss: traces.map((t) => t.loss), mala: traces.map((t) => t.mala), healthy: traces.map((t) => !t.diverged),
    initLoss, nbeta, initLossSe, llcMean, mala_accept_mean: malaMean, diverged,
  });
  const result = {
    "llc/mean": llcMean,
    "llc/std": sampleStd(healthyLlc),
    "llc/means": Array.from({ length: Number.isFinite(draws) ? draws : 0 }, (_, d) => mean(column(d))),
    "llc/stds": Array.from({ length: Number.isFinite(draws) ? draws : 0 }, (_, d) => sampleStd(column(d))),
    "llc/trace": online,
    "loss/trace": traces.map((t) => t.loss),
    init_loss: initLoss,
    ...(isKlAtWStar(config) ? { init_loss_method: "exact: KL(p_w* ‖ p_w*) = 0 at w*, not estimated" } : {}),
    nbeta,
    "mala_accept/trace": traces.map((t) => t.mala),
    "mala_accept/mean": malaMean,
    "gradient_norm/trace": traces.map((t) => t.gradientNorm),
    "noise_norm/trace": traces.map((t) => t.noiseNorm),
    "distance/trace": traces.map((t) => t.distance),
    "weight_norm/trace": traces.map((t) => t.weightNorm),
    ...diagnostics,
    status,
    ...(diverged.length ? { error: diverged[0].error } : {}),
    chains_completed: healthy.length,
    ...(diverged.length ? { diverged_chains: diverged } : {}),
    config,
    engine: { name: ENGINE_NAME, version: ENGINE_VERSION, variant },
  } as EstimateResult;
  perChain.forEach((v, i) => (result[`llc-chain/${i}`] = v));
  return result;
}

export function resolveNbeta(engine: Engine, sampler: SamplerConfig): number {
  return sampler.nbeta === "default" ? defaultNbeta(engine, sampler.batch_size) : sampler.nbeta;
}

/** A model, its data and its chains planned in one engine: what `estimate` and parallel workers share. */
export interface PreparedEstimate {
  readonly initLoss: number;
  /** Standard error of L0 (src/diagnostics.ts): sd of its batches' means / √batches; 0 for "full", null when given or one batch. */
  readonly initLossSe: number | null;
  readonly nbeta: number;
  /** Run chain `chain` from w* (its bits depend only on seed and chain index). Throws ChainDivergedError. */
  runChain(chain: number, onProgress?: (p: Progress) => void, signal?: AbortSignal, options?: RunOptions): ChainTraces;
  /** The weights where the last chain ended (w* before any chain), as a padded arena copy. */
  weights(): Float32Array;
}

/** Check the inputs against the model, plan every buffer in `engine` once, and evaluate L0. */
export function prepareEstimate(engine: Engine, config: EstimateConfig, inputs: EstimateInputs, options: Pick<EstimateOptions, "fullBackward"> = {}): PreparedEstimate {
  const { sampler } = config;
  const layout = modelLayout(config.model);
  const wStar = loadWeights(layout, inputs.weights);
  const model0 = config.model;
  const mask = model0.kind === "transformer"
    ? restrictionMask(layout, config.restrict, transformerSelector(model0, layout), TRANSFORMER_SELECTORS)
    : restrictionMask(layout, config.restrict);
  const { dIn, dOut } = modelDims(model0);
  const { x, y, n, seqLen } = model0.kind === "transformer" ? loadTokens(inputs.data, model0) : { ...loadData(inputs.data, dIn, dOut), seqLen: undefined };
  if (sampler.batch_size > n) throw new InputError("sampler.batch_size", `expected at most the number of data rows (${n}), got ${sampler.batch_size}`);
  const nbeta = resolveNbeta(engine, sampler);

  const klAtWStar = isKlAtWStar(config);
  const kl = typeof config.loss === "object" && model0.kind === "transformer";
  if (kl && klAtWStar && typeof sampler.init_loss === "number" && sampler.init_loss !== 0)
    throw new InputError("sampler.init_loss", `the KL to w* is 0 at w* exactly; got ${sampler.init_loss} (leave init_loss out)`);
  const reference = kl ? klReference(config, inputs, wStar) : undefined;
  const rowsDrawn = sampler.chains * (sampler.burnin + sampler.draws * sampler.thin) * sampler.batch_size;
  const allocate = (e: Engine) => {
    const params = e.allocF32(layout.padded);
    const grads = e.allocF32(layout.padded);
    const model = planModel(e, config.model, layout, params, grads, sampler.batch_size, seqLen);
    if (reference) planKlReference(e, model, model0 as TransformerConfig, reference, seqLen!);
    // Restriction-aware steps (no gradient for frozen tensors, a row cache below the lowest moving block).
    if (!options.fullBackward) freezeTensors(e, model, mask, { rows: n, rowsDrawn });
    return { params, runner: createChainRunner({ engine: e, model, sampler, nbeta, wStar, mask, x, y, n, params, grads }) };
  };
  // The whole plan's bytes first (with the KL's reference plan): one that cannot fit is refused before any of it is allocated.
  engine.reserve(measureAllocations(engine, allocate), "the estimate (model plan, data and chain buffers)");
  const { params, runner } = allocate(engine);
  runner.fillRowCache();

  // L0 at w* (devinterp get_init_loss_multi_batch): the first `chains` batches in
  // dataset order, at most the whole data set once; or the full data; or given.
  engine.f32(params, layout.padded).set(wStar);
  // KL(p_w* ‖ p_w*) = 0 exactly: L0 is known, not estimated (no sampling error in it).
  const initLoss =
    klAtWStar ? 0
    : typeof sampler.init_loss === "number" ? sampler.init_loss
    : sampler.init_loss === "full" ? runner.datasetLoss(0, n)
    : runner.datasetLoss(0, Math.min(sampler.chains * sampler.batch_size, n));
  if (!Number.isFinite(initLoss)) throw new InputError("weights", `the loss at w* is ${initLoss}; expected a finite init loss`);
  return { initLoss, initLossSe: initLossSe(sampler, n, runner.datasetLoss), nbeta, runChain: runner.run, weights: () => engine.f32(params, layout.padded).slice() };
}

/**
 * The standard error of L0 as the default "batches" rule estimates it: L0 is the mean
 * loss of its first rows r = min(chains·b, n) in data order, an estimate of the full
 * data's loss L_n(w*), so s.e. = sd(row losses, ddof 1)/√r · √((n − r)/(n − 1)) (the
 * finite-population correction: 0 when r = n); 0 for init_loss "full" (exact on the data),
 * null for a given number or a single row. Row losses come from the engine
 * (datasetLoss of one row), the sd in f64 in order, as the WASI command computes it.
 */
export function initLossSe(sampler: SamplerConfig, n: number, datasetLoss: (start: number, count: number) => number): number | null {
  if (typeof sampler.init_loss === "number") return null;
  if (sampler.init_loss === "full") return 0;
  const rows = Math.min(sampler.chains * sampler.batch_size, n);
  if (rows === n) return 0;
  const losses = Array.from({ length: rows }, (_, i) => datasetLoss(i, 1));
  const sd = sampleStd(losses);
  return sd === null ? null : (sd / Math.sqrt(rows)) * Math.sqrt((n - rows) / (n - 1));
}

/** The KL loss with w* itself as the reference: L(w*) = 0 exactly. */
export function isKlAtWStar(config: EstimateConfig): boolean {
  return typeof config.loss === "object" && config.loss.reference === "w*";
}

/** The KL loss's reference model and weights: w* itself, or the checkpoint in inputs.reference. */
function klReference(config: EstimateConfig, inputs: EstimateInputs, wStar: Float32Array): { model: TransformerConfig; weights: Float32Array } {
  if (isKlAtWStar(config)) return { model: config.model as TransformerConfig, weights: wStar };
  if (!inputs.reference) throw new InputError("loss.reference", "the KL loss names a reference checkpoint, but none was given (inputs.reference)");
  const { model, weights } = inputs.reference;
  const own = config.model as TransformerConfig;
  if (model.d_vocab !== own.d_vocab)
    throw new InputError("loss.reference", `its d_vocab is ${model.d_vocab}, the model's ${own.d_vocab}; the KL compares distributions over one vocabulary (train both on the same tokenizer)`);
  return { model, weights: loadWeights(modelLayout(model), weights, "loss.reference") };
}

/**
 * Estimate the (refined) LLC of `config.model` at w* = inputs.weights on
 * inputs.data. Chains run one after another in this engine instance; each
 * chain's bits depend only on (seed, chain index), so results do not depend on
 * how chains are scheduled. A diverging chain is recorded and the other chains
 * still run (status "diverged", the estimate over the healthy chains); with
 * sampler.fail_fast it stops there instead, throwing a ChainDivergedError whose
 * `partial` result (status "error") holds every draw taken before it.
 */
export async function estimate(engine: Engine, config: EstimateConfig, inputs: EstimateInputs, options: EstimateOptions = {}): Promise<EstimateResult> {
  const { initLoss, initLossSe, nbeta, runChain } = prepareEstimate(engine, config, inputs, options);
  const summary = (traces: ChainTraces[], status: EstimateResult["status"]) => summarize(traces, initLoss, nbeta, config, engine.variant, status, engine, initLossSe);
  const traces: ChainTraces[] = [];
  for (const done of options.completed ?? []) {
    traces.push(done);
    if (done.diverged && config.sampler.fail_fast) throw failFast(traces, summary);
  }
  for (let chain = traces.length; chain < config.sampler.chains; chain++) {
    try {
      traces.push(runChain(chain, options.onProgress, options.signal));
    } catch (e) {
      if (!(e instanceof ChainDivergedError)) throw e;
      traces.push({ ...e.traces, diverged: e.divergence });
      if (config.sampler.fail_fast) throw failFast(traces, summary);
    }
    if (options.onChain) await options.onChain(chain, traces[chain], summary(traces, "partial"));
  }
  return summary(traces, finalStatus(traces));
}

/** "diverged" when any chain diverged (all of them ran), else "complete". */
export function finalStatus(traces: readonly ChainTraces[]): "complete" | "diverged" {
  return traces.some((t) => t.diverged) ? "diverged" : "complete";
}

/** fail_fast: the error of the last (diverged) chain, carrying the partial result of every chain so far (status "error"). */
export function failFast(traces: ChainTraces[], summary: (traces: ChainTraces[], status: EstimateResult["status"]) => EstimateResult): ChainDivergedError {
  const last = traces[traces.length - 1] as ChainTraces & { diverged: Divergence };
  return ChainDivergedError.of(last, summary(traces, "error"));
}
