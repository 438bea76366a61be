// kill -9 at seeded random moments during `llc estimate`, `llc sweep` and `llc
// train` (tiny configs), then a run to the end: the files are byte for byte those
// of an uninterrupted run, and no temp file is left (issue 12, "Kept by tests").
// The kill moments are drawn (mulberry32, fixed seed) over the uninterrupted
// run's duration, so they land anywhere: at start-up, mid-chain, mid-write; what
// is asserted never depends on where they landed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { mulberry32, scratchDir } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "bin/llc.mjs");
const llc = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
const dir = scratchDir("llc-kill-");
const MAX_KILLS = 8;
const random = mulberry32(12);

/** Every file under `base`, by relative path, with its bytes. */
function files(base: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(base, path), readFileSync(path));
    }
  };
  walk(base);
  return out;
}

/** Milliseconds an uninterrupted run of `args` takes (the range the kill moments are drawn from), asserting it succeeds. */
function timed(args: string[]): number {
  const t0 = performance.now();
  const r = llc(args);
  assert.is(r.status, 0, r.stderr);
  return performance.now() - t0;
}

/** Start `args`, SIGKILL it after `ms` (unless it ended first); resolves with how it ended. */
function runAndKill(args: string[], ms: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === "SIGKILL", code, stderr });
    });
  });
}

/**
 * Runs killed at random moments in [0, 0.6·duration) (each resumed run has less left
 * to do), until one ends by itself or MAX_KILLS were killed; then a run to the end.
 */
async function killAndFinish(args: string[], duration: number): Promise<number> {
  let kills = 0;
  while (kills < MAX_KILLS) {
    const r = await runAndKill(args, random() * 0.6 * duration);
    if (!r.killed) {
      assert.is(r.code, 0, `a run between kills failed: ${r.stderr}`);
      break;
    }
    kills++;
  }
  const last = llc(args);
  assert.is(last.status, 0, last.stderr);
  console.log(`  ${args[0]}: killed ${kills} time(s) before a run ended by itself`);
  return kills;
}

/**
 * What a kill during a write leaves (a random kill lands inside a write only now
 * and then, writes being short): `${path}.tmp-PID` of a process that is gone.
 */
function plantStaleTemps(...paths: string[]): void {
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
  for (const path of paths) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp-${dead}`, "half a file");
  }
}

function assertNoTemps(base: string, what: string): void {
  const temps = [...files(base).keys()].filter((name) => /\.tmp-\d+$/.test(name));
  assert.equal(temps, [], `${what}: temp files left`);
}

function assertSameFiles(reference: Map<string, Buffer>, got: Map<string, Buffer>, what: string): void {
  assert.equal([...got.keys()].sort(), [...reference.keys()].sort(), `${what}: the same files`);
  for (const [name, bytes] of reference) assert.ok(bytes.equals(got.get(name)!), `${what}: ${name} differs from the uninterrupted run's`);
}

const model = { kind: "transformer", n_layers: 1, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 16, d_vocab: 260, positional_embedding: "shortformer" };
const trainConfig = (out: string) => ({
  model, data: { vocab_size: 260, max_bytes_per_corpus: 20_000 }, batch_size: 4, steps: 120, checkpoints: [0, 30, 60, 90],
  eval_every: 10, eval_sequences: 8, out,
});

test("llc train: killed at random moments and rerun, the run directory is the uninterrupted one's, byte for byte", async () => {
  writeFileSync(join(dir, "ref.json"), JSON.stringify(trainConfig("ref-run")));
  writeFileSync(join(dir, "killed.json"), JSON.stringify(trainConfig("killed-run")));
  const duration = timed(["train", "--config", join(dir, "ref.json"), "--quiet"]);
  const run = join(dir, "killed-run");
  plantStaleTemps(join(run, "log.jsonl"), join(run, "checkpoints/step-000030.safetensors"), join(run, "checkpoints/optimizer.safetensors"), join(run, "data/tokenizer.json"));
  const kills = await killAndFinish(["train", "--config", join(dir, "killed.json"), "--quiet"], duration);
  assert.ok(kills >= 1, "at least one run was killed");
  assertNoTemps(join(dir, "killed-run"), "train");
  assertSameFiles(files(join(dir, "ref-run")), files(join(dir, "killed-run")), "train");
});

test("llc sweep: killed at random moments and rerun, the rows are the uninterrupted sweep's, byte for byte", async () => {
  const sampler = join(dir, "sampler.json");
  writeFileSync(sampler, JSON.stringify({ epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 2, draws: 40, batch_size: 4, seed: 1 }));
  const sweep = (out: string) => ["sweep", "--run", join(dir, "ref-run"), "--heads", "--steps", "all", "--sampler", sampler, "--out", out, "--quiet", "--workers", "2"];
  const duration = timed(sweep(join(dir, "sweep-ref.jsonl")));
  plantStaleTemps(join(dir, "sweep-killed.jsonl"));
  await killAndFinish(sweep(join(dir, "sweep-killed.jsonl")), duration);
  assert.ok(readFileSync(join(dir, "sweep-killed.jsonl")).equals(readFileSync(join(dir, "sweep-ref.jsonl"))));
  assertNoTemps(dir, "sweep");
});

test("llc estimate: killed at random moments and rerun, the result is the uninterrupted one's, byte for byte", async () => {
  const made = llc(["example", "rrr", "--dir", join(dir, "rrr")]);
  assert.is(made.status, 0, made.stderr);
  const config = JSON.parse(readFileSync(join(dir, "rrr/case.json"), "utf8"));
  Object.assign(config.sampler, { chains: 4, draws: 1500 });
  writeFileSync(join(dir, "rrr/kill.json"), JSON.stringify(config));
  const estimate = (out: string) => ["estimate", "--config", join(dir, "rrr/kill.json"), "--out", out, "--quiet", "--workers", "2"];
  const duration = timed(estimate(join(dir, "rrr/ref.json")));
  plantStaleTemps(join(dir, "rrr/killed.json"));
  await killAndFinish(estimate(join(dir, "rrr/killed.json")), duration);
  assertNoTemps(join(dir, "rrr"), "estimate");
  assert.ok(readFileSync(join(dir, "rrr/killed.json")).equals(readFileSync(join(dir, "rrr/ref.json"))));
});

test.run();
