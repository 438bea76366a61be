// Whole SGLD steps per second of the attention-only transformer (gather a batch of
// sequences, forward, backward, noise, fused update) at batch 32: the default
// training model and the paper's size (Wang et al. 2024: 2 layers, 8 heads,
// d_model 256, d_head 32, n_ctx 1024, d_vocab 5000), with the memory each plans.
import { createEngine, OutOfMemoryError, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import { parseSamplerConfig, type TransformerConfig } from "../src/config.ts";
import { freezeTensors, modelLayout, planModel, plannedBytes, transformerSelector, TRANSFORMER_SELECTORS } from "../src/models.ts";
import { createChainRunner } from "../src/sampler.ts";
import { restrictionMask } from "../src/arena.ts";
import { DEFAULT_TRAIN_MODEL } from "../src/train-job.ts";
import { meanLatencyMs, printTable, fillUniform, type BenchRecord } from "./common.ts";

export const BATCH = 32;
/** The default model's row label; its SGLD record is named `${DEFAULT_LABEL} SGLD` (bench/peers.bench.ts reuses it). */
export const DEFAULT_LABEL = "default training model";
const PAPER: TransformerConfig = {
  kind: "transformer", n_layers: 2, n_heads: 8, d_model: 256, d_head: 32, n_ctx: 1024, d_vocab: 5000,
  normalization: "LN", positional_embedding: "shortformer", attn_bias: true, unembed_bias: true,
};

/**
 * A chain of `steps` SGLD steps of one transformer at batch BATCH from a fixed w*, restricted
 * to `restrict` (selectors; null: every parameter), with the restriction-aware backward
 * (freezeTensors) unless `fullBackward`: `run()` runs the whole chain (bench/restrict.bench.ts).
 */
export async function transformerChain(variant: Variant, model: TransformerConfig, steps: number, restrict: string[] | null = null, fullBackward = false) {
  const engine = await createEngine(await nodeHost.wasmBytes(variant), variant);
  const layout = modelLayout(model);
  const T = model.n_ctx, nSeq = 2 * BATCH;
  const sampler = parseSamplerConfig({ epsilon: 1e-3, gamma: 200, nbeta: 30, chains: 1, draws: steps, batch_size: BATCH, seed: 1 });
  const params = engine.allocF32(layout.padded), grads = engine.allocF32(layout.padded);
  const plan = planModel(engine, model, layout, params, grads, BATCH, T);
  const mask = restrictionMask(layout, restrict, transformerSelector(model, layout), TRANSFORMER_SELECTORS);
  if (!fullBackward) freezeTensors(engine, plan, mask, { rows: nSeq, rowsDrawn: Infinity }); // run() reruns the chain: the cache pays off
  const wStar = fillUniform(new Float32Array(layout.padded), 1).map((v, i) => (i < layout.size ? v * 0.05 : 0));
  const tokens = Int32Array.from({ length: nSeq * T }, (_, i) => (i * 7919) % model.d_vocab);
  const runner = createChainRunner({ engine, model: plan, sampler, nbeta: 30, wStar, mask, x: tokens, y: new Float32Array(0), n: nSeq, params, grads });
  return { engine, run: () => void runner.run(0) };
}

/** Whole SGLD steps/s of one transformer at batch BATCH (also bench/peers.bench.ts's PyTorch comparison). */
export async function stepsPerSecond(variant: Variant, model: TransformerConfig, steps: number, time: number) {
  const { engine, run } = await transformerChain(variant, model, steps);
  const latency = await meanLatencyMs([{ name: variant, fn: run }], { time, warmupTime: 0, iterations: 1, warmupIterations: 1 });
  return { stepsPerSecond: steps / (latency.get(variant)! / 1000), bytes: engine.kernels.memory.buffer.byteLength };
}

export async function run(): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const rows: string[][] = [];
  const probe = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
  for (const [label, model, steps, variants] of [
    [DEFAULT_LABEL, DEFAULT_TRAIN_MODEL, 10, ["simd", "scalar"]],
    ["paper size (Wang et al. 2024)", PAPER, 1, ["simd"]],
  ] as [string, TransformerConfig, number, Variant[]][]) {
    const shape = [model.n_layers, model.n_heads, model.d_model, model.d_head, model.n_ctx, model.d_vocab, BATCH];
    const planned = plannedBytes(probe, model, BATCH, model.n_ctx);
    records.push({ family: "transformer", name: `${label} planned activations`, impl: "plan", shape, unit: "bytes", value: planned });
    for (const variant of variants) {
      try {
        const r = await stepsPerSecond(variant, model, steps, 1000);
        records.push({ family: "transformer", name: `${label} SGLD`, impl: variant, shape, unit: "steps/s", value: r.stepsPerSecond });
        records.push({ family: "transformer", name: `${label} memory`, impl: variant, shape, unit: "bytes", value: r.bytes });
        rows.push([label, variant, r.stepsPerSecond.toFixed(2), `${(planned / 2 ** 20).toFixed(0)} MiB`, `${(r.bytes / 2 ** 20).toFixed(0)} MiB`]);
      } catch (e) {
        if (!(e instanceof OutOfMemoryError)) throw e;
        rows.push([label, variant, "does not fit", `${(planned / 2 ** 20).toFixed(0)} MiB`, "> 4 GiB or a block ≥ 1 GiB"]);
      }
    }
  }
  printTable(`Transformer SGLD steps/s at batch ${BATCH}`, ["model", "build", "steps/s", "planned", "wasm memory"], rows);
  return records;
}
