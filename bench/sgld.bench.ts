// Whole SGLD steps per second (minibatch gather, forward, backward, noise, fused
// update, diagnostics) for the MLP 64-256-256-10 at batch 128, SIMD vs
// scalar build, plus the engine memory each plans.
import { createEngine, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import { parseSamplerConfig } from "../src/config.ts";
import { modelLayout, planModel } from "../src/models.ts";
import { createChainRunner } from "../src/sampler.ts";
import { restrictionMask } from "../src/arena.ts";
import { meanLatencyMs, printSideBySide, fillUniform, type BenchRecord } from "./common.ts";

export const SIZES = [64, 256, 256, 10];
export const BATCH = 128;
const N = 4096;
export const STEPS = 40;

/** The MLP case as a chain runner; one run(0) takes STEPS SGLD steps (also bench/peers.bench.ts's case). */
export async function setup(variant: Variant) {
  const engine = await createEngine(await nodeHost.wasmBytes(variant), variant);
  const model = { kind: "mlp", sizes: SIZES, activation: "relu", bias: true } as const;
  const layout = modelLayout(model);
  const sampler = parseSamplerConfig({ epsilon: 1e-5, gamma: 100, chains: 1, draws: STEPS, batch_size: BATCH, seed: 1 });
  const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, model, layout, params, grads, BATCH);
  const wStar = fillUniform(new Float32Array(layout.padded), 1).map((v, i) => (i < layout.size ? v * 0.05 : 0));
  const runner = createChainRunner({
    engine, model: plan, sampler, nbeta: 30, wStar, mask: restrictionMask(layout, null),
    x: fillUniform(new Float32Array(N * SIZES[0]), 2), y: fillUniform(new Float32Array(N * SIZES[3]), 3), n: N, params, grads,
  });
  return { engine, runner, params: layout.size };
}

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const memory: string[] = [];
  for (const variant of ["simd", "scalar"] as const) {
    const { engine, runner, params } = await setup(variant);
    const latency = await meanLatencyMs([{ name: variant, fn: () => runner.run(0) }], { time: 1500, warmupTime: 300 });
    const stepsPerSecond = STEPS / (latency.get(variant)! / 1000);
    const shape = [...SIZES, BATCH];
    records.push({ family: "sgld", name: `MLP ${SIZES.join("-")} batch ${BATCH} (${params} params)`, impl: variant, shape, unit: "steps/s", value: stepsPerSecond });
    const bytes = engine.kernels.memory.buffer.byteLength;
    records.push({ family: "sgld", name: "engine memory", impl: variant, shape, unit: "bytes", value: bytes });
    memory.push(`${variant}: ${(bytes / 2 ** 20).toFixed(1)} MiB of WebAssembly memory`);
  }
  printSideBySide("SGLD steps/s", records.filter((r) => r.unit === "steps/s"), [{ impl: "simd" }, { impl: "scalar" }, { ratio: ["simd", "scalar"] }]);
  console.log(memory.join("; "));
  return records;
}
