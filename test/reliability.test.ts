// Nothing a user gives it may destroy their files or return a number without a
// word (issues 10 and 12): outputs that are inputs or another job's result, a
// finished job rerun, resumed traces that do not fit the job, a checkpoint whose
// model the config contradicts, output locations that cannot be written, stale
// temp files, and training runs that lose their end or mix two configs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./helpers.ts";
import { nodeHost } from "../src/platform/node.ts";
import { FileError } from "../src/platform/host.ts";
import { runEstimateJob, resultJson } from "../src/job.ts";
import { runTrainingJob } from "../src/train-job.ts";
import { InputError } from "../src/estimator.ts";
import { ConfigError } from "../src/config.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const llc = (args: string[], timeout = 120_000) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8", timeout });
const dir = scratchDir("llc-reliability-");
const caseDir = join(dir, "rrr");
const nodeModules = join(root, "node_modules");

/** The error a promise rejects with (it must reject). */
const rejection = (p: Promise<unknown>): Promise<any> => p.then(() => assert.unreachable("expected a rejection"), (e) => e);

test.before(() => {
  const made = llc(["example", "rrr", "--dir", caseDir]);
  assert.is(made.status, 0, made.stderr);
});

function writeConfig(name: string, edit: (c: any) => void): string {
  const config = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8"));
  Object.assign(config.sampler, { chains: 2, draws: 200, workers: 1 });
  edit(config);
  const path = join(caseDir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

// ------------------------------------------------------------ outputs that are inputs
test("--out equal to the config, the weights or the data (also through ./ and a symlink) is refused before any work; the file is untouched", async () => {
  const config = writeConfig("self.json", () => {});
  symlinkSync(join(caseDir, "weights.safetensors"), join(dir, "weights-link.safetensors"));
  const cases: [string, RegExp][] = [
    [join(caseDir, ".", "self.json"), /this job's config/],
    [join(dir, "weights-link.safetensors"), /this job's weights \(the config's "weights"\)/],
    [join(caseDir, "..", "rrr", "data.safetensors"), /this job's data \(the config's "data"\)/],
  ];
  for (const [out, what] of cases) {
    const before = readFileSync(out);
    let progressed = false;
    const e = await rejection(runEstimateJob(nodeHost, config, { out, onProgress: () => (progressed = true) }));
    assert.instance(e, FileError);
    assert.match(e.message, `cannot write ${out}: it is`);
    assert.match(e.message, what);
    assert.ok(!progressed, "refused before any chain ran");
    assert.equal(readFileSync(out), before, `${out} is untouched`);
  }
});

// ------------------------------------------------------------ another job's file, a finished job, --force
test("--out holding another job's result is refused naming it; a finished identical job is reported done, not recomputed; --force recomputes", async () => {
  const a = writeConfig("job-a.json", (c) => { c.name = "job a"; });
  const b = writeConfig("job-b.json", (c) => { c.name = "job b"; c.sampler.seed = 7; });
  const out = join(dir, "ab.json");
  const first = await runEstimateJob(nodeHost, a, { out });
  const bytes = readFileSync(out, "utf8");
  assert.is(bytes, resultJson(first));
  const other = await rejection(runEstimateJob(nodeHost, b, { out }));
  assert.instance(other, FileError);
  assert.match(other.message, `cannot write ${out}: it holds the result of another job "job a" (job ${first.job}`);
  assert.is(readFileSync(out, "utf8"), bytes, "untouched");
  let progressed = 0, finished = 0;
  const again = await runEstimateJob(nodeHost, a, { out, onProgress: () => progressed++, onFinished: () => finished++ });
  assert.is(progressed, 0, "nothing recomputed");
  assert.is(finished, 1);
  assert.is(resultJson(again), bytes);
  const forced = await runEstimateJob(nodeHost, b, { out, force: true });
  assert.is(readFileSync(out, "utf8"), resultJson(forced));
  // Not a result at all (a user's notes): refused too.
  const notes = join(dir, "notes.json");
  writeFileSync(notes, '{"todo": "keep me"}');
  assert.match((await rejection(runEstimateJob(nodeHost, a, { out: notes }))).message, /it exists and is not a result of llc estimate/);
  assert.is(readFileSync(notes, "utf8"), '{"todo": "keep me"}');
  // The CLI: --force is a flag of llc estimate, and a finished job says so.
  const cli = llc(["estimate", "--config", a, "--out", out, "--force"]);
  assert.is(cli.status, 0, cli.stderr);
  const done = llc(["estimate", "--config", a, "--out", out]);
  assert.is(done.status, 0, done.stderr);
  assert.match(done.stderr, "already holds this job's finished result (nothing recomputed");
});

// ------------------------------------------------------------ resume checks every trace
test("resume redoes a chain whose traces do not fit the job (cut short, a trace missing) and ends in the uninterrupted bytes", async () => {
  const config = writeConfig("resume.json", () => {});
  const reference = join(dir, "resume-reference.json");
  const full = JSON.parse(resultJson(await runEstimateJob(nodeHost, config, { out: reference })));
  const tamper = async (name: string, edit: (r: any) => void, expectResumed: number) => {
    const r = structuredClone(full);
    r.status = "partial";
    edit(r);
    const out = join(dir, name);
    writeFileSync(out, resultJson(r));
    let resumed = -1;
    await runEstimateJob(nodeHost, config, { out, onResume: (n) => (resumed = n) });
    assert.is(resumed, expectResumed, `${name}: chains resumed`);
    assert.is(readFileSync(out, "utf8"), readFileSync(reference, "utf8"), name);
  };
  // Chain 1 cut to 10 of 200 draws: chain 0 is kept, chain 1 redone.
  await tamper("cut.json", (r) => {
    for (const key of ["loss/trace", "llc/trace", "mala_accept/trace", "gradient_norm/trace", "noise_norm/trace", "distance/trace", "weight_norm/trace"]) r[key][1] = r[key][1].slice(0, 10);
  }, 1);
  // No MALA trace at all: both chains redone.
  await tamper("no-mala.json", (r) => { delete r["mala_accept/trace"]; }, -1);
  // A value that is not a number in chain 1's loss.
  await tamper("string.json", (r) => { r["loss/trace"][1][5] = "0.5"; }, 1);
});

// ------------------------------------------------------------ outputs that cannot be written
test("an --out that cannot be written fails before any work, naming the path: under a file, under /proc (no spinning mkdir)", async () => {
  const config = writeConfig("unwritable.json", () => {});
  let progressed = false;
  const underFile = join(caseDir, "weights.safetensors", "result.json");
  const e = await rejection(runEstimateJob(nodeHost, config, { out: underFile, onProgress: () => (progressed = true) }));
  assert.instance(e, FileError);
  assert.match(e.message, `cannot create directory ${join(caseDir, "weights.safetensors")}`);
  assert.ok(!progressed, "no chain ran");
  // Node's recursive mkdir under /proc never returns; a plain one fails at once (the timeout only guards against a hang).
  const r = llc(["estimate", "--config", config, "--out", "/proc/llc-test/x/result.json"], 60_000);
  assert.is(r.error, undefined, "llc estimate did not return");
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^llc: FileError: cannot create directory \/proc\/llc-test: no such file or directory \(ENOENT\)/);
});

