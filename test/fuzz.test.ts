// Seeded fuzzing of every parser the engine exposes: safetensors files, checkpoints
// and optimizer state, token files, configs (estimate, train, sweep sampler),
// sweep rows, the training log, result files, the tokenizer JSON, and the estimate
// job end to end (config, weights and data through the engine). Valid inputs are
// mutated (bit flips, truncations, splices, repeats, deep nesting, huge numbers,
// absurd length prefixes); every mutant must end in a result or in one of the
// engine's own errors, never a bare RangeError / TypeError / SyntaxError, a plain
// Error or a WebAssembly trap.
//
// The seed is fixed, so a failure reproduces: the message names the target, the
// iteration and the seed. `npm test` runs FUZZ_DEFAULT iterations per target;
// `npm run fuzz` many more (LLC_FUZZ_ITERATIONS, LLC_FUZZ_SEED to change them).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32, scratchDir } from "./helpers.ts";
import { readSafetensors, tensorToFloat64, writeSafetensors, type Tensor } from "../src/io/safetensors.ts";
import { parseConfigText, parseJsonConfig, parseSamplerConfig } from "../src/config.ts";
import { readTokenSplit, writeTokenSplit, buildTokenDataset } from "../src/data/tokens.ts";
import { trainTokenizer, tokenizerFromJSON, tokenizerToJSON } from "../src/data/tokenizer.ts";
import { parseRows, parseSweepSampler } from "../src/sweep.ts";
import { mergeShards } from "../src/sweep-merge.ts";
import type { Host } from "../src/platform/host.ts";
import { logLinesUpTo, parseTrainConfig, DEFAULT_TRAIN_CONFIG } from "../src/train-job.ts";
import { decodeOptimizerState, encodeOptimizerState } from "../src/train.ts";
import { readCheckpoint } from "../src/analysis/heads.ts";
import { chainsToResume } from "../src/io/results.ts";
import { JsonError, parseJson } from "../src/io/json.ts";
import { modelLayout } from "../src/models.ts";
import { runEstimateJob, resultJson } from "../src/job.ts";
import { nodeHost } from "../src/platform/node.ts";
import { samplerSteps, type TransformerConfig } from "../src/config.ts";

const FUZZ_DEFAULT = 150;
const ITERATIONS = Number(process.env.LLC_FUZZ_ITERATIONS ?? FUZZ_DEFAULT);
const SEED = Number(process.env.LLC_FUZZ_SEED ?? 20261202);

/** The engine's own error types: anything else escaping a parser is a bug. */
const OWN_ERRORS = new Set([
  "ConfigError", "SafetensorsError", "InputError", "TokenDatasetError", "TokenizerFormatError", "SweepError", "JsonError",
  "FileError", "OutOfMemoryError", "ChainDivergedError", "EstimateError",
]);

// ── mutations ───────────────────────────────────────────────────────────────

type Rand = () => number;
const below = (r: Rand, n: number) => Math.floor(r() * n);
const encoder = new TextEncoder();

const HUGE = ["1e308", "1e400", "-1e309", "99999999999999999999", "4294967296", "2147483648", "-1", "0", "-0", "1.5", "NaN", "9007199254740993", "1e-400", "\"\"", "null", "[]", "{}", "true"];

/** One random edit of `bytes`: a bit flip, truncation, deletion, splice, repeat, deep nesting or huge number. */
function mutate(bytes: Uint8Array, r: Rand, donors: readonly Uint8Array[]): Uint8Array {
  const at = below(r, bytes.length + 1);
  const concat = (...parts: ArrayLike<number>[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) (out.set(p, o), (o += p.length));
    return out;
  };
  switch (below(r, 9)) {
    case 0: { // flip 1..8 bits
      const out = bytes.slice();
      for (let k = 1 + below(r, 8); k > 0 && out.length; k--) out[below(r, out.length)] ^= 1 << below(r, 8);
      return out;
    }
    case 1: return bytes.slice(0, at); // truncate
    case 2: return concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + below(r, 64)))); // delete a run
    case 3: { // splice in a slice of another valid input
      const donor = donors[below(r, donors.length)]!;
      const from = below(r, donor.length + 1);
      return concat(bytes.subarray(0, at), donor.subarray(from, from + below(r, 256)), bytes.subarray(at));
    }
    case 4: { // repeat a run many times
      const run = bytes.subarray(at, at + 1 + below(r, 16));
      return concat(bytes.subarray(0, at), ...Array.from({ length: 2 + below(r, 2000) }, () => run), bytes.subarray(at));
    }
    case 5: { // deep nesting
      const depth = [100, 511, 513, 5000, 100_000][below(r, 5)]!;
      return concat(bytes.subarray(0, at), encoder.encode("[".repeat(depth) + (r() < 0.5 ? "]".repeat(depth) : "")), bytes.subarray(at));
    }
    case 6: { // replace a number with a huge or odd one
      const text = new TextDecoder().decode(bytes);
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
      if (!numbers.length) return concat(bytes.subarray(0, at), encoder.encode(HUGE[below(r, HUGE.length)]!), bytes.subarray(at));
      const m = numbers[below(r, numbers.length)]!;
      return encoder.encode(text.slice(0, m.index) + HUGE[below(r, HUGE.length)] + text.slice(m.index! + m[0].length));
    }
    case 7: { // an absurd u64 length prefix (safetensors) or first 8 bytes
      const out = bytes.length >= 8 ? bytes.slice() : concat(bytes, new Uint8Array(8 - bytes.length));
      const view = new DataView(out.buffer);
      const choices = [0n, 1n, 7n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n, BigInt(Math.max(0, bytes.length - 8)), BigInt(bytes.length)];
      view.setBigUint64(0, choices[below(r, choices.length)]!, true);
      return out;
    }
    default: { // two edits
      return mutate(mutate(bytes, r, donors), r, donors);
    }
  }
}

