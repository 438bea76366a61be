// GFLOP/s of LayerNorm (assembly/layernorm.ts), SIMD vs scalar wasm, forward
// and forward + backward, on the transformer's [rows = batch·n_ctx, d_model]
// activations: the default training model at batch 32 (2048 × 64), a mid size,
// and the refined-LLC paper's model at batch 32 (32768 × 256).
//
// FLOP count per element, as the kernels compute it (divisions, the per-row
// sqrt and the 4-lane reductions' final adds not counted):
//   forward   Σx (1) + Σ(x−μ)² (3) + ((x−μ)·r)·w + b (4)                       = 8
//   backward  first pass: x̂ (2), g = dy·w (1), Σg (1), Σg·x̂ (2)                  = 6
//             second pass: x̂ (2), g (1), ((g − g₁) − x̂·g₂)·r (4), dx += (1),
//             dw += dy·x̂ (2), db += dy (1)                                       = 11
// as the transformer calls it (w and b present, dx accumulated into the
// residual stream's gradient). The row reductions are single dependency
// chains (their order is part of the determinism contract); the SIMD kernels
// overlap several rows' chains (software pipelining, assembly/layernorm.ts), and
// at 32768 × 256 the 32 MB operands stream from DRAM. Each pass is reported as the
// mean and as the fastest sample (impl "simd-fastest", rated by bench/run.ts).
import type { Engine } from "../src/engine.ts";
import { fillUniform, printSideBySide, timeKernelPasses, FASTEST_SIMD, type BenchRecord } from "./common.ts";

type Shape = [rows: number, dim: number];

const SHAPES: Shape[] = [
  [2048, 64],
  [4096, 128],
  [32768, 256],
];

const FORWARD_FLOPS_PER_ELEMENT = 8;
const BACKWARD_FLOPS_PER_ELEMENT = 17;

/** Operands resident in the engine's memory; returns the forward and forward+backward calls. */
function prepare(engine: Engine, [rows, dim]: Shape): Record<"fwd" | "fwd+bwd", () => void> {
  const k = engine.kernels;
  k.resetHeap();
  const n = rows * dim;
  const x = engine.allocF32(n), y = engine.allocF32(n), dy = engine.allocF32(n), dx = engine.allocF32(n);
  const w = engine.allocF32(dim), b = engine.allocF32(dim), dw = engine.allocF32(dim), db = engine.allocF32(dim);
  const mean = engine.allocF32(rows), rstd = engine.allocF32(rows);
  fillUniform(engine.f32(x, n), 1);
  fillUniform(engine.f32(dy, n), 2);
  fillUniform(engine.f32(w, dim), 3);
  fillUniform(engine.f32(b, dim), 4);
  const forward = () => k.layerNormForward(y, mean, rstd, x, w, b, rows, dim);
  return {
    fwd: forward,
    "fwd+bwd": () => {
      forward();
      k.layerNormBackward(dx, dw, db, dy, x, mean, rstd, w, rows, dim, 1);
    },
  };
}

export async function run(): Promise<BenchRecord[]> {
  const records = await timeKernelPasses("layernorm", SHAPES, prepare,
    (pass, [rows, dim]) => (pass === "fwd" ? FORWARD_FLOPS_PER_ELEMENT : FORWARD_FLOPS_PER_ELEMENT + BACKWARD_FLOPS_PER_ELEMENT) * rows * dim,
    { time: 600, warmupTime: 150 });
  printSideBySide(
    `layernorm (GFLOP/s: ${FORWARD_FLOPS_PER_ELEMENT} FLOP/element forward, ${FORWARD_FLOPS_PER_ELEMENT + BACKWARD_FLOPS_PER_ELEMENT} forward+backward; shape rows x d_model)`,
    records,
    [{ impl: "simd" }, { impl: FASTEST_SIMD }, { impl: "scalar" }, { ratio: ["simd", "scalar"] }],
  );
  return records;
}