test("a full disk: the error names the file and no temp file is left (tmpfs of 64 KiB in a user namespace)", () => {
  const probe = spawnSync("unshare", ["-rm", "true"]);
  if (probe.status !== 0) {
    console.log(`  skipped: unshare -rm is not available here (${probe.error?.message ?? probe.stderr}); it needs user namespaces (util-linux)`);
    return;
  }
  const config = writeConfig("full.json", (c) => { c.sampler.draws = 2000; });
  const mnt = join(dir, "small");
  mkdirSync(mnt);
  const script = `mount -t tmpfs -o size=64k tmpfs "${mnt}" && "${process.execPath}" "${join(root, "bin/llc.mjs")}" estimate --config "${config}" --out "${mnt}/result.json" --quiet; echo "exit $?"; ls -a "${mnt}"`;
  const r = spawnSync("unshare", ["-rm", "sh", "-c", script], { encoding: "utf8" });
  assert.match(r.stderr, `llc: FileError: cannot write ${mnt}/result.json: no space left on device (ENOSPC)`);
  assert.match(r.stdout, "exit 1");
  assert.not.match(r.stdout, /\.tmp-/, `a temp file was left: ${r.stdout}`);
});

test("temp files of killed writes to --out are removed by the next run; a live process's are not", async () => {
  const config = writeConfig("stale.json", () => {});
  const out = join(dir, "stale-result.json");
  const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // a process that has exited
  const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 600000)"]);
  writeFileSync(`${out}.tmp-${dead}`, "half a file");
  writeFileSync(`${out}.tmp-${live.pid}`, "another process's write in progress");
  try {
    await runEstimateJob(nodeHost, config, { out });
    assert.not.ok(existsSync(`${out}.tmp-${dead}`), "the dead process's temp file is gone");
    assert.ok(existsSync(`${out}.tmp-${live.pid}`), "a live process's temp file is kept");
  } finally {
    live.kill();
  }
});

// ------------------------------------------------------------ inputs
test("a missing weights or data file names the config field and the path", async () => {
  const weights = writeConfig("no-weights.json", (c) => { c.weights = "nowhere.safetensors"; });
  const e = await rejection(runEstimateJob(nodeHost, weights));
  assert.instance(e, InputError);
  assert.match(e.message, `weights: ENOENT: no such file or directory, open '${join(caseDir, "nowhere.safetensors")}'`);
  const data = writeConfig("no-data.json", (c) => { c.data = "missing/data.safetensors"; });
  assert.match((await rejection(runEstimateJob(nodeHost, data))).message, /^data: ENOENT: .*missing\/data\.safetensors/);
});

