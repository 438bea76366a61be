// Peers, measured side by side with our SIMD build in the same process and the
// same tinybench run (so machine load hits both alike):
//
// 1. matmul vs the TensorFlow.js WASM backend (@tensorflow/tfjs-backend-wasm,
//    XNNPACK inside; single thread, SIMD binary), on the shapes of
//    bench/matmul.bench.ts and the default training model's own products. Records: family "matmul", impl "tfjs-wasm", same
//    names as bench/matmul.bench.ts, so a --json consumer can put them next
//    to simd/scalar/js. The SIMD figures re-measured here for the ratio are
//    family "peers", impl "simd" (not duplicated into "matmul"); the speedup
//    measured with the two interleaved is family "peers", impl INTERLEAVED,
//    unit "ratio".
//
//    What is timed for tfjs: `tf.matMul(a, b, transposeA, transposeB)` then
//    `dispose()` of the result, with a and b resident on the backend. The wasm
//    backend runs the kernel synchronously inside matMul (output allocated in
//    its heap), so no dataSync() is needed to force it; dataSync() would only
//    add a copy of C out of the wasm heap, which our side does not pay either.
//    It does include tfjs's op dispatch and output allocation (a few µs).
//    Note XNNPACK caches its fully-connected operator, i.e. B packed, per B
//    tensor, so repeated calls with the same B skip the packing our kernel
//    redoes on every call; that is how a layer with fixed weights runs in tfjs.
//
// 2. SGLD steps/s vs PyTorch CPU (bench/torch_sgld.py, one thread), when
//    python3 with torch is available. Record: family "sgld", impl "pytorch-cpu".
//
// 3. Transformer SGLD steps/s vs PyTorch CPU (bench/torch_transformer_sgld.py:
//    the same attention-only TransformerLens model in plain PyTorch, eager, one
//    thread) on bench/transformer.bench.ts's default-model case at batch 32.
//    Record: family "sgld", impl "pytorch-cpu", named as transformer.bench.ts
//    names its record ("default training model SGLD", family "transformer"
//    there); ours re-measured here is family "peers", impl "simd".
//    Both are skipped, with the reason printed, when `python3 -c "import torch"` fails.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createEngine } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import {
  MATMUL_CASES, TRANSFORMER_MATMUL_CASES, fillUniform, interleavedSpeedup, meanLatencyMs, matmulCallsPerSample, matmulFlops, prepareWasmMatmul, printSideBySide, printTable,
  type BenchRecord, type MatmulOp, type MatmulShape,
} from "./common.ts";
import { MLP_CASES, mlpCaseName, stepsPerSecond as mlpStepsPerSecond } from "./sgld.bench.ts";
import { stepsPerSecond as transformerStepsPerSecond, BATCH as TRANSFORMER_BATCH, DEFAULT_LABEL as TRANSFORMER_LABEL } from "./transformer.bench.ts";
import { DEFAULT_TRAIN_MODEL } from "../src/train-job.ts";
import { modelLayout } from "../src/models.ts";

type Tf = typeof import("@tensorflow/tfjs-core");

/** Impl of the interleaved speedup records (simd ÷ tfjs-wasm, bench/common.ts interleavedSpeedup). */
const INTERLEAVED = "simd/tfjs interleaved";

/** tfjs-core + the wasm backend, single-threaded, wasm files from node_modules (no network). */
async function loadTfjs(): Promise<{ tf: Tf; simd: boolean; version: string } | { error: string }> {
  try {
    const tf = await import("@tensorflow/tfjs-core");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const require = createRequire(import.meta.url);
    const dist = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
    // A plain file path prefix works in Node (the emscripten loader reads it with fs).
    wasm.setWasmPaths({
      "tfjs-backend-wasm.wasm": join(dist, "tfjs-backend-wasm.wasm"),
      "tfjs-backend-wasm-simd.wasm": join(dist, "tfjs-backend-wasm-simd.wasm"),
      "tfjs-backend-wasm-threaded-simd.wasm": join(dist, "tfjs-backend-wasm-threaded-simd.wasm"),
    });
    wasm.setThreadsCount(1); // before setBackend
    if (!(await tf.setBackend("wasm"))) return { error: "tf.setBackend('wasm') returned false" };
    await tf.ready();
    return { tf, simd: tf.env().getBool("WASM_HAS_SIMD_SUPPORT") as boolean, version: wasm.version_wasm };
  } catch (e) {
    return { error: (e as Error).message.split("\n")[0] };
  }
}