/**
 * For a safetensors file: its header mutated and its length prefix fixed to
 * match, so mutants get past the prefix check to the header's own rules.
 */
function mutateHeader(bytes: Uint8Array, r: Rand, donors: readonly Uint8Array[]): Uint8Array {
  const n = bytes.length >= 8 ? Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true)) : -1;
  if (n < 0 || 8 + n > bytes.length) return mutate(bytes, r, donors);
  const header = mutate(bytes.subarray(8, 8 + n), r, donors);
  const out = new Uint8Array(8 + header.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(bytes.subarray(8 + n), 8 + header.length);
  return out;
}

/**
 * Runs `parse` on ITERATIONS mutants of the seeds; fails on the first error that
 * is not the engine's own, naming the iteration to replay.
 */
async function fuzz(name: string, seeds: Uint8Array[], parse: (input: Uint8Array) => unknown): Promise<void> {
  const r = mulberry32(SEED ^ [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 0x01000193), 0x811c9dc5));
  let own = 0, accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = seeds[below(r, seeds.length)]!;
    const input = r() < 0.5 ? mutateHeader(seed, r, seeds) : mutate(seed, r, seeds);
    try {
      await parse(input);
      accepted++;
    } catch (error) {
      const e = error as Error;
      // A system error of the host (ENOENT: a mutated path names no file) names its path too.
      const systemError = error instanceof Error && typeof (e as { code?: unknown }).code === "string" && /^E[A-Z]+$/.test((e as unknown as { code: string }).code);
      const ownError = error instanceof Error && (OWN_ERRORS.has(e.name) || systemError) && e.message.length > 0;
      if (!ownError) {
        const preview = new TextDecoder().decode(input.subarray(0, 200)).replace(/[^\x20-\x7e]/g, ".");
        assert.unreachable(`${name}, iteration ${i} (seed ${SEED}): ${error instanceof Error ? `${e.name}: ${e.message}` : String(error)}\n  input (${input.length} bytes) starts: ${preview}`);
      }
      own++;
    }
  }
  // Both outcomes occur, or the mutations are not reaching the parser.
  if (ITERATIONS >= 100) assert.ok(own > 0 && accepted + own === ITERATIONS, `${name}: ${accepted} accepted, ${own} refused`);
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

// ── seeds ───────────────────────────────────────────────────────────────────

const f32 = (data: number[], shape = [data.length]): Tensor => ({ dtype: "F32", shape, data: new Float32Array(data) });
const safetensorsSeeds = [
  writeSafetensors(new Map<string, Tensor>([
    ["a", f32([1, 2, 3, 4, 5, 6], [2, 3])],
    ["b", { dtype: "F64", shape: [2], data: new Float64Array([1e300, -0.5]) }],
    ["c", { dtype: "I64", shape: [3], data: new BigInt64Array([1n, -2n, 2n ** 60n]) }],
    ["d", { dtype: "U8", shape: [0], data: new Uint8Array(0) }],
  ]), { note: "fuzz", model: '{"kind":"mlp"}' }),
  writeSafetensors(new Map<string, Tensor>([["x", { dtype: "I32", shape: [2, 2], data: new Int32Array([1, 2, 3, 4]) }], ["y", { dtype: "U16", shape: [1], data: new Uint16Array([7]) }]])),
];

