// `llc sweep --shard K/N` and `llc merge` end to end: three shard processes (the K of each given
// as K/N, as a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, and as a Slurm array's
// SLURM_ARRAY_TASK_ID) merged into the same bytes as one process's sweep of the same cells;
// a missing shard, a duplicated cell, an unfinished shard and a shard with another sampler refused.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "bin/llc.mjs");
const llc = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
const dir = scratchDir("llc-shard-");
const run = join(dir, "run");
const samplerPath = join(dir, "sampler.json");
// Tiny on purpose: 3 checkpoints × 2 selectors = 6 cells, a chain of 8 draws each.
const cells = ["--steps", "all", "--restrict", "l0h0,l1h1"];
const sweepArgs = (...more: string[]) => ["sweep", "--run", run, "--sampler", samplerPath, ...cells, "--quiet", ...more];
const shardFile = (k: number) => join(run, `sweep.shard-${k}-of-3.jsonl`);
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");

/** A CLI process with extra environment variables, run concurrently with the others. */
function llcAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

test.before(() => {
  writeFileSync(join(dir, "train.json"), JSON.stringify({
    model: { kind: "transformer", n_layers: 2, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 32, d_vocab: 300, positional_embedding: "shortformer" },
    data: { vocab_size: 300, max_bytes_per_corpus: 100_000 }, batch_size: 8, steps: 20, checkpoints: [0, 10, 20], eval_every: 20, eval_sequences: 16, out: "run",
  }));
  const trained = llc(["train", "--config", join(dir, "train.json"), "--quiet"]);
  assert.is(trained.status, 0, trained.stderr);
  writeFileSync(samplerPath, JSON.stringify({ epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 1, draws: 8, batch_size: 8, seed: 3 }));
});

test("3 shard processes (K/N, JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID) merge to the bytes of one sweep", async () => {
  const shards = await Promise.all([
    llcAsync(sweepArgs("--shard", "1/3")),
    llcAsync(sweepArgs("--shard", "auto/3"), { JOB_COMPLETION_INDEX: "1" }), // 0-based: shard 2
    llcAsync(sweepArgs("--shard", "auto/3"), { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_MIN: "3" }), // --array=3-5: shard 3
  ]);
  for (const r of shards) assert.is(r.status, 0, r.stderr);
  // Round-robin over the single sweep's order (step-major): 6 cells, 2 per shard.
  for (const [k, expected] of [[1, ["0 l0h0", "10 l1h1"]], [2, ["0 l1h1", "20 l0h0"]], [3, ["10 l0h0", "20 l1h1"]]] as const) {
    const [header, ...rows] = lines(shardFile(k)).map((l) => JSON.parse(l));
    assert.equal({ format: header.format, shard: header.shard, of: header.of, steps: header.steps, selectors: header.selectors },
      { format: "llc-wasm/sweep-shard/1", shard: k, of: 3, steps: [0, 10, 20], selectors: ["l0h0", "l1h1"] });
    assert.equal(rows.map((r) => `${r.step} ${r.restrict}`), expected);
  }
  const single = llc(sweepArgs("--out", join(dir, "single.jsonl")));
  assert.is(single.status, 0, single.stderr);
  const merged = llc(["merge", "--out", join(dir, "merged.jsonl"), shardFile(3), shardFile(1), shardFile(2)]);
  assert.is(merged.status, 0, merged.stderr);
  assert.match(merged.stdout, /^6 rows of 3 shard\(s\) → .*merged\.jsonl\n\nstep\s+l0h0\s+l1h1\n/);
  assert.is(lines(join(dir, "single.jsonl")).length, 6);
  assert.ok(readFileSync(join(dir, "merged.jsonl")).equals(readFileSync(join(dir, "single.jsonl"))), "merged file = single sweep, byte for byte");
  // A shard rerun resumes: nothing recomputed, its file unchanged.
  const before = readFileSync(shardFile(1), "utf8");
  const again = llc(sweepArgs("--shard", "1/3").filter((a) => a !== "--quiet"));
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /0 estimated, 2 already in .*sweep\.shard-1-of-3\.jsonl/);
  assert.is(readFileSync(shardFile(1), "utf8"), before);
});

