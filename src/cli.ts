/// <reference types="node" />
// The command line: `llc estimate`, `llc table` (the main job: analytic cases),
// `llc train` (the transformer), `llc heads`, `llc circuits` and `llc sweep` (head
// scores, circuits and refined LLCs over a training run), `llc example` (a built-in case as config +
// safetensors files).
import { fileURLToPath } from "node:url";
import { nodeHost } from "./platform/node.ts";
import { runTrainingJob, DEFAULT_TRAIN_CONFIG } from "./train-job.ts";
import { nodeWorkers } from "./platform/node-workers.ts";
import { runEstimateJob, resultJson } from "./job.ts";
import { createEngine, type Variant } from "./engine.ts";
import { estimate } from "./estimator.ts";
import { builtinCases, exampleCases } from "./cases.ts";
import { writeSafetensors } from "./io/safetensors.ts";
import type { Progress } from "./sampler.ts";

const USAGE = `usage:
  llc estimate --config FILE [--out FILE] [--quiet] [--variant simd|scalar] [--workers N]
                                                 --workers N: chains on N threads, same result (default: sampler.workers; 0 = one per core)
  llc table [--quick] [--variant simd|scalar]     LLC of built-in models with known λ
  llc train [--config FILE | --out DIR] [--quiet] [--variant simd|scalar]
                                                 train the transformer (default config without --config; resumes after a kill)
  llc heads (--run DIR [--steps last|all|N,N,...] [--data prose,code|mix] | --checkpoint FILE --data FILE [--model FILE] [--tokenizer FILE])
            [--sequences N] [--ablation mean|zero] [--min-count N] [--delta X] [--thresholds name=x,...] [--json FILE]
                                                 behaviour scores, ablation, multigrams and a label per head and checkpoint
  llc circuits (--run DIR [--step last|N] [--data mix|prose|code] | --checkpoint FILE --data FILE [--model FILE] [--tokenizer FILE])
            [--fold-ln] [--sequences N] [--ablation mean|zero] [--top N] [--json FILE]
                                                 composition scores and path ablation, layer-0 → layer-1 heads
  llc sweep --run DIR [--restrict l0h0,l0h1,... | --heads] [--steps last|all|N,N] [--data mix|prose|code|FILE] --sampler FILE.json
            [--out FILE.jsonl] [--workers N] [--quiet] [--variant simd|scalar]
                                                 refined LLC of each selector (default --heads: every head) at each checkpoint;
                                                 FILE.json: an estimate config's "sampler" section; rows go to --out (default
                                                 DIR/sweep.jsonl) as they finish and a rerun skips them; a table on stdout;
                                                 --workers N: chains on N threads (default: sampler.workers if >= 1, else 1)
  llc example NAME --dir DIR                     write a built-in case (${Object.keys(exampleCases).join(", ")})
  llc help`;