const tfModel: TransformerConfig = {
  kind: "transformer", n_layers: 1, n_heads: 2, d_model: 4, d_head: 2, n_ctx: 6, d_vocab: 9,
  normalization: "LN", positional_embedding: "standard", attn_bias: true, unembed_bias: true,
};
const tfLayout = modelLayout(tfModel);
const checkpointSeed = writeSafetensors(
  new Map(tfLayout.tensors.map((t) => [t.name, { dtype: "F32" as const, shape: [...t.shape], data: new Float32Array(t.size).fill(0.25) }])),
  { format: "llc-wasm/checkpoint/1", model: JSON.stringify(tfModel), step: "100", tokenizer_hash: "0123abcd" },
);
const optimizerSeed = encodeOptimizerState(100, new Float32Array(tfLayout.padded).fill(0.5), new Float32Array(tfLayout.padded), new Float32Array(tfLayout.padded).fill(1e-3));

const tokenizer = trainTokenizer(["the cat sat on the mat", "function f(x) { return x + 1; }"], { vocabSize: 270 });
const dataset = buildTokenDataset(tokenizer, { name: "mix", documents: ["the cat sat on the mat. ".repeat(8), "let x = 1; ".repeat(8)], files: ["a", "b"] }, { nCtx: 8, heldOutEvery: 3 });
const tokenSeeds = [writeTokenSplit(dataset, "train"), writeTokenSplit(dataset, "heldout")];

const configSeeds = [
  { model: { kind: "mlp", sizes: [5, 3, 5], activation: "relu", bias: false }, weights: "w.safetensors", data: "d.safetensors",
    sampler: { epsilon: 1e-4, gamma: 100, chains: 4, draws: 200, nbeta: "default", bounding_box: null, init_loss: "batches" }, restrict: { "layers.0.weight": [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1] } },
  { name: "tf", model: { ...tfModel }, weights: "c.safetensors", data: "t.safetensors", sampler: { method: "rmsprop_sgld", alpha: 0.9, eps: 0.1, thin: 2, burnin: 10 }, restrict: ["l0h1", "embed"] },
  { model: { kind: "polynomial", powers: [1, 2] }, weights: "w", data: "d" },
].map((c) => encoder.encode(JSON.stringify(c, null, 2)));

const trainConfigSeed = encoder.encode(JSON.stringify({ ...DEFAULT_TRAIN_CONFIG, steps: 10, checkpoints: [0, 5, 10] }, null, 1));
const sweepRow = (step: number, restrict: string) => JSON.stringify({
  step, restrict, data: "mix", "llc/mean": 1.5, "llc/std": 0.1, "llc/means": [1.4, 1.6], init_loss: 2.5, "mala_accept/mean": 0.9,
  status: "complete", nbeta: 30, sampler: "{}", data_hash: "abcd0123", checkpoint_hash: "0123abcd", job: "ffff0000",
});
const sweepSeed = encoder.encode([sweepRow(100, "l0h0"), sweepRow(100, "l0h1"), sweepRow(200, "l0h0")].join("\n") + "\n");
const logSeed = encoder.encode(['{"step":0,"heldout_loss":2.5}', '{"step":10,"loss":2.25,"lr":0.001,"grad_norm":0.5}', '{"step":20,"loss":2,"lr":0.001,"grad_norm":0.25}'].join("\n") + "\n");
const tokenizerSeed = encoder.encode(tokenizerToJSON(tokenizer));

// ── targets ─────────────────────────────────────────────────────────────────

test("safetensors files (and their tensors as f64)", () =>
  fuzz("safetensors", safetensorsSeeds, (bytes) => {
    for (const t of readSafetensors(bytes, "fuzz.safetensors").tensors.values()) tensorToFloat64(t);
  }));

test("checkpoints of llc train (TL state dict + model metadata)", () => fuzz("checkpoint", [checkpointSeed], (bytes) => readCheckpoint(bytes, "step-000100.safetensors")));

test("optimizer state of llc train", () => fuzz("optimizer state", [optimizerSeed], (bytes) => decodeOptimizerState(bytes, tfLayout.padded, "optimizer.safetensors")));

test("token files", () => fuzz("token file", tokenSeeds, (bytes) => readTokenSplit(bytes, { source: "mix-train.safetensors", tokenizer, nCtx: 8 })));

test("estimate configs", () => fuzz("estimate config", configSeeds, (bytes) => parseConfigText(text(bytes), "case.json")));

test("train configs", () => fuzz("train config", [trainConfigSeed], (bytes) => parseJsonConfig(text(bytes), "train.json", parseTrainConfig)));

test("sweep sampler files", () => fuzz("sweep sampler", [encoder.encode('{"epsilon": 0.001, "gamma": 200, "nbeta": 30, "chains": 4, "draws": 200, "batch_size": 32}')], (bytes) => parseSweepSampler(text(bytes), "s.json")));

