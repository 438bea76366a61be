// `llc sweep` end to end: per-head refined LLCs over the checkpoints of a run this
// engine trained (Wang et al. 2024), each row bit-equal to `llc estimate` on the
// same config; resume after an interrupted sweep; mismatched and bad inputs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-sweep-");
const run = join(dir, "run");
const model = { kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 32, d_vocab: 300, positional_embedding: "shortformer" };
const sampler = { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 2, draws: 20, batch_size: 8, seed: 1 };
const samplerPath = join(dir, "sampler.json");
const HEADS = ["l0h0", "l0h1", "l1h0", "l1h1"];

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
const rows = (path: string) => lines(path).map((l) => JSON.parse(l));
const sweep = (...args: string[]) => llc(["sweep", "--run", run, "--sampler", samplerPath, ...args]);

let trained: ReturnType<typeof llc>; // the training run's output, checked by the first test

test.before(() => {
  writeFileSync(join(dir, "train.json"), JSON.stringify({
    model, data: { vocab_size: 300, max_bytes_per_corpus: 100_000 }, batch_size: 8, steps: 40, checkpoints: [0, 20, 40], eval_every: 20, eval_sequences: 16, out: "run",
  }));
  trained = llc(["train", "--config", join(dir, "train.json")]);
  assert.is(trained.status, 0, trained.stderr);
  writeFileSync(samplerPath, JSON.stringify(sampler));
});

test("llc train says what it trains, where and about how long before it starts, then steps/s and the ETA", () => {
  const err = trained.stderr;
  const announced = err.indexOf("training transformer, 2 layer(s) × 2 head(s) (d_head 8), d_model 16, n_ctx 32, vocabulary 300");
  assert.ok(announced >= 0, err);
  assert.match(err, /; 40 steps of 8 sequences, on the built-in prose \+ code mix, into .*\/run\n/);
  assert.match(err, /\n(about \d+ s|under a second) of training \([\d.]+ ms per step in a \d+-step calibration\)/);
  assert.ok(announced < err.indexOf("step 0 "), "announced before the first step");
  // Step 0 is this run's first log line: no rate yet; then the rate and ETA of the steps since.
  assert.match(err, /step 0  held-out loss \d\.\d{4}\s+0\.0%  0\/40 steps  – steps\/s  ETA –\n/);
  assert.match(err, /step 20  loss \d\.\d{4}  grad norm [\d.]+  lr 1\.00e-3\s+50\.0%  20\/40 steps  [\d.]+ steps\/s  ETA \d+ s\n/);
  assert.match(err, /step 40  held-out loss \d\.\d{4}\s+100\.0%  40\/40 steps  [\d.]+ steps\/s  ETA 0 s\n/);
});

test("an estimate config without model takes it from the checkpoint's __metadata__: the same bytes as with it", () => {
  const config = (name: string, withModel: boolean) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify({
      ...(withModel ? { model } : {}), weights: "run/checkpoints/step-000040.safetensors", data: "run/data/mix-heldout.safetensors", sampler, restrict: "l1h1",
    }));
    return path;
  };
  const full = llc(["estimate", "--config", config("with-model.json", true), "--quiet"]);
  assert.is(full.status, 0, full.stderr);
  const omitted = llc(["estimate", "--config", config("without-model.json", false), "--quiet"]);
  assert.is(omitted.status, 0, omitted.stderr);
  assert.is(omitted.stdout, full.stdout);
  // Weights without the metadata (a token file here): the error names the field and the file.
  const path = join(dir, "no-metadata.json");
  writeFileSync(path, JSON.stringify({ weights: "run/data/mix-heldout.safetensors", data: "run/data/mix-heldout.safetensors", sampler }));
  const bad = llc(["estimate", "--config", path]);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /ConfigError: model: expected an object .*got nothing \(required unless weights is a checkpoint of llc train, whose __metadata__\.model records it; run\/data\/mix-heldout\.safetensors records none\) \(in .*no-metadata\.json\)/);
});

test("sampler flags on a sweep: the same rows as the same fields in the sampler file", () => {
  const written = join(dir, "sampler-short.json");
  writeFileSync(written, JSON.stringify({ ...sampler, chains: 1, draws: 8, seed: 5 }));
  const a = llc(["sweep", "--run", run, "--sampler", written, "--restrict", "l0h1", "--out", join(dir, "short-a.jsonl"), "--quiet"]);
  assert.is(a.status, 0, a.stderr);
  const b = sweep("--restrict", "l0h1", "--out", join(dir, "short-b.jsonl"), "--quiet", "--chains", "1", "--draws=8", "--seed", "5");
  assert.is(b.status, 0, b.stderr);
  assert.is(readFileSync(join(dir, "short-b.jsonl"), "utf8"), readFileSync(join(dir, "short-a.jsonl"), "utf8"));
  assert.is(rows(join(dir, "short-b.jsonl"))[0]["llc/means"].length, 8);
  const bad = sweep("--restrict", "l0h1", "--draws", "0");
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^llc: UsageError: --draws: expected an integer >= 1, got 0 \(sampler\.draws\)\nusage: llc sweep /);
});