// ------------------------------------------------------------ the CLI says when ε is too large
test("llc estimate warns on stderr when MALA acceptance says ε is too large (ε 0.02 on rrr: λ̂ 9.4 for a true 6.5)", () => {
  const config = writeConfig("eps.json", (c) => { c.sampler.epsilon = 0.02; c.sampler.draws = 1000; });
  const r = llc(["estimate", "--config", config]);
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.ok(result["mala_accept/mean"] < 0.8, `MALA ${result["mala_accept/mean"]}`);
  assert.match(r.stderr, /warning: Low MALA acceptance: mala_accept\/mean = 0\.\d+ < 0\.8: the step size ε is too large/);
  const quiet = llc(["estimate", "--config", writeConfig("eps-ok.json", () => {})]);
  assert.not.match(quiet.stderr, /warning:/, "the example's own ε draws no warning");
});

// ------------------------------------------------------------ divergence: resumable for the healthy chains
test("a fail_fast error result resumes its healthy chains: rerun without fail_fast, the same bytes as an uninterrupted run", async () => {
  // ε 0.02, nβ 100 on normal crossing [2,2] at (0.5, 0.5): chains 0, 1 survive 100 draws, chain 2 diverges at draw 75, chain 3 at 19.
  const { normalCrossingCase } = await import("../src/cases.ts");
  const { writeSafetensors } = await import("../src/io/safetensors.ts");
  const { createEngine } = await import("../src/engine.ts");
  const c = normalCrossingCase([2, 2], { chains: 4, draws: 100, epsilon: 0.02, nbeta: 100, workers: 1 });
  const inputs = c.inputs(await createEngine(await nodeHost.wasmBytes("simd"), "simd"));
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  const ncDir = join(dir, "nc");
  mkdirSync(ncDir);
  writeFileSync(join(ncDir, "w.safetensors"), writeSafetensors(inputs.weights));
  writeFileSync(join(ncDir, "d.safetensors"), writeSafetensors(inputs.data));
  const write = (name: string, failFast: boolean) => {
    const path = join(ncDir, name);
    writeFileSync(path, JSON.stringify({ ...c.config, weights: "w.safetensors", data: "d.safetensors", sampler: { ...c.config.sampler, fail_fast: failFast } }));
    return path;
  };
  const reference = join(ncDir, "reference.json");
  const whole = await runEstimateJob(nodeHost, write("all.json", false), { out: reference });
  assert.is(whole.status, "diverged");
  assert.equal(whole.diverged_chains!.map((d) => d.chain), [2, 3]);
  const out = join(ncDir, "resumed.json");
  const stopped = await rejection(runEstimateJob(nodeHost, write("fast.json", true), { out }));
  assert.is(stopped.name, "ChainDivergedError");
  const saved = JSON.parse(readFileSync(out, "utf8"));
  assert.is(saved.status, "error");
  assert.is(saved["loss/trace"].length, 3, "chains 0, 1 and the diverged chain 2");
  let resumed = 0;
  await runEstimateJob(nodeHost, join(ncDir, "all.json"), { out, onResume: (n) => (resumed = n) });
  assert.is(resumed, 3, "the healthy chains and the diverged one are kept");
  assert.is(readFileSync(out, "utf8"), readFileSync(reference, "utf8"));
  // The CLI: a diverged result exits 1 and says which chains and what the estimate is over.
  const cli = llc(["estimate", "--config", join(ncDir, "all.json"), "--out", join(ncDir, "cli.json")]);
  assert.is(cli.status, 1);
  assert.match(cli.stderr, /llc: 2 of 4 chains diverged \(first: Inf detected in loss at chain 2, draw 75 .*\); the result in .*cli\.json has status "diverged" and λ̂ over the 2 healthy chain\(s\)/);
  assert.match(cli.stderr, /warning: 2 chain\(s\) diverged: chain\(s\) 2, 3 diverged/);
});

// ------------------------------------------------------------ the transformer: checkpoint and training runs
const model = { kind: "transformer", n_layers: 1, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 16, d_vocab: 260, positional_embedding: "shortformer" };
const trainConfig = { model, data: { vocab_size: 260, max_bytes_per_corpus: 20_000 }, batch_size: 4, steps: 40, checkpoints: [0, 20], eval_every: 10, eval_sequences: 8, out: "run" };
const train = (config: unknown, options: { onLog?: (line: { step: number }) => void } = {}) => runTrainingJob(nodeHost, { config, baseDir: dir }, { nodeModules, ...options });

