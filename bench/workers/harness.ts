// The worker-pool throughput run, shared verbatim by Node (bench/workers.bench.ts),
// Deno (deno-main.js) and Chromium (page.js): it gets the library (build/index.js),
// a Host and a worker spawner from its caller, so every runtime runs the same
// code on the same .wasm bytes. Type-only imports, so Deno runs it as it is and
// the bench's server serves it with types stripped (esbuild).
//
// The case (config + safetensors) is written once by workers.bench.ts in Node and
// read here through the host, so all three runtimes sample the same bits.
import type * as Lib from "../../src/index.ts";
import type { EstimateResult, SpawnWorker } from "../../src/index.ts";
import type { Host } from "../../src/platform/host.ts";

/** case.json, beside weights.safetensors and data.safetensors. */
export interface WorkersCase {
  /** A raw estimate config (parseConfig input); weights/data name the two files. */
  config: { sampler: { chains: number; draws: number; burnin?: number; thin?: number } & Record<string, unknown> } & Record<string, unknown>;
  /** Draws per chain of the untimed warm-up estimate (compiles and tiers up the wasm). */
  warmupDraws: number;
  /** Worker counts to time, in this order; the first must take at least minMs. */
  workers: number[];
  /** A timed run with workers[0] shorter than this doubles the draws and starts over. */
  minMs: number;
  /**
   * Timed runs per worker count, interleaved (1, 2, 1, 2, …) so a slow spell of
   * this shared machine hits both counts alike; the fastest run of each counts.
   */
  repeats: number;
}

export interface Timing {
  workers: number;
  draws: number;
  /** SGLD steps over all chains: chains · (burnin + thin · draws). */
  steps: number;
  /** Wall time of the fastest run. */
  ms: number;
  /** Of the fastest run. */
  stepsPerSecond: number;
  /** Every run's steps/s, in the order they ran. */
  samples: number[];
}

export interface WorkersReport {
  runtime: string;
  warmupMs: number;
  timings: Timing[];
  /** llc/mean and every loss trace equal, to the bit, for every worker count. */
  identical: boolean;
  /** What differed, if anything (also a difference elsewhere in the result JSON). */
  mismatch?: string;
  /** FNV-1a of the first timed run's whole result JSON: compares runtimes. */
  resultHash: string;
  llcMean: number;
}

/** FNV-1a (32 bit) of a string's UTF-16 code units, as 8 hex digits. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Where two results' llc/mean or loss traces differ (Object.is: bit equality, NaN included), if they do. */
export function compareResults(a: EstimateResult, b: EstimateResult): string | undefined {
  if (!Object.is(a["llc/mean"], b["llc/mean"])) return `llc/mean ${a["llc/mean"]} vs ${b["llc/mean"]}`;
  const la = a["loss/trace"], lb = b["loss/trace"];
  if (la.length !== lb.length) return `loss/trace: ${la.length} vs ${lb.length} chains`;
  for (let c = 0; c < la.length; c++) {
    if (la[c].length !== lb[c].length) return `loss/trace[${c}]: ${la[c].length} vs ${lb[c].length} draws`;
    for (let d = 0; d < la[c].length; d++) if (!Object.is(la[c][d], lb[c][d])) return `loss/trace[${c}][${d}]: ${la[c][d]} vs ${lb[c][d]}`;
  }
  return undefined;
}

/**
 * Read the case at `casePath` through `host`, run one warm-up estimate, then
 * time `estimateParallel` for each worker count (wall time of the whole call:
 * pool start-up, each worker's engine and L0, the chains).
 */
export async function runWorkersBench(lib: typeof Lib, host: Host, casePath: string, spawn: SpawnWorker | undefined, runtime: string): Promise<WorkersReport> {
  const spec = JSON.parse(await host.readText(casePath)) as WorkersCase;
  const read = async (name: string) => lib.readSafetensors(await host.readBytes(host.resolve(casePath, name)), name).tensors;
  const inputs = { weights: await read(String(spec.config.weights)), data: await read(String(spec.config.data)) };
  const wasm = await WebAssembly.compile(await host.wasmBytes("simd"));
  const configWith = (draws: number) => lib.parseConfig({ ...spec.config, sampler: { ...spec.config.sampler, draws } });
  const time = async (workers: number, draws: number) => {
    const config = configWith(draws);
    const { chains, burnin, thin } = config.sampler;
    const start = host.now();
    const result = await lib.estimateParallel(config, inputs, { workers, wasm, variant: "simd", spawn });
    const ms = host.now() - start;
    const steps = chains * (burnin + thin * draws);
    return { timing: { workers, draws, steps, ms, stepsPerSecond: steps / (ms / 1000) }, result };
  };

  const warmupMs = (await time(Math.max(...spec.workers), spec.warmupDraws)).timing.ms;
  let draws = spec.config.sampler.draws;
  let first = await time(spec.workers[0], draws);
  while (first.timing.ms < spec.minMs) {
    draws *= 2;
    first = await time(spec.workers[0], draws);
  }
  const runs = [first];
  for (let round = 0; round < spec.repeats; round++)
    for (const workers of spec.workers) if (round > 0 || workers !== spec.workers[0]) runs.push(await time(workers, draws));
  const timings = spec.workers.map((workers) => {
    const own = runs.filter((r) => r.timing.workers === workers).map((r) => r.timing);
    const best = own.reduce((a, b) => (b.stepsPerSecond > a.stepsPerSecond ? b : a));
    return { ...best, samples: own.map((t) => t.stepsPerSecond) };
  });

  const json = JSON.stringify(first.result);
  const mismatches: string[] = [];
  let identical = true;
  for (const run of runs.slice(1)) {
    const differs = compareResults(first.result, run.result);
    if (differs) {
      identical = false;
      mismatches.push(`${spec.workers[0]} vs ${run.timing.workers} workers: ${differs}`);
    } else if (JSON.stringify(run.result) !== json) {
      mismatches.push(`${spec.workers[0]} vs ${run.timing.workers} workers: same llc/mean and loss traces, but the result JSON differs elsewhere`);
    }
  }
  return {
    runtime,
    warmupMs,
    timings,
    identical,
    ...(mismatches.length ? { mismatch: mismatches.join("; ") } : {}),
    resultHash: fnv1a(json),
    llcMean: first.result["llc/mean"],
  };
}