export class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`);
    this.name = "UsageError";
  }
}

type Flags = Record<string, string | true>;

/** Parse `--name value` / `--flag` pairs, rejecting anything not in `known`. */
export function parseFlags(args: string[], known: Record<string, "value" | "flag">): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (name === undefined || !(name in known)) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    if (known[name] === "flag") {
      flags[name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`--${name}: expected a value`);
    flags[name] = value;
  }
  return flags;
}

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

/** A progress line on stderr, only once a run has lasted a second. */
function progressReporter(quiet: boolean): (p: Progress) => void {
  const start = nodeHost.now();
  let last = 0;
  return (p) => {
    const now = nodeHost.now();
    if (quiet || now - start < 1000 || now - last < 500) return;
    last = now;
    process.stderr.write(`chain ${p.chain} draw ${p.draw + 1}/${p.draws} loss ${p.loss.toPrecision(6)}\n`);
  };
}

async function estimateCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, { config: "value", out: "value", quiet: "flag", variant: "value", workers: "value" });
  if (typeof flags.config !== "string") throw new UsageError("estimate: --config FILE is required");
  const out = typeof flags.out === "string" ? flags.out : undefined;
  const quiet = flags.quiet === true;
  const result = await runEstimateJob(nodeHost, flags.config, {
    out,
    variant: variantOf(flags),
    workers: workersOf(flags),
    spawn: nodeWorkers(),
    onProgress: progressReporter(quiet),
    onResume: (n) => quiet || process.stderr.write(`resuming: ${n} chain(s) already in ${out}\n`),
  });
  if (!out) process.stdout.write(resultJson(result));
  else if (!quiet) process.stderr.write(`llc/mean ${result["llc/mean"]} ± ${result["llc/std"]} → ${out}\n`);
}

async function tableCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, { quick: "flag", variant: "value" });
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
      c.name, c.trueLambda.toFixed(3), c.source,
      `${r["llc/mean"].toFixed(3)} ± ${(r["llc/std"] ?? NaN).toFixed(3)} (${c.config.sampler.chains})`,
      r["mala_accept/mean"] === null ? "–" : r["mala_accept/mean"].toFixed(3), `${seconds.toFixed(2)} s`,
    ]);
  }
}

async function trainCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, { config: "value", out: "value", quiet: "flag", variant: "value" });
  if (typeof flags.config === "string" && typeof flags.out === "string") throw new UsageError("train: give --config FILE (its \"out\" names the run directory) or --out DIR (the default config), not both");
  const source = typeof flags.config === "string"
    ? flags.config
    : { config: { ...DEFAULT_TRAIN_CONFIG, out: typeof flags.out === "string" ? flags.out : DEFAULT_TRAIN_CONFIG.out }, baseDir: process.cwd() };
  const quiet = flags.quiet === true;
  const say = (text: string) => quiet || process.stderr.write(text + "\n");
  const started = nodeHost.now();
  const { dir, step } = await runTrainingJob(nodeHost, source, {
    variant: variantOf(flags),
    nodeModules: fileURLToPath(new URL("../node_modules", import.meta.url)), // src/ and build/ both sit beside it
    onResume: (s) => say(`resuming from the checkpoint at step ${s}`),
    onLog: (l) => {
      const seconds = ((nodeHost.now() - started) / 1000).toFixed(0);
      if (l.heldout_loss !== undefined) say(`step ${l.step}  held-out loss ${l.heldout_loss.toFixed(4)}  (${seconds} s)`);
      else say(`step ${l.step}  loss ${l.loss?.toFixed(4)}  grad norm ${l.grad_norm?.toFixed(3)}  lr ${l.lr?.toExponential(2)}`);
    },
  });
  say(`trained to step ${step}: checkpoints and log.jsonl in ${dir}`);
}

async function exampleCommand(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  const make = exampleCases[name as keyof typeof exampleCases];
  if (!make) throw new UsageError(`example: unknown case ${JSON.stringify(name)} (known: ${Object.keys(exampleCases).join(", ")})`);
  const flags = parseFlags(rest, { dir: "value" });
  if (typeof flags.dir !== "string") throw new UsageError("example: --dir DIR is required");
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
  if (typeof flags.run !== "string") throw new UsageError(`${command}: --run DIR is required (a run directory made by llc train), or --checkpoint FILE --data FILE`);
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
async function headsCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    run: "value", steps: "value", data: "value", sequences: "value", json: "value", checkpoint: "value", model: "value", tokenizer: "value",
    ablation: "value", "min-count": "value", delta: "value", thresholds: "value", quiet: "flag", variant: "value",
  });
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
async function circuitsCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    run: "value", step: "value", data: "value", sequences: "value", json: "value", checkpoint: "value", model: "value", tokenizer: "value",
    ablation: "value", "fold-ln": "flag", top: "value", quiet: "flag", variant: "value",
  });
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
async function sweepCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    run: "value", restrict: "value", heads: "flag", steps: "value", data: "value", sampler: "value",
    out: "value", workers: "value", quiet: "flag", variant: "value",
  });
  if (typeof flags.run !== "string") throw new UsageError("sweep: --run DIR is required (a run directory made by llc train)");
  if (typeof flags.sampler !== "string") throw new UsageError('sweep: --sampler FILE.json is required (the "sampler" section of an estimate config)');
  if (flags.restrict !== undefined && flags.heads !== undefined) throw new UsageError("sweep: give --restrict SELECTORS or --heads, not both");
  const { readdir, open } = await import("node:fs/promises");
  const { checkpointStepOf } = await import("./analysis/heads.ts");
  const { runSweep, parseSelectorList } = await import("./sweep.ts");
  const run = flags.run;
  const available = (await readdir(`${run}/checkpoints`).catch(() => [] as string[]))
    .map(checkpointStepOf).filter((s): s is number => s !== undefined);
  const quiet = flags.quiet === true;
  const say = (text: string) => quiet || process.stderr.write(text + "\n");
  const started = nodeHost.now();
  let lastProgress = 0;
  const result = await runSweep(nodeHost, {
    run,
    available,
    steps: typeof flags.steps === "string" ? flags.steps : undefined,
    restrict: typeof flags.restrict === "string" ? parseSelectorList(flags.restrict) : "heads",
    data: typeof flags.data === "string" ? flags.data : undefined,
    sampler: flags.sampler,
    out: typeof flags.out === "string" ? flags.out : undefined,
    workers: workersOf(flags),
    spawn: nodeWorkers(),
    variant: variantOf(flags),
    // Each row reaches the disk before the next estimate starts: a kill loses at most the estimate under way.
    async appendText(path, text) {
      const file = await open(path, "a");
      try {
        await file.write(text);
        await file.datasync();
      } finally {
        await file.close();
      }
    },
    onResume: (done, total, out) => say(`resuming: ${done} of ${total} estimates already in ${out}`),
    onProgress: (p) => {
      const now = nodeHost.now();
      if (quiet || now - lastProgress < 2000) return;
      lastProgress = now;
      process.stderr.write(`  step ${p.step} ${p.restrict}: chain ${p.chain} draw ${p.draw + 1}/${p.draws} loss ${p.loss.toPrecision(6)}\n`);
    },
    onRow: (row, pair) => {
      lastProgress = nodeHost.now();
      const seconds = ((nodeHost.now() - started) / 1000).toFixed(0);
      const value = row.status === "error" ? `error: ${row.error}` : `λ̂ ${row["llc/mean"].toPrecision(4)} ± ${row["llc/std"]?.toPrecision(3) ?? "–"}`;
      say(`[${pair.index + 1}/${pair.total}] step ${row.step} ${row.restrict}: ${value}  (${seconds} s)`);
    },
  });
  const errors = [...result.rows.values()].filter((r) => r.status === "error");
  const chains = [...result.rows.values()][0]?.sampler.chains;
  process.stdout.write(
    `refined LLC λ̂, mean ± std over ${chains} chains, data ${JSON.stringify(typeof flags.data === "string" ? flags.data : "mix")}; ` +
      `${result.estimated} estimated, ${result.skipped} already in ${result.out}\n\n${result.table}`,
  );
  if (errors.length)
    throw new Error(`${errors.length} of ${result.rows.size} estimates diverged (status "error" in ${result.out}, first: step ${errors[0].step} ${errors[0].restrict}: ${errors[0].error})`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === "estimate") await estimateCommand(args);
    else if (command === "table") await tableCommand(args);
    else if (command === "train") await trainCommand(args);
    else if (command === "example") await exampleCommand(args);
    else if (command === "heads") await headsCommand(args);
    else if (command === "circuits") await circuitsCommand(args);
    else if (command === "sweep") await sweepCommand(args);
    else if (command === "help" || command === "--help" || command === undefined) process.stdout.write(USAGE + "\n");
    else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`llc: ${err.name === "Error" ? "" : err.name + ": "}${err.message}\n`);
    // LLC_DEBUG=1: the stack too, for reporting an internal error (a user error's message is enough).
    if (process.env.LLC_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
    return err.name === "UsageError" ? 2 : 1;
  }
}
