// Shared by the kernel tests: bit-level comparison and guarded buffers in
// WebAssembly memory (a guard word after each buffer catches writes past its end).
import * as assert from "uvu/assert";
import { VARIANTS, loadEngine } from "../helpers.ts";
import type { Engine, Variant } from "../../src/engine.ts";

/** f32 unit roundoff. */
export const U = 2 ** -24;
/** A NaN payload no kernel computes. */
export const GUARD = 0x7fa5a5a5;
export const GUARD_FLOATS = 4;

export async function loadEngines(): Promise<Map<Variant, Engine>> {
  const engines = new Map<Variant, Engine>();
  for (const variant of VARIANTS) engines.set(variant, await loadEngine(variant));
  return engines;
}

export const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
export const hex = (x: number) => "0x" + (new Uint32Array(new Float32Array([x]).buffer)[0] >>> 0).toString(16).padStart(8, "0");

export function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const a = bits(got), b = bits(want);
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.unreachable(`${what}: [${i}] = ${got[i]} (${hex(got[i])}), expected ${want[i]} (${hex(want[i])})`);
  }
}

/** Copy `data` into wasm memory `misalign` bytes past a 16-byte boundary, followed by guard words; returns the address. */
export function place(engine: Engine, data: Float32Array | Int32Array, misalign = 0): number {
  const ptr = engine.alloc((data.length + GUARD_FLOATS) * 4 + 16) + misalign;
  if (data instanceof Int32Array) engine.i32(ptr, data.length).set(data);
  else engine.f32(ptr, data.length).set(data);
  engine.u32(ptr + data.length * 4, GUARD_FLOATS).fill(GUARD);
  return ptr;
}

/** The n floats at ptr, after checking the guard words behind them. */
export function read(engine: Engine, ptr: number, n: number, what: string): Float32Array {
  const guards = engine.u32(ptr + n * 4, GUARD_FLOATS);
  for (let g = 0; g < GUARD_FLOATS; g++) if (guards[g] !== GUARD) assert.unreachable(`${what}: wrote past the end (guard ${g})`);
  return engine.f32(ptr, n).slice();
}
