// `llc sweep`: refined LLCs over training (Wang et al. 2024, arXiv 2410.02984).
// For a run directory made by `llc train`, the weight-refined LLC of each
// selector ("l0h3", "l1", "embed", …) at each selected checkpoint, on one token
// file (the run's mix held-out set by default, or another: data-refined), with
// one sampler config for every estimate. Each (step, selector) pair is an
// ordinary estimate — `estimate` / `estimateParallel` on exactly the config
// `llc estimate` would read — so a row's numbers equal that command's to the bit.
//
// Results go to a JSONL file, one line per pair, appended as each pair finishes.
// A rerun skips the pairs already in the file whose fingerprint (sampler, selector,
// checkpoint bytes, data bytes) matches; a file made with another sampler or other
// data is refused with an error naming what differs, so estimates never mix.
//
// Host-neutral: files through Host. A Host cannot list a directory, so the caller
// passes the checkpoint steps present in the run (`available`).
import type { Host } from "./platform/host.ts";
import { createEngine, type Variant } from "./engine.ts";
import { ConfigError, overrideSampler, parseConfig, parseJsonConfig, parseSamplerConfig, type SamplerConfig, type TransformerConfig } from "./config.ts";
import { estimate, EstimateError, type EstimateResult } from "./estimator.ts";
import { estimateParallel, type SpawnWorker } from "./parallel.ts";
import { readSafetensors } from "./io/safetensors.ts";
import { fingerprint } from "./io/results.ts";
import { parseJson } from "./io/json.ts";
import { readSafetensorsInput } from "./io/inputs.ts";
import { restrictionMask } from "./arena.ts";
import { modelLayout, transformerSelector, TRANSFORMER_SELECTORS } from "./models.ts";
import { readCheckpoint, readHeldout, selectCheckpointSteps, type Checkpoint } from "./analysis/heads.ts";
import { runFiles } from "./train.ts";
import type { Progress } from "./sampler.ts";
import { formatFixed } from "./format.ts";

export class SweepError extends Error {
  override readonly name = "SweepError";
}

/** The sampler as a sweep records it: every field but `workers`, which cannot change a bit of a result (fail_fast only when true). */
export type SweepSampler = Omit<SamplerConfig, "workers" | "fail_fast"> & { fail_fast?: true };

/** The keys `keys` of `from`, in that order. */
function pick<T, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

/** One line of the output file: one (step, selector) estimate. */
export interface SweepRow {
  step: number;
  restrict: string;
  /** The data as named to the sweep: "mix", "prose", "code" or a token file path. */
  data: string;
  "llc/mean": number;
  "llc/std": number | null;
  "llc/means": number[];
  init_loss: number;
  "mala_accept/mean": number | null;
  status: EstimateResult["status"];
  error?: string;
  nbeta: number;
  chains_completed: number;
  sampler: SweepSampler;
  /** FNV-1a fingerprints of the token file's and the checkpoint's bytes. */
  data_hash: string;
  checkpoint_hash: string;
  /** Fingerprint of the pair's whole job: sampler, selector, checkpoint bytes, data bytes. */
  job: string;
  /** The estimate's verdict and headline diagnostics (src/diagnostics.ts); absent in rows written before them. */
  "diagnostics/verdict"?: string;
  "diagnostics/reasons"?: string;
  "diagnostics/rhat"?: number | null;
  "diagnostics/ess_bulk"?: number | null;
  "diagnostics/ess_tail"?: number | null;
  "diagnostics/mcse"?: number | null;
}