function prepareTfjs(tf: Tf, op: MatmulOp, [M, N, K]: MatmulShape, calls: number) {
  const [tA, tB] = [op === "matmulAtB", op === "matmulABt"];
  const a = tf.tensor2d(fillUniform(new Float32Array(M * K), 1), tA ? [K, M] : [M, K]);
  const b = tf.tensor2d(fillUniform(new Float32Array(K * N), 2), tB ? [N, K] : [K, N]);
  return {
    fn: () => {
      for (let c = 0; c < calls; c++) tf.matMul(a, b, tA, tB).dispose();
    },
    c: () => {
      const t = tf.matMul(a, b, tA, tB);
      const out = t.dataSync() as Float32Array;
      t.dispose();
      return out;
    },
    /** The same product with the transpose done explicitly first (tfjs's XNNPACK path needs plain A·B). */
    fnExplicitTranspose: () => {
      for (let c = 0; c < calls; c++) {
        tf.tidy(() => tf.matMul(tA ? tf.transpose(a) : a, tB ? tf.transpose(b) : b));
      }
    },
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

async function matmulPeer(records: BenchRecord[]): Promise<void> {
  const loaded = await loadTfjs();
  if ("error" in loaded) {
    console.log(`\n(tfjs-wasm peer skipped: @tensorflow/tfjs-core / tfjs-backend-wasm did not load: ${loaded.error})`);
    return;
  }
  const { tf, simd: tfSimd, version } = loaded;
  console.log(`\ntfjs-backend-wasm ${version}, backend ${tf.getBackend()}, WASM_HAS_SIMD_SUPPORT=${tfSimd}, 1 thread`);
  const engine = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
  const local: BenchRecord[] = [];
  for (const { op, shape, name } of [...MATMUL_CASES, ...TRANSFORMER_MATMUL_CASES]) {
    const calls = matmulCallsPerSample(shape);
    const ours = prepareWasmMatmul(engine, op, shape, calls);
    const peer = prepareTfjs(tf, op, shape, calls);
    // Same product? (both f32; different summation order, so compare loosely)
    ours.fn();
    const x = ours.c(), y = peer.c();
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i] - y[i]));
    if (!(err <= 1e-3 * Math.sqrt(shape[2]))) throw new Error(`tfjs and simd disagree on ${name}: max |Δ| = ${err}`);
    const large = matmulFlops(shape) >= 2 * 256 ** 3;
    const timing = large ? { time: 600, warmupTime: 200, iterations: 3, warmupIterations: 1 } : { time: 700, warmupTime: 250 };
    const tasks = [{ name: "simd", fn: ours.fn }, { name: "tfjs-wasm", fn: peer.fn }];
    if (op !== "matmulAB") tasks.push({ name: "tfjs-wasm+transpose", fn: peer.fnExplicitTranspose });
    const means = await meanLatencyMs(tasks, timing);
    const speedup = interleavedSpeedup(ours.fn, peer.fn);
    peer.dispose();
    for (const [impl, ms] of means) {
      const value = (matmulFlops(shape) * calls) / (ms * 1e6);
      local.push({ family: impl === "tfjs-wasm" ? "matmul" : "peers", name, impl, shape: [...shape], unit: "GFLOP/s", value });
    }
    local.push({ family: "peers", name, impl: INTERLEAVED, shape: [...shape], unit: "ratio", value: speedup });
  }
  printSideBySide("matmul vs TensorFlow.js WASM (XNNPACK), 1 thread (GFLOP/s; simd re-measured in the same run)", local, [
    { impl: "simd" },
    { impl: "tfjs-wasm" },
    { ratio: ["simd", "tfjs-wasm"] },
    { impl: INTERLEAVED },
    { impl: "tfjs-wasm+transpose" },
    { ratio: ["simd", "tfjs-wasm+transpose"] },
  ]);
  console.log(
    "tfjs-wasm: tf.matMul(a, b, transposeA, transposeB) + dispose, operands resident; its XNNPACK path (B packed once and cached per tensor)\n" +
      "is taken only without transpose flags, otherwise a scalar blocked loop runs. tfjs-wasm+transpose: tf.transpose first, then plain matMul.\n" +
      `The last ${TRANSFORMER_MATMUL_CASES.length} rows are the default training model's products at batch 32 (projections, unembed chunk, their gradients).\n` +
      `${INTERLEAVED}: median over 9 rounds of tfjs's time / ours, the two timed back to back in each round (tinybench times one after the\n` +
      "other, so a slow spell of this shared VM can land on either mean).",
  );
  records.push(...local);
}

