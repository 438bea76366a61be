// An estimate job from files: config → safetensors inputs → engine → result file.
// Host-neutral (files through Host), so the CLI in Node or Deno and the web page
// share it. With an output path the result is written after every chain and a
// rerun of the same job resumes from the chains already finished. With more
// than one worker (sampler.workers or options.workers) chains run in parallel
// (parallel.ts) with the same bits, and the file is still written in chain
// order — after each chain that completes a prefix — so a kill and a resume,
// with any number of workers, still end in the same bytes.
//
// What an existing output file may be, and what happens to it (before any work):
//  - one of the job's own inputs (config, weights, data, by real path): refused;
//  - not a result file, or another job's result: refused, unless options.force;
//  - this job's finished result (complete, or diverged with the same fail_fast):
//    returned as it is, nothing recomputed (onFinished), unless options.force;
//  - this job's partial or error result: resumed from its valid chains.
import type { Host } from "./platform/host.ts";
import { FileError } from "./platform/host.ts";
import { createEngine, type Variant } from "./engine.ts";
import { ConfigError, klReferencePath, overrideSampler, parseConfig, parseJsonConfig, withConfigSource, type EstimateConfig } from "./config.ts";
import { checkpointModel } from "./analysis/heads.ts";
import { estimate, EstimateError, InputError, type EstimateInputs, type EstimateResult, type EstimateOptions } from "./estimator.ts";
import { estimateParallel, type SpawnWorker } from "./parallel.ts";
import { readSafetensors } from "./io/safetensors.ts";
import { parseJson } from "./io/json.ts";
import { readSafetensorsInput } from "./io/inputs.ts";
import { chainsToResume, fingerprint, type ResultFile } from "./io/results.ts";
import type { ChainTraces, Progress } from "./sampler.ts";

export interface JobOptions {
  out?: string;
  /** Overwrite `out` even when it holds another job's result, or this job's finished one (recomputed). */
  force?: boolean;
  variant?: Variant;
  onProgress?: (p: Progress) => void;
  onResume?: (chains: number) => void;
  /** `out` already holds this job's finished result: it is returned as it is, nothing recomputed. */
  onFinished?: (result: ResultFile) => void;
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

/**
 * The job's fingerprint: config and input bytes. The worker count and fail_fast cannot
 * change a bit of any chain, so they are not part of it: a run may resume with other
 * workers, or past a diverged chain with fail_fast turned off (old configs keep their
 * fingerprint). The KL loss's reference checkpoint, when it has one, is an input too:
 * its bytes join the fingerprint, so a changed reference never resumes an old result.
 */
export function jobFingerprint(config: EstimateConfig, weightBytes: Uint8Array, dataBytes: Uint8Array, referenceBytes?: Uint8Array): string {
  const { fail_fast: _failFast, ...sampler } = config.sampler;
  const jobConfig = { ...config, sampler: { ...sampler, workers: 1 } };
  return fingerprint(encoder.encode(JSON.stringify(jobConfig)), weightBytes, dataBytes, ...(referenceBytes ? [referenceBytes] : []));
}

/** The KL loss's reference checkpoint (a file of `llc train`): its model from __metadata__.model, its tensors. */
function readKlReference(bytes: Uint8Array, source: string): NonNullable<EstimateInputs["reference"]> {
  const file = readSafetensors(bytes, source);
  const model = checkpointModel(file.metadata, source);
  if (!model) throw new InputError("loss.reference", `${source}: __metadata__ has no "model"; the reference must be a checkpoint of llc train (its model config recorded there)`);
  return { model, weights: file.tensors };
}

/** Refuse an output path that is one of the job's inputs (by real path, so symlinks and "./" spellings count). */
async function checkOutNotInput(host: Host, out: string, inputs: [string, string][]): Promise<void> {
  const real = (path: string) => (host.realPath ? host.realPath(path) : Promise.resolve(path));
  const target = await real(out);
  for (const [what, path] of inputs)
    if ((await real(path)) === target)
      throw new FileError("write", out, `it is this job's ${what} (${path}); writing the result there would destroy it: give another --out`);
}

/**
 * A checkpoint of `llc train` records its model in __metadata__.model: every field it
 * records must equal the config's, or the estimate would run another model on these
 * weights (e.g. "standard" positions on a "shortformer" checkpoint: same shapes, wrong λ̂).
 */
export function checkModelMetadata(config: EstimateConfig, metadata: Record<string, string>): void {
  const text = metadata.model;
  if (text === undefined) return;
  let recorded: unknown;
  try {
    recorded = JSON.parse(text);
  } catch {
    throw new InputError("weights", `${config.weights}: __metadata__.model is not JSON; expected the model config a checkpoint of llc train records`);
  }
  if (recorded === null || typeof recorded !== "object" || Array.isArray(recorded)) return;
  const model = config.model as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(recorded as Record<string, unknown>)) {
    if (JSON.stringify(model[key]) !== JSON.stringify(value))
      throw new InputError(`model.${key}`,
        `the config says ${JSON.stringify(model[key]) ?? "nothing"}, but the weights ${config.weights} were trained with ${JSON.stringify(value)} (their __metadata__.model); set model.${key} to ${JSON.stringify(value)}`);
  }
}

