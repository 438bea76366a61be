// Refined LLCs end to end through the CLI, on a run this engine trained:
// weight-refined (one head, by selector) and data-refined (the code data set at
// weights trained on the prose + code mix), as Wang et al. 2024 compute them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-refined-");
const model = { kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 32, d_vocab: 300, positional_embedding: "shortformer" };

test.before(() => {
  writeFileSync(join(dir, "train.json"), JSON.stringify({
    model, data: { vocab_size: 300, max_bytes_per_corpus: 100_000 }, batch_size: 8, steps: 40, checkpoints: [0, 40], eval_every: 20, eval_sequences: 16, out: "run",
  }));
  const r = llc(["train", "--config", join(dir, "train.json"), "--quiet"]);
  assert.is(r.status, 0, r.stderr);
});

function estimateWith(name: string, fields: Record<string, unknown>) {
  const config = {
    model, weights: "run/checkpoints/step-000040.safetensors", data: "run/data/mix-heldout.safetensors",
    sampler: { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 2, draws: 30, batch_size: 8, seed: 1 }, ...fields,
  };
  writeFileSync(join(dir, name), JSON.stringify(config));
  return llc(["estimate", "--config", join(dir, name), "--quiet"]);
}

test("weight-refined: restrict to head l1h0 by selector", () => {
  const r = estimateWith("head.json", { restrict: "l1h0" });
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.ok(Number.isFinite(result["llc/mean"]));
  assert.equal(result.config.restrict, ["l1h0"]);
  assert.is(result["loss/trace"].length, 2);
});

test("data-refined: the code data set at weights trained on the mix gives another estimate", () => {
  const mix = JSON.parse(estimateWith("mix.json", {}).stdout);
  const code = estimateWith("code.json", { data: "run/data/code-heldout.safetensors" });
  assert.is(code.status, 0, code.stderr);
  const codeResult = JSON.parse(code.stdout);
  assert.not.equal(codeResult.init_loss, mix.init_loss, "L0 is measured on the code data");
  assert.ok(Number.isFinite(codeResult["llc/mean"]));
});

test("an unknown selector and a token file of another vocabulary are named errors", () => {
  const bad = estimateWith("bad-selector.json", { restrict: ["l1h0", "l7h0"] });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /restrict\[1\]: unknown selector "l7h0"/);
  const wrongVocab = estimateWith("bad-vocab.json", { model: { ...model, d_vocab: 100, n_ctx: 32 } });
  assert.is(wrongVocab.status, 1);
  // The checkpoint records its model: the field that differs is named before any shape is compared.
  assert.match(wrongVocab.stderr, /InputError: model\.d_vocab: the config says 100, but the weights run\/checkpoints\/step-000040\.safetensors were trained with 300/);
});

test.run();