let torchPython: string | null | undefined;

/**
 * The first interpreter where `import torch` works (Debian's python3-torch installs
 * into /usr/bin/python3, then whatever python3 is on PATH); null, with the reason
 * printed once, if none.
 */
function findTorchPython(): string | null {
  if (torchPython !== undefined) return torchPython;
  const failures: string[] = [];
  for (const python of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(python, ["-c", "import torch"], { encoding: "utf8", timeout: 120_000 });
    if (r.status === 0) return (torchPython = python);
    failures.push(`${python}: ${r.error?.message ?? (r.stderr.trim().split("\n").pop() || `exit status ${r.status}`)}`);
  }
  console.log(`\n(pytorch-cpu peers skipped: \`python3 -c "import torch"\` failed (${failures.join("; ")}); \`apt-get install python3-torch\`)`);
  return (torchPython = null);
}

/** Runs a bench/*.py peer and parses its last stdout line (JSON); null (with a printed reason) if it cannot. */
function runTorchScript<T>(script: string, args: string[] = []): T | null {
  const python = findTorchPython();
  if (!python) return null;
  const r = spawnSync(python, [fileURLToPath(new URL(script, import.meta.url)), ...args], { encoding: "utf8", timeout: 600_000 });
  if (r.status === 0) {
    try {
      return JSON.parse(r.stdout.trim().split("\n").pop()!) as T;
    } catch {
      /* reported below */
    }
  }
  const why = r.error?.message ?? (r.stderr.trim().split("\n").pop() || `exit status ${r.status}, stdout ${JSON.stringify(r.stdout.slice(-200))}`);
  console.log(`\n(pytorch-cpu peer skipped: ${python} bench/${script.replace("./", "")} failed: ${why})`);
  return null;
}

interface TorchResult {
  stepsPerSecond: number;
  torch: string;
  threads: number;
  params: number;
  steps: number;
  blas: string;
}

/**
 * Each MLP case of bench/sgld.bench.ts (same model, data distribution, sampler
 * settings) in our SIMD build and in bench/torch_sgld.py, steps/s side by side.
 */
