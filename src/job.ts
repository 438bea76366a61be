// An estimate job from files: config → safetensors inputs → engine → result file.
// Host-neutral (files through Host), so the CLI in Node or Deno and the web page
// share it. With an output path the result is written after every chain and a
// rerun of the same job resumes from the chains already finished.
import type { Host } from "./platform/host.ts";
import { createEngine, type Variant } from "./engine.ts";
import { parseConfigText } from "./config.ts";
import { estimate, EstimateError, type EstimateResult } from "./estimator.ts";
import { readSafetensors } from "./io/safetensors.ts";
import { chainsToResume, fingerprint, type ResultFile } from "./io/results.ts";
import type { Progress } from "./sampler.ts";

export interface JobOptions {
  out?: string;
  variant?: Variant;
  onProgress?: (p: Progress) => void;
  onResume?: (chains: number) => void;
  signal?: AbortSignal;
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
  const [weightBytes, dataBytes] = await Promise.all([host.readBytes(weightsPath), host.readBytes(dataPath)]);
  const weights = readSafetensors(weightBytes, config.weights).tensors;
  const data = readSafetensors(dataBytes, config.data).tensors;
  const job = fingerprint(encoder.encode(JSON.stringify(config)), weightBytes, dataBytes);

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
  const engine = await createEngine(await host.wasmBytes(variant), variant);
  const save = async (result: EstimateResult) => {
    if (options.out) await host.writeText(options.out, resultJson({ ...result, job }));
  };
  try {
    const result = await estimate(engine, config, { weights, data }, {
      completed,
      onProgress: options.onProgress,
      signal: options.signal,
      onChain: (_chain, _traces, partial) => save(partial),
    });
    await save(result);
    return { ...result, job };
  } catch (e) {
    if (e instanceof EstimateError) await save(e.partial);
    throw e;
  }
}
