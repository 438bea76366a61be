// Chains on worker threads (src/parallel.ts, src/worker.ts): the same result JSON
// as the serial estimate for any number of workers, progress from several chains
// at once, cancel that terminates every worker at once and keeps the finished
// chains, divergence reported as the serial run reports it, resume, and the CLI's
// --workers giving the same file bytes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadEngine, scratchDir } from "./helpers.ts";
import { estimate, EstimateError, type EstimateInputs, type EstimateResult } from "../src/estimator.ts";
import { estimateParallel, type SpawnWorker } from "../src/parallel.ts";
import { nodeWorkers } from "../src/platform/node-workers.ts";
import { nodeHost } from "../src/platform/node.ts";
import { runEstimateJob, resultJson } from "../src/job.ts";
import { normalCrossingCase, reducedRankCase, type BuiltinCase } from "../src/cases.ts";
import type { EstimateConfig } from "../src/config.ts";
import { ChainDivergedError, type Progress } from "../src/sampler.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const wasm = await WebAssembly.compile(await nodeHost.wasmBytes("simd"));

/** The error a promise rejects with (it must reject). */
const rejection = (p: Promise<unknown>): Promise<any> => p.then(() => assert.unreachable("expected a rejection"), (e) => e);

/** nodeWorkers(), counting the workers started and terminated. */
function countingSpawn() {
  const base = nodeWorkers();
  const counts = { spawned: 0, terminated: 0 };
  const spawn: SpawnWorker = () => {
    const worker = base();
    counts.spawned++;
    const terminate = worker.terminate;
    worker.terminate = () => {
      counts.terminated++;
      terminate();
    };
    return worker;
  };
  return { spawn, counts };
}

async function prepare(c: BuiltinCase, sampler: Partial<EstimateConfig["sampler"]>, inputs?: EstimateInputs) {
  const engine = await loadEngine("simd");
  inputs ??= c.inputs(engine);
  const config: EstimateConfig = { ...c.config, sampler: { ...c.config.sampler, ...sampler } };
  return { config, inputs, serial: await estimate(engine, config, inputs) };
}

const rrr = reducedRankCase(5, 3, 5); // w* trained once, shared by two configs
const mlp = prepare(rrr, { chains: 5, draws: 300 });
const crossing = prepare(normalCrossingCase([1, 2]), { chains: 4, draws: 300 });
// With a full-data L0 the workers are handed this thread's L0 rather than recomputing it.
const fullL0 = prepare(reducedRankCase(5, 3, 5), { chains: 3, draws: 200, init_loss: "full" });

for (const [label, made] of [["MLP 5→3→5", mlp], ["normal crossing [1,2]", crossing], ["MLP 5→3→5, init_loss full", fullL0]] as const) {
  test(`${label}: result JSON for 1, 2 and 3 workers equals the serial estimate's`, async () => {
    const { config, inputs, serial } = await made;
    const expected = JSON.stringify(serial);
    for (const workers of [1, 2, 3]) {
      const { spawn, counts } = countingSpawn();
      const chained: number[] = [];
      const r = await estimateParallel(config, inputs, { workers, wasm, spawn, onChain: (c) => void chained.push(c) });
      assert.is(JSON.stringify(r), expected, `${workers} workers`);
      assert.equal(chained, [0, 1, 2, 3, 4].slice(0, config.sampler.chains), "onChain in chain order, once each");
      assert.is(counts.spawned, workers);
      assert.is(counts.terminated, workers, "every worker is terminated at the end");
    }
  });
}

test("resume: with the first chains given as completed, the result is still the serial one", async () => {
  const { config, inputs, serial } = await mlp;
  const completed = [0, 1].map((c) => ({
    loss: serial["loss/trace"][c], mala: serial["mala_accept/trace"][c], gradientNorm: serial["gradient_norm/trace"][c],
    noiseNorm: serial["noise_norm/trace"][c], distance: serial["distance/trace"][c], weightNorm: serial["weight_norm/trace"][c],
  }));
  const seen = new Set<number>();
  const r = await estimateParallel(config, inputs, { workers: 2, wasm, spawn: nodeWorkers(), completed, onProgress: (p) => seen.add(p.chain) });
  assert.is(JSON.stringify(r), JSON.stringify(serial));
  assert.equal([...seen].sort(), [2, 3, 4], "only the missing chains run");
});

// Long enough chains (~0.5 s each) that two workers overlap whatever their start-up times.
const long = mlp.then(({ inputs }) => prepare(rrr, { chains: 4, draws: 3000 }, inputs));

test("with 2 workers, progress streams from two chains at once; the result is still the serial one", async () => {
  const { config, inputs, serial } = await long;
  const events: Progress[] = [];
  const r = await estimateParallel(config, inputs, { workers: 2, wasm, spawn: nodeWorkers(), onProgress: (p) => events.push(p) });
  assert.is(JSON.stringify(r), JSON.stringify(serial));
  const chain0 = events.flatMap((e, i) => (e.chain === 0 ? [i] : []));
  const chain1 = events.flatMap((e, i) => (e.chain === 1 ? [i] : []));
  assert.ok(chain1[0] < chain0[chain0.length - 1] && chain0[0] < chain1[chain1.length - 1], "chains 0 and 1 report interleaved");
  assert.is(events.filter((e) => e.chain === 3).at(-1)!.draw, 2999);
});