async function sgldPeer(records: BenchRecord[]): Promise<void> {
  const rows: string[][] = [];
  let torchInfo: TorchResult | null = null;
  for (const c of MLP_CASES) {
    const result = runTorchScript<TorchResult>("./torch_sgld.py", ["--sizes", c.sizes.join(","), "--batch", String(c.batch)]);
    if (!result) return;
    torchInfo = result;
    const ours = await mlpStepsPerSecond("simd", c);
    if (result.params !== ours.params) console.log(`(warning: the torch model has ${result.params} params, ours ${ours.params})`);
    const name = mlpCaseName(c, ours.params);
    const shape = [...c.sizes, c.batch];
    records.push({ family: "sgld", name, impl: "pytorch-cpu", shape, unit: "steps/s", value: result.stepsPerSecond });
    records.push({ family: "peers", name, impl: "simd", shape, unit: "steps/s", value: ours.value });
    rows.push([name, ours.value.toFixed(0), result.stepsPerSecond.toFixed(0), `${(ours.value / result.stepsPerSecond).toFixed(2)}×`]);
  }
  console.log(`\nPyTorch BLAS: ${torchInfo!.blas}`);
  printTable(`SGLD steps/s vs PyTorch ${torchInfo!.torch} CPU (${torchInfo!.threads} thread; same MLP, batch, update)`, ["", "simd", "pytorch-cpu", "simd/pytorch"], rows);
}

/** Steps per run(0) of our chain in the transformer comparison (as bench/transformer.bench.ts times it). */
const TRANSFORMER_STEPS = 10;

/**
 * bench/transformer.bench.ts's default-model case (DEFAULT_TRAIN_MODEL, batch 32,
 * T = n_ctx, 2·batch random token sequences, ε 1e-3, γ 200, nβ 30) in our SIMD
 * build and in bench/torch_transformer_sgld.py (eager PyTorch, no torch.compile).
 */
async function transformerSgldPeer(records: BenchRecord[]): Promise<void> {
  const m = DEFAULT_TRAIN_MODEL;
  const args = [
    "--batch", TRANSFORMER_BATCH, "--seq-len", m.n_ctx, "--n-seq", 2 * TRANSFORMER_BATCH,
    "--n-layers", m.n_layers, "--n-heads", m.n_heads, "--d-model", m.d_model, "--d-head", m.d_head, "--n-ctx", m.n_ctx, "--d-vocab", m.d_vocab,
    "--normalization", m.normalization ?? "none", "--positional-embedding", m.positional_embedding,
    ...(m.attn_bias ? [] : ["--no-attn-bias"]), ...(m.unembed_bias ? [] : ["--no-unembed-bias"]),
    "--epsilon", 1e-3, "--gamma", 200, "--nbeta", 30, "--seconds", 4,
  ].map(String);
  const result = runTorchScript<TorchResult & { compile: boolean }>("./torch_transformer_sgld.py", args);
  if (!result) return;
  const ours = await transformerStepsPerSecond("simd", m, TRANSFORMER_STEPS, 3000);
  const params = modelLayout(m).size;
  if (result.params !== params) console.log(`(warning: the torch transformer has ${result.params} params, ours ${params})`);
  const name = `${TRANSFORMER_LABEL} SGLD`;
  const shape = [m.n_layers, m.n_heads, m.d_model, m.d_head, m.n_ctx, m.d_vocab, TRANSFORMER_BATCH];
  records.push({ family: "sgld", name, impl: "pytorch-cpu", shape, unit: "steps/s", value: result.stepsPerSecond });
  records.push({ family: "peers", name, impl: "simd", shape, unit: "steps/s", value: ours.stepsPerSecond });
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
  printTable(
    `Transformer SGLD steps/s vs PyTorch ${result.torch} CPU (${result.threads} thread, ${result.compile ? "torch.compile" : "eager"}; ` +
      `${m.n_layers} layers, ${m.n_heads} heads, d_model ${m.d_model}, n_ctx ${m.n_ctx}, d_vocab ${m.d_vocab}, batch ${TRANSFORMER_BATCH}, ${params} params)`,
    ["", "simd", "pytorch-cpu", "simd/pytorch"],
    [[name, fmt(ours.stepsPerSecond), fmt(result.stepsPerSecond), `${(ours.stepsPerSecond / result.stepsPerSecond).toFixed(2)}×`]],
  );
  console.log(`(PyTorch: ${result.steps} timed steps; BLAS ${result.blas})`);
}

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  await matmulPeer(records);
  await sgldPeer(records);
  await transformerSgldPeer(records);
  return records;
}