test("merge refuses a missing shard, a repeated one, a duplicated cell and an unfinished shard, naming file and cell; nothing written", () => {
  const out = join(dir, "bad-merge.jsonl");
  const merge = (...files: string[]) => llc(["merge", "--out", out, ...files]);
  const missing = merge(shardFile(1), shardFile(3));
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /SweepError: shard 2 of 3 is missing \(given: 1, 3\); run llc sweep --shard 2\/3/);
  const twice = merge(shardFile(1), shardFile(2), shardFile(1));
  assert.match(twice.stderr, /sweep\.shard-1-of-3\.jsonl and .*sweep\.shard-1-of-3\.jsonl are both shard 1 of 3/);

  const duplicated = join(dir, "dup.shard-2.jsonl");
  copyFileSync(shardFile(2), duplicated);
  appendFileSync(duplicated, lines(shardFile(2))[1] + "\n");
  const dup = merge(shardFile(1), duplicated, shardFile(3));
  assert.is(dup.status, 1);
  assert.match(dup.stderr, /SweepError: .*dup\.shard-2\.jsonl:4: cell step 0 l1h1 is duplicated \(also at .*dup\.shard-2\.jsonl:2\)/);

  const unfinished = join(dir, "unfinished.shard-3.jsonl");
  writeFileSync(unfinished, lines(shardFile(3)).slice(0, 2).join("\n") + "\n");
  const short = merge(shardFile(1), shardFile(2), unfinished);
  assert.is(short.status, 1);
  assert.match(short.stderr, /SweepError: .*unfinished\.shard-3\.jsonl: cell step 20 l1h1 is missing \(shard 3 of 3 is unfinished/);

  // A corrupt header is the merge's own error naming file and line, not a TypeError.
  const corrupt = join(dir, "corrupt.shard-1.jsonl");
  const [header, ...rest] = lines(shardFile(1));
  writeFileSync(corrupt, [JSON.stringify({ ...JSON.parse(header), sampler: null }), ...rest].join("\n") + "\n");
  const bad = merge(corrupt, shardFile(2), shardFile(3));
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^llc: SweepError: .*corrupt\.shard-1\.jsonl:1: shard header: sampler: expected an object\n/);

  const foreign = merge(shardFile(1), shardFile(2), join(dir, "single.jsonl"));
  assert.match(foreign.stderr, /single\.jsonl: not a shard of llc sweep --shard K\/N/);
  const none = merge();
  assert.is(none.status, 2);
  assert.match(none.stderr, /^llc: UsageError: expected the shard files after the flags.*\nusage: llc merge SHARD\.\.\. --out FILE\.jsonl\n/);
  assert.not.ok(existsSync(out), "no merged file after a refused merge");
});