test("cancel after the first progress event: rejects within a second with a partial result and stops every worker", async () => {
  const { config, inputs } = await long;
  const huge = { ...config, sampler: { ...config.sampler, draws: 1_000_000 } }; // minutes of work per chain
  const controller = new AbortController();
  const { spawn, counts } = countingSpawn();
  let abortedAt = 0;
  const run = estimateParallel(huge, inputs, {
    workers: 2, wasm, spawn, signal: controller.signal,
    onProgress: () => {
      if (abortedAt) return;
      abortedAt = performance.now();
      controller.abort();
    },
  });
  const error = await rejection(run);
  const seconds = (performance.now() - abortedAt) / 1000;
  assert.instance(error, EstimateError);
  assert.is(error.name, "AbortError");
  const partial = (error as EstimateError).partial;
  assert.is(partial.status, "partial");
  assert.is(partial.chains_completed, 0);
  assert.ok(seconds < 1, `rejected ${seconds.toFixed(3)} s after the abort`);
  assert.is(counts.terminated, counts.spawned);
  // Terminated means stopped computing: this process (all its threads) is now idle.
  await new Promise((r) => setTimeout(r, 200));
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  await new Promise((r) => setTimeout(r, 500));
  const cpu = process.cpuUsage(cpu0), wall = (performance.now() - t0) * 1000;
  assert.ok(cpu.user + cpu.system < 0.3 * wall, `CPU ${((cpu.user + cpu.system) / wall).toFixed(2)} of one core after cancel`);
});

test("cancel after the first finished chain: the partial result holds the finished chains, as the serial run made them", async () => {
  const { config, inputs, serial } = await long;
  const controller = new AbortController();
  const error = await rejection(estimateParallel(config, inputs, {
    workers: 2, wasm, spawn: nodeWorkers(), signal: controller.signal,
    onChain: () => controller.abort(),
  }));
  assert.instance(error, EstimateError);
  const partial = (error as EstimateError).partial;
  assert.is(partial.status, "partial");
  const n = partial.chains_completed;
  assert.ok(n >= 1 && n < 4, `${n} chains`);
  assert.equal(partial["loss/trace"], serial["loss/trace"].slice(0, n));
  assert.equal(partial["llc/means"], summarizedMeans(serial, n), "llc/means over the finished chains");
  // An already-aborted signal rejects before any worker starts.
  const { spawn, counts } = countingSpawn();
  const early = await rejection(estimateParallel(config, inputs, { workers: 2, wasm, spawn, signal: AbortSignal.abort() }));
  assert.instance(early, EstimateError);
  assert.is(counts.spawned, 0);
});

function summarizedMeans(serial: EstimateResult, n: number): number[] {
  const traces = serial["llc/trace"].slice(0, n);
  return traces[0].map((_, d) => traces.reduce((a, t) => a + t[d], 0) / n);
}

/** fail_fast: the first diverged chain stops the estimate, as devinterp does. */
async function divergence(sampler: Record<string, unknown>) {
  const c = normalCrossingCase([2, 2], { ...sampler, fail_fast: true });
  const engine = await loadEngine("simd");
  const inputs: EstimateInputs = c.inputs(engine);
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  const chained: number[] = [];
  const serial = await rejection(estimate(engine, c.config, inputs, { onChain: (ch) => void chained.push(ch) }));
  assert.instance(serial, ChainDivergedError);
  return { config: c.config, inputs, serial, chained };
}

test("divergence (devinterp test_llc_nan): the same error message and partial result as the serial run", async () => {
  const { config, inputs, serial } = await divergence({ chains: 3, draws: 50, epsilon: 1000, nbeta: 1000 });
  assert.match(serial.message, /detected in loss at chain 0, draw \d+/);
  for (const workers of [2, 3]) {
    const e = await rejection(estimateParallel(config, inputs, { workers, wasm, spawn: nodeWorkers() }));
    assert.instance(e, ChainDivergedError);
    assert.instance(e, EstimateError);
    assert.is(e.name, "ChainDivergedError");
    assert.is(e.message, serial.message);
    assert.is(JSON.stringify((e as EstimateError).partial), JSON.stringify(serial.partial), `${workers} workers`);
  }
});

test("divergence of a later chain: the lowest diverged chain wins even when a higher one fails first", async () => {
  // Chains 0 and 1 survive 100 draws; chain 2 diverges at draw 75, chain 3 already at draw 19.
  const { config, inputs, serial, chained } = await divergence({ chains: 6, draws: 100, epsilon: 0.02, nbeta: 100 });
  assert.match(serial.message, /detected in loss at chain 2, draw 75/);
  for (const workers of [2, 4]) {
    const seen: number[] = [];
    const e = await rejection(estimateParallel(config, inputs, { workers, wasm, spawn: nodeWorkers(), onChain: (c) => void seen.push(c) }));
    assert.instance(e, EstimateError);
    assert.is(e.message, serial.message);
    assert.is(JSON.stringify((e as EstimateError).partial), JSON.stringify(serial.partial), `${workers} workers`);
    assert.equal(seen, chained, "onChain for the chains before the diverged one, as serially");
  }
});