test("--heads --steps all: a row per checkpoint and head in run/sweep.jsonl, and a table", () => {
  const r = sweep("--heads", "--steps", "all", "--quiet");
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, "", "--quiet prints nothing on stderr");
  const got = rows(join(run, "sweep.jsonl"));
  assert.is(got.length, 12);
  assert.equal(got.map((row) => `${row.step} ${row.restrict}`), [0, 20, 40].flatMap((s) => HEADS.map((h) => `${s} ${h}`)));
  for (const row of got) {
    for (const key of ["step", "restrict", "data", "llc/mean", "llc/std", "llc/means", "init_loss", "mala_accept/mean", "status"]) assert.ok(key in row, key);
    assert.ok(Number.isFinite(row["llc/mean"]), `${row.step} ${row.restrict}: ${row["llc/mean"]}`);
    assert.is(row.status, "complete");
    assert.is(row.data, "mix");
    assert.is(row["llc/means"].length, 20);
  }
  // The table: a header of selectors, then one line per step with "mean ± std" cells.
  const table = r.stdout.split("\n");
  const header = table.findIndex((l) => /^\s*step\s+l0h0\s+l0h1\s+l1h0\s+l1h1$/.test(l));
  assert.ok(header >= 0, r.stdout);
  for (const [i, step] of [0, 20, 40].entries()) {
    const cells = table[header + 2 + i].trim().split(/\s{2,}/);
    assert.is(cells[0], String(step));
    assert.is(cells.length, 5);
    const row = got.find((x) => x.step === step && x.restrict === "l1h0");
    assert.is(cells[3], `${row["llc/mean"].toFixed(3)} ± ${row["llc/std"].toFixed(3)}`);
  }
});

test("each row equals llc estimate with the same sampler and restrict, to the bit", () => {
  const got = rows(join(run, "sweep.jsonl"));
  for (const [step, head] of [[40, "l1h0"], [0, "l0h1"]] as const) {
    const config = join(dir, `estimate-${step}-${head}.json`);
    writeFileSync(config, JSON.stringify({
      model, weights: `run/checkpoints/step-${String(step).padStart(6, "0")}.safetensors`, data: "run/data/mix-heldout.safetensors", sampler, restrict: head,
    }));
    const r = llc(["estimate", "--config", config, "--quiet"]);
    assert.is(r.status, 0, r.stderr);
    const expected = JSON.parse(r.stdout);
    const row = got.find((x) => x.step === step && x.restrict === head);
    for (const key of ["llc/mean", "llc/std", "llc/means", "init_loss", "mala_accept/mean", "nbeta"]) assert.equal(row[key], expected[key], `${step} ${head} ${key}`);
  }
});

test("interrupted and rerun: --steps 20, then --steps all, keeps the step-20 rows and adds the rest", () => {
  const out = join(dir, "resume.jsonl");
  const first = sweep("--heads", "--steps", "20", "--out", out, "--quiet");
  assert.is(first.status, 0, first.stderr);
  const before = lines(out);
  assert.is(before.length, 4);

  const second = sweep("--heads", "--steps", "all", "--out", out);
  assert.is(second.status, 0, second.stderr);
  assert.match(second.stderr, /resuming: 4 of 12 estimates already in/);
  assert.match(second.stdout, /8 estimated, 4 already in/);
  const after = lines(out);
  assert.is(after.length, 12);
  assert.is(new Set(after.map((l) => { const r = JSON.parse(l); return `${r.step} ${r.restrict}`; })).size, 12, "12 unique (step, head) rows");
  assert.equal(after.slice(0, 4), before, "the step-20 rows are unchanged");
  // The same rows as the uninterrupted sweep (in another order).
  assert.equal([...after].sort(), [...lines(join(run, "sweep.jsonl"))].sort());

  // A kill mid-append leaves a torn last line: the rerun drops it and redoes that estimate.
  const text = readFileSync(out, "utf8");
  writeFileSync(out, text.slice(0, text.length - Math.floor(after[11].length / 2)));
  const third = sweep("--heads", "--steps", "all", "--out", out, "--quiet");
  assert.is(third.status, 0, third.stderr);
  assert.match(third.stdout, /1 estimated, 11 already in/);
  assert.is(readFileSync(out, "utf8"), text);
});