export interface SweepOptions {
  /** Run directory made by `llc train`. */
  run: string;
  /** Checkpoint steps present in run/checkpoints (the Host cannot list directories). */
  available: readonly number[];
  /** "last" (default), "all" or a comma-separated list of steps. */
  steps?: string;
  /** Selectors estimated one by one, or "heads" (default): every head l{l}h{h} of the model. */
  restrict?: readonly string[] | "heads";
  /** "mix" (default), "prose", "code" (the run's held-out token files) or a token file path. */
  data?: string;
  /** Path of a JSON file holding the `sampler` section of an estimate config. */
  sampler: string;
  /** Sampler fields written over the file's (the CLI's --chains, --epsilon, …): part of every row's job. */
  samplerOverrides?: Readonly<Record<string, unknown>>;
  /** Output JSONL file (default run/sweep.jsonl; with shard, run/sweep.shard-K-of-N.jsonl). */
  out?: string;
  /** Compute only this shard's cells (see shardOfCell); the file starts with a ShardHeader line for `llc merge`. */
  shard?: Shard;
  /** Threads for each estimate's chains (default: sampler.workers if ≥ 1, else 1: serial). Same bits for any count. */
  workers?: number;
  /** How to start a worker when workers > 1 (Node: nodeWorkers()); default the global module Worker. */
  spawn?: SpawnWorker;
  variant?: Variant;
  /**
   * Append a line to a file, creating it if missing (default: host.appendText, which Node's host
   * has: append + datasync). Without either, each row rewrites the whole file through host.writeText.
   */
  appendText?: (path: string, text: string) => Promise<void>;
  /** Pairs already in the output file, skipped (called once, before any estimate). */
  onResume?: (done: number, total: number, out: string) => void;
  /** A pair is about to be estimated (index counts every pair of the sweep, skipped ones too). */
  onStart?: (pair: { step: number; restrict: string; index: number; total: number }) => void;
  /** A pair was estimated and its row written. */
  onRow?: (row: SweepRow, pair: { index: number; total: number }) => void;
  onProgress?: (p: Progress & { step: number; restrict: string }) => void;
}

export interface SweepResult {
  out: string;
  steps: number[];
  selectors: string[];
  /** The selected pairs' rows (from the file or just estimated), by pairKey. */
  rows: Map<string, SweepRow>;
  estimated: number;
  skipped: number;
  /** The aligned table of formatSweepTable. */
  table: string;
}

export const pairKey = (step: number, restrict: string) => `${step}\u0000${restrict}`;

const encoder = new TextEncoder();
const SWEEP_FORMAT = "llc-wasm/sweep/1";

/** The run's held-out token file for "mix", "prose" or "code"; any other name is a token file path. */
export function sweepDataPath(run: string, data: string): string {
  return data === "mix" || data === "prose" || data === "code" ? `${run}/data/${data}-heldout.safetensors` : data;
}

/** Every head of every layer, layer-major: l0h0, l0h1, …, l1h0, … */
export function headSelectors(model: TransformerConfig): string[] {
  const out: string[] = [];
  for (let l = 0; l < model.n_layers; l++) for (let h = 0; h < model.n_heads; h++) out.push(`l${l}h${h}`);
  return out;
}

/** "l0h0, l1" → ["l0h0", "l1"]: trimmed, duplicates dropped; an empty item is an error. */
export function parseSelectorList(text: string): string[] {
  const items = text.split(",").map((s) => s.trim());
  const empty = items.findIndex((s) => s === "");
  if (empty >= 0) throw new SweepError(`restrict: item ${empty + 1} of ${JSON.stringify(text)} is empty; expected a comma-separated list of selectors such as l0h0,l0h1,l1`);
  return [...new Set(items)];
}

/** The sampler file: the `sampler` section of an estimate config, validated with its field names. */
export function parseSweepSampler(text: string, source: string, overrides?: Readonly<Record<string, unknown>>): SamplerConfig {
  return parseJsonConfig(text, source, (raw) => {
    if (raw !== null && typeof raw === "object" && !Array.isArray(raw) && ("sampler" in raw || "model" in raw))
      throw new ConfigError("", 'expected the "sampler" section of an estimate config ({"epsilon": …, "gamma": …, "nbeta": …, …}), not a whole config; copy its "sampler" object into this file');
    return parseSamplerConfig(overrideSampler(raw, overrides), "sampler");
  });
}