test("divergence without fail_fast: every chain runs, on any number of workers; the same result as the serial run", async () => {
  // As above: chains 0 and 1 survive, chains 2 and 3 diverge (draws 75 and 19).
  const c = normalCrossingCase([2, 2], { chains: 4, draws: 100, epsilon: 0.02, nbeta: 100 });
  const engine = await loadEngine("simd");
  const inputs: EstimateInputs = c.inputs(engine);
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  const serial = await estimate(engine, c.config, inputs);
  assert.is(serial.status, "diverged");
  assert.equal(serial.diverged_chains!.map((d) => [d.chain, d.draw]), [[2, 75], [3, 19]]);
  assert.is(serial.chains_completed, 2);
  assert.is(serial.chains_completed, 2);
  assert.is(serial["loss/trace"].length, 4, "every chain ran");
  // llc/mean is the mean of the two healthy chains' λ̂, exactly as summed in chain order.
  assert.is(serial["llc/mean"], (serial["llc-chain/0"] + serial["llc-chain/1"]) / 2);
  assert.ok(Number.isNaN(serial["llc-chain/2"]) && Number.isNaN(serial["llc-chain/3"]));
  for (const workers of [2, 3]) {
    const parallel = await estimateParallel(c.config, inputs, { workers, wasm, spawn: nodeWorkers() });
    assert.is(JSON.stringify(parallel), JSON.stringify(serial), `${workers} workers`);
  }
});

test("a worker that cannot start is an error, not a hang", async () => {
  const { config, inputs } = await mlp;
  const spawn = nodeWorkers(new URL("./no-such-worker.js", import.meta.url));
  const e = await rejection(estimateParallel(config, inputs, { workers: 2, wasm, spawn }));
  assert.match(e.message, /no-such-worker/);
});

// ------------------------------------------------------------ jobs and the CLI
const dir = scratchDir("llc-parallel-");
const caseDir = join(dir, "rrr");
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });

function writeConfig(name: string, sampler: Record<string, unknown>): string {
  const config = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8"));
  Object.assign(config.sampler, sampler);
  const path = join(caseDir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

test("llc estimate --workers 2 writes the same bytes as --workers 1; bad counts are usage errors", () => {
  const made = llc(["example", "rrr", "--dir", caseDir]);
  assert.is(made.status, 0, made.stderr);
  const path = writeConfig("short.json", { chains: 3, draws: 200 });
  const files = [1, 2].map((n) => {
    const out = join(dir, `workers-${n}.json`);
    const r = llc(["estimate", "--config", path, "--out", out, "--quiet", "--workers", String(n)]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr, "");
    return readFileSync(out, "utf8");
  });
  assert.is(files[1], files[0]);
  assert.is(JSON.parse(files[0]).status, "complete");
  for (const bad of ["0", "1.5", "two"]) {
    const r = llc(["estimate", "--config", path, "--workers", bad]);
    assert.is(r.status, 2);
    assert.match(r.stderr, /--workers: expected an integer >= 1/);
  }
});

test("a parallel job cancelled mid-way saves its finished chains and resumes, with other workers, to the same bytes", async () => {
  const path = writeConfig("resume.json", { chains: 4, draws: 1000 });
  const reference = join(dir, "reference.json");
  assert.is(llc(["estimate", "--config", path, "--out", reference, "--quiet"]).status, 0);
  const out = join(dir, "resumed.json");
  const controller = new AbortController();
  const stopped = await rejection(runEstimateJob(nodeHost, path, {
    out, workers: 2, spawn: nodeWorkers(), signal: controller.signal,
    onProgress: (p) => p.chain === 3 && controller.abort(), // chain 3 starts once two chains have finished
  }));
  assert.instance(stopped, EstimateError);
  const partial = JSON.parse(readFileSync(out, "utf8"));
  assert.is(partial.status, "partial");
  let resumedFrom = -1;
  const result = await runEstimateJob(nodeHost, path, { out, workers: 3, spawn: nodeWorkers(), onResume: (n) => (resumedFrom = n) });
  assert.is(resumedFrom, partial.chains_completed > 0 ? partial.chains_completed : -1);
  assert.is(readFileSync(out, "utf8"), readFileSync(reference, "utf8"));
  assert.is(resultJson(result), readFileSync(reference, "utf8"));
});

// A leaked worker would keep this process alive: fail instead of hanging CI.
test.after(() => {
  setTimeout(() => {
    console.error("parallel.test.ts: the process did not exit (a worker left running?)");
    process.exit(1);
  }, 10_000).unref();
});

test.run();