test("--restrict: each selector is its own row; 2 workers give the same bits", () => {
  const out = join(dir, "restrict.jsonl");
  const r = sweep("--restrict", "l0h0,l1", "--steps", "last", "--out", out, "--workers", "2", "--quiet");
  assert.is(r.status, 0, r.stderr);
  const got = rows(out);
  assert.equal(got.map((row) => `${row.step} ${row.restrict}`), ["40 l0h0", "40 l1"]);
  assert.ok(Number.isFinite(got[1]["llc/mean"]));
  const serial = lines(join(run, "sweep.jsonl")).find((l) => JSON.parse(l).step === 40 && JSON.parse(l).restrict === "l0h0");
  assert.is(lines(out)[0], serial);
});

test("a changed sampler or other data is refused, naming the mismatch, and the file is untouched", () => {
  const out = join(run, "sweep.jsonl");
  const text = readFileSync(out, "utf8");
  const changed = join(dir, "sampler-eps.json");
  writeFileSync(changed, JSON.stringify({ ...sampler, epsilon: 2e-3 }));
  const r = llc(["sweep", "--run", run, "--sampler", changed, "--steps", "all"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /SweepError: .*sweep\.jsonl:1 was made with another sampler \(sampler\.epsilon is 0\.001 there and 0\.002 in this run\)/);
  const code = sweep("--data", "code");
  assert.is(code.status, 1);
  assert.match(code.stderr, /was made on other data \("mix", data_hash [0-9a-f]{8}; this run's "code" has [0-9a-f]{8}\)/);
  assert.is(readFileSync(out, "utf8"), text);
  // The worker count is not part of the fingerprint: a sampler that only sets it reuses every row.
  const withWorkers = join(dir, "sampler-workers.json");
  writeFileSync(withWorkers, JSON.stringify({ ...sampler, workers: 1 }));
  const same = llc(["sweep", "--run", run, "--sampler", withWorkers, "--steps", "all", "--quiet"]);
  assert.is(same.status, 0, same.stderr);
  assert.match(same.stdout, /0 estimated, 12 already in/);
});

test("a diverging chain makes its row status diverged (error with fail_fast), the sweep goes on, and the exit status is 1", () => {
  for (const [failFast, status] of [[false, "diverged"], [true, "error"]] as const) {
    const diverging = join(dir, `sampler-diverge-${status}.json`);
    writeFileSync(diverging, JSON.stringify({ ...sampler, epsilon: 50, fail_fast: failFast }));
    const out = join(dir, `diverge-${status}.jsonl`);
    const r = llc(["sweep", "--run", run, "--sampler", diverging, "--restrict", "l0h0,l1h1", "--out", out, "--quiet"]);
    assert.is(r.status, 1);
    assert.match(r.stderr, new RegExp(`2 of 2 estimates had a diverged chain \\(status "error" or "diverged" in .*diverge-${status}\\.jsonl, first: step 40 l0h0: (NaN|Inf) detected in loss at chain 0`));
    const got = rows(out);
    assert.equal(got.map((row) => [row.restrict, row.status]), [["l0h0", status], ["l1h1", status]]);
    // Every chain diverged, so there is no healthy estimate to show.
    assert.match(r.stdout, new RegExp(`40\\s+${status}\\s+${status}`));
  }
});

test("bad input: an unknown selector, a missing run directory, an unknown sampler field", () => {
  const out = join(dir, "never.jsonl");
  const selector = sweep("--restrict", "l0h0,l7h0", "--out", out);
  assert.is(selector.status, 1);
  assert.match(selector.stderr, /SweepError: restrict: unknown selector "l7h0"/);
  assert.not.ok(existsSync(out), "nothing estimated before the selectors are checked");

  const missing = llc(["sweep", "--run", join(dir, "no-such-run"), "--sampler", samplerPath]);
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /SweepError: run directory .*no-such-run does not exist/);

  const typo = join(dir, "sampler-typo.json");
  writeFileSync(typo, JSON.stringify({ ...sampler, epslion: 1e-3 }));
  const field = llc(["sweep", "--run", run, "--sampler", typo]);
  assert.is(field.status, 1);
  assert.match(field.stderr, /ConfigError: sampler\.epslion: unknown field, did you mean epsilon\?/);

  const noSampler = llc(["sweep", "--run", run]);
  assert.is(noSampler.status, 2);
  assert.match(noSampler.stderr, /--sampler FILE\.json is required/);
});

test.run();
