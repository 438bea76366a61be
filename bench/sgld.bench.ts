// Whole SGLD steps per second (minibatch gather, forward, backward, noise, fused
// update, diagnostics) for MLP cases, SIMD vs scalar build, plus the engine memory
// each plans. The case, MLP 64-256-256-10 at batch 128, is compute-bound
// (≈ 61 MFLOP per step); the small one, 8-32-32-1 at batch 64 (the size of the
// toy models LLC studies sweep by the hundred), is bound by per-step overhead.
import { createEngine, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import { parseSamplerConfig } from "../src/config.ts";
import { modelLayout, planModel } from "../src/models.ts";
import { createChainRunner } from "../src/sampler.ts";
import { restrictionMask } from "../src/arena.ts";
import { meanLatencyMs, printSideBySide, fillUniform, type BenchRecord } from "./common.ts";

export interface MlpCase {
  sizes: number[];
  batch: number;
  /** SGLD steps per runner.run(0) call (one timed sample). */
  steps: number;
}

/** The case (also bench/workers.bench.ts's), then the small one. */
export const MLP_CASES: MlpCase[] = [
  { sizes: [64, 256, 256, 10], batch: 128, steps: 40 },
  { sizes: [8, 32, 32, 1], batch: 64, steps: 400 },
];
export const SIZES = MLP_CASES[0].sizes;
export const BATCH = MLP_CASES[0].batch;
/** Data rows every case draws its minibatches from. */
export const N = 4096;

export const mlpCaseName = (c: MlpCase, params: number) => `MLP ${c.sizes.join("-")} batch ${c.batch} (${params} params)`;

/**
 * An MLP case as a chain runner (relu, bias, MSE; w* = 0.05·U(−1, 1), data U(−1, 1);
 * ε 1e-5, γ 100, nβ 30); one run(0) takes c.steps SGLD steps. Also bench/peers.bench.ts's
 * case, which bench/torch_sgld.py repeats in PyTorch.
 */
export async function setup(variant: Variant, c: MlpCase = MLP_CASES[0]) {
  const engine = await createEngine(await nodeHost.wasmBytes(variant), variant);
  const model = { kind: "mlp", sizes: c.sizes, activation: "relu", bias: true } as const;
  const layout = modelLayout(model);
  const sampler = parseSamplerConfig({ epsilon: 1e-5, gamma: 100, chains: 1, draws: c.steps, batch_size: c.batch, seed: 1 });
  const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, model, layout, params, grads, c.batch);
  const wStar = fillUniform(new Float32Array(layout.padded), 1).map((v, i) => (i < layout.size ? v * 0.05 : 0));
  const inputs = c.sizes[0], outputs = c.sizes[c.sizes.length - 1];
  const runner = createChainRunner({
    engine, model: plan, sampler, nbeta: 30, wStar, mask: restrictionMask(layout, null),
    x: fillUniform(new Float32Array(N * inputs), 2), y: fillUniform(new Float32Array(N * outputs), 3), n: N, params, grads,
  });
  return { engine, runner, params: layout.size };
}

/** Steps/s of one case in one build (tinybench mean latency of run(0)). */
export async function stepsPerSecond(variant: Variant, c: MlpCase): Promise<{ value: number; params: number; bytes: number }> {
  const { engine, runner, params } = await setup(variant, c);
  const latency = await meanLatencyMs([{ name: variant, fn: () => runner.run(0) }], { time: 1500, warmupTime: 300 });
  return { value: c.steps / (latency.get(variant)! / 1000), params, bytes: engine.kernels.memory.buffer.byteLength };
}

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const memory: string[] = [];
  for (const c of MLP_CASES) {
    for (const variant of ["simd", "scalar"] as const) {
      const { value, params, bytes } = await stepsPerSecond(variant, c);
      const shape = [...c.sizes, c.batch];
      records.push({ family: "sgld", name: mlpCaseName(c, params), impl: variant, shape, unit: "steps/s", value });
      records.push({ family: "sgld", name: `engine memory, ${mlpCaseName(c, params)}`, impl: variant, shape, unit: "bytes", value: bytes });
      memory.push(`${c.sizes.join("-")} ${variant}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    }
  }
  printSideBySide("SGLD steps/s", records.filter((r) => r.unit === "steps/s"), [{ impl: "simd" }, { impl: "scalar" }, { ratio: ["simd", "scalar"] }]);
  console.log(`WebAssembly memory: ${memory.join("; ")}`);
  return records;
}
