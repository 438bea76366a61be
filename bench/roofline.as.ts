// AssemblyScript source of the f32x4 throughput microbenchmark (bench/roofline.bench.ts
// compiles it at run time with asc's API: -O3, --runtime stub, --noAssert, --enable simd).
// Not part of the engine (assembly/); nothing imports it.
//
// Every kernel keeps 12 independent f32x4 accumulator chains, enough to cover
// the 3-cycle FADD/FMUL latency of 2 pipes each (Zen 3), while staying within
// V8's 15 allocatable xmm registers (12 accumulators + 2 operands + 1 temp).
// Each returns the lane sum of the accumulators so nothing is dead code.

const buf = memory.data(16 * 12 * 4, 16); // 4 rows of 12 f32x4 operands, 768 bytes (L1)

export function init(): void {
  for (let i = 0; i < 12 * 4 * 4; i++) store<f32>(buf + (<usize>i << 2), 0.5 + <f32>i * 0.001);
}

@inline function total(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128, a8: v128, a9: v128, a10: v128, a11: v128): f32 {
  let s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  s = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * Register-only mul+add: a ← a·k1 + k2 on each of 12 chains (mul and add both in
 * the chain, 6-cycle latency, 24 vector ops per iteration). 96 FLOP per iteration.
 */
export function muladdRegisters(iterations: i32): f32 {
  const k1 = f32x4.splat(0.999), k2 = f32x4.splat(0.001);
  let a0 = f32x4.splat(0.1), a1 = f32x4.splat(0.2), a2 = f32x4.splat(0.3), a3 = f32x4.splat(0.4);
  let a4 = f32x4.splat(0.5), a5 = f32x4.splat(0.6), a6 = f32x4.splat(0.7), a7 = f32x4.splat(0.8);
  let a8 = f32x4.splat(0.9), a9 = f32x4.splat(1.0), a10 = f32x4.splat(1.1), a11 = f32x4.splat(1.2);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.add(f32x4.mul(a0, k1), k2); a1 = f32x4.add(f32x4.mul(a1, k1), k2);
    a2 = f32x4.add(f32x4.mul(a2, k1), k2); a3 = f32x4.add(f32x4.mul(a3, k1), k2);
    a4 = f32x4.add(f32x4.mul(a4, k1), k2); a5 = f32x4.add(f32x4.mul(a5, k1), k2);
    a6 = f32x4.add(f32x4.mul(a6, k1), k2); a7 = f32x4.add(f32x4.mul(a7, k1), k2);
    a8 = f32x4.add(f32x4.mul(a8, k1), k2); a9 = f32x4.add(f32x4.mul(a9, k1), k2);
    a10 = f32x4.add(f32x4.mul(a10, k1), k2); a11 = f32x4.add(f32x4.mul(a11, k1), k2);
  }
  return total(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
}

/**
 * The matmul inner-loop pattern: a ← a + x·k with x loaded from L1 (12 loads,
 * 12 mul, 12 add per iteration; only the add is in the chain). 96 FLOP per iteration.
 */
export function muladdLoads(iterations: i32): f32 {
  const k = f32x4.splat(0.999);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (let i = 0; i < iterations; i++) {
    const p = buf + (<usize>(i & 3) * 192);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(p, 0), k)); a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), k));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), k)); a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), k));
    a4 = f32x4.add(a4, f32x4.mul(v128.load(p, 64), k)); a5 = f32x4.add(a5, f32x4.mul(v128.load(p, 80), k));
    a6 = f32x4.add(a6, f32x4.mul(v128.load(p, 96), k)); a7 = f32x4.add(a7, f32x4.mul(v128.load(p, 112), k));
    a8 = f32x4.add(a8, f32x4.mul(v128.load(p, 128), k)); a9 = f32x4.add(a9, f32x4.mul(v128.load(p, 144), k));
    a10 = f32x4.add(a10, f32x4.mul(v128.load(p, 160), k)); a11 = f32x4.add(a11, f32x4.mul(v128.load(p, 176), k));
  }
  return total(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
}

/** f32x4.add only: a ← a + k on 12 chains. 48 FLOP per iteration. */
export function addOnly(iterations: i32): f32 {
  const k = f32x4.splat(1e-7);
  let a0 = f32x4.splat(0.1), a1 = f32x4.splat(0.2), a2 = f32x4.splat(0.3), a3 = f32x4.splat(0.4);
  let a4 = f32x4.splat(0.5), a5 = f32x4.splat(0.6), a6 = f32x4.splat(0.7), a7 = f32x4.splat(0.8);
  let a8 = f32x4.splat(0.9), a9 = f32x4.splat(1.0), a10 = f32x4.splat(1.1), a11 = f32x4.splat(1.2);
  for (let i = 0; i < iterations; i++) {
    a0 = f32x4.add(a0, k); a1 = f32x4.add(a1, k); a2 = f32x4.add(a2, k); a3 = f32x4.add(a3, k);
    a4 = f32x4.add(a4, k); a5 = f32x4.add(a5, k); a6 = f32x4.add(a6, k); a7 = f32x4.add(a7, k);
    a8 = f32x4.add(a8, k); a9 = f32x4.add(a9, k); a10 = f32x4.add(a10, k); a11 = f32x4.add(a11, k);
  }
  return total(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
}

/**
 * Independent mul and add streams: 6 chains m ← m·k1 and 6 chains a ← a + k2
 * (each at 2 ops/cycle needs 6 chains of 3-cycle latency on Zen 3). Shows the
 * FMUL + FADD pipes' combined throughput without a mul→add dependency. Unrolled ×2:
 * 12 mul + 12 add per iteration, 96 FLOP (each f32x4 op counted as 4 FLOP).
 */
export function mulAndAdd(iterations: i32): f32 {
  const k1 = f32x4.splat(0.99999994), k2 = f32x4.splat(1e-7);
  let m0 = f32x4.splat(0.1), m1 = f32x4.splat(0.2), m2 = f32x4.splat(0.3), m3 = f32x4.splat(0.4), m4 = f32x4.splat(0.5), m5 = f32x4.splat(0.6);
  let a0 = f32x4.splat(0.7), a1 = f32x4.splat(0.8), a2 = f32x4.splat(0.9), a3 = f32x4.splat(1.0), a4 = f32x4.splat(1.1), a5 = f32x4.splat(1.2);
  for (let i = 0; i < iterations; i++) {
    m0 = f32x4.mul(m0, k1); a0 = f32x4.add(a0, k2); m1 = f32x4.mul(m1, k1); a1 = f32x4.add(a1, k2);
    m2 = f32x4.mul(m2, k1); a2 = f32x4.add(a2, k2); m3 = f32x4.mul(m3, k1); a3 = f32x4.add(a3, k2);
    m4 = f32x4.mul(m4, k1); a4 = f32x4.add(a4, k2); m5 = f32x4.mul(m5, k1); a5 = f32x4.add(a5, k2);
    m0 = f32x4.mul(m0, k1); a0 = f32x4.add(a0, k2); m1 = f32x4.mul(m1, k1); a1 = f32x4.add(a1, k2);
    m2 = f32x4.mul(m2, k1); a2 = f32x4.add(a2, k2); m3 = f32x4.mul(m3, k1); a3 = f32x4.add(a3, k2);
    m4 = f32x4.mul(m4, k1); a4 = f32x4.add(a4, k2); m5 = f32x4.mul(m5, k1); a5 = f32x4.add(a5, k2);
  }
  return total(m0, m1, m2, m3, m4, m5, a0, a1, a2, a3, a4, a5);
}