function checkSelectors(selectors: readonly string[], model: TransformerConfig, step: number): void {
  const layout = modelLayout(model);
  const resolve = transformerSelector(model, layout);
  for (const selector of selectors) {
    try {
      restrictionMask(layout, [selector], resolve, TRANSFORMER_SELECTORS);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      throw new SweepError(
        `restrict: unknown selector ${JSON.stringify(selector)} (expected ${TRANSFORMER_SELECTORS}; ` +
          `the model at step ${step} has ${model.n_layers} layer(s) of ${model.n_heads} head(s))`,
      );
    }
  }
}

/** One of `count` shards of a sweep; `index` is 0-based (the CLI's --shard K/N is 1-based: index K − 1). */
export interface Shard {
  index: number;
  count: number;
}

export const SHARD_FORMAT = "llc-wasm/sweep-shard/1";

/**
 * The first line of a shard's file: which shard, and the whole sweep's cells and settings, so
 * `llc merge` can tell a missing shard, a foreign one, or one made with other settings.
 */
export interface ShardHeader {
  format: typeof SHARD_FORMAT;
  /** 1-based, as in the file name sweep.shard-K-of-N.jsonl. */
  shard: number;
  of: number;
  steps: number[];
  selectors: string[];
  data: string;
  data_hash: string;
  sampler: SweepSampler;
}

/**
 * The shard of the cell at `index` in the single sweep's order (step-major, selectors in their
 * order): round-robin, so each of `count` shards gets ⌊C/N⌋ or ⌈C/N⌉ of the C cells. Cost model:
 * every cell of a sweep costs the same (one sampler config for all). A selector's restricted
 * step is cheaper in a higher layer, which this ignores: when N divides the selector count each
 * shard gets the same selectors at every step (README, "Sharded sweeps").
 */
export const shardOfCell = (index: number, count: number): number => index % count;

/** The run's default output file: run/sweep.jsonl, or run/sweep.shard-K-of-N.jsonl for a shard. */
export const defaultSweepOut = (run: string, shard?: Shard): string =>
  shard ? `${run}/sweep.shard-${shard.index + 1}-of-${shard.count}.jsonl` : `${run}/sweep.jsonl`;

/**
 * "K/N" (K = 1..N) or "auto/N": K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job, 0-based),
 * else SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN (a Slurm job array of any start; MIN 0 if unset).
 */
export function parseShard(text: string, env: Readonly<Record<string, string | undefined>>): Shard {
  const m = /^(auto|[0-9]+)\/([0-9]+)$/.exec(text);
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1)
    throw new SweepError(`shard: expected K/N (K = 1..N) or auto/N, got ${JSON.stringify(text)}`);
  const integer = (name: string) => {
    const v = env[name]!;
    if (!/^[0-9]+$/.test(v)) throw new SweepError(`shard: ${name} is ${JSON.stringify(v)}; expected an integer >= 0`);
    return Number(v);
  };
  let index: number, from: string;
  if (m[1] !== "auto") [index, from] = [Number(m[1]) - 1, `K = ${m[1]}`];
  else if (env.JOB_COMPLETION_INDEX !== undefined) [index, from] = [integer("JOB_COMPLETION_INDEX"), `JOB_COMPLETION_INDEX = ${env.JOB_COMPLETION_INDEX} (0-based)`];
  else if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const min = env.SLURM_ARRAY_TASK_MIN !== undefined ? integer("SLURM_ARRAY_TASK_MIN") : 0;
    [index, from] = [integer("SLURM_ARRAY_TASK_ID") - min, `SLURM_ARRAY_TASK_ID = ${env.SLURM_ARRAY_TASK_ID} − SLURM_ARRAY_TASK_MIN = ${min}`];
  } else throw new SweepError("shard: auto/N needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm job array) in the environment; neither is set");
  if (!(index >= 0 && index < count)) throw new SweepError(`shard: ${from} gives shard ${index + 1} of ${count}; expected 1..${count}`);
  return { index, count };
}

