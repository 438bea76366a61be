// Chains on a pool of workers, each with its own engine instance. Host-neutral:
// workers come from a `spawn` function (platform/node-workers.ts for Node's
// worker_threads, platform/web-workers.ts for Deno and browsers' module Worker).
//
// Why the result is bit-identical to `estimate` for any number of workers:
//  - chain c draws from Philox key (seed, c) and starts from w*, so its traces
//    depend on nothing but (config, inputs, c), whichever worker runs it;
//  - L0 and nβ come from `prepareEstimate` on this thread, from w* and the data
//    alone (each worker computes them too and must agree, bit for bit);
//  - results are put back in chain order and go through the same `summarize`.
//
// Outcomes, all identical to the serial run's except cancel, which the serial
// run only checks between blocks of steps:
//  - complete: the result, status "complete".
//  - a diverged chain k: recorded as the serial run records it, and the other
//    chains go on (status "diverged"). With sampler.fail_fast the lowest k wins:
//    chains below k are already running (chains go out in index order), so they
//    are awaited; chains above k are stopped. The ChainDivergedError has the
//    serial run's message and `partial`: chains 0..k−1 plus chain k's draws,
//    status "error".
//  - cancel (options.signal): every worker is stopped at once and the call
//    rejects, without waiting for them, with an EstimateError named after
//    the abort reason ("AbortError") whose `partial` holds the finished chains
//    0..j−1 up to the first unfinished one, status "partial" (what a resumed run
//    picks up). Draws of unfinished chains are lost with their worker.
//  - any other failure (a worker that cannot load, an engine error, onChain
//    throwing): the pool is terminated and the error rethrown.
// Stopping a worker: terminate(), which in Node and browsers interrupts even
// WebAssembly mid-chain. Deno's terminate() cannot interrupt a busy worker
// (denoland/deno#13705, #14003: it only stops the event loop), so where memory
// can be shared each worker also gets a stop flag (a SharedArrayBuffer) that
// its chain reads every STEPS_PER_CALL steps through runChain's signal.
// onChain sees exactly the serial sequence: (c, traces, partial) for c = 0, 1, …
// in order, each once every chain up to c has finished, one call at a time.
import { createEngine, type Variant } from "./engine.ts";
import type { EstimateConfig } from "./config.ts";
import { prepareEstimate, summarize, failFast, finalStatus, EstimateError, type EstimateInputs, type EstimateOptions, type EstimateResult } from "./estimator.ts";
import { ChainDivergedError, type ChainTraces, type Progress } from "./sampler.ts";
import { webWorkers } from "./platform/web-workers.ts";

/** The little of a worker the pool uses; each host's Worker is adapted to it. */
export interface WorkerLike {
  postMessage(message: ToWorker): void;
  /** Set by the pool: each message the worker posts, as plain data (not a MessageEvent). */
  onmessage: ((data: FromWorker) => void) | null;
  /** Set by the pool: the worker failed to load, crashed or exited on its own. */
  onerror: ((error: Error) => void) | null;
  /** Stop the worker now, even mid-chain. */
  terminate(): void;
}

/** Starts one worker running src/worker.ts (build/worker.js). */
export type SpawnWorker = () => WorkerLike;

// ── the protocol (worker.ts is the other side) ─────────────────────────────
// worker: ready → pool: init → worker: prepared → pool: run c → worker: progress*, chain | diverged → pool: run c' …
export type ToWorker =
  | { type: "init"; wasm: WebAssembly.Module; variant: Variant; config: EstimateConfig; inputs: EstimateInputs; stop?: SharedArrayBuffer }
  | { type: "run"; chain: number };

export type FromWorker =
  | { type: "ready" }
  | { type: "prepared"; initLoss: number; nbeta: number }
  | ({ type: "progress" } & Progress)
  | { type: "chain"; chain: number; traces: ChainTraces }
  | { type: "diverged"; chain: number; step: number; draw: number; loss: number; traces: ChainTraces }
  | { type: "error"; name: string; message: string; stack?: string };

export interface ParallelOptions extends EstimateOptions {
  /** Pool size (default config.sampler.workers); at most one worker per chain still to run. */
  workers?: number;
  /** The engine build: compiled once here and posted to every worker. */
  wasm: WebAssembly.Module | BufferSource;
  variant?: Variant;
  /** Default: module Workers (platform/web-workers.ts) where the host has a global Worker. */
  spawn?: SpawnWorker;
}

interface Member {
  worker: WorkerLike;
  /** The chain it is running, if any. */
  chain?: number;
  /** Set to 1 to stop the worker's chain at its next block of steps. */
  stop?: Int32Array;
}

/** SharedArrayBuffers can be posted: Node, Deno, cross-origin-isolated pages. */
const canShare = () => typeof SharedArrayBuffer === "function" && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;

/**
 * `estimate`, with chains on `workers` workers: same result, same bits, same
 * errors (see the top of this file); chains go to the first free worker.
 */
