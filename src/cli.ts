/// <reference types="node" />
// The command line: `llc estimate`, `llc table` (the main job: analytic cases),
// `llc train` (the transformer), `llc heads`, `llc circuits` and `llc sweep` (head
// scores, circuits and refined LLCs over a training run), `llc example` (a built-in case as config +
// safetensors files), `llc help`, `llc --version`.
import { nodeHost, nodePackageReader } from "./platform/node.ts";
import { serve } from "./platform/node-server.ts";
import { runTrainingJob, DEFAULT_TRAIN_CONFIG, parseTrainConfig } from "./train-job.ts";
import { nodeWorkers } from "./platform/node-workers.ts";
import { runEstimateJob, resultJson } from "./job.ts";
import { createEngine, type Variant } from "./engine.ts";
import { estimate, ENGINE_NAME, ENGINE_VERSION } from "./estimator.ts";
import { resultWarnings, verdictLine } from "./web/diagnostics.ts";
import { builtinCases, exampleCases } from "./cases.ts";
import { writeSafetensors } from "./io/safetensors.ts";
import { UsageError, SAMPLER_FLAGS, commandHelp, commandList, commandUsage, parseCommandLine, samplerOverrides, wantsHelp, type CommandSpec, type FlagSpec, type Flags } from "./cli-usage.ts";
import { ProgressLine, estimateProgress } from "./progress.ts";
import { formatDuration, formatFixed, formatProgress } from "./format.ts";
import { parseJsonConfig } from "./config.ts";
import { calibrateTrainStep, describeTraining } from "./train-estimate.ts";
import type { Grid, Normalise } from "./analysis/cluster.ts";
import type { SignatureJson } from "./analysis/figures.ts";

// Each command is one entry of COMMANDS (at the end of this file): its summary, flags,
// the config fields it reads, an example and its function. Help, usage errors and the
// flags each command accepts all come from that entry (src/cli-usage.ts).
export { UsageError, parseFlags } from "./cli-usage.ts";

function variantOf(flags: Flags): Variant {
  const v = flags.variant ?? "simd";
  if (v !== "simd" && v !== "scalar") throw new UsageError(`--variant: expected simd or scalar, got ${JSON.stringify(v)}`);
  return v;
}

/** --workers N: overrides sampler.workers for this run; the config (and result file) keep theirs. */
function workersOf(flags: Flags): number | undefined {
  const v = flags.workers;
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--workers: expected an integer >= 1, got ${JSON.stringify(v)}`);
  return n;
}

/** The job's progress line on stderr (redrawn in place on a terminal, a plain line every few seconds otherwise). */
function progressLine(): ProgressLine {
  return new ProgressLine({ write: (t) => process.stderr.write(t), tty: process.stderr.isTTY === true, now: () => nodeHost.now(), columns: process.stderr.columns });
}

async function estimateCommand(flags: Flags): Promise<void> {
  const out = typeof flags.out === "string" ? flags.out : undefined;
  const quiet = flags.quiet === true;
  const line = progressLine();
  const progress = estimateProgress(line, () => nodeHost.now(), "estimate");
  const result = await runEstimateJob(nodeHost, String(flags.config), {
    out,
    force: flags.force === true,
    variant: variantOf(flags),
    workers: workersOf(flags),
    sampler: samplerOverrides(flags),
    spawn: nodeWorkers(),
    onProgress: quiet ? undefined : progress.update,
    onResume: (n) => {
      progress.resume(n);
      if (!quiet) line.log(`resuming: ${n} chain(s) already in ${out}`);
    },
    onFinished: () => quiet || process.stderr.write(`${out} already holds this job's finished result (nothing recomputed; --force to recompute it)\n`),
  }).finally(() => line.clear());
  if (!out) process.stdout.write(resultJson(result));
  else if (!quiet) process.stderr.write(`llc/mean ${result["llc/mean"]} ± ${result["llc/std"]} → ${out}\n`);
  // The page's warnings (src/web/diagnostics.ts), on stderr: a number ε has biased should not pass without a word.
  if (!quiet) for (const w of resultWarnings(result)) process.stderr.write(`warning: ${w.title}: ${w.text}\n`);
  // The verdict of the diagnostics (src/diagnostics.ts), one line.
  if (!quiet) process.stderr.write(`verdict: ${verdictLine(result)}\n`);
  if (result.status === "diverged")
    throw new Error(`${result.diverged_chains!.length} of ${result.config.sampler.chains} chains diverged (first: ${result.error}); ` +
      `the result${out ? ` in ${out}` : ""} has status "diverged" and λ̂ over the ${result.chains_completed} healthy chain(s)`);
}

