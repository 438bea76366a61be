// An estimate job from files: config → safetensors inputs → engine → result file.
// Host-neutral (files through Host), so the CLI in Node or Deno and the web page
// share it. With an output path the result is written after every chain and a
// rerun of the same job resumes from the chains already finished. With more
// than one worker (sampler.workers or options.workers) chains run in parallel
// (parallel.ts) with the same bits, and the file is still written in chain
// order — after each chain that completes a prefix — so a kill and a resume,
// with any number of workers, still end in the same bytes.
import type { Host } from "./platform/host.ts";
import { createEngine, type Variant } from "./engine.ts";
import { parseConfigText } from "./config.ts";
import { estimate, EstimateError, type EstimateResult, type EstimateOptions } from "./estimator.ts";
import { estimateParallel, type SpawnWorker } from "./parallel.ts";
import { readSafetensors } from "./io/safetensors.ts";
import { parseJson } from "./io/json.ts";
import { readSafetensorsInput } from "./io/inputs.ts";
import { chainsToResume, fingerprint, type ResultFile } from "./io/results.ts";
import type { Progress } from "./sampler.ts";

export interface JobOptions {
  out?: string;
  variant?: Variant;
  onProgress?: (p: Progress) => void;
  onResume?: (chains: number) => void;
  signal?: AbortSignal;
  /** Overrides config.sampler.workers (the config, and so the result file, are unchanged). */
  workers?: number;
  /** How to start a worker when workers > 1 (Node: nodeWorkers(); default: the global module Worker). */
  spawn?: SpawnWorker;
}

const encoder = new TextEncoder();

export function resultJson(result: EstimateResult | ResultFile): string {
  return JSON.stringify(result, null, 1) + "\n";
}

export async function runEstimateJob(host: Host, configPath: string, options: JobOptions = {}): Promise<ResultFile> {
  const configText = await host.readText(configPath);
  const config = parseConfigText(configText, configPath);
  const weightsPath = host.resolve(configPath, config.weights);
  const dataPath = host.resolve(configPath, config.data);
  const [weightBytes, dataBytes] = await Promise.all([
    readSafetensorsInput(host, weightsPath, "weights", config.weights),
    readSafetensorsInput(host, dataPath, "data", config.data),
  ]);
  const weights = readSafetensors(weightBytes, config.weights).tensors;
  const data = readSafetensors(dataBytes, config.data).tensors;
  // The worker count cannot change a bit of the result, so it is not part of the
  // job: a run may resume with other workers (configs with workers 1 keep their old fingerprint).
  const jobConfig = { ...config, sampler: { ...config.sampler, workers: 1 } };
  const job = fingerprint(encoder.encode(JSON.stringify(jobConfig)), weightBytes, dataBytes);

  let completed: ReturnType<typeof chainsToResume> = [];
  if (options.out && (await host.exists(options.out))) {
    try {
      completed = chainsToResume(parseJson(await host.readText(options.out), (detail) => new Error(detail)), job);
    } catch {
      completed = []; // an unreadable old file is replaced, never trusted
    }
    if (completed.length) options.onResume?.(completed.length);
  }

  const variant = options.variant ?? "simd";
  const wasm = await host.wasmBytes(variant);
  // sampler.workers 0 (the default): one worker per core the host reports. Without a way to
  // start workers (Node's library users who pass no spawn) chains run serially: same result.
  const canSpawn = options.spawn !== undefined || typeof (globalThis as { Worker?: unknown }).Worker === "function";
  const workers = canSpawn ? options.workers ?? (config.sampler.workers || host.cores?.() || 1) : 1;
  const save = async (result: EstimateResult) => {
    if (options.out) await host.writeText(options.out, resultJson({ ...result, job }));
  };
  const estimateOptions: EstimateOptions = {
    completed,
    onProgress: options.onProgress,
    signal: options.signal,
    onChain: (_chain, _traces, partial) => save(partial),
  };
  try {
    const result =
      workers > 1
        ? await estimateParallel(config, { weights, data }, { ...estimateOptions, workers, wasm, variant, spawn: options.spawn })
        : await estimate(await createEngine(wasm, variant), config, { weights, data }, estimateOptions);
    await save(result);
    return { ...result, job };
  } catch (e) {
    if (e instanceof EstimateError) await save(e.partial);
    throw e;
  }
}