export async function estimateParallel(config: EstimateConfig, inputs: EstimateInputs, options: ParallelOptions): Promise<EstimateResult> {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const workers = options.workers ?? (config.sampler.workers || cores); // 0: one per core
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers: expected an integer >= 1, got ${workers}`);
  const variant = options.variant ?? "simd";
  const wasm = options.wasm instanceof WebAssembly.Module ? options.wasm : await WebAssembly.compile(options.wasm);
  // Inputs are checked and L0 evaluated here, so bad inputs fail as in `estimate` before any worker starts.
  const engine = await createEngine(wasm, variant);
  const { initLoss, initLossSe, nbeta } = prepareEstimate(engine, config, inputs);
  // Workers compute L0 again only to check it equals ours (a cheap determinism check
  // for the default "batches"); a full-data L0 is a pass over the whole data set per
  // worker, so they are given ours instead.
  const workerConfig: EstimateConfig = config.sampler.init_loss === "full" ? { ...config, sampler: { ...config.sampler, init_loss: initLoss } } : config;
  const chains = config.sampler.chains;
  const summary = (traces: ChainTraces[], status: EstimateResult["status"]) => summarize(traces, initLoss, nbeta, config, variant, status, engine, initLossSe);

  const traces: (ChainTraces | undefined)[] = [];
  for (const done of options.completed ?? []) {
    traces.push(done);
    if (done.diverged && config.sampler.fail_fast) throw failFast(traces as ChainTraces[], summary);
  }
  let prefix = traces.length; // chains 0..prefix−1 are finished and handed to onChain
  let next = prefix; // the next chain to hand out
  let limit = chains; // no chain at or above this is handed out (lowered by a divergence)
  let diverged: ChainDivergedError | undefined;
  let failure: { error: unknown } | undefined;
  let saving: Promise<void> = Promise.resolve(); // onChain calls, one at a time, in chain order
  const pool = new Set<Member>();
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  let isSettled = false;

  const stop = (member: Member) => {
    if (member.stop) Atomics.store(member.stop, 0, 1);
    member.worker.onmessage = member.worker.onerror = null;
    member.worker.terminate();
    pool.delete(member);
  };
  const finish = () => {
    if (isSettled) return;
    isSettled = true;
    for (const member of [...pool]) stop(member);
    settle();
  };
  const fail = (error: unknown) => {
    failure ??= { error };
    finish();
  };
  const checkDone = () => {
    if (next >= limit && ![...pool].some((m) => m.chain !== undefined && m.chain < limit)) finish();
  };
  const handOut = (member: Member) => {
    if (isSettled) return;
    if (next < limit) {
      member.chain = next++;
      member.worker.postMessage({ type: "run", chain: member.chain });
    } else {
      stop(member);
      checkDone();
    }
  };
  const advance = () => {
    while (prefix < limit && traces[prefix]) {
      const chain = prefix++;
      const done = traces.slice(0, prefix) as ChainTraces[];
      const onChain = options.onChain;
      if (onChain) saving = saving.then(() => (failure ? undefined : onChain(chain, done[chain], summary(done, "partial")))).catch(fail);
    }
  };

  const onMessage = (member: Member, message: FromWorker) => {
    if (isSettled) return;
    switch (message.type) {
      case "ready": {
        const stop = canShare() ? new SharedArrayBuffer(4) : undefined;
        if (stop) member.stop = new Int32Array(stop);
        member.worker.postMessage({ type: "init", wasm, variant, config: workerConfig, inputs, stop });
        return;
      }
      case "prepared":
        if (!Object.is(message.initLoss, initLoss) || !Object.is(message.nbeta, nbeta))
          return fail(new Error(`a worker computed init loss ${message.initLoss} and nβ ${message.nbeta}, this thread ${initLoss} and ${nbeta}: the engine is not deterministic`));
        return handOut(member);
      case "progress":
        try {
          const { type: _type, ...progress } = message;
          options.onProgress?.(progress);
        } catch (e) {
          fail(e);
        }
        return;
      case "chain":
        traces[message.chain] = message.traces;
        member.chain = undefined;
        advance();
        return handOut(member);
      case "diverged": {
        const error = new ChainDivergedError(message.chain, message.step, message.draw, message.loss, message.traces);
        if (!config.sampler.fail_fast) {
          traces[message.chain] = { ...message.traces, diverged: error.divergence };
          member.chain = undefined;
          advance();
          return handOut(member);
        }
        if (!diverged || error.chain < diverged.chain) diverged = error;
        limit = Math.min(limit, error.chain);
        member.chain = undefined;
        // Chains above the diverged one would never have run serially.
        for (const m of [...pool]) if (m.chain !== undefined && m.chain > error.chain) stop(m);
        return handOut(member);
      }
      case "error": {
        const error = new Error(message.message);
        error.name = message.name;
        if (message.stack) error.stack = message.stack;
        return fail(error);
      }
    }
  };

  const signal = options.signal;
  const onAbort = () => fail(signal!.reason);
  try {
    signal?.throwIfAborted();
    const size = Math.min(workers, chains - next);
    if (size > 0) {
      const spawn = options.spawn ?? defaultSpawn();
      signal?.addEventListener("abort", onAbort, { once: true });
      for (let i = 0; i < size && !isSettled; i++) {
        const member: Member = { worker: spawn() };
        pool.add(member);
        member.worker.onmessage = (message) => onMessage(member, message);
        member.worker.onerror = (error) => fail(error);
      }
      await settled;
    }
    await saving;
  } catch (e) {
    failure ??= { error: e };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    finish();
  }
  if (failure) {
    if (signal?.aborted && failure.error === signal.reason) {
      const done = traces.slice(0, prefix) as ChainTraces[];
      const reason = asError(failure.error);
      throw new EstimateError(reason.message, summary(done, "partial"), { name: reason.name, cause: reason });
    }
    throw failure.error;
  }
  if (diverged) throw failFast([...(traces.slice(0, diverged.chain) as ChainTraces[]), { ...diverged.traces, diverged: diverged.divergence }], summary);
  return summary(traces as ChainTraces[], finalStatus(traces as ChainTraces[]));
}

function asError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new DOMException(reason === undefined ? "This operation was aborted" : String(reason), "AbortError");
}

function defaultSpawn(): SpawnWorker {
  if (typeof Worker === "function") return webWorkers();
  throw new Error("estimateParallel: this host has no global Worker; pass options.spawn (in Node: nodeWorkers() from platform/node-workers.ts)");
}
