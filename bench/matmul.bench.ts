// GFLOP/s (2·M·N·K / mean latency) of the matmul kernels: SIMD wasm, scalar
// wasm and plain JS, on square shapes and one tall-skinny shape (a batch of
// activations times a weight matrix), plus A·Bᵀ and Aᵀ·B at 256³.
//
// The plain-JS baseline is the best simple loop order (i-k-j over
// Float32Array). It is not the f32-exact reference: `C[i] += a*b` rounds the
// f64 product only once, on store (research notes §3.2 c), so it is a speed
// baseline only.
import type { Engine } from "../src/engine.ts";
import { fillUniform, loadEngines, meanLatencyMs, printSideBySide, type BenchRecord, type BenchTask, prepareWasmMatmul } from "./common.ts";

type Op = "matmulAB" | "matmulABt" | "matmulAtB";
type Shape = [M: number, N: number, K: number];

const SQUARE_SIZES = [32, 64, 128, 256, 512];
const TALL_SKINNY: Shape = [4096, 32, 256];
const OTHER_OPS_SIZE = 256;
/**
 * Plain JS runs at ~0.5 GFLOP/s, so 512³ takes about half a second per call:
 * measure it with a few samples (see `measure`) and skip anything bigger.
 */
const JS_MAX_FLOPS = 2 * 512 ** 3;

const opLabel: Record<Op, string> = { matmulAB: "AB", matmulABt: "ABt", matmulAtB: "AtB" };

const prepareWasm = (engine: Engine, op: Op, shape: Shape, calls: number) => prepareWasmMatmul(engine, op, shape, calls).fn;

/** C = A·B in plain JS, i-k-j order (contiguous inner loop over rows of B and C). */
function prepareJs([M, N, K]: Shape, calls: number): () => void {
  const A = fillUniform(new Float32Array(M * K), 1);
  const B = fillUniform(new Float32Array(K * N), 2);
  const C = new Float32Array(M * N);
  const once = () => {
    C.fill(0);
    for (let i = 0; i < M; i++) {
      const cRow = i * N;
      for (let k = 0; k < K; k++) {
        const a = A[i * K + k];
        const bRow = k * N;
        for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
      }
    }
  };
  return () => {
    for (let c = 0; c < calls; c++) once();
  };
}

const flops = ([M, N, K]: Shape) => 2 * M * N * K;

/**
 * Small products take about a microsecond; repeat them inside one sample so
 * each sample is long against the timer's resolution (~4 MFLOP per sample).
 */
const callsPerSample = (shape: Shape) => Math.max(1, Math.round(4e6 / flops(shape)));

async function measure(family: string, op: Op, shape: Shape, impls: Record<string, () => void>, calls: number, large: boolean): Promise<BenchRecord[]> {
  const tasks: BenchTask[] = Object.entries(impls).map(([impl, fn]) => ({ name: impl, fn }));
  // Large shapes: fewer minimum samples (the slow JS and scalar paths dominate the run time).
  const timing = large ? { time: 600, warmupTime: 200, iterations: 3, warmupIterations: 1 } : { time: 700, warmupTime: 250 };
  const means = await meanLatencyMs(tasks, timing);
  const name = `${opLabel[op]} ${shape.join("x")}`;
  return [...means].map(([impl, ms]) => ({
    family,
    name,
    impl,
    shape: [...shape],
    unit: "GFLOP/s",
    value: (flops(shape) * calls) / (ms * 1e6),
  }));
}

export async function run(): Promise<BenchRecord[]> {
  const engines = await loadEngines();
  const records: BenchRecord[] = [];
  const abShapes: Shape[] = [...SQUARE_SIZES.map((n) => [n, n, n] as Shape), TALL_SKINNY];
  for (const shape of abShapes) {
    const calls = callsPerSample(shape);
    const impls: Record<string, () => void> = {
      simd: prepareWasm(engines.simd, "matmulAB", shape, calls),
      scalar: prepareWasm(engines.scalar, "matmulAB", shape, calls),
    };
    if (flops(shape) <= JS_MAX_FLOPS) impls.js = prepareJs(shape, calls);
    const large = flops(shape) >= 2 * 256 ** 3;
    records.push(...(await measure("matmul", "matmulAB", shape, impls, calls, large)));
  }
  for (const op of ["matmulABt", "matmulAtB"] as Op[]) {
    const shape: Shape = [OTHER_OPS_SIZE, OTHER_OPS_SIZE, OTHER_OPS_SIZE];
    const calls = callsPerSample(shape);
    const impls = { simd: prepareWasm(engines.simd, op, shape, calls), scalar: prepareWasm(engines.scalar, op, shape, calls) };
    records.push(...(await measure("matmul", op, shape, impls, calls, true)));
  }
  printSideBySide("matmul (GFLOP/s = 2·M·N·K / mean latency; shape MxNxK)", records, [
    { impl: "simd" },
    { impl: "scalar" },
    { impl: "js" },
    { ratio: ["simd", "scalar"] },
    { ratio: ["simd", "js"] },
  ]);
  return records;
}