const ROW_FIELDS = ["step", "restrict", "sampler", "data_hash", "checkpoint_hash", "job"] as const;

/**
 * Rows of an existing output file; a torn last line (a kill mid-append) is dropped and reported as
 * `repaired`. A first line of format SHARD_FORMAT is a shard's header, returned as `header`.
 */
export function parseRows(text: string, out: string): { rows: { row: SweepRow; line: number }[]; repaired: boolean; header?: ShardHeader } {
  const lines = text.split("\n");
  const endsClean = text === "" || text.endsWith("\n");
  if (endsClean) lines.pop();
  const rows: { row: SweepRow; line: number }[] = [];
  let header: ShardHeader | undefined;
  let repaired = !endsClean;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") {
      repaired = true;
      continue;
    }
    let row: unknown;
    try {
      row = parseJson(lines[i], (detail) => new SweepError(detail));
    } catch {
      if (i === lines.length - 1 && !endsClean) break; // the torn last line of a killed append: redone
      throw new SweepError(`${out}:${i + 1}: not a JSON line; expected the rows of llc sweep (use another out file, or delete this one)`);
    }
    if (i === 0 && row !== null && typeof row === "object" && (row as { format?: unknown }).format === SHARD_FORMAT) {
      header = checkShardHeader(row as Record<string, unknown>, out);
      continue;
    }
    const missing = ROW_FIELDS.find((f) => row === null || typeof row !== "object" || !(f in row));
    if (missing !== undefined) throw new SweepError(`${out}:${i + 1}: not a row of llc sweep (no "${missing}"); use another out file, or delete this one`);
    rows.push({ row: row as SweepRow, line: i + 1 });
  }
  return { rows, repaired, ...(header ? { header } : {}) };
}

const SHARD_FIELDS = ["shard", "of", "steps", "selectors", "data", "data_hash", "sampler"] as const;

function checkShardHeader(raw: Record<string, unknown>, out: string): ShardHeader {
  const missing = SHARD_FIELDS.find((f) => !(f in raw));
  if (missing !== undefined) throw new SweepError(`${out}:1: a shard header without "${missing}"; expected the first line llc sweep --shard writes`);
  const { shard, of, steps, selectors } = raw;
  if (!Number.isSafeInteger(of) || (of as number) < 1 || !Number.isSafeInteger(shard) || (shard as number) < 1 || (shard as number) > (of as number))
    throw new SweepError(`${out}:1: shard header: expected 1 <= shard <= of, got shard ${JSON.stringify(shard)} of ${JSON.stringify(of)}`);
  if (!Array.isArray(steps) || !steps.every(Number.isSafeInteger)) throw new SweepError(`${out}:1: shard header: steps: expected a list of integers`);
  if (!Array.isArray(selectors) || !selectors.every((s) => typeof s === "string")) throw new SweepError(`${out}:1: shard header: selectors: expected a list of strings`);
  for (const f of ["data", "data_hash"] as const) if (typeof raw[f] !== "string") throw new SweepError(`${out}:1: shard header: ${f}: expected a string, got ${JSON.stringify(raw[f])}`);
  if (raw.sampler === null || typeof raw.sampler !== "object" || Array.isArray(raw.sampler)) throw new SweepError(`${out}:1: shard header: sampler: expected an object`);
  return raw as unknown as ShardHeader;
}

/** The first sampler field whose value differs, as "sampler.epsilon: 0.001 in the file, 0.002 now". */
export function samplerDifference(old: Record<string, unknown>, now: Record<string, unknown>): string | undefined {
  for (const key of new Set([...Object.keys(now), ...Object.keys(old)])) {
    if (JSON.stringify(old[key]) !== JSON.stringify(now[key]))
      return `sampler.${key} is ${JSON.stringify(old[key]) ?? "absent"} there and ${JSON.stringify(now[key]) ?? "absent"} in this run`;
  }
  return undefined;
}