test("a shard made with another sampler is refused by merge, naming the field; bad --shard values are usage errors", () => {
  const other = join(dir, "eps.shard-2.jsonl");
  const r = llc(sweepArgs("--shard", "2/3", "--epsilon", "0.002", "--out", other));
  assert.is(r.status, 0, r.stderr);
  const merged = llc(["merge", "--out", join(dir, "never.jsonl"), shardFile(1), other, shardFile(3)]);
  assert.is(merged.status, 1);
  assert.match(merged.stderr, /SweepError: .*eps\.shard-2\.jsonl was made with other settings than .*sweep\.shard-1-of-3\.jsonl \(another sampler: sampler\.epsilon is 0\.001 in .*shard-1-of-3\.jsonl and 0\.002 in it\)/);
  // A shard's file is not an unsharded sweep's, nor the other way round.
  const unsharded = llc(sweepArgs("--out", shardFile(1)));
  assert.is(unsharded.status, 1);
  assert.match(unsharded.stderr, /is shard 1 of 3 of a sharded sweep \(llc sweep --shard\); combine the shards with llc merge/);
  const regrouped = llc(sweepArgs("--shard", "1/2", "--out", shardFile(1)));
  assert.match(regrouped.stderr, /sweep\.shard-1-of-3\.jsonl:1 is a shard of another sweep \(of is 3 there and 2 in this run\)/);

  for (const [value, env, message] of [
    ["4/3", {}, /--shard: K = 4 gives shard 4 of 3; expected 1\.\.3/],
    ["0/3", {}, /--shard: K = 0 gives shard 0 of 3/],
    ["2", {}, /--shard: expected K\/N \(K = 1\.\.N\) or auto\/N, got "2"/],
    ["auto/3", { JOB_COMPLETION_INDEX: "3" }, /--shard: JOB_COMPLETION_INDEX = 3 \(0-based\) gives shard 4 of 3/],
  ] as const) {
    const bad = spawnSync(process.execPath, [cli, ...sweepArgs("--shard", value)], { encoding: "utf8", env: { ...process.env, ...env } });
    assert.is(bad.status, 2, `${value}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});

/** Run an example's shard command for every index, then its merge command, and compare with one sweep of the same cells. */
async function checkExample(sweepArgv: string[], indexEnv: (i: number) => Record<string, string>, n: number, mergeArgv: string[]) {
  const { readdirSync, rmSync } = await import("node:fs");
  for (const k of [1, 2, 3, 4]) rmSync(join(run, `sweep.shard-${k}-of-${n}.jsonl`), { force: true });
  const results = await Promise.all(Array.from({ length: n }, (_, i) => llcAsync(sweepArgv, indexEnv(i))));
  for (const r of results) assert.is(r.status, 0, r.stderr);
  // The merge line's glob, expanded as a shell would.
  const files = mergeArgv.flatMap((a) => {
    if (!a.includes("*")) return [a];
    const [folder, pattern] = [a.replace(/\/[^/]*$/, ""), new RegExp("^" + a.replace(/^.*\//, "").replace(/[.]/g, "\\.").replace("*", ".*") + "$")];
    return readdirSync(folder).filter((f) => pattern.test(f)).sort().map((f) => join(folder, f));
  });
  assert.is(files.length, n + 3, files.join(" ")); // merge --out FILE, then the n shards
  const merged = llc(files);
  assert.is(merged.status, 0, merged.stderr);
  const single = join(dir, "single-heads.jsonl");
  if (!existsSync(single)) assert.is(llc(["sweep", "--run", run, "--sampler", samplerPath, "--heads", "--steps", "all", "--out", single, "--quiet"]).status, 0);
  assert.ok(readFileSync(files[2]).equals(readFileSync(single)), "the example's merged file = one sweep of the same cells");
}

test("examples/k8s-sweep-job.yaml: its args on every JOB_COMPLETION_INDEX, then its merge line, give one sweep's bytes", async () => {
  const yaml = readFileSync(join(root, "examples/k8s-sweep-job.yaml"), "utf8");
  assert.match(yaml, /^  completionMode: Indexed$/m);
  const n = Number(/^  completions: (\d+)$/m.exec(yaml)![1]);
  assert.match(yaml, new RegExp(`^  parallelism: ${n}$`, "m"));
  assert.match(yaml, /command: \["npx", "llc", "sweep"\]/);
  const local = (a: string) => a.replace("/data/", dir + "/");
  const args = [...yaml.matchAll(/^ +- (--\S+)$/gm)].map((m) => local(m[1]));
  assert.ok(args.includes(`--shard=auto/${n}`), args.join(" "));
  const merge = /^# +npx llc (merge .*)$/m.exec(yaml)![1].split(" ").map(local);
  await checkExample(["sweep", ...args], (i) => ({ JOB_COMPLETION_INDEX: String(i) }), n, merge);
});

test("examples/slurm-sweep.sbatch: its command on every SLURM_ARRAY_TASK_ID, then its merge line, give one sweep's bytes", async () => {
  const script = readFileSync(join(root, "examples/slurm-sweep.sbatch"), "utf8");
  const [, from, to] = /^#SBATCH --array=(\d+)-(\d+)$/m.exec(script)!.map(Number);
  const n = to - from + 1;
  const command = /^npx llc (sweep [^\n]*\\\n[^\n]*)$/m.exec(script)![1].replace(/\\\n/, " ").replace('"${SLURM_CPUS_PER_TASK:-1}"', "1");
  const inDir = (a: string) => (a === "run" || a === "sampler.json" || a.startsWith("run/") ? join(dir, a) : a);
  const args = command.trim().split(/\s+/).map(inDir);
  assert.ok(args.includes(`auto/${n}`), args.join(" "));
  const merge = /--wrap 'npx llc (merge [^']*)'/.exec(script)![1].split(" ").map(inDir);
  const env = (i: number) => ({ SLURM_ARRAY_TASK_ID: String(from + i), SLURM_ARRAY_TASK_MIN: String(from) });
  await checkExample(args, env, n, merge);
});

test.run();
