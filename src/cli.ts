/// <reference types="node" />
// The command line: `llc estimate`, `llc table` (the main job: analytic cases),
// `llc train` (the transformer), `llc heads` and `llc sweep` (head scores and
// refined LLCs over a training run), `llc example` (a built-in case as config +
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
import type { Grid, Normalise } from "./analysis/cluster.ts";
import type { SignatureJson } from "./analysis/figures.ts";

const USAGE = `usage:
  llc estimate --config FILE [--out FILE] [--quiet] [--variant simd|scalar] [--workers N]
                                                 --workers N: chains on N threads, same result (default: sampler.workers; 0 = one per core)
  llc table [--quick] [--variant simd|scalar]     LLC of built-in models with known λ
  llc train [--config FILE | --out DIR] [--quiet] [--variant simd|scalar]
                                                 train the transformer (default config without --config; resumes after a kill)
  llc heads --run DIR [--steps last|all|N,N,...] [--data mix|prose|code] [--sequences N]   head scores per checkpoint
  llc sweep --run DIR [--restrict l0h0,l0h1,... | --heads] [--steps last|all|N,N] [--data mix|prose|code|FILE] --sampler FILE.json
            [--out FILE.jsonl] [--workers N] [--quiet] [--variant simd|scalar]
                                                 refined LLC of each selector (default --heads: every head) at each checkpoint;
                                                 FILE.json: an estimate config's "sampler" section; rows go to --out (default
                                                 DIR/sweep.jsonl) as they finish and a rerun skips them; a table on stdout;
                                                 --workers N: chains on N threads (default: sampler.workers if >= 1, else 1)
  llc cluster --sweep FILE.jsonl [--sweep-code FILE.jsonl] [--heads FILE.json [--heads-step N]] [--k K] [--normalise standardise|minmax|none]
              [--grid log|checkpoints] [--pooled] [--seed N] [--json FILE] [--svg DIR]
                                                 cluster the heads' refined-LLC curves (k-means + average linkage, per layer), ARI vs labels
  llc plot [--cluster FILE.json] [--heads FILE.json [--step N] [--data D]] [--circuits FILE.json] [--out DIR]   SVG figures
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

/**
 * `llc heads`: previous-token, induction and ablation scores of every head at
 * checkpoints of a training run (src/analysis/heads.ts), one table per checkpoint.
 */
async function headsCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, { run: "value", steps: "value", data: "value", sequences: "value" });
  if (typeof flags.run !== "string") throw new UsageError("heads: --run DIR is required (a run directory made by llc train)");
  const dataName = flags.data ?? "mix";
  if (dataName !== "mix" && dataName !== "prose" && dataName !== "code") throw new UsageError(`--data: expected mix, prose or code, got ${JSON.stringify(dataName)}`);
  const sequencesText = flags.sequences ?? "64";
  const sequences = typeof sequencesText === "string" && /^[0-9]+$/.test(sequencesText) ? Number(sequencesText) : NaN;
  if (!Number.isSafeInteger(sequences) || sequences < 1) throw new UsageError(`--sequences: expected an integer >= 1, got ${JSON.stringify(sequencesText)}`);
  const { readdir } = await import("node:fs/promises");
  const heads = await import("./analysis/heads.ts");
  const { runFiles } = await import("./train.ts");
  const dir = flags.run;
  if (!(await nodeHost.exists(dir))) throw new Error(`heads: run directory ${dir} does not exist`);
  const checkpointDir = `${dir}/checkpoints`;
  const names = await readdir(checkpointDir).catch(() => {
    throw new Error(`heads: ${checkpointDir} is missing; expected a run directory made by llc train`);
  });
  const available = names.map(heads.checkpointStepOf).filter((s): s is number => s !== undefined).sort((a, b) => a - b);
  if (available.length === 0) throw new Error(`heads: no checkpoints (step-NNNNNN.safetensors) in ${checkpointDir}`);
  let steps: number[];
  try {
    steps = heads.selectCheckpointSteps(String(flags.steps ?? "last"), available);
  } catch (e) {
    throw new UsageError(`--steps: ${(e as Error).message}`);
  }
  const dataPath = `${dir}/data/${dataName}-heldout.safetensors`;
  if (!(await nodeHost.exists(dataPath))) throw new Error(`heads: ${dataPath} is missing; the run's data directory holds the held-out token files`);
  const dataBytes = await nodeHost.readBytes(dataPath);
  const wasm = await WebAssembly.compile(await nodeHost.wasmBytes("simd"));
  for (const step of steps) {
    const path = runFiles(dir).checkpoint(step);
    const checkpoint = heads.readCheckpoint(await nodeHost.readBytes(path), path);
    const data = heads.readHeldout(dataBytes, dataPath, checkpoint);
    const scores = heads.headScores(await createEngine(wasm, "simd"), checkpoint.model, checkpoint.weights, data, { maxSequences: sequences });
    process.stdout.write(
      `step ${step}: ${dataName} held-out loss ${scores.baseLoss.toFixed(4)} on ${scores.sequences} sequences of ${scores.seqLen}; ` +
        `induction on ${scores.inductionSequences} random sequences repeated after k = ${scores.inductionHalf}\n` +
        heads.formatHeadTable(scores.heads) + "\n",
    );
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
async function clusterCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    sweep: "value", "sweep-code": "value", heads: "value", "heads-step": "value", k: "value", normalise: "value",
    grid: "value", pooled: "flag", seed: "value", json: "value", svg: "value",
  });
  if (typeof flags.sweep !== "string") throw new UsageError("cluster: --sweep FILE.jsonl is required (the rows of llc sweep --heads)");
  const { analyseSignatureFiles, formatSignatureTable, signatureJson, NORMALISE } = await import("./analysis/cluster.ts");
  const { signatureFigure, codeFigure } = await import("./analysis/figures.ts");
  const normalise = flags.normalise;
  if (normalise !== undefined && !NORMALISE.includes(normalise as never)) throw new UsageError(`--normalise: expected ${NORMALISE.join(", ")}, got ${JSON.stringify(normalise)}`);
  if (flags.grid !== undefined && flags.grid !== "log" && flags.grid !== "checkpoints") throw new UsageError(`--grid: expected log or checkpoints, got ${JSON.stringify(flags.grid)}`);
  const str = (v: string | true | undefined) => (typeof v === "string" ? v : undefined);
  const { analysis, warnings } = await analyseSignatureFiles(nodeHost, {
    sweep: flags.sweep, sweepCode: str(flags["sweep-code"]), heads: str(flags.heads), headsStep: intFlag(flags, "heads-step", 0),
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
async function plotCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, { cluster: "value", heads: "value", step: "value", data: "value", circuits: "value", out: "value" });
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

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === "estimate") await estimateCommand(args);
    else if (command === "table") await tableCommand(args);
    else if (command === "train") await trainCommand(args);
    else if (command === "example") await exampleCommand(args);
    else if (command === "heads") await headsCommand(args);
    else if (command === "sweep") await sweepCommand(args);
    else if (command === "cluster") await clusterCommand(args);
    else if (command === "plot") await plotCommand(args);
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