/**
 * Estimate the refined LLC of every selected (step, selector) pair of a training
 * run not already in the output file, appending a row per pair as it finishes.
 * A diverging chain makes that pair's row status "error" (with the draws before
 * it summarized) and the sweep goes on; any other failure stops it.
 */
export async function runSweep(host: Host, options: SweepOptions): Promise<SweepResult> {
  const { run } = options;
  if (!(await host.exists(run))) throw new SweepError(`run directory ${run} does not exist (expected a directory made by llc train)`);
  if (options.available.length === 0) throw new SweepError(`no checkpoints (step-NNNNNN.safetensors) in ${run}/checkpoints; expected a run directory made by llc train`);
  let steps: number[];
  try {
    steps = selectCheckpointSteps(options.steps ?? "last", [...options.available].sort((a, b) => a - b));
  } catch (e) {
    throw new SweepError(`steps: ${(e as Error).message}`);
  }

  const sampler = parseSweepSampler(await host.readText(options.sampler), options.sampler, options.samplerOverrides);
  // fail_fast: false (the default) is left out, so rows made before the field existed still match.
  const { workers: samplerWorkers, fail_fast: failFast, ...rest } = sampler;
  const recorded: SweepSampler = failFast ? { ...rest, fail_fast: true } : rest;
  const samplerJson = JSON.stringify(recorded);

  const dataName = options.data ?? "mix";
  const dataPath = sweepDataPath(run, dataName);
  if (!(await host.exists(dataPath)))
    throw new SweepError(`data: token file ${dataPath} does not exist (expected mix, prose, code — the run's held-out sets — or the path of a token file)`);
  // The output is checked before any work: not one of the inputs, and writable.
  const { shard } = options;
  if (shard && !(Number.isSafeInteger(shard.count) && shard.count >= 1 && Number.isSafeInteger(shard.index) && shard.index >= 0 && shard.index < shard.count))
    throw new SweepError(`shard: expected 0 <= index < count, got index ${shard.index} of ${shard.count}`);
  const out = options.out ?? defaultSweepOut(run, shard);
  const real = (path: string) => (host.realPath ? host.realPath(path) : Promise.resolve(path));
  for (const [what, path] of [["sampler file", options.sampler], ["data", dataPath]])
    if ((await real(path)) === (await real(out))) throw new SweepError(`out: ${out} is the sweep's ${what}; writing rows there would destroy it: give another --out`);
  await host.prepareOutput?.(out);
  const dataBytes = await readSafetensorsInput(host, dataPath, "data");
  const dataTensors = readSafetensors(dataBytes, dataPath).tensors;
  const dataHash = fingerprint(dataBytes);

  const loadCheckpoint = async (step: number) => {
    const path = runFiles(run).checkpoint(step);
    const bytes = await readSafetensorsInput(host, path, "checkpoint");
    const checkpoint: Checkpoint = readCheckpoint(bytes, path);
    readHeldout(dataBytes, dataPath, checkpoint); // vocabulary, context and tokenizer agree with the checkpoint
    return { path, bytes, checkpoint };
  };
  // Selectors are checked against the model before any estimate runs.
  let first: Awaited<ReturnType<typeof loadCheckpoint>> | undefined = await loadCheckpoint(steps[0]);
  const selectors = options.restrict === undefined || options.restrict === "heads" ? headSelectors(first.checkpoint.model) : [...new Set(options.restrict)];
  if (selectors.length === 0) throw new SweepError("restrict: expected at least one selector");
  checkSelectors(selectors, first.checkpoint.model, steps[0]);

  const header: ShardHeader | undefined = shard && {
    format: SHARD_FORMAT, shard: shard.index + 1, of: shard.count, steps, selectors, data: dataName, data_hash: dataHash, sampler: recorded,
  };
  const headerLine = header ? JSON.stringify(header) + "\n" : "";

  // The output file: rows of earlier runs of this sweep, which must share its sampler and data.
  const existing = new Map<string, { row: SweepRow; line: number }>();
  let fileText = "";
  let fresh = true; // no header written yet
  if (await host.exists(out)) {
    const parsed = parseRows(await host.readText(out), out);
    if (parsed.header && !header)
      throw new SweepError(`${out} is shard ${parsed.header.shard} of ${parsed.header.of} of a sharded sweep (llc sweep --shard); combine the shards with llc merge, or give another out file`);
    if (header && parsed.header) {
      const differs = SHARD_FIELDS.find((f) => JSON.stringify(parsed.header![f]) !== JSON.stringify(header[f]));
      if (differs !== undefined)
        throw new SweepError(`${out}:1 is a shard of another sweep (${differs} is ${JSON.stringify(parsed.header[differs])} there and ${JSON.stringify(header[differs])} in this run); give another out file, or delete this one`);
      fresh = false;
    } else if (header && parsed.rows.length > 0)
      throw new SweepError(`${out} holds rows of an unsharded sweep; a shard writes its own file: give another out file`);
    for (const entry of parsed.rows) {
      const { row, line } = entry;
      const stored = row.sampler !== null && typeof row.sampler === "object" ? (row.sampler as unknown as Record<string, unknown>) : {};
      const differs = samplerDifference(stored, recorded as unknown as Record<string, unknown>);
      if (differs !== undefined)
        throw new SweepError(`${out}:${line} was made with another sampler (${differs}); rows of different samplers are not mixed: give another out file, or delete this one`);
      if (row.data_hash !== dataHash)
        throw new SweepError(`${out}:${line} was made on other data (${JSON.stringify(row.data)}, data_hash ${row.data_hash}; this run's ${JSON.stringify(dataName)} has ${dataHash}); give another out file for each data set`);
      if (!existing.has(pairKey(row.step, row.restrict))) existing.set(pairKey(row.step, row.restrict), entry);
    }
    fileText = (fresh ? "" : headerLine) + parsed.rows.map((r) => JSON.stringify(r.row) + "\n").join("");
    if (parsed.repaired) await host.writeText(out, fileText); // drop a torn last line before appending
  }
  const append = async (line: string) => {
    fileText += line;
    const appendText = options.appendText ?? host.appendText;
    if (appendText) await appendText(out, line);
    else await host.writeText(out, fileText);
  };

  if (header && fresh) await append(headerLine);
  // This run's cells, in the single sweep's order: every (step, selector), or this shard's 1/N of them.
  const cells = steps.flatMap((step) => selectors.map((restrict) => ({ step, restrict })))
    .filter((_, i) => !shard || shardOfCell(i, shard.count) === shard.index);
  const total = cells.length;
  const done = cells.filter((c) => existing.has(pairKey(c.step, c.restrict))).length;
  if (done > 0) options.onResume?.(done, total, out);

  const variant = options.variant ?? "simd";
  const wasm = await WebAssembly.compile(await host.wasmBytes(variant));
  const canSpawn = options.spawn !== undefined || typeof (globalThis as { Worker?: unknown }).Worker === "function";
  const workers = canSpawn ? options.workers ?? (samplerWorkers >= 1 ? samplerWorkers : 1) : 1;

  const rows = new Map<string, SweepRow>();
  let estimated = 0, index = 0;
  for (const step of steps) {
    const mine = cells.filter((c) => c.step === step).map((c) => c.restrict);
    if (mine.length === 0) continue; // none of this shard's cells is at this step: its checkpoint is not read
    const { path, bytes, checkpoint } = (first?.path === runFiles(run).checkpoint(step) ? first : undefined) ?? (await loadCheckpoint(step));
    first = undefined;
    checkSelectors(selectors, checkpoint.model, step);
    const checkpointHash = fingerprint(bytes);
    const weights = readSafetensors(bytes, path).tensors;
    for (const restrict of mine) {
      const pair = { step, restrict, index: index++, total };
      const job = fingerprint(encoder.encode(SWEEP_FORMAT), encoder.encode(samplerJson), encoder.encode(restrict), bytes, dataBytes);
      const previous = existing.get(pairKey(step, restrict));
      if (previous) {
        if (previous.row.checkpoint_hash !== checkpointHash || previous.row.job !== job)
          throw new SweepError(`${out}:${previous.line}: the row of step ${step}, ${restrict} was made from another ${path} (checkpoint_hash ${previous.row.checkpoint_hash}, now ${checkpointHash}); was the run retrained? give another out file, or delete this one`);
        rows.set(pairKey(step, restrict), previous.row);
        continue;
      }
      options.onStart?.(pair);
      // Exactly the config `llc estimate` reads for this pair (parseConfig fills the same defaults).
      const config = parseConfig({ model: checkpoint.model, weights: path, data: dataPath, sampler, restrict });
      const onProgress = options.onProgress && ((p: Progress) => options.onProgress!({ ...p, step, restrict }));
      let result: EstimateResult;
      try {
        result = workers > 1
          ? await estimateParallel(config, { weights, data: dataTensors }, { workers, wasm, variant, spawn: options.spawn, onProgress })
          : await estimate(await createEngine(wasm, variant), config, { weights, data: dataTensors }, { onProgress });
      } catch (e) {
        if (!(e instanceof EstimateError) || e.partial.status !== "error") throw e;
        result = e.partial;
      }
      const row: SweepRow = {
        step, restrict, data: dataName,
        "llc/mean": result["llc/mean"], "llc/std": result["llc/std"], "llc/means": result["llc/means"],
        init_loss: result.init_loss, "mala_accept/mean": result["mala_accept/mean"], status: result.status,
        ...(result.error !== undefined ? { error: result.error } : {}),
        nbeta: result.nbeta, chains_completed: result.chains_completed,
        sampler: recorded, data_hash: dataHash, checkpoint_hash: checkpointHash, job,
        ...pick(result, ["diagnostics/verdict", "diagnostics/reasons", "diagnostics/rhat", "diagnostics/ess_bulk", "diagnostics/ess_tail", "diagnostics/mcse"] as const),
      };
      await append(JSON.stringify(row) + "\n");
      rows.set(pairKey(step, restrict), row);
      estimated++;
      options.onRow?.(row, pair);
    }
  }
  return { out, steps, selectors, rows, estimated, skipped: total - estimated, table: formatSweepTable(steps, selectors, rows) };
}

