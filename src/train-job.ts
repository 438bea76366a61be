// `llc train`: a training run from a config file into a run directory — data
// (tokenizer, token datasets) prepared and cached there, checkpoints on the
// paper's schedule, a JSONL log, and resume from the last checkpoint after a kill.
import type { Host } from "./platform/host.ts";
import { createEngine, type Variant } from "./engine.ts";
import {
  ConfigError, expectArrayOf, expectInteger, expectNumber, expectNumberOr, expectObject, expectOneOf, expectString,
  joinField, parseJsonConfig, parseModel, type TransformerConfig,
} from "./config.ts";
import { prepareData, type DataSpec } from "./data/prepare.ts";
import type { ReadText } from "./data/corpora.ts";
import { tokenizerHash } from "./data/tokenizer.ts";
import { writeSafetensors } from "./io/safetensors.ts";
import { JsonError, parseJsonLines } from "./io/json.ts";
import { modelLayout } from "./models.ts";
import { checkpointSet, decodeOptimizerState, runFiles, trainTransformer, type OptimizerConfig, type TrainLogLine, type TrainRunSettings } from "./train.ts";

export interface TrainConfig extends TrainRunSettings {
  name?: string;
  data: DataSpec;
  /** Run directory, relative to the config file. */
  out: string;
}

export const TRAIN_DEFAULTS = {
  data: { vocab_size: 1024, max_bytes_per_corpus: 8_000_000, heldout_every: 10 } as DataSpec,
  optimizer: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.05, max_grad_norm: 1, warmup_steps: 0 } as OptimizerConfig,
  batch_size: 16,
  steps: 5000,
  seed: 42,
  checkpoints: "paper" as const,
  eval_every: 100,
  eval_sequences: 128,
  repeat_every: 0,
  repeat_source: "data" as const,
};

/**
 * The model `llc train` trains by default: 2 layers, 8 heads, attention only, as in
 * Wang et al. 2024 but smaller (d_model 64, n_ctx 64). d_head is 16, not
 * d_model/n_heads = 8: an induction head matches the current token against the
 * previous-token head's copy of the key's predecessor through a rank-d_head
 * bilinear form over a 1024-token vocabulary. On copying sequences alone (2000
 * steps, batch 32, n_ctx 64) 4 heads of d_head 16 started copying sooner than 8 of d_head 8 and
 * ended lower (loss 3.42 vs 3.72; 3.4 is the optimum there).
 */
export const DEFAULT_TRAIN_MODEL: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 8, d_model: 64, d_head: 16, n_ctx: 64, d_vocab: 1024,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};

/**
 * `llc train` without --config: the default model on the built-in prose + code mix,
 * every second sequence replaced by random tokens written periodically (repeat_every
 * 2, repeat_source "random"). At this scale natural text alone does not form
 * induction heads in a run of minutes (Olsson et al. 2022 see them form after
 * billions of tokens; this run sees 12 million), so the copying task is offered
 * directly; the previous-token heads it needs form along with it. Weight decay is
 * off so the rarely seen random tokens' embeddings are not shrunk away.
 */
export const DEFAULT_TRAIN_CONFIG = {
  name: "attn-only-2l",
  model: DEFAULT_TRAIN_MODEL,
  data: { vocab_size: DEFAULT_TRAIN_MODEL.d_vocab },
  optimizer: { weight_decay: 0 },
  batch_size: 32,
  steps: 6000,
  repeat_every: 2,
  repeat_source: "random" as const,
  out: "run",
};

const or = <T>(value: unknown, fallback: T, parse: (v: unknown) => T): T => (value === undefined ? fallback : parse(value));