test("llc train's log reaches the disk as it goes, not only at checkpoints", async () => {
  const log = join(dir, "run-log/log.jsonl");
  const seen: number[] = [];
  await train({ ...trainConfig, checkpoints: [0], out: "run-log" }, {
    onLog: (line) => {
      const lines = readFileSync(log, "utf8").trim().split("\n");
      assert.equal(JSON.parse(lines[lines.length - 1]), line, `step ${line.step}: the line is on disk when it is reported`);
      seen.push(line.step);
    },
  });
  assert.ok(seen.includes(30), "a line between checkpoints was checked");
});

test("llc train with checkpoints that omit the last step still keeps the final weights and the whole log; a rerun trains nothing", async () => {
  const { dir: run, step } = await train(trainConfig);
  assert.is(step, 40);
  assert.ok(existsSync(join(run, "checkpoints/step-000040.safetensors")), "the final step is saved");
  const log = readFileSync(join(run, "log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(log.filter((l) => l.loss !== undefined).map((l) => l.step), [10, 20, 30, 40]);
  assert.equal(log.filter((l) => l.heldout_loss !== undefined).map((l) => l.step), [0, 20, 40]);
  let logged = 0;
  await train(trainConfig, { onLog: () => logged++ });
  assert.is(logged, 0, "the rerun finds the run finished");
});

test("llc train refuses to resume a run with another config, naming the fields; steps may grow", async () => {
  const changed = { ...trainConfig, batch_size: 2, optimizer: { lr: 3e-2 } };
  const e = await rejection(train(changed));
  assert.match(e.message, /was trained with another config; resuming would mix two runs in one directory/);
  assert.match(e.message, "optimizer.lr: 0.001 in the run, 0.03 now");
  assert.match(e.message, "batch_size: 4 in the run, 2 now");
  const { step } = await train({ ...trainConfig, steps: 50 });
  assert.is(step, 50, "a longer run continues the same one");
});

test("llc train refuses data with no training sequence or no held-out sequence, naming the field", async () => {
  const none = await rejection(train({ ...trainConfig, data: { ...trainConfig.data, max_bytes_per_corpus: 1 }, out: "run-empty" }));
  assert.instance(none, ConfigError);
  assert.match(none.message, /^data\.max_bytes_per_corpus: the corpora give 0 training sequences of 16 tokens/);
  const noHeldout = await rejection(train({ ...trainConfig, data: { ...trainConfig.data, max_bytes_per_corpus: 300, heldout_every: 1000 }, out: "run-small" }));
  assert.match(noHeldout.message, /^data\.heldout_every: the held-out split has 0 sequences/);
});

test("a transformer config that contradicts the checkpoint's recorded model (positional_embedding) is refused, naming the field and both values", async () => {
  const run = join(dir, "run");
  const path = join(dir, "standard.json");
  writeFileSync(path, JSON.stringify({
    model: { ...model, positional_embedding: "standard" }, weights: "run/checkpoints/step-000020.safetensors", data: "run/data/mix-heldout.safetensors",
    sampler: { epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 1, draws: 5, batch_size: 4 },
  }));
  assert.ok(existsSync(join(run, "checkpoints/step-000020.safetensors")));
  const e = await rejection(runEstimateJob(nodeHost, path));
  assert.instance(e, InputError);
  assert.is(e.field, "model.positional_embedding");
  assert.match(e.message, 'model.positional_embedding: the config says "standard", but the weights run/checkpoints/step-000020.safetensors were trained with "shortformer"');
});

test("llc sweep into an --out that cannot be written, or onto its own sampler file, fails before any estimate, naming the path", () => {
  const sampler = join(dir, "sweep-sampler.json");
  writeFileSync(sampler, JSON.stringify({ epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 1, draws: 5, batch_size: 4 }));
  const r = llc(["sweep", "--run", join(dir, "run"), "--sampler", sampler, "--out", "/proc/llc-test/s.jsonl"], 60_000);
  assert.is(r.error, undefined, "llc sweep did not return");
  assert.is(r.status, 1);
  assert.match(r.stderr, /^llc: FileError: cannot create directory \/proc\/llc-test/);
  const self = llc(["sweep", "--run", join(dir, "run"), "--sampler", sampler, "--out", sampler]);
  assert.is(self.status, 1);
  assert.match(self.stderr, "is the sweep's sampler file; writing rows there would destroy it");
  assert.ok(JSON.parse(readFileSync(sampler, "utf8")).epsilon === 1e-3, "the sampler file is untouched");
});

test("llc train into a directory that cannot be written fails before any work, naming the path", async () => {
  const e = await rejection(train({ ...trainConfig, out: "/proc/llc-train-run" }));
  assert.instance(e, FileError);
  assert.match(e.message, /cannot create directory \/proc\/llc-train-run/);
  assert.not.ok(readdirSync(dir).includes("llc-train-run"));
});

test.run();
