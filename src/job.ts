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
import { ConfigError, overrideSampler, parseConfig, parseJsonConfig, withConfigSource, type EstimateConfig } from "./config.ts";
import { checkpointModel } from "./analysis/heads.ts";
import { estimate, EstimateError, type EstimateResult, type EstimateOptions } from "./estimator.ts";
import { estimateParallel, type SpawnWorker } from "./parallel.ts";
import { readSafetensors } from "./io/safetensors.ts";
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
  /** Sampler fields written over the config's (the CLI's --chains, --epsilon, …): part of the job, as if in the file. */
  sampler?: Readonly<Record<string, unknown>>;
}

const encoder = new TextEncoder();

export function resultJson(result: EstimateResult | ResultFile): string {
  return JSON.stringify(result, null, 1) + "\n";
}

export async function runEstimateJob(host: Host, configPath: string, options: JobOptions = {}): Promise<ResultFile> {
  const { config, weightBytes: preread } = await readJobConfig(host, configPath, options.sampler);
  const weightsPath = host.resolve(configPath, config.weights);
  const dataPath = host.resolve(configPath, config.data);
  const [weightBytes, dataBytes] = await Promise.all([preread ?? host.readBytes(weightsPath), host.readBytes(dataPath)]);
  const weights = readSafetensors(weightBytes, config.weights).tensors;
  const data = readSafetensors(dataBytes, config.data).tensors;
  // The worker count cannot change a bit of the result, so it is not part of the
  // job: a run may resume with other workers (configs with workers 1 keep their old fingerprint).
  const jobConfig = { ...config, sampler: { ...config.sampler, workers: 1 } };
  const job = fingerprint(encoder.encode(JSON.stringify(jobConfig)), weightBytes, dataBytes);

  let completed: ReturnType<typeof chainsToResume> = [];
  if (options.out && (await host.exists(options.out))) {
    try {
      completed = chainsToResume(JSON.parse(await host.readText(options.out)), job);
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

/**
 * The job's config: the file's JSON with `sampler` overrides written into its sampler
 * section and, when it omits `model` and its weights are a checkpoint of `llc train`,
 * the model that checkpoint's `__metadata__.model` records; then validated like any
 * config (errors name the file). Returns the weights' bytes if it had to read them.
 */
export async function readJobConfig(
  host: Host, configPath: string, sampler?: Readonly<Record<string, unknown>>,
): Promise<{ config: EstimateConfig; weightBytes?: Uint8Array }> {
  const raw = parseJsonConfig(await host.readText(configPath), configPath, (r) => r);
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { config: withConfigSource(configPath, () => parseConfig(raw)) };
  const filled: Record<string, unknown> = { ...raw };
  if (sampler !== undefined) filled.sampler = overrideSampler(filled.sampler, sampler);
  let weightBytes: Uint8Array | undefined;
  if (filled.model === undefined && typeof filled.weights === "string" && filled.weights !== "") {
    weightBytes = await host.readBytes(host.resolve(configPath, filled.weights));
    filled.model = checkpointModel(readSafetensors(weightBytes, filled.weights).metadata, filled.weights);
    if (filled.model === undefined)
      throw new ConfigError("model", `expected an object such as {"kind": "mlp", "sizes": [...]}, got nothing (required unless weights is a checkpoint of llc train, whose __metadata__.model records it; ${filled.weights} records none)`, { source: configPath });
  }
  return { config: withConfigSource(configPath, () => parseConfig(filled)), weightBytes };
}
