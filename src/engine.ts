// The engine owns one WebAssembly instance and its memory. Everything that
// touches a float in the hot path runs inside it; this file only instantiates
// the module, hands out planned buffers and views onto them.
//
// The module is used without glue code (neither @assemblyscript/loader, which
// AssemblyScript deprecated in 0.20, nor asc's generated bindings): every export
// takes and returns plain numbers and pointers, so the raw exports are the API.

export type Variant = "simd" | "scalar";

/** Raw exports of build/llc-{simd,scalar}.wasm: numbers and pointers only. */
export interface Kernels {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
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

export class OutOfMemoryError extends Error {
  constructor(bytes: number, cause?: unknown) {
    super(`out of memory: could not reserve ${bytes} bytes of WebAssembly memory (limit 4 GiB per instance)`);
    this.name = "OutOfMemoryError";
    this.cause = cause;
  }
}

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
  const alloc = (bytes: number) => {
    try {
      return kernels.alloc(Math.max(16, Math.ceil(bytes / 16) * 16)) >>> 0;
    } catch (e) {
      throw new OutOfMemoryError(bytes, e);
    }
  };
  return {
    variant,
    kernels,
    alloc,
    allocF32: (n) => alloc(n * 4),
    allocF64: (n) => alloc(n * 8),
    allocI32: (n) => alloc(n * 4),
    f32: (ptr, n) => new Float32Array(memory.buffer, ptr, n),
    f64: (ptr, n) => new Float64Array(memory.buffer, ptr, n),
    i32: (ptr, n) => new Int32Array(memory.buffer, ptr, n),
    u32: (ptr, n) => new Uint32Array(memory.buffer, ptr, n),
  };
}
