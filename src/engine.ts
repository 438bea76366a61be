// The engine owns one WebAssembly instance and its memory. Everything that
// touches a float in the hot path runs inside it; this file only instantiates
// the module, hands out planned buffers and views onto them.
//
// The module is used without glue code (neither @assemblyscript/loader, which
// AssemblyScript deprecated in 0.20, nor asc's generated bindings): every export
// takes and returns plain numbers and pointers, so the raw exports are the API.

import { WASM32_MAX_PAGES } from "./limits.ts";

export type Variant = "simd" | "scalar";

/** Raw exports of build/llc-{simd,scalar}.wasm: numbers and pointers only. */
export interface Kernels {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  heapTop(): number;
  resetHeap(): void;
  [name: string]: any;
}

export interface Engine {
  readonly variant: Variant;
  readonly kernels: Kernels;
  /** Reserve zeroed 16-byte-aligned memory; returns its byte address. */
  alloc(bytes: number): number;
  allocF32(count: number): number;
  allocF64(count: number): number;
  allocI32(count: number): number;
  /**
   * Make room for a whole plan of `bytes` (the sum of blockBytes of its
   * allocations) before any of it is allocated, growing the memory once; a plan
   * that cannot fit is an OutOfMemoryError naming `what`, the bytes it needs and
   * the real limit (wasm32's, or this host's, found out).
   */
  reserve(bytes: number, what: string): void;
  /** Fresh views (memory.grow detaches old ones, so never keep them across allocations). */
  f32(ptr: number, count: number): Float32Array;
  f64(ptr: number, count: number): Float64Array;
  i32(ptr: number, count: number): Int32Array;
  u32(ptr: number, count: number): Uint32Array;
}

/** True when this host validates fixed-width SIMD (all evergreen engines since 2021). */
export function hostHasSimd(): boolean {
  // (module (func (result v128) (v128.const i32x4 0 0 0 0)))
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  return WebAssembly.validate(probe);
}

/** Bytes of a wasm32 memory page. */
const PAGE = 65536;

/**
 * Highest address the engine's heap may reach (assembly/memory.ts MEMORY_TOP):
 * 65535 of wasm32's 65536 pages, since at 65536 the stub runtime's end-of-memory
 * arithmetic wraps to 0.
 */
export const MEMORY_TOP = (WASM32_MAX_PAGES - 1) * PAGE;

/** Heap bytes an allocation of `bytes` takes (assembly/memory.ts ALLOC_OVERHEAD: its probe, header and padding). */
export function blockBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16) + 32;
}

/**
 * Pages a fresh memory of this host can grow to: the host's real limit, which may
 * be below wasm32's 65536 (V8's --wasm-max-mem-pages, a 32-bit browser, an address
 * space limit). Found by growing a throwaway memory, which reserves address space
 * but commits nothing; asked only when an allocation has already failed.
 */
export function hostMaxPages(): number {
  const probe = new WebAssembly.Memory({ initial: 0 });
  let lo = 0, hi = WASM32_MAX_PAGES; // lo can be reached; search (lo, hi]
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    try {
      probe.grow(mid - lo);
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return lo;
}

export class OutOfMemoryError extends Error {
  /** Bytes asked for, and the most the engine's memory could hold. */
  readonly bytes: number;
  readonly limit: number;
  constructor(bytes: number, what: string, limit: number, why: string, cause?: unknown) {
    super(`out of memory: ${what} needs ${bytes} bytes (${gib(bytes)}) of WebAssembly memory; at most ${limit} bytes (${gib(limit)}) fit: ${why}`);
    this.name = "OutOfMemoryError";
    this.bytes = bytes;
    this.limit = limit;
    if (cause !== undefined) this.cause = cause;
  }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export async function createEngine(wasm: BufferSource | WebAssembly.Module, variant: Variant): Promise<Engine> {
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  const imports = {
    env: {
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`WebAssembly abort at ${line}:${column}`);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const kernels = instance.exports as unknown as Kernels;
  const memory = kernels.memory;
  /** Why `bytes` more from heap address `top` do not fit: wasm32's limit, or this host's. */
  const refusal = (bytes: number, what: string, top: number, cause?: unknown) => {
    const hostPages = hostMaxPages();
    const limit = Math.max(0, Math.min(MEMORY_TOP, hostPages * PAGE) - top);
    const why = hostPages * PAGE < MEMORY_TOP
      ? `this host lets a WebAssembly memory grow to ${hostPages} pages of 64 KiB (${hostPages * PAGE} bytes)${top > 0 ? `, ${top} of them in use already` : ""}`
      : `a wasm32 memory has ${WASM32_MAX_PAGES} pages of 64 KiB (${WASM32_MAX_PAGES * PAGE} bytes), of which the engine's heap may use up to address ${MEMORY_TOP}${top > 0 ? `, ${top} in use already` : ""}`;
    return new OutOfMemoryError(bytes, what, limit, why, cause);
  };
  const alloc = (bytes: number) => {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    // Past MEMORY_TOP the request cannot fit; above 2^32 − 1 it would wrap on the way in.
    const ptr = size < MEMORY_TOP ? kernels.alloc(size) >>> 0 : 0;
    if (ptr === 0) throw refusal(bytes, "an allocation", kernels.heapTop() >>> 0);
    return ptr;
  };
  return {
    variant,
    kernels,
    alloc,
    allocF32: (n) => alloc(n * 4),
    allocF64: (n) => alloc(n * 8),
    allocI32: (n) => alloc(n * 4),
    reserve(bytes, what) {
      const top = kernels.heapTop() >>> 0;
      const end = top + bytes + 64;
      if (end > MEMORY_TOP) throw refusal(bytes, what, top);
      const have = memory.buffer.byteLength;
      if (end <= have) return;
      try {
        memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        throw refusal(bytes, what, top, e);
      }
    },
    // Addresses come back from WebAssembly as i32: above 2 GiB they read negative, so every view takes them as u32.
    f32: (ptr, n) => new Float32Array(memory.buffer, ptr >>> 0, n),
    f64: (ptr, n) => new Float64Array(memory.buffer, ptr >>> 0, n),
    i32: (ptr, n) => new Int32Array(memory.buffer, ptr >>> 0, n),
    u32: (ptr, n) => new Uint32Array(memory.buffer, ptr >>> 0, n),
  };
}