/**
 * Rows = steps, columns = selectors, cells "mean ± std" (decimals chosen for the largest mean);
 * "error" for a pair stopped by a diverged chain (fail_fast), "mean ± std (k/n)" over the k
 * healthy chains of n when some diverged, "diverged" when all did.
 */
export function formatSweepTable(steps: readonly number[], selectors: readonly string[], rows: ReadonlyMap<string, SweepRow>): string {
  const means = [...rows.values()].map((r) => Math.abs(r["llc/mean"])).filter(Number.isFinite);
  const largest = means.length ? Math.max(...means) : 0;
  const decimals = largest >= 100 ? 1 : largest >= 10 ? 2 : 3;
  const num = (x: number | null) => (x === null ? "–" : formatFixed(x, decimals));
  const cell = (row: SweepRow | undefined) =>
    row === undefined ? "" : row.status === "error" || !Number.isFinite(row["llc/mean"]) ? row.status
    : `${num(row["llc/mean"])} ± ${num(row["llc/std"])}${row.status === "diverged" ? ` (${row.chains_completed}/${row.sampler.chains})` : ""}`;
  const header = ["step", ...selectors];
  const body = steps.map((s) => [String(s), ...selectors.map((r) => cell(rows.get(pairKey(s, r))))]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((text, c) => text.padStart(widths[c])).join("  ");
  return [line(header), line(widths.map((w) => "─".repeat(w))), ...body.map(line)].join("\n") + "\n";
}