async function tableCommand(flags: Flags): Promise<void> {
  const variant = variantOf(flags);
  const wasm = await WebAssembly.compile(await nodeHost.wasmBytes(variant));
  const cases = builtinCases(flags.quick === true);
  const widths = [Math.max(...cases.map((c) => c.name.length)), 7, Math.max(...cases.map((c) => c.source.length)), 20, 6, 7];
  const line = (cells: string[]) => process.stdout.write(cells.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd() + "\n");
  process.stdout.write(`LLC of models whose λ is known in closed form (${variant} build; rows print as they finish)\n\n`);
  line(["model", "true λ", "source", "λ̂ ± std (chains)", "MALA", "time"]);
  line(widths.map((w) => "─".repeat(w)));
  for (const c of cases) {
    const engine = await createEngine(wasm, variant);
    const t0 = nodeHost.now();
    const r = await estimate(engine, c.config, c.inputs(engine));
    const seconds = (nodeHost.now() - t0) / 1000;
    line([
      c.name, formatFixed(c.trueLambda, 3), c.source,
      `${formatFixed(r["llc/mean"], 3)} ± ${formatFixed(r["llc/std"] ?? NaN, 3)} (${c.config.sampler.chains})`,
      r["mala_accept/mean"] === null ? "–" : formatFixed(r["mala_accept/mean"], 3), `${formatFixed(seconds, 2)} s`,
    ]);
  }
}

async function trainCommand(flags: Flags): Promise<void> {
  if (typeof flags.config === "string" && typeof flags.out === "string") throw new UsageError("give --config FILE (its \"out\" names the run directory) or --out DIR (the default config), not both");
  const source = typeof flags.config === "string"
    ? flags.config
    : { config: { ...DEFAULT_TRAIN_CONFIG, out: typeof flags.out === "string" ? flags.out : DEFAULT_TRAIN_CONFIG.out }, baseDir: process.cwd() };
  const quiet = flags.quiet === true;
  const variant = variantOf(flags);
  const say = (text: string) => quiet || process.stderr.write(text + "\n");
  // What will be trained, where and about how long, before anything starts (the job parses the config again).
  const config = typeof source === "string" ? parseJsonConfig(await nodeHost.readText(source), source, parseTrainConfig) : parseTrainConfig(source.config);
  const dir = typeof source === "string" ? nodeHost.resolve(source, config.out) : nodeHost.resolve(`${source.baseDir}/config.json`, config.out);
  if (!quiet) {
    const timed = await calibrateTrainStep(await WebAssembly.compile(await nodeHost.wasmBytes(variant)), variant, config, () => nodeHost.now());
    say(`training ${describeTraining(config)}${typeof source === "string" ? "" : " (the default config)"}, on the built-in prose + code mix, into ${dir}`);
    const seconds = (timed.msPerStep * config.steps) / 1000;
    say(`${seconds < 1 ? "under a second" : `about ${formatDuration(seconds)}`} of training (${formatFixed(timed.msPerStep, 1)} ms per step in a ${timed.steps}-step calibration), plus preparing the data on a first run`);
  }
  let first: { step: number; at: number } | undefined; // the rate counts from the first log line of this run
  const { dir: trained, step } = await runTrainingJob(nodeHost, source, {
    variant,
    nodeModules: nodePackageReader(), // the corpus packages, found by module resolution from the CLI's own location
    onResume: (s) => say(`resuming from the checkpoint at step ${s}`),
    onLog: (l) => {
      const now = nodeHost.now();
      first ??= { step: l.step, at: now };
      const rate = formatProgress({ done: l.step, total: config.steps, unit: "steps", doneThisRun: l.step - first.step, elapsedSeconds: (now - first.at) / 1000 });
      if (l.heldout_loss !== undefined) say(`step ${l.step}  held-out loss ${formatFixed(l.heldout_loss, 4)}  ${rate}`);
      else say(`step ${l.step}  loss ${formatFixed(l.loss ?? NaN, 4)}  grad norm ${formatFixed(l.grad_norm ?? NaN, 3)}  lr ${l.lr?.toExponential(2)}  ${rate}`);
    },
  });
  say(`trained to step ${step}: checkpoints and log.jsonl in ${trained}`);
}

