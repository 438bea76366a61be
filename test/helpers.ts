// Shared by the tests: both builds of the engine, and seeded test data made
// without Math.random so every failure reproduces.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import type { TransformerConfig } from "../src/config.ts";
import { modelLayout } from "../src/models.ts";

/**
 * A fresh directory under the OS temp dir, removed when the test process exits
 * (each test file runs in a process of its own), unless LLC_KEEP_TMP is set to
 * look at what a failing test left there.
 */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!process.env.LLC_KEEP_TMP) process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const VARIANTS: Variant[] = ["simd", "scalar"];

export async function loadEngine(variant: Variant): Promise<Engine> {
  return createEngine(await nodeHost.wasmBytes(variant), variant);
}

/** Deterministic uniform numbers in [0, 1) (mulberry32): integer ops only, so every host agrees. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic uniform numbers in [-1, 1), for filling test inputs. */
export function seededUniform(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() * 2 - 1;
}

export function fillUniform(view: Float32Array, seed: number): Float32Array {
  const u = seededUniform(seed);
  for (let i = 0; i < view.length; i++) view[i] = u();
  return view;
}

/**
 * `engine` with every allocation followed by memory.grow(1), which detaches every
 * view of the old buffer: code that keeps a view across an allocation then fails
 * at once ("detached ArrayBuffer") instead of only when an allocation happens to
 * cross the end of the memory.
 */
export function detachingEngine(engine: Engine): Engine {
  const grow = <A extends unknown[]>(f: (...a: A) => number) => (...a: A) => {
    const ptr = f(...a);
    engine.kernels.memory.grow(1);
    return ptr;
  };
  return { ...engine, alloc: grow(engine.alloc), allocF32: grow(engine.allocF32), allocF64: grow(engine.allocF64), allocI32: grow(engine.allocI32) };
}

/**
 * Seeded transformer weights as a padded arena and as f64 tensors (for the f64
 * reference): entries scale·u, LayerNorm weights 1 + lnSpread·u, u uniform in [−1, 1).
 */
export function randomTransformerWeights(m: TransformerConfig, seed: number, scale = 0.5, lnSpread = 0.2): { arena: Float32Array; params: Map<string, Float64Array> } {
  const layout = modelLayout(m);
  const u = seededUniform(seed);
  const arena = new Float32Array(layout.padded);
  const params = new Map<string, Float64Array>();
  for (const t of layout.tensors) {
    const isLnWeight = /ln(1|_final)\.w$/.test(t.name);
    for (let i = 0; i < t.size; i++) arena[t.offset + i] = isLnWeight ? 1 + lnSpread * u() : scale * u();
    params.set(t.name, Float64Array.from(arena.subarray(t.offset, t.offset + t.size)));
  }
  return { arena, params };
}
