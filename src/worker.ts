// The worker entry (build/worker.js; src/worker.ts from source): one engine
// instance that runs the chains the pool in parallel.ts asks for, one at a time.
// Host-neutral: it sees the web worker scope (postMessage, onmessage), which
// Deno and browsers give natively and platform/node-workers.ts sets up over
// node:worker_threads. The protocol is `ToWorker` / `FromWorker` in parallel.ts.
import { createEngine } from "./engine.ts";
import { prepareEstimate, type PreparedEstimate } from "./estimator.ts";
import { ChainDivergedError } from "./sampler.ts";
import type { FromWorker, ToWorker } from "./parallel.ts";

interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: { data: ToWorker }) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
let prepared: Promise<PreparedEstimate> | undefined;
let signal: AbortSignal | undefined;

/**
 * The pool's stop flag as the signal runChain checks between blocks of steps:
 * what stops a chain in Deno, whose terminate() cannot interrupt a busy worker.
 */
function stopSignal(buffer: SharedArrayBuffer): AbortSignal {
  const flag = new Int32Array(buffer);
  const stopped = () => Atomics.load(flag, 0) !== 0;
  const reason = new Error("worker stopped by the pool");
  return {
    get aborted() {
      return stopped();
    },
    reason,
    throwIfAborted() {
      if (stopped()) throw reason;
    },
  } as unknown as AbortSignal; // runChain uses throwIfAborted only
}

function report(e: unknown): void {
  const error = e instanceof Error ? e : new Error(String(e));
  scope.postMessage({ type: "error", name: error.name, message: error.message, stack: error.stack });
}

async function handle(message: ToWorker): Promise<void> {
  if (message.type === "init") {
    const { wasm, variant, config, inputs } = message;
    if (message.stop) signal = stopSignal(message.stop);
    prepared = createEngine(wasm, variant).then((engine) => prepareEstimate(engine, config, inputs));
    const { initLoss, nbeta } = await prepared;
    scope.postMessage({ type: "prepared", initLoss, nbeta });
    return;
  }
  if (!prepared) throw new Error(`worker: "${message.type}" before "init"`);
  const { runChain } = await prepared;
  const chain = message.chain;
  try {
    const traces = runChain(chain, (p) => scope.postMessage({ type: "progress", ...p }), signal);
    scope.postMessage({ type: "chain", chain, traces });
  } catch (e) {
    if (!(e instanceof ChainDivergedError)) throw e;
    scope.postMessage({ type: "diverged", chain, step: e.step, draw: e.draw, loss: e.loss, traces: e.traces });
  }
}

scope.onmessage = (event) => void handle(event.data).catch(report);
scope.postMessage({ type: "ready" });