test("sweep rows (the sweep's state file)", () => fuzz("sweep rows", [sweepSeed], (bytes) => parseRows(text(bytes), "sweep.jsonl")));

const shardHeader = JSON.stringify({ format: "llc-wasm/sweep-shard/1", shard: 1, of: 1, steps: [100, 200], selectors: ["l0h0", "l0h1"], data: "mix", data_hash: "abcd0123", sampler: {} });
const shardSeed = encoder.encode([shardHeader, ...[100, 200].flatMap((s) => [sweepRow(s, "l0h0"), sweepRow(s, "l0h1")])].map((l) => l.replace('"sampler":"{}"', '"sampler":{}')).join("\n") + "\n");

test("sweep shard files (llc merge)", () => fuzz("sweep shards", [shardSeed], (bytes) => {
  // A host holding the one mutated shard file in memory; the merge's output stays there too.
  const files = new Map([["shard.jsonl", text(bytes)]]);
  const host = { exists: async (p: string) => files.has(p), readText: async (p: string) => files.get(p)!, writeText: async (p: string, t: string) => void files.set(p, t) } as unknown as Host;
  return mergeShards(host, ["shard.jsonl"], "merged.jsonl");
}));

test("the training log read on resume", () => fuzz("training log", [logSeed], (bytes) => logLinesUpTo(text(bytes), "log.jsonl", 10)));

test("tokenizer JSON", () => fuzz("tokenizer", [tokenizerSeed], (bytes) => tokenizerFromJSON(text(bytes), "tokenizer.json")));

test("result files read to resume", async () => {
  const dir = scratchDir("llc-fuzz-");
  const caseDir = join(dir, "rrr");
  mkdirSync(caseDir);
  const weights = writeSafetensors(new Map([["layers.0.weight", f32(Array.from({ length: 15 }, (_, i) => (i % 5) / 10), [3, 5])], ["layers.1.weight", f32(Array.from({ length: 15 }, (_, i) => (i % 3) / 10), [5, 3])]]));
  const data = writeSafetensors(new Map([["x", f32(Array.from({ length: 40 }, (_, i) => Math.sin(i)), [8, 5])], ["y", f32(Array.from({ length: 40 }, (_, i) => Math.cos(i)), [8, 5])]]));
  writeFileSync(join(caseDir, "w.safetensors"), weights);
  writeFileSync(join(caseDir, "d.safetensors"), data);
  const config = { model: { kind: "mlp", sizes: [5, 3, 5], bias: false }, weights: "w.safetensors", data: "d.safetensors", sampler: { chains: 2, draws: 5, batch_size: 4 } };
  writeFileSync(join(caseDir, "case.json"), JSON.stringify(config));
  const result = encoder.encode(resultJson(await runEstimateJob(nodeHost, join(caseDir, "case.json"))));
  // The job is the file's own, so a mutant that keeps it valid is resumed from (and must be checked trace by trace).
  const job = (JSON.parse(new TextDecoder().decode(result)) as { job: string }).job;
  const sampler = parseSamplerConfig(config.sampler);
  await fuzz("result file", [result], (bytes) => chainsToResume(parseJson(text(bytes), (d) => new JsonError("result.json", d)), job, sampler));

  // The estimate job end to end: mutated configs, weights and data through the engine.
  // Runs longer than 2000 steps in all are only parsed (a mutant may ask for 10^6 draws).
  const seeds = [encoder.encode(JSON.stringify(config)), weights, data];
  const cheap = (bytes: Uint8Array) => {
    try {
      const parsed = parseConfigText(text(bytes), "case.json");
      return parsed.sampler.chains * samplerSteps(parsed.sampler) <= 2000 && parsed.sampler.batch_size <= 64;
    } catch {
      return true; // refused: the job refuses it the same way
    }
  };
  let k = 0;
  await fuzz("estimate job", seeds, async (bytes) => {
    const which = bytes.length && bytes[0] === 0x7b ? "config" : ["weights", "data"][k++ % 2]!;
    const jobDir = join(dir, `job-${k}`);
    mkdirSync(jobDir, { recursive: true });
    writeFileSync(join(jobDir, "case.json"), which === "config" ? bytes : seeds[0]!);
    writeFileSync(join(jobDir, "w.safetensors"), which === "weights" ? bytes : weights);
    writeFileSync(join(jobDir, "d.safetensors"), which === "data" ? bytes : data);
    if (which === "config" && !cheap(bytes)) return;
    await runEstimateJob(nodeHost, join(jobDir, "case.json"));
  });
});

test.run();
