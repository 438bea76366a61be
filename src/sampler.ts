// Runs SGLD chains: plans the chain's buffers once, then drives the WebAssembly
// step loop a block of steps at a time, picking draws out of the step records
// (burn-in, thinning) and reporting progress between blocks.
import type { Engine } from "./engine.ts";
import type { SamplerConfig } from "./config.ts";
import { moduleConstant, type ModelPlan } from "./models.ts";
import type { EstimateResult } from "./estimator.ts";

/** Steps per host call at most: large enough to amortize the call, small enough for live progress. */
export const STEPS_PER_CALL = 64;

/**
 * With a progress callback, blocks are sized so one host call lasts about this long
 * (at most STEPS_PER_CALL steps, at least one): a large transformer takes seconds for
 * 64 steps, and progress (and a cancel) should not wait that long. The block size
 * changes only where the step loop pauses, never a bit of the chain: its whole state
 * (weights, Philox counters, data order) lives in the chain plan between calls.
 */
export const PROGRESS_CALL_MS = 100;

export interface ChainTraces {
  /** Minibatch loss at each draw, before that step's update. */
  loss: number[];
  /** MALA acceptance of the transition into each draw's weights (null at step 0 or for rmsprop_sgld). */
  mala: (number | null)[];
  gradientNorm: number[];
  noiseNorm: number[];
  distance: number[];
  weightNorm: number[];
  /** Set when the chain diverged: its traces stop there (loss ends with the non-finite value). */
  diverged?: Divergence;
}

/** Where a chain diverged, as the result's `diverged_chains` entries record it. */
export interface Divergence {
  chain: number;
  /** The draw whose loss was not finite; −1 when it was a step that is not a draw (burn-in). */
  draw: number;
  /** The SGLD step (0-based) whose loss was not finite. */
  step: number;
  /** The message of its ChainDivergedError. */
  error: string;
}

export interface Progress {
  chain: number;
  /** The last draw taken (0-based); progress is reported once a chain has a draw. */
  draw: number;
  draws: number;
  /** Loss at that draw. */
  loss: number;
  /** Chains of the job (sampler.chains), so a listener can report over all of them. */
  chains: number;
  /** SGLD steps of this chain taken so far, and in all (burnin + draws·thin). */
  chainStep: number;
  chainSteps: number;
}

export interface RunOptions {
  /** Fixed steps per host call (1..STEPS_PER_CALL); default: sized to PROGRESS_CALL_MS with onProgress, else STEPS_PER_CALL. */
  stepsPerCall?: number;
}

/**
 * An estimate that stopped before it finished (a diverged chain with fail_fast, a
 * cancel): `partial` holds every draw taken before it, status "error" or "partial".
 */
export class EstimateError extends Error {
  readonly partial: EstimateResult;
  constructor(message: string, partial: EstimateResult, options: { name?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = options.name ?? "EstimateError";
    this.partial = partial;
  }
}

/**
 * A chain whose loss became NaN or ±Inf (devinterp's words). The sampler throws it
 * with the chain's traces; `estimate` rethrows it (fail_fast) with `partial` set,
 * so there is one class for this meaning, whatever layer it reaches you from.
 */
export class ChainDivergedError extends EstimateError {
  readonly chain: number;
  readonly draw: number;
  readonly step: number;
  readonly loss: number;
  readonly traces: ChainTraces;
  constructor(chain: number, step: number, draw: number, loss: number, traces: ChainTraces, partial?: EstimateResult, message?: string) {
    const what = Number.isNaN(loss) ? "NaN" : loss > 0 ? "Inf" : "-Inf";
    const where = draw >= 0 ? `chain ${chain}, draw ${draw}` : `chain ${chain}, burn-in step ${step}`;
    super(message ?? `${what} detected in loss at ${where} (SGLD step ${step}); the chain diverged: try a smaller sampler.epsilon, a larger sampler.gamma, or a sampler.bounding_box`,
      partial as EstimateResult, { name: "ChainDivergedError" });
    this.chain = chain;
    this.step = step;
    this.draw = draw;
    this.loss = loss;
    this.traces = traces;
  }

  /** The record the result keeps of it. */
  get divergence(): Divergence {
    return { chain: this.chain, draw: this.draw, step: this.step, error: this.message };
  }

