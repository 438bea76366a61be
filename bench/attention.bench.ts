// GFLOP/s of causal multi-head attention (assembly/attention.ts), SIMD vs
// scalar wasm, forward alone and forward + backward, at transformer-ish shapes
// (batch, n_ctx, n_heads, d_head). Two backward modes: "fwd+bwd" stores the
// pattern in the forward and reads it back (the transformer's choice while all
// layers' patterns fit 16 MiB, as for the default training model);
// "fwd+bwd-recompute" (beyond that, e.g. at the paper's size) keeps only the row
// statistics and recomputes the pattern in the backward (bit-identical results). Each pass is reported as the
// mean and as the fastest sample (impl "simd-fastest", which bench/run.ts rates
// against the roofline).
//
// FLOP count: only the six matrix products, counted over the causal pairs
// j ≤ i that the kernels compute (T(T+1)/2 per head), 2·d_head FLOP per pair and
// product:
//   forward  q·kᵀ, P·v                          2 products → 2·B·H·d·T(T+1)
//   backward dz·vᵀ, dS·k, dSᵀ·q, Pᵀ·dz          4 products → 4·B·H·d·T(T+1)
// i.e. forward + backward = 6·B·H·d·T(T+1). The dense (non-causal) count
// 4·B·H·T²·d per direction would double these figures; the softmax (exp,
// max, sums) and packing are not counted, though their time is included. The
// recompute's extra q·kᵀ and exp are not counted either: both modes are rated by
// the same useful work, so their GFLOP/s compare as inverse times.
import type { Engine } from "../src/engine.ts";
import { fillUniform, printSideBySide, timeKernelPasses, FASTEST_SIMD, type BenchRecord } from "./common.ts";

type Shape = [batch: number, nCtx: number, nHeads: number, dHead: number];

const SHAPES: Shape[] = [
  [16, 128, 8, 16],
  [8, 256, 8, 32],
  [1, 1024, 8, 32],
];

const forwardFlops = ([B, T, H, D]: Shape) => 2 * B * H * D * T * (T + 1);
const backwardFlops = ([B, T, H, D]: Shape) => 4 * B * H * D * T * (T + 1);

/** Operands resident in the engine's memory; returns the forward and forward+backward calls. */
function prepare(engine: Engine, [B, T, H, D]: Shape): Record<"fwd" | "fwd+bwd" | "fwd+bwd-recompute", () => void> {
  const k = engine.kernels;
  k.resetHeap();
  const n = B * T * H * D;
  const q = engine.allocF32(n), kk = engine.allocF32(n), v = engine.allocF32(n), dz = engine.allocF32(n);
  const z = engine.allocF32(n), pattern = engine.allocF32(B * H * T * T), stats = engine.allocF32(B * H * T * 2);
  const dq = engine.allocF32(n), dk = engine.allocF32(n), dv = engine.allocF32(n);
  const scratch = engine.alloc(k.attentionScratchBytes(T, H, D));
  fillUniform(engine.f32(q, n), 1);
  fillUniform(engine.f32(kk, n), 2);
  fillUniform(engine.f32(v, n), 3);
  fillUniform(engine.f32(dz, n), 4);
  const forward = () => k.attentionForward(z, pattern, stats, q, kk, v, B, T, H, D, scratch);
  return {
    fwd: forward,
    "fwd+bwd": () => {
      forward();
      k.attentionBackward(dq, dk, dv, dz, pattern, stats, q, kk, v, B, T, H, D, scratch);
    },
    "fwd+bwd-recompute": () => {
      k.attentionForward(z, 0, stats, q, kk, v, B, T, H, D, scratch);
      k.attentionBackward(dq, dk, dv, dz, 0, stats, q, kk, v, B, T, H, D, scratch);
    },
  };
}

export async function run(): Promise<BenchRecord[]> {
  // Each call is 10–2000 ms (scalar, 1024 positions): a few samples suffice.
  const records = await timeKernelPasses("attention", SHAPES, prepare,
    (pass, shape) => (pass === "fwd" ? forwardFlops(shape) : forwardFlops(shape) + backwardFlops(shape)),
    { time: 800, warmupTime: 200, iterations: 3, warmupIterations: 1 });
  printSideBySide(
    "attention (causal GFLOP/s: 2·B·H·d·T(T+1) forward, 6·B·H·d·T(T+1) forward+backward, either mode; shape batch x n_ctx x n_heads x d_head)",
    records,
    [{ impl: "simd" }, { impl: FASTEST_SIMD }, { impl: "scalar" }, { ratio: ["simd", "scalar"] }],
  );
  return records;
}