export function parseTrainConfig(raw: unknown): TrainConfig {
  const keys = ["$schema", "comment", "name", "model", "data", "optimizer", "batch_size", "steps", "seed", "checkpoints", "eval_every", "eval_sequences", "repeat_every", "repeat_source", "out"];
  const f = expectObject(raw, "", keys);
  const model = parseModel(f.model, "model");
  if (model.kind !== "transformer") throw new ConfigError("model.kind", `expected "transformer" (llc train trains the language model), got ${JSON.stringify(model.kind)}`);
  const d = TRAIN_DEFAULTS;
  const dataRaw = or(f.data, {}, (v) => expectObject(v, "data", ["vocab_size", "max_bytes_per_corpus", "heldout_every"]));
  const data: DataSpec = {
    vocab_size: or(dataRaw.vocab_size, d.data.vocab_size, (v) => expectInteger(v, "data.vocab_size", { min: 257 })),
    max_bytes_per_corpus: or(dataRaw.max_bytes_per_corpus, d.data.max_bytes_per_corpus, (v) => expectInteger(v, "data.max_bytes_per_corpus", { min: 1 })),
    heldout_every: or(dataRaw.heldout_every, d.data.heldout_every, (v) => expectInteger(v, "data.heldout_every", { min: 2 })),
  };
  if (data.vocab_size !== model.d_vocab) throw new ConfigError("data.vocab_size", `expected the model's d_vocab (${model.d_vocab}), got ${data.vocab_size}`);
  const o = or(f.optimizer, {}, (v) => expectObject(v, "optimizer", ["lr", "betas", "eps", "weight_decay", "max_grad_norm", "warmup_steps"]));
  const at = (key: string) => joinField("optimizer", key);
  const optimizer: OptimizerConfig = {
    lr: or(o.lr, d.optimizer.lr, (v) => expectNumber(v, at("lr"), { greaterThan: 0 })),
    betas: or(o.betas, d.optimizer.betas, (v) => {
      const b = expectArrayOf(v, at("betas"), (x, field) => expectNumber(x, field, { min: 0, lessThan: 1 }), { minLength: 2, expected: "[beta1, beta2] in [0, 1)" });
      if (b.length !== 2) throw new ConfigError(at("betas"), `expected two numbers [beta1, beta2], got ${b.length}`);
      return [b[0], b[1]] as [number, number];
    }),
    eps: or(o.eps, d.optimizer.eps, (v) => expectNumber(v, at("eps"), { greaterThan: 0 })),
    weight_decay: or(o.weight_decay, d.optimizer.weight_decay, (v) => expectNumber(v, at("weight_decay"), { min: 0 })),
    max_grad_norm: or(o.max_grad_norm, d.optimizer.max_grad_norm, (v) => expectNumberOr(v, at("max_grad_norm"), [null], { greaterThan: 0 })),
    warmup_steps: or(o.warmup_steps, d.optimizer.warmup_steps, (v) => expectInteger(v, at("warmup_steps"), { min: 0 })),
  };
  const steps = or(f.steps, d.steps, (v) => expectInteger(v, "steps", { min: 1 }));
  const config: TrainConfig = {
    model: model as TransformerConfig,
    data,
    optimizer,
    batch_size: or(f.batch_size, d.batch_size, (v) => expectInteger(v, "batch_size", { min: 1 })),
    steps,
    seed: or(f.seed, d.seed, (v) => expectInteger(v, "seed", { min: 0, max: 2 ** 32 - 1 })),
    checkpoints: or(f.checkpoints, d.checkpoints, (v) =>
      v === "paper" ? "paper" : expectArrayOf(v, "checkpoints", (x, field) => expectInteger(x, field, { min: 0, max: steps }), { expected: '"paper" or a list of steps' })),
    eval_every: or(f.eval_every, d.eval_every, (v) => expectInteger(v, "eval_every", { min: 1 })),
    eval_sequences: or(f.eval_sequences, d.eval_sequences, (v) => expectInteger(v, "eval_sequences", { min: 1 })),
    repeat_every: or(f.repeat_every, d.repeat_every, (v) => expectInteger(v, "repeat_every", { min: 0 })),
    repeat_source: or(f.repeat_source, d.repeat_source, (v) => expectOneOf(v, "repeat_source", ["data", "random"])),
    out: expectString(f.out ?? "run", "out", { nonEmpty: true }),
  };
  if (f.name !== undefined) config.name = expectString(f.name, "name");
  return config;
}

export interface TrainJobOptions {
  variant?: Variant;
  /**
   * Where the corpora's npm packages are (data/corpora.ts): a node_modules directory,
   * or a reader of their files (Node: nodePackageReader() of llc-wasm/node, which
   * finds each package by module resolution). Read only when the run has no data yet.
   */
  nodeModules: string | ReadText;
  onLog?: (line: TrainLogLine) => void;
  onResume?: (step: number) => void;
}

export class TrainJobError extends Error {
  override readonly name = "TrainJobError";
}

const RUN_CONFIG_FORMAT = "llc-wasm/train-config/1";

/**
 * The part of a training config that decides the run's bits and its log: everything
 * but `steps` and `checkpoints` (a run may be extended, or checkpointed more densely,
 * without changing a step it already took), `name` and `out`.
 */
export function runDefiningConfig(config: TrainConfig): Record<string, unknown> {
  const { steps: _steps, checkpoints: _checkpoints, name: _name, out: _out, ...rest } = config;
  return rest as unknown as Record<string, unknown>;
}