  /** Rebuilt from a diverged chain's traces (e.g. resumed from a file), with the partial result to carry. */
  static of(traces: ChainTraces & { diverged: Divergence }, partial: EstimateResult): ChainDivergedError {
    const d = traces.diverged;
    return new ChainDivergedError(d.chain, d.step, d.draw, traces.loss[traces.loss.length - 1] ?? NaN, traces, partial, d.error);
  }
}

export interface ChainSetup {
  engine: Engine;
  model: ModelPlan;
  sampler: SamplerConfig;
  nbeta: number;
  wStar: Float32Array; // padded arena
  mask: Float32Array; // padded arena
  x: Float32Array | Int32Array; // [n, dIn] features, or [n_seq, T] tokens
  y: Float32Array; // [n, dOut]
  n: number;
  params: number; // arena address of w (the model plan's params)
  grads: number;
}

export interface ChainRunner {
  /** Mean loss at w* over rows [start, start+count) in dataset order (init loss L0). */
  datasetLoss(start: number, count: number): number;
  /**
   * Fill the row cache (models.ts freezeTensors): the activations below a restriction's
   * lowest moving block, once per data row at w*; nothing for plans without one. Called
   * once after the plans are allocated (not while they are only measured), before run().
   */
  fillRowCache(): void;
  run(chain: number, onProgress?: (p: Progress) => void, signal?: AbortSignal, options?: RunOptions): ChainTraces;
}

export function createChainRunner(setup: ChainSetup): ChainRunner {
  const { engine, model, sampler, n } = setup;
  const k = engine.kernels;
  const c = (name: string) => moduleConstant(engine, name);
  const P = model.layout.padded;
  const batch = sampler.batch_size;
  const planBytes = c("CHAIN_PLAN_BYTES");
  const recordWords = c("RECORD_WORDS");
  const plan = engine.alloc(planBytes);
  const words = c("CH_WORDS");
  const arena = (init?: Float32Array) => {
    const ptr = engine.allocF32(P);
    if (init) engine.f32(ptr, P).set(init);
    return ptr;
  };
  const wStar = arena(setup.wStar);
  const mask = arena(setup.mask);
  const buffers: [string, number][] = [
    ["CH_MODEL", model.address],
    ["CH_W", setup.params],
    ["CH_W_STAR", wStar],
    ["CH_GRAD", setup.grads],
    ["CH_MASK", mask],
    ["CH_PRECOND", arena()],
    ["CH_W_PREV", arena()],
    ["CH_D_PREV", arena()],
    ["CH_NOISE", arena()],
    ["CH_PARAMS", P],
    ["CH_X", copyIn(engine, setup.x)],
    ["CH_Y", copyIn(engine, setup.y)],
    ["CH_N", n],
    ["CH_XB", engine.allocF32(batch * model.dIn)],
    ["CH_YB", engine.allocF32(batch * model.dOut)],
    ["CH_BATCH", batch],
    ["CH_PERM", engine.allocI32(n)],
    ["CH_METHOD", sampler.method === "rmsprop_sgld" ? c("METHOD_RMSPROP_SGLD") : c("METHOD_SGLD")],
    ["CH_RECORDS", engine.allocF64(STEPS_PER_CALL * recordWords)],
  ];
  const hypers: [string, number][] = [
    ["CHF_EPSILON", sampler.epsilon],
    ["CHF_NBETA", setup.nbeta],
    ["CHF_GAMMA", sampler.gamma],
    ["CHF_WEIGHT_DECAY", sampler.weight_decay],
    ["CHF_NOISE_LEVEL", sampler.noise_level],
    ["CHF_BOX", sampler.bounding_box ?? 0],
    ["CHF_ALPHA", sampler.alpha],
    ["CHF_RMS_EPS", sampler.eps],
  ];
  // Every allocation is done: views taken from here on stay valid.
  const planWords = engine.i32(plan, words);
  for (const [name, value] of buffers) planWords[c(name)] = value;
  const planHypers = engine.f64(plan + words * 4, (planBytes - words * 4) / 8);
  for (const [name, value] of hypers) planHypers[c(name)] = value;
  const records = engine.f64(planWords[c("CH_RECORDS")] >>> 0, STEPS_PER_CALL * recordWords); // an address: u32
  const REC = {
    loss: c("REC_LOSS"), mala: c("REC_MALA"), grad: c("REC_GRAD_SQ"), noise: c("REC_NOISE_SQ"),
    dist: c("REC_DIST_SQ"), weight: c("REC_WEIGHT_SQ"),
  };
  const burnin = sampler.burnin, thin = sampler.thin, draws = sampler.draws;
  const totalSteps = burnin + draws * thin;
  const halfEps = sampler.epsilon / 2;
  const noiseScale = Math.sqrt(sampler.epsilon) * sampler.noise_level;

  return {
    datasetLoss: (start, count) => k.datasetLoss(plan, start, count),
    fillRowCache: () => k.chainFillRowCache(plan),
    run(chain, onProgress, signal, options = {}) {
      const traces: ChainTraces = { loss: [], mala: [], gradientNorm: [], noiseNorm: [], distance: [], weightNorm: [] };
      // Chain c of seed s draws from Philox key (s, c): streams never overlap and
      // a chain's bits do not depend on which worker or in what order it runs.
      k.chainReset(plan, sampler.seed >>> 0, chain >>> 0);
      const fixed = options.stepsPerCall;
      if (fixed !== undefined && !(Number.isInteger(fixed) && fixed >= 1 && fixed <= STEPS_PER_CALL))
        throw new RangeError(`stepsPerCall: expected an integer in [1, ${STEPS_PER_CALL}], got ${fixed}`);
      // Adaptive blocks start at one step, timed to size the next (display timing only: no bit depends on it).
      let block = fixed ?? (onProgress ? 1 : STEPS_PER_CALL);
      const clock = (globalThis as { performance?: { now(): number } }).performance;
      let step = 0;
      while (step < totalSteps) {
        signal?.throwIfAborted();
        const asked = Math.min(block, totalSteps - step);
        const started = clock?.now() ?? 0;
        const done = k.chainRun(plan, asked);
        if (fixed === undefined && onProgress && clock) block = nextBlock(asked, clock.now() - started);
        const recorded = done < asked ? done + 1 : done; // a diverged step still has its loss
        for (let s = 0; s < recorded; s++, step++) {
          const isDraw = step >= burnin && (step + 1 - burnin) % thin === 0;
          const r = s * recordWords;
          if (s === done) {
            const loss = records[r + REC.loss];
            if (isDraw) traces.loss.push(loss);
            throw new ChainDivergedError(chain, step, isDraw ? (step - burnin - thin + 1) / thin : -1, loss, traces);
          }
          if (!isDraw) continue;
          const mala = records[r + REC.mala];
          traces.loss.push(records[r + REC.loss]);
          traces.mala.push(Number.isNaN(mala) ? null : mala);
          // devinterp's GradientNorm ‖(ε/2)·nβ·g‖ and NoiseNorm ‖√ε·σ·ξ‖ (PR #90 scaling).
          traces.gradientNorm.push(halfEps * Math.sqrt(records[r + REC.grad]));
          traces.noiseNorm.push(noiseScale * Math.sqrt(records[r + REC.noise]));
          traces.distance.push(Math.sqrt(records[r + REC.dist]));
          traces.weightNorm.push(Math.sqrt(records[r + REC.weight]));
        }
        const last = traces.loss.length;
        if (last > 0) onProgress?.({ chain, draw: last - 1, draws, loss: traces.loss[last - 1], chains: sampler.chains, chainStep: step, chainSteps: totalSteps });
      }
      return traces;
    },
  };
}

/** Steps for the next call so that it lasts about PROGRESS_CALL_MS, from the last call's `steps` taking `ms`. */
export function nextBlock(steps: number, ms: number): number {
  const perStep = Math.max(ms, 1e-3) / steps;
  return Math.max(1, Math.min(STEPS_PER_CALL, Math.floor(PROGRESS_CALL_MS / perStep)));
}

function copyIn(engine: Engine, data: Float32Array | Int32Array): number {
  const ptr = engine.allocF32(Math.max(1, data.length));
  if (data instanceof Int32Array) engine.i32(ptr, data.length).set(data);
  else engine.f32(ptr, data.length).set(data);
  return ptr;
}