/** `llc web`: serves the package's build/ (the page and the engine it runs) until stopped. */
async function webCommand(flags: Flags): Promise<void> {
  const port = flags.port === undefined ? 8080 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected an integer in [0, 65535], got ${JSON.stringify(flags.port)}`);
  const host = typeof flags.host === "string" ? flags.host : "127.0.0.1";
  const { url } = await serve({ port, host }).catch((e: Error) => {
    throw new Error(`web: cannot listen on ${host}:${port}: ${e.message}`);
  });
  process.stdout.write(`llc-wasm page: ${url}  (serving the package's build/; Ctrl-C to stop)\n`);
}

async function exampleCommand(flags: Flags, [name]: string[]): Promise<void> {
  const names = Object.keys(exampleCases) as (keyof typeof exampleCases)[];
  if (name === undefined) {
    // No name: the cases, one line each (building a case's config is cheap; its data are made only when written).
    const width = Math.max(...names.map((n) => n.length));
    const lines = names.map((n) => {
      const c = exampleCases[n]();
      return `  ${n.padEnd(width)}  ${c.name}: true λ = ${c.trueLambda} (${c.source})`;
    });
    process.stdout.write(`built-in cases (llc example NAME --dir DIR writes one as case.json + safetensors files):\n${lines.join("\n")}\n`);
    return;
  }
  const make = exampleCases[name as keyof typeof exampleCases];
  if (!make) throw new UsageError(`unknown case ${JSON.stringify(name)} (known: ${names.join(", ")})`);
  if (typeof flags.dir !== "string") throw new UsageError("--dir DIR is required");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(flags.dir, { recursive: true });
  const c = make();
  const engine = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
  const inputs = c.inputs(engine);
  const join = (f: string) => `${flags.dir}/${f}`;
  await nodeHost.writeBytes(join("weights.safetensors"), writeSafetensors(inputs.weights, { true_lambda: String(c.trueLambda), source: c.source }));
  await nodeHost.writeBytes(join("data.safetensors"), writeSafetensors(inputs.data));
  const { name: _ignored, ...config } = { ...c.config, name: c.name, weights: "weights.safetensors", data: "data.safetensors" };
  await nodeHost.writeText(join("case.json"), JSON.stringify({ name: c.name, ...config }, null, 2) + "\n");
  process.stdout.write(`wrote ${join("case.json")}, weights.safetensors, data.safetensors (true λ = ${c.trueLambda})\n`);
}

/** A value flag as a number (integer ≥ min when `integer`), or the default. */
function numberFlag(flags: Flags, name: string, fallback: number, integer: boolean, min: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new UsageError(`--${name}: expected ${integer ? "an integer" : "a number"} >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * The checkpoints, token files, model and tokenizer an analysis command reads: a run
 * directory (--run DIR with --steps/--step and --data NAMES) or a checkpoint and a token
 * file (--checkpoint FILE --data FILE [--model FILE] [--tokenizer FILE]).
 */
async function analysisInputs(command: string, flags: Flags, stepFlag: "steps" | "step", defaultData: string) {
  const { readdir } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const heads = await import("./analysis/heads.ts");
  const { runFiles } = await import("./train.ts");
  const { parseModel } = await import("./config.ts");
  if (typeof flags.run === "string" && typeof flags.checkpoint === "string") throw new UsageError(`${command}: give --run DIR or --checkpoint FILE --data FILE, not both`);
  if (typeof flags.checkpoint === "string") {
    if (typeof flags.data !== "string") throw new UsageError(`${command}: --checkpoint FILE needs --data FILE (a token file: tensor "tokens" [n_seq, T])`);
    if (flags[stepFlag] !== undefined) throw new UsageError(`${command}: --${stepFlag} goes with --run DIR; --checkpoint names one checkpoint`);
    let model;
    if (typeof flags.model === "string") {
      const text = await nodeHost.readText(flags.model).catch(() => {
        throw new Error(`${command}: cannot read the model config ${flags.model}`);
      });
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        throw new Error(`${flags.model}: not JSON (${(e as Error).message})`);
      }
      const parsed = parseModel((raw as { model?: unknown })?.model ?? raw, flags.model);
      if (parsed.kind !== "transformer") throw new Error(`${flags.model}: model.kind is ${JSON.stringify(parsed.kind)}; expected "transformer"`);
      model = parsed;
    }
    const besideData = `${dirname(flags.data)}/tokenizer.json`;
    const tokenizer = typeof flags.tokenizer === "string" ? flags.tokenizer : (await nodeHost.exists(besideData)) ? besideData : undefined;
    return { checkpoints: [{ path: flags.checkpoint }], data: [{ name: flags.data, path: flags.data }], model, tokenizer };
  }
  if (typeof flags.run !== "string") throw new UsageError(`${command}: --run DIR is required (a run directory made by the train command), or --checkpoint FILE --data FILE`);
  if (flags.model !== undefined || flags.tokenizer !== undefined) throw new UsageError(`${command}: --model and --tokenizer go with --checkpoint; a run directory has its own`);
  const dir = flags.run;
  if (!(await nodeHost.exists(dir))) throw new Error(`${command}: run directory ${dir} does not exist`);
  const checkpointDir = `${dir}/checkpoints`;
  const names = await readdir(checkpointDir).catch(() => {
    throw new Error(`${command}: ${checkpointDir} is missing; expected a run directory made by llc train`);
  });
  const available = names.map(heads.checkpointStepOf).filter((s): s is number => s !== undefined).sort((a, b) => a - b);
  if (available.length === 0) throw new Error(`${command}: no checkpoints (step-NNNNNN.safetensors) in ${checkpointDir}`);
  const spec = String(flags[stepFlag] ?? "last");
  if (stepFlag === "step" && !/^(last|\d+)$/.test(spec)) throw new UsageError(`--step: expected last or one step, got ${JSON.stringify(spec)}`);
  let steps: number[];
  try {
    steps = heads.selectCheckpointSteps(spec, available);
  } catch (e) {
    throw new UsageError(`--${stepFlag}: ${(e as Error).message}`);
  }
  const dataNames = String(flags.data ?? defaultData).split(",").map((d) => d.trim());
  for (const name of dataNames) if (name !== "mix" && name !== "prose" && name !== "code") throw new UsageError(`--data: expected mix, prose or code (or a comma-separated list), got ${JSON.stringify(name)}`);
  const data = [...new Set(dataNames)].map((name) => ({ name, path: `${dir}/data/${name}-heldout.safetensors` }));
  for (const d of data) if (!(await nodeHost.exists(d.path))) throw new Error(`${command}: ${d.path} is missing; the run's data directory holds the held-out token files`);
  const tokenizer = (await nodeHost.exists(`${dir}/data/tokenizer.json`)) ? `${dir}/data/tokenizer.json` : undefined;
  return { checkpoints: steps.map((step) => ({ path: runFiles(dir).checkpoint(step), step })), data, model: undefined, tokenizer };
}

/** --thresholds previous_token=0.4,current_token=0.4,induction=0.4,multigram_share=0.05 (any subset). */
function thresholdsFlag(flags: Flags): Record<string, number> | undefined {
  const v = flags.thresholds;
  if (v === undefined) return undefined;
  const known = ["previous_token", "current_token", "induction", "multigram_share"];
  const out: Record<string, number> = {};
  for (const part of String(v).split(",")) {
    const [name, value] = part.split("=").map((x) => x.trim());
    if (!known.includes(name)) throw new UsageError(`--thresholds: unknown name ${JSON.stringify(name)} (known: ${known.join(", ")})`);
    const n = value !== undefined && value !== "" ? Number(value) : NaN;
    if (!Number.isFinite(n)) throw new UsageError(`--thresholds: ${name} needs a number, got ${JSON.stringify(value)}`);
    out[name] = n;
  }
  return out;
}

function ablationFlag(flags: Flags): "mean" | "zero" {
  const v = flags.ablation ?? "mean";
  if (v !== "mean" && v !== "zero") throw new UsageError(`--ablation: expected mean or zero, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * `llc heads`: behaviour scores, ablation Δloss, multigrams and a label of every head
 * at checkpoints of a training run (src/analysis/heads.ts), one table per checkpoint
 * and data set; --json FILE writes them all (src/analysis/report.ts).
 */
async function headsCommand(flags: Flags): Promise<void> {
  const sequences = numberFlag(flags, "sequences", 64, true, 1);
  const options = {
    maxSequences: sequences, ablation: ablationFlag(flags), thresholds: thresholdsFlag(flags),
    multigrams: { minCount: numberFlag(flags, "min-count", 5, true, 1), delta: numberFlag(flags, "delta", 0.5, false, -Infinity) },
  };
  const variant = variantOf(flags);
  const inputs = await analysisInputs("heads", flags, "steps", "prose,code");
  const { headsReport } = await import("./analysis/report.ts");
  const quiet = flags.quiet === true;
  const report = await headsReport(nodeHost, { ...inputs, variant, onProgress: (line) => quiet || process.stderr.write(line + "\n") }, options);
  process.stdout.write(report.tables.join("\n"));
  if (typeof flags.json === "string") {
    await nodeHost.writeText(flags.json, JSON.stringify(report.json, null, 1) + "\n");
    if (!quiet) process.stderr.write(`wrote ${flags.json}\n`);
  }
}

/**
 * `llc circuits`: Q/K/V-composition scores between layer-0 and layer-1 heads and the
 * path-ablation Δloss of each (layer-0 head, layer-1 head, Q/K/V) path at one checkpoint.
 */
async function circuitsCommand(flags: Flags): Promise<void> {
  const options = {
    maxSequences: numberFlag(flags, "sequences", 64, true, 1), ablation: ablationFlag(flags), foldLn: flags["fold-ln"] === true,
    top: numberFlag(flags, "top", 10, true, 0),
  };
  const variant = variantOf(flags);
  const inputs = await analysisInputs("circuits", flags, "step", "mix");
  if (inputs.data.length !== 1) throw new UsageError("circuits: --data names one data set");
  const { circuitsReport } = await import("./analysis/report.ts");
  const quiet = flags.quiet === true;
  const report = await circuitsReport(nodeHost, { ...inputs, variant, onProgress: (line) => quiet || process.stderr.write(line + "\n") }, options);
  process.stdout.write(report.text);
  if (typeof flags.json === "string") {
    await nodeHost.writeText(flags.json, JSON.stringify(report.json, null, 1) + "\n");
    if (!quiet) process.stderr.write(`wrote ${flags.json}\n`);
  }
}

/**
 * `llc sweep`: the weight-refined LLC of heads (or any selectors) at checkpoints of a
 * training run, optionally data-refined (src/sweep.ts); JSONL rows, then a table.
 */
async function sweepCommand(flags: Flags): Promise<void> {
  if (flags.restrict !== undefined && flags.heads !== undefined) throw new UsageError("give --restrict SELECTORS or --heads, not both");
  const { readdir } = await import("node:fs/promises");
  const { checkpointStepOf } = await import("./analysis/heads.ts");
  const { runSweep, parseSelectorList, parseShard, SweepError } = await import("./sweep.ts");
  const run = String(flags.run);
  const available = (await readdir(`${run}/checkpoints`).catch(() => [] as string[]))
    .map(checkpointStepOf).filter((s): s is number => s !== undefined);
  const quiet = flags.quiet === true;
  const line = progressLine();
  const say = (text: string) => quiet || line.log(text);
  const started = nodeHost.now();
  let progress: ReturnType<typeof estimateProgress> | undefined; // of the estimate under way
  let shard: ReturnType<typeof parseShard> | undefined;
  try {
    shard = typeof flags.shard === "string" ? parseShard(flags.shard, process.env) : undefined;
  } catch (e) {
    throw e instanceof SweepError ? new UsageError(`--${e.message}`) : e;
  }
  const result = await runSweep(nodeHost, {
    shard,
    run,
    available,
    steps: typeof flags.steps === "string" ? flags.steps : undefined,
    restrict: typeof flags.restrict === "string" ? parseSelectorList(flags.restrict) : "heads",
    data: typeof flags.data === "string" ? flags.data : undefined,
    sampler: String(flags.sampler),
    samplerOverrides: samplerOverrides(flags),
    out: typeof flags.out === "string" ? flags.out : undefined,
    workers: workersOf(flags),
    spawn: nodeWorkers(),
    variant: variantOf(flags),
    // Rows are appended with nodeHost.appendText (write + datasync): each reaches the disk before the
    // next estimate starts, so a kill loses at most the estimate under way.
    onResume: (done, total, out) => say(`resuming: ${done} of ${total} estimates already in ${out}`),
    onStart: (pair) => {
      line.restart();
      progress = estimateProgress(line, () => nodeHost.now(), `[${pair.index + 1}/${pair.total}] step ${pair.step} ${pair.restrict}`);
    },
    onProgress: (p) => quiet || progress?.update(p),
    onRow: (row, pair) => {
      line.clear();
      const seconds = formatFixed((nodeHost.now() - started) / 1000, 0);
      const value = row.status === "error" ? `error: ${row.error}` : `λ̂ ${row["llc/mean"].toPrecision(4)} ± ${row["llc/std"]?.toPrecision(3) ?? "–"}`;
      say(`[${pair.index + 1}/${pair.total}] step ${row.step} ${row.restrict}: ${value}  (${seconds} s)`);
    },
  }).finally(() => line.clear());
  const errors = [...result.rows.values()].filter((r) => r.status === "error" || r.status === "diverged");
  const chains = [...result.rows.values()][0]?.sampler.chains;
  process.stdout.write(
    `refined LLC λ̂, mean ± std over ${chains} chains, data ${JSON.stringify(typeof flags.data === "string" ? flags.data : "mix")}; ` +
      `${result.estimated} estimated, ${result.skipped} already in ${result.out}\n\n${result.table}`,
  );
  if (errors.length)
    throw new Error(`${errors.length} of ${result.rows.size} estimates had a diverged chain (status "error" or "diverged" in ${result.out}, first: step ${errors[0].step} ${errors[0].restrict}: ${errors[0].error})`);
}

/** `llc merge`: the shard files of `llc sweep --shard K/N` into the single sweep's file (src/sweep-merge.ts). */
async function mergeCommand(flags: Flags, files: string[]): Promise<void> {
  const { mergeShards } = await import("./sweep-merge.ts");
  if (files.length === 0) throw new UsageError("expected the shard files after the flags, e.g. run/sweep.shard-*-of-3.jsonl");
  const result = await mergeShards(nodeHost, files, String(flags.out));
  process.stdout.write(`${result.rows.size} rows of ${files.length} shard(s) → ${result.out}\n\n${result.table}`);
}

/** An integer flag ≥ min, or undefined when absent. */
function intFlag(flags: Flags, name: string, min: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** Where a figure goes: DIR/BASE-WHAT.svg, DIR defaulting to the JSON file's directory and BASE to its name. */
function figurePath(dir: string | undefined, json: string | undefined, fallbackBase: string, what: string): string {
  const base = json ? json.replace(/^.*[\\/]/, "").replace(/\.json$/i, "") : fallbackBase;
  const where = dir ?? (json && /[\\/]/.test(json) ? json.replace(/[\\/][^\\/]*$/, "") : ".");
  return `${where}/${base}-${what}.svg`;
}

/**
 * `llc cluster`: developmental signatures (src/analysis/cluster.ts) — the heads'
 * λ̂ curves from sweep rows clustered per layer, compared with behaviour labels
 * and, with --sweep-code, with the code curves; a table, JSON and figures.
 */
async function clusterCommand(flags: Flags): Promise<void> {
  const { analyseSignatureFiles, formatSignatureTable, signatureJson, NORMALISE } = await import("./analysis/cluster.ts");
  const { signatureFigure, codeFigure } = await import("./analysis/figures.ts");
  const normalise = flags.normalise;
  if (normalise !== undefined && !NORMALISE.includes(normalise as never)) throw new UsageError(`--normalise: expected ${NORMALISE.join(", ")}, got ${JSON.stringify(normalise)}`);
  if (flags.grid !== undefined && flags.grid !== "log" && flags.grid !== "checkpoints") throw new UsageError(`--grid: expected log or checkpoints, got ${JSON.stringify(flags.grid)}`);
  const str = (v: string | true | undefined) => (typeof v === "string" ? v : undefined);
  const { analysis, warnings } = await analyseSignatureFiles(nodeHost, {
    sweep: String(flags.sweep), sweepCode: str(flags["sweep-code"]), heads: str(flags.heads), headsStep: intFlag(flags, "heads-step", 0),
    k: intFlag(flags, "k", 1), normalise: normalise as Normalise | undefined, grid: flags.grid as Grid | undefined, pooled: flags.pooled === true, seed: intFlag(flags, "seed", 0),
  });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(formatSignatureTable(analysis));
  const json = signatureJson(analysis) as unknown as SignatureJson;
  const jsonPath = str(flags.json);
  if (jsonPath) await nodeHost.writeText(jsonPath, JSON.stringify(json, null, 2) + "\n");
  if (jsonPath || typeof flags.svg === "string") {
    const written = [figurePath(str(flags.svg), jsonPath, "signatures", "wrllc")];
    await nodeHost.writeText(written[0], signatureFigure(json));
    if (analysis.code) {
      written.push(figurePath(str(flags.svg), jsonPath, "signatures", "code"));
      await nodeHost.writeText(written[1], codeFigure(json));
    }
    process.stderr.write(`wrote ${[jsonPath, ...written].filter(Boolean).join(", ")}\n`);
  }
}

/** `llc plot`: the SVG figures of the analysis JSON files (cluster, heads, circuits), next to each file or in --out DIR. */
async function plotCommand(flags: Flags): Promise<void> {
  if (flags.cluster === undefined && flags.heads === undefined && flags.circuits === undefined)
    throw new UsageError("plot: give at least one of --cluster FILE.json (llc cluster --json), --heads FILE.json (llc heads --json), --circuits FILE.json (llc circuits --json)");
  const figures = await import("./analysis/figures.ts");
  const results = await import("./analysis/results-json.ts");
  const out = typeof flags.out === "string" ? flags.out : undefined;
  const read = async (path: string | true) => {
    if (typeof path !== "string" || !(await nodeHost.exists(path))) throw new Error(`plot: ${path} does not exist`);
    return nodeHost.readText(path);
  };
  const written: string[] = [];
  const write = async (path: string, svg: string) => (await nodeHost.writeText(path, svg), written.push(path));
  if (flags.cluster !== undefined) {
    const json = JSON.parse(await read(flags.cluster));
    if (!json || typeof json !== "object" || !json.clusters || !json.curves || !Array.isArray(json.layers)) throw new Error(`plot: ${flags.cluster} is not the JSON of llc cluster --json (no "clusters", "curves", "layers")`);
    await write(figurePath(out, flags.cluster as string, "signatures", "wrllc"), figures.signatureFigure(json));
    if (json.code) await write(figurePath(out, flags.cluster as string, "signatures", "code"), figures.codeFigure(json));
  }
  if (flags.heads !== undefined) {
    const entries = results.readHeadsJson(await read(flags.heads), flags.heads as string);
    const entry = results.selectHeadsEntry(entries, flags.heads as string, { step: intFlag(flags, "step", 0), data: typeof flags.data === "string" ? flags.data : undefined, prefer: ["prose", "mix"] });
    await write(figurePath(out, flags.heads as string, "heads", "multigrams"), figures.multigramFigure(entry));
  }
  if (flags.circuits !== undefined) {
    const circuits = results.readCircuitsJson(await read(flags.circuits), flags.circuits as string);
    await write(figurePath(out, flags.circuits as string, "circuits", "circuits"), figures.circuitsFigure(circuits));
  }
  process.stdout.write(`wrote ${written.join(", ")}\n`);
}

// ── the command table: one entry per command (adding one is an entry plus its function) ──

const VARIANT: FlagSpec = { name: "variant", value: "simd|scalar", description: "the engine build (scalar: no SIMD; the same bits, slower)" };
const QUIET: FlagSpec = { name: "quiet", description: "no progress or notices on stderr" };
const WORKERS: FlagSpec = { name: "workers", value: "N", description: "run chains on N threads; the same result for any N (default: sampler.workers; 0 there = one per core)" };
const RUN: FlagSpec = { name: "run", value: "DIR", required: true, description: "a run directory made by llc train" };

const JSON_OUT: FlagSpec = { name: "json", value: "FILE", description: "write the results as JSON (schema in the README)" };
/** The inputs of an analysis command besides --run: one checkpoint and token file, or the run's held-out sets. */
const ANALYSIS_INPUT_FLAGS = (defaultData: string): FlagSpec[] => [
  { name: "data", value: "NAMES|FILE", description: `with --run: the held-out sets, mix, prose, code or a comma list (default ${defaultData}); with --checkpoint: a token file` },
  { name: "checkpoint", value: "FILE", description: "a TransformerLens-layout checkpoint (safetensors) instead of a run" },
  { name: "model", value: "FILE", description: "with --checkpoint: the model config (JSON) when its __metadata__ has none" },
  { name: "tokenizer", value: "FILE", description: "with --checkpoint: the tokenizer JSON, to decode tokens (default: tokenizer.json beside the data)" },
  { name: "sequences", value: "N", description: "sequences of the data used (default 64)" },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "estimate",
    summary: "the (refined) LLC λ̂ at trained weights w*, from a config and safetensors files",
    flags: [
      { name: "config", value: "FILE", required: true, description: "the estimate config (JSON; paths in it resolve against its directory)" },
      { name: "out", value: "FILE", description: "write the result here after every chain (a rerun resumes); without it, the result JSON goes to stdout" },
      { name: "force", description: "replace --out even when it holds another job's result, or this job's finished one" },
      WORKERS, QUIET, VARIANT, ...SAMPLER_FLAGS,
    ],
    reads: "the config's model (for a checkpoint of llc train it may be omitted: taken from the weights' __metadata__.model), loss, weights, data, sampler.*, restrict",
    notes: "Progress on stderr: one line over all chains (percentage, draws/s, ETA), redrawn in place on a terminal.",
    example: "llc estimate --config runs/rrr/case.json --out runs/rrr/result.json --chains 8 --draws 500",
    run: estimateCommand,
  },
  {
    name: "table",
    summary: "λ̂ of built-in models whose λ is known in closed form, beside the true λ (what npm start runs)",
    flags: [{ name: "quick", description: "fewer chains and draws (a smoke run)" }, VARIANT],
    reads: "no files: the cases are built in",
    example: "llc table --quick",
    run: tableCommand,
  },
  {
    name: "train",
    summary: "train the attention-only transformer on the built-in prose + code mix (resumes after a kill)",
    flags: [
      { name: "config", value: "FILE", description: "the training config (JSON); without it, the default config" },
      { name: "out", value: "DIR", description: "the run directory for the default config (default: run)" },
      QUIET, VARIANT,
    ],
    reads: "the config's model, data, optimizer, batch_size, steps, seed, checkpoints, eval_every, eval_sequences, repeat_every, repeat_source, out",
    notes: "Says what it will train, where and about how long (from a short calibration) before it starts; then steps/s and the ETA with each log line.",
    example: "llc train --out run",
    run: trainCommand,
  },
  {
    name: "heads",
    summary: "behaviour scores (previous-token, current-token, induction), ablation Δloss, multigrams and a label of every head, per checkpoint and data set",
    flags: [
      { ...RUN, required: false, description: "a run directory made by llc train (or --checkpoint FILE --data FILE)" },
      { name: "steps", value: "last|all|N,N,...", description: "the run's checkpoints (default last)" },
      ...ANALYSIS_INPUT_FLAGS("prose,code"),
      { name: "ablation", value: "mean|zero", description: "how a head's output is removed (default mean: its per-position mean over the data)" },
      { name: "min-count", value: "N", description: "a multigram is scored when it occurs at least N times in the data (default 5)" },
      { name: "delta", value: "X", description: "a head holds a multigram when ablating it raises that multigram's final-token loss by ≥ X nats (default 0.5)" },
      { name: "thresholds", value: "name=x,...", description: "label thresholds: previous_token, current_token, induction (default 0.4 each), multigram_share (default 0.05)" },
      JSON_OUT, QUIET, VARIANT,
    ],
    reads: "DIR/checkpoints/step-NNNNNN.safetensors (model from __metadata__), DIR/data/{prose,code,mix}-heldout.safetensors and tokenizer.json; or the files given",
    example: "llc heads --run run --steps 3000,6000 --json heads.json",
    run: headsCommand,
  },
  {
    name: "circuits",
    summary: "Q/K/V composition scores and path ablation between every layer-0 and layer-1 head at one checkpoint",
    flags: [
      { ...RUN, required: false, description: "a run directory made by llc train (or --checkpoint FILE --data FILE)" },
      { name: "step", value: "last|N", description: "the run's checkpoint (default last)" },
      ...ANALYSIS_INPUT_FLAGS("mix"),
      { name: "fold-ln", description: "fold ln1.w into W_Q, W_K, W_V before the composition scores" },
      { name: "ablation", value: "mean|zero", description: "how a layer-0 head's output is removed from a path (default mean)" },
      { name: "top", value: "N", description: "tokens whose loss each path changes most (default 10)" },
      JSON_OUT, QUIET, VARIANT,
    ],
    reads: "a checkpoint and a held-out token file (as for heads)",
    example: "llc circuits --run run --step 6000 --json circuits.json",
    run: circuitsCommand,
  },
  {
    name: "sweep",
    summary: "the refined LLC of each head (or selector) at each checkpoint of a training run: JSONL rows, then a table",
    flags: [
      RUN,
      { name: "sampler", value: "FILE.json", required: true, description: 'the "sampler" section of an estimate config, one for every estimate' },
      { name: "restrict", value: "l0h0,l1,...", description: "the selectors, each estimated on its own (default: every head)" },
      { name: "heads", description: "every head l{layer}h{head} (the default)" },
      { name: "steps", value: "last|all|N,N,...", description: "the checkpoints (default last)" },
      { name: "data", value: "mix|prose|code|FILE", description: "held-out set or token file (default mix)" },
      { name: "out", value: "FILE.jsonl", description: "rows as they finish, a rerun skips them (default DIR/sweep.jsonl; with --shard DIR/sweep.shard-K-of-N.jsonl)" },
      { name: "shard", value: "K/N|auto/N", description: "only shard K (1..N) of the cells, round-robin; auto: K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID (llc merge combines them)" },
      { ...WORKERS, description: "run each estimate's chains on N threads (default: sampler.workers if >= 1, else 1)" },
      QUIET, VARIANT, ...SAMPLER_FLAGS,
    ],
    reads: "the sampler file (sampler fields), DIR/checkpoints/*.safetensors (model from their __metadata__), DIR/data/*-heldout.safetensors",
    notes: "Progress on stderr: one line for the estimate under way (percentage over its chains, draws/s, ETA), a line per finished row.",
    example: "llc sweep --run run --heads --steps all --sampler sampler.json --chains 2",
    run: sweepCommand,
  },
  {
    name: "merge",
    summary: "combine the shard files of llc sweep --shard K/N into the file a single sweep of the same cells writes (same bytes)",
    positional: { usage: "SHARD...", description: "the N shard files (any order), e.g. run/sweep.shard-*-of-3.jsonl", max: 100_000 },
    flags: [{ name: "out", value: "FILE.jsonl", required: true, description: "the merged rows" }],
    reads: "shard JSONL files: a header line (shard, of, steps, selectors, data, sampler), then rows",
    notes: "Refuses a missing or repeated shard, a duplicated or missing cell, and shards made with another sampler, data, steps, selectors or checkpoints, naming the file and cell.",
    example: "llc merge --out run/sweep.jsonl run/sweep.shard-1-of-3.jsonl run/sweep.shard-2-of-3.jsonl run/sweep.shard-3-of-3.jsonl",
    run: mergeCommand,
  },
  {
    name: "cluster",
    summary: "developmental signatures: the heads' refined-LLC curves from sweep rows clustered by shape (k-means + average linkage, per layer), ARI against behaviour labels, prose vs code",
    flags: [
      { name: "sweep", value: "FILE.jsonl", required: true, description: "the rows of llc sweep --heads (the prose or mix curves)" },
      { name: "sweep-code", value: "FILE.jsonl", description: "rows of the same sweep on code: drLLC(code) / wrLLC(prose) and which heads split apart" },
      { name: "heads", value: "FILE.json", description: "llc heads --json output: the behaviour labels the clusters are compared with" },
      { name: "heads-step", value: "N", description: "the checkpoint whose labels are used (default the last)" },
      { name: "k", value: "K", description: "clusters per layer (default: chosen by silhouette over 2..8)" },
      { name: "normalise", value: "standardise|minmax|none", description: "each curve before clustering (default standardise)" },
      { name: "grid", value: "log|checkpoints", description: "resample curves on a uniform log(step) grid (default) or use the checkpoints as they are" },
      { name: "pooled", description: "cluster all heads together instead of per layer" },
      { name: "seed", value: "N", description: "k-means seed (default 0)" },
      { name: "json", value: "FILE", description: "write clusters, labels, ARI and curves as JSON" },
      { name: "svg", value: "DIR", description: "where the figures go (default beside --json)" },
    ],
    reads: "sweep JSONL rows (step, restrict l{L}h{H}, llc/mean, status), heads JSON",
    example: "llc cluster --sweep run/sweep.jsonl --sweep-code run/sweep-code.jsonl --heads heads.json --json signatures.json",
    run: clusterCommand,
  },
  {
    name: "plot",
    summary: "SVG figures of the analysis JSON files: signatures (llc cluster), multigrams per head (llc heads), composition and path-ablation heat maps (llc circuits)",
    flags: [
      { name: "cluster", value: "FILE.json", description: "llc cluster --json output" },
      { name: "heads", value: "FILE.json", description: "llc heads --json output" },
      { name: "step", value: "N", description: "with --heads: the checkpoint (default the last)" },
      { name: "data", value: "NAME", description: "with --heads: the data set (default prose, else mix)" },
      { name: "circuits", value: "FILE.json", description: "llc circuits --json output" },
      { name: "out", value: "DIR", description: "where the figures go (default beside each JSON file)" },
    ],
    reads: "the JSON files given",
    example: "llc plot --heads heads.json --circuits circuits.json --out figures",
    run: plotCommand,
  },
  {
    name: "example",
    summary: "write a built-in case as case.json + weights and data safetensors files; without NAME, list them",
    positional: { usage: "[NAME]", description: `the case: ${Object.keys(exampleCases).join(", ")}`, max: 1 },
    flags: [{ name: "dir", value: "DIR", description: "where to write the files (required with NAME)" }],
    reads: "no files: the cases are built in",
    example: "llc example rrr --dir runs/rrr",
    run: exampleCommand,
  },
  {
    name: "web",
    summary: "serve the browser page (the estimate runs in your browser's Workers; nothing is computed on the server)",
    flags: [
      { name: "port", value: "N", description: "the port (default 8080; 0: a free port)" },
      { name: "host", value: "H", description: "the address to listen on (default 127.0.0.1)" },
    ],
    reads: "the package's build/web and build/*.wasm; files you drop on the page stay in the browser",
    example: "llc web --port 8080",
    run: webCommand,
  },
];

const VERSION = `${ENGINE_NAME} ${ENGINE_VERSION}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const spec = COMMANDS.find((c) => c.name === command);
  try {
    if (command === "--version" || command === "-V" || command === "version") process.stdout.write(VERSION + "\n");
    else if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      const about = args[0] === undefined ? undefined : COMMANDS.find((c) => c.name === args[0]);
      if (args[0] !== undefined && !about) throw new UsageError(`unknown command ${JSON.stringify(args[0])}`);
      process.stdout.write(about ? commandHelp(about) : commandList(COMMANDS, `${VERSION}: local learning coefficients (LLC) by SGLD in WebAssembly`));
    } else if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    else if (wantsHelp(args)) process.stdout.write(commandHelp(spec));
    else {
      const { flags, positional } = parseCommandLine(spec, args);
      await spec.run(flags, positional);
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`llc: ${err.name === "Error" ? "" : err.name + ": "}${err.message}\n`);
    // A usage error: that command's usage only (the command list for an unknown command).
    if (err instanceof UsageError) process.stderr.write((spec ? commandUsage(spec) : `usage: llc COMMAND [flags]; commands: ${COMMANDS.map((c) => c.name).join(", ")} (llc help)`) + "\n");
    // LLC_DEBUG=1: the stack too, for reporting an internal error (a user error's message is enough).
    if (process.env.LLC_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
    return err.name === "UsageError" ? 2 : 1;
  }
}