/** Dotted paths whose values differ between two JSON values, as "optimizer.lr: 0.001 in the run, 0.03 now". */
export function configDifferences(run: unknown, now: unknown, path = ""): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObject(run) && isObject(now)) {
    const keys = [...new Set([...Object.keys(run), ...Object.keys(now)])];
    return keys.flatMap((k) => configDifferences(run[k], now[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(run) === JSON.stringify(now)) return [];
  return [`${path}: ${JSON.stringify(run) ?? "absent"} in the run, ${JSON.stringify(now) ?? "absent"} now`];
}

/** The lines of a training log up to `step` (a torn last line is dropped); a line that is not a log line is a JsonError naming the file and line. */
export function logLinesUpTo(text: string, source: string, step: number): string[] {
  return parseJsonLines(text, source).values.filter(({ value, line, text }) => {
    const at = (value as Partial<TrainLogLine> | null)?.step;
    if (typeof at !== "number") throw new JsonError(`${source}:${line}`, `not a line of the training log (no "step"): ${text.slice(0, 60)}`);
    return at <= step;
  }).map((l) => l.text);
}

/**
 * Runs (or resumes) the training described by a config file — or by a config
 * object whose `out` resolves against `baseDir` — and returns the run directory.
 * The run directory records its config (config.json): a rerun with a config that
 * would change the run's bits is refused, naming the fields that differ.
 */
export async function runTrainingJob(
  host: Host, source: string | { config: unknown; baseDir: string }, options: TrainJobOptions,
): Promise<{ dir: string; step: number }> {
  const config = typeof source === "string"
    ? parseJsonConfig(await host.readText(source), source, parseTrainConfig)
    : parseTrainConfig(source.config);
  const dir = typeof source === "string" ? host.resolve(source, config.out) : host.resolve(`${source.baseDir}/config.json`, config.out);
  const files = runFiles(dir);
  const runConfigPath = `${dir}/config.json`;
  const schedule = [...checkpointSet(config)];

  // Before any work: the run's recorded config must agree, and every file the run
  // writes must be writable (stale temp files of killed writes are removed).
  const defining = runDefiningConfig(config);
  if (await host.exists(runConfigPath)) {
    let recorded: unknown;
    try {
      recorded = JSON.parse(await host.readText(runConfigPath));
    } catch {
      throw new TrainJobError(`${runConfigPath} is not JSON; expected the config llc train records in its run directory`);
    }
    const stored = (recorded as { config?: unknown })?.config;
    const differences = configDifferences(stored, defining);
    if (differences.length)
      throw new TrainJobError(`${dir} was trained with another config; resuming would mix two runs in one directory (${differences.join("; ")}): ` +
        `give another "out", or restore those fields`);
  }
  if (host.prepareOutput) {
    for (const path of [runConfigPath, files.log, files.optimizerState, ...schedule.map(files.checkpoint)]) await host.prepareOutput(path);
    for (const name of ["tokenizer.json", "mix-train.safetensors", "mix-heldout.safetensors", "prose-heldout.safetensors", "code-heldout.safetensors"])
      await host.prepareOutput(`${dir}/data/${name}`);
  }
  await host.writeText(runConfigPath, JSON.stringify({ format: RUN_CONFIG_FORMAT, config: defining }, null, 1) + "\n");

  const data = await prepareData(host, options.nodeModules, `${dir}/data`, config.data, config.model.n_ctx);
  // Empty batches would "train" to the end on nothing, and a held-out loss over no sequence is 0/0.
  if (data.train.nSeq < 1)
    throw new ConfigError("data.max_bytes_per_corpus", `the corpora give 0 training sequences of ${config.model.n_ctx} tokens (n_ctx) at ${config.data.max_bytes_per_corpus} bytes per corpus; give more bytes`);
  if (data.heldout.nSeq < 1)
    throw new ConfigError("data.heldout_every", `the held-out split has 0 sequences (every ${config.data.heldout_every}th of ${data.train.nSeq} sequences), too few to evaluate; give a smaller heldout_every or a larger max_bytes_per_corpus`);
  const variant = options.variant ?? "simd";
  const engine = await createEngine(await host.wasmBytes(variant), variant);
  const padded = modelLayout(config.model).padded;

  let resume;
  if (await host.exists(files.optimizerState)) {
    resume = decodeOptimizerState(await host.readBytes(files.optimizerState), padded, files.optimizerState);
    options.onResume?.(resume.step);
  }
  // The log keeps what happened up to the checkpoint resumed from (nothing for a fresh
  // run); later lines are redone, and each new line reaches the disk as it is logged.
  const logLines = resume && (await host.exists(files.log)) ? logLinesUpTo(await host.readText(files.log), files.log, resume.step) : [];
  if (resume && resume.step >= config.steps) return { dir, step: resume.step };
  let logText = logLines.map((l) => l + "\n").join("");
  await host.writeText(files.log, logText);
  const metadata = (step: number) => ({
    format: "llc-wasm/checkpoint/1",
    model: JSON.stringify(config.model),
    step: String(step),
    tokenizer_hash: tokenizerHash(data.tokenizer),
    ...(config.name ? { name: config.name } : {}),
  });
  const result = await trainTransformer(engine, config, data.train, data.heldout, {
    async checkpoint(step, weights, optimizerState) {
      await host.writeBytes(files.checkpoint(step), writeSafetensors(weights, metadata(step)));
      await host.writeBytes(files.optimizerState, optimizerState); // last: a resume never runs ahead of its checkpoint
    },
    async log(line) {
      const text = JSON.stringify(line) + "\n";
      logText += text;
      if (host.appendText) await host.appendText(files.log, text);
      else await host.writeText(files.log, logText);
      options.onLog?.(line);
    },
  }, resume);
  return { dir, step: result.step };
}