type Existing =
  | { kind: "none" }
  | { kind: "finished"; result: ResultFile }
  | { kind: "resume"; chains: ChainTraces[] };

/** What the output file holds, and whether it may be replaced (see the top of this file). */
async function examineOut(host: Host, out: string, job: string, config: EstimateConfig, force: boolean): Promise<Existing> {
  if (!(await host.exists(out))) return { kind: "none" };
  let previous: Partial<ResultFile> | undefined;
  try {
    const parsed = parseJson(await host.readText(out), (detail) => new Error(detail)) as Partial<ResultFile> | null;
    if (parsed && typeof parsed === "object" && typeof parsed.job === "string" && typeof parsed.status === "string") previous = parsed;
  } catch {}
  if (force) return { kind: "none" };
  if (!previous) throw new FileError("write", out, "it exists and is not a result of llc estimate; give another --out, or --force to replace it");
  if (previous.job !== job) {
    const name = typeof previous.config?.name === "string" ? ` "${previous.config.name}"` : "";
    throw new FileError("write", out, `it holds the result of another job${name} (job ${previous.job}; this one is ${job}: another config or other inputs); give another --out, or --force to replace it`);
  }
  const sameFailFast = (previous.config?.sampler?.fail_fast ?? false) === config.sampler.fail_fast;
  if ((previous.status === "complete" || previous.status === "diverged") && sameFailFast) return { kind: "finished", result: previous as ResultFile };
  return { kind: "resume", chains: chainsToResume(previous, job, config.sampler) };
}

export async function runEstimateJob(host: Host, configPath: string, options: JobOptions = {}): Promise<ResultFile> {
  const { config, weightBytes: preread } = await readJobConfig(host, configPath, options.sampler);
  const weightsPath = host.resolve(configPath, config.weights);
  const dataPath = host.resolve(configPath, config.data);
  const referenceName = klReferencePath(config.loss);
  const referencePath = referenceName === undefined ? undefined : host.resolve(configPath, referenceName);
  const out = options.out;
  // Every check on the output comes before any work: a bad --out costs nothing.
  if (out) {
    await checkOutNotInput(host, out, [["config", configPath], ["weights (the config's \"weights\")", weightsPath], ["data (the config's \"data\")", dataPath],
      ...(referencePath ? [["KL reference (the config's \"loss.reference\")", referencePath] as [string, string]] : [])]);
    await host.prepareOutput?.(out);
  }
  const [weightBytes, dataBytes] = await Promise.all([preread ?? readSafetensorsInput(host, weightsPath, "weights", config.weights), readSafetensorsInput(host, dataPath, "data", config.data)]);
  const weightFile = readSafetensors(weightBytes, config.weights);
  checkModelMetadata(config, weightFile.metadata);
  const weights = weightFile.tensors;
  const data = readSafetensors(dataBytes, config.data).tensors;
  const referenceBytes = referencePath ? await readSafetensorsInput(host, referencePath, "loss.reference", referenceName) : undefined;
  const inputs: EstimateInputs = { weights, data, ...(referenceBytes ? { reference: readKlReference(referenceBytes, referenceName!) } : {}) };
  const job = jobFingerprint(config, weightBytes, dataBytes, referenceBytes);

  let completed: ChainTraces[] = [];
  if (out) {
    const existing = await examineOut(host, out, job, config, options.force === true);
    if (existing.kind === "finished") {
      options.onFinished?.(existing.result);
      return existing.result;
    }
    if (existing.kind === "resume") completed = existing.chains;
    if (completed.length) options.onResume?.(completed.length);
  }

  const variant = options.variant ?? "simd";
  const wasm = await host.wasmBytes(variant);
  // sampler.workers 0 (the default): one worker per core the host reports. Without a way to
  // start workers (Node's library users who pass no spawn) chains run serially: same result.
  const canSpawn = options.spawn !== undefined || typeof (globalThis as { Worker?: unknown }).Worker === "function";
  const workers = canSpawn ? options.workers ?? (config.sampler.workers || host.cores?.() || 1) : 1;
  const save = async (result: EstimateResult) => {
    if (out) await host.writeText(out, resultJson({ ...result, job }));
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
        ? await estimateParallel(config, inputs, { ...estimateOptions, workers, wasm, variant, spawn: options.spawn })
        : await estimate(await createEngine(wasm, variant), config, inputs, estimateOptions);
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
    weightBytes = await readSafetensorsInput(host, host.resolve(configPath, filled.weights), "weights", filled.weights);
    filled.model = checkpointModel(readSafetensors(weightBytes, filled.weights).metadata, filled.weights);
    if (filled.model === undefined)
      throw new ConfigError("model", `expected an object such as {"kind": "mlp", "sizes": [...]}, got nothing (required unless weights is a checkpoint of llc train, whose __metadata__.model records it; ${filled.weights} records none)`, { source: configPath });
  }
  return { config: withConfigSource(configPath, () => parseConfig(filled)), weightBytes };
}
