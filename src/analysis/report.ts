// The files behind `llc heads --json` and `llc circuits --json` (README "Head types
// and circuits"): checkpoints and token files read through a Host, the analyses run,
// JSON objects with the keys. Host-neutral; the CLI only parses flags.
import type { Host } from "../platform/host.ts";
import type { TransformerConfig } from "../config.ts";
import { createEngine, type Variant } from "../engine.ts";
import { tokenizerFromJSON } from "../data/tokenizer.ts";
import { readCheckpoint, readHeldout, headScores, headScoresJson, formatHeadTable, type HeadScoreOptions, type TokenDecoder, type Checkpoint } from "./heads.ts";
import { SKIP_GAPS, MULTIGRAM_MIN_COUNT, MULTIGRAM_DELTA, MULTIGRAM_TOP, CONTEXT_TOKENS } from "./multigrams.ts";
import { compositionScores, COMPOSITION_BASELINE_SAMPLES } from "./composition.ts";
import { pathAblation, PATH_TOP_TOKENS, type PathAblationOptions } from "./path-ablation.ts";
import { PROJECTIONS, type TokenChange } from "./ablation.ts";

export const HEADS_FORMAT = "llc-wasm/heads/1";
export const CIRCUITS_FORMAT = "llc-wasm/circuits/1";

/** A checkpoint file and its step (−1 when a bare state dict records none). */
export interface CheckpointInput {
  path: string;
  step?: number;
}
export interface DataInput {
  /** "prose", "code", "mix" for a run's held-out files, else the file's path. */
  name: string;
  path: string;
}

export interface ReportInputs {
  checkpoints: CheckpointInput[];
  data: DataInput[];
  /** Model config for state dicts without llc-train metadata (--model). */
  model?: TransformerConfig;
  /** tokenizer.json to decode tokens with (optional: without it, the text fields are null). */
  tokenizer?: string;
  variant?: Variant;
  onProgress?: (line: string) => void;
}

async function decoderOf(host: Host, path: string | undefined): Promise<TokenDecoder | undefined> {
  if (path === undefined) return undefined;
  const tokenizer = tokenizerFromJSON(await host.readText(path), path);
  return (ids) => ids.map((id) => tokenizer.decode([id]));
}

async function loadCheckpoint(host: Host, input: CheckpointInput, model: TransformerConfig | undefined): Promise<Checkpoint> {
  if (!(await host.exists(input.path))) throw new Error(`checkpoint ${input.path} does not exist`);
  return readCheckpoint(await host.readBytes(input.path), input.path, model);
}

const changeJson = (decode: TokenDecoder | undefined) => (p: TokenChange) => ({
  sequence: p.sequence, position: p.position, token: p.token, text: decode ? decode([p.token])[0] : null,
  context: p.context, context_text: decode ? decode(p.context).join("") : null, delta: p.delta,
});

export interface HeadsReport {
  json: object;
  /** One text table per (checkpoint, data set), as `llc heads` prints them. */
  tables: string[];
}

/** headScores for every checkpoint × data set; the JSON of `llc heads --json`. */
export async function headsReport(host: Host, inputs: ReportInputs, options: HeadScoreOptions = {}): Promise<HeadsReport> {
  const decode = await decoderOf(host, inputs.tokenizer);
  const variant = inputs.variant ?? "simd";
  const wasm = await WebAssembly.compile(await host.wasmBytes(variant));
  const multigrams = options.multigrams === false ? undefined : options.multigrams ?? {};
  const checkpoints: object[] = [];
  const tables: string[] = [];
  let thresholds: object | undefined;
  for (const input of inputs.checkpoints) {
    const checkpoint = await loadCheckpoint(host, input, inputs.model);
    const step = input.step ?? checkpoint.step;
    for (const data of inputs.data) {
      if (!(await host.exists(data.path))) throw new Error(`token file ${data.path} does not exist`);
      const tokens = readHeldout(await host.readBytes(data.path), data.path, checkpoint);
      const started = host.now();
      const scores = headScores(await createEngine(wasm, variant), checkpoint.model, checkpoint.weights, tokens, options);
      thresholds = scores.thresholds;
      inputs.onProgress?.(`step ${step} ${data.name}: ${scores.heads.length} heads in ${((host.now() - started) / 1000).toFixed(1)} s`);
      tables.push(
        `step ${step}: ${data.name} held-out loss ${scores.baseLoss.toFixed(4)} on ${scores.sequences} sequences of ${scores.seqLen}; ` +
          `induction on ${scores.inductionSequences} random sequences repeated after k = ${scores.inductionHalf}; ` +
          `${scores.ablation}-ablation` +
          (scores.multigrams ? `; ${Object.values(scores.multigrams.counted).reduce((a, b) => a + b, 0)} multigrams occur ≥ ${scores.multigrams.minCount} times` : "") +
          "\n" + formatHeadTable(scores.heads),
      );
      checkpoints.push({
        step, checkpoint: input.path, data: data.name, data_file: data.path,
        sequences: scores.sequences, seq_len: scores.seqLen, base_loss: scores.baseLoss,
        induction_sequences: scores.inductionSequences, induction_half: scores.inductionHalf,
        multigrams_counted: scores.multigrams?.counted ?? null,
        heads: headScoresJson(scores, decode),
      });
    }
  }
  const json = {
    format: HEADS_FORMAT,
    ablation: options.ablation ?? "mean",
    thresholds,
    multigram: multigrams
      ? {
          min_count: multigrams.minCount ?? MULTIGRAM_MIN_COUNT, delta: multigrams.delta ?? MULTIGRAM_DELTA, skip_gaps: [SKIP_GAPS.min, SKIP_GAPS.max],
          top: multigrams.top ?? MULTIGRAM_TOP, context: multigrams.context ?? CONTEXT_TOKENS,
        }
      : null,
    tokenizer: inputs.tokenizer ?? null,
    checkpoints,
  };
  return { json, tables };
}

export interface CircuitsOptions extends PathAblationOptions {
  foldLn?: boolean;
  baselineSamples?: number;
  seed?: number;
}

/** Composition scores and path ablation at one checkpoint on one data set; the JSON of `llc circuits --json`. */
export async function circuitsReport(host: Host, inputs: ReportInputs, options: CircuitsOptions = {}): Promise<{ json: object; text: string }> {
  if (inputs.checkpoints.length !== 1 || inputs.data.length !== 1) throw new RangeError("circuits: expected one checkpoint and one token file");
  const [input] = inputs.checkpoints, [data] = inputs.data;
  const decode = await decoderOf(host, inputs.tokenizer);
  const variant = inputs.variant ?? "simd";
  const checkpoint = await loadCheckpoint(host, input, inputs.model);
  if (!(await host.exists(data.path))) throw new Error(`token file ${data.path} does not exist`);
  const tokens = readHeldout(await host.readBytes(data.path), data.path, checkpoint);
  const engine = await createEngine(await host.wasmBytes(variant), variant);
  const composition = compositionScores(engine, checkpoint.model, checkpoint.weights, { foldLn: options.foldLn, samples: options.baselineSamples, seed: options.seed });
  const started = host.now();
  const paths = pathAblation(engine, checkpoint.model, checkpoint.weights, tokens, options);
  inputs.onProgress?.(`path ablation: ${3 * checkpoint.model.n_heads ** 2} forward passes in ${((host.now() - started) / 1000).toFixed(1)} s`);
  const toJson = changeJson(decode);
  const json = {
    format: CIRCUITS_FORMAT,
    step: input.step ?? checkpoint.step, checkpoint: input.path, data: data.name, data_file: data.path,
    fold_ln: options.foldLn ?? false, baseline_samples: options.baselineSamples ?? COMPOSITION_BASELINE_SAMPLES,
    ablation: paths.ablation, sequences: paths.sequences, seq_len: paths.seqLen, base_loss: paths.baseLoss,
    composition: { Q: composition.Q, K: composition.K, V: composition.V, baseline: composition.baseline },
    path_ablation: { Q: paths.Q, K: paths.K, V: paths.V },
    path_tokens: Object.fromEntries(PROJECTIONS.map((p) => [p, paths.tokens[p].map((row) => row.map((cell) => cell.map(toJson)))])),
    path_top_tokens: options.top ?? PATH_TOP_TOKENS,
  };
  const grid = (title: string, M: number[][], digits: number, signed: boolean) => {
    const cell = (x: number) => (signed && x >= 0 ? "+" : "") + x.toFixed(digits);
    const cells = M.map((row) => row.map(cell));
    const width = Math.max(...cells.flat().map((c) => c.length), 4);
    const header = "".padEnd(5) + M[0].map((_, j) => `1:${j}`.padStart(width)).join(" ");
    return `${title}\n${header}\n` + cells.map((row, i) => `0:${i}`.padEnd(5) + row.map((c) => c.padStart(width)).join(" ")).join("\n") + "\n";
  };
  const text = [
    `step ${json.step}: composition scores (layer-0 head i → layer-1 head j, ${json.fold_ln ? "ln1.w folded" : "weights as stored"}); random baseline ${composition.baseline.toFixed(4)}`,
    ...PROJECTIONS.map((p) => grid(`${p}-composition`, composition[p], 3, false)),
    `path ablation on ${data.name}: Δloss (nats) with head 0:i ${paths.ablation}-ablated in the input of head 1:j's query, key or value only; intact loss ${paths.baseLoss.toFixed(4)} on ${paths.sequences} sequences`,
    ...PROJECTIONS.map((p) => grid(`${p} path`, paths[p], 4, true)),
  ].join("\n");
  return { json, text };
}
