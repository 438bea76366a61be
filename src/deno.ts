// `llc-wasm/deno` (build/deno.js): everything "llc-wasm" exports — re-exported from
// the same build/index.js, so there is one class per error — plus Deno's own file
// Host (Deno's file API: needs only --allow-read, and --allow-write for results)
// and an engine from the packaged .wasm. Workers: webWorkers() (module Workers).
import { createEngine, hostHasSimd, type Engine, type Variant } from "./index.ts";
import { denoHost } from "./platform/deno.ts";

export * from "./index.ts";
export { denoHost } from "./platform/deno.ts";

/** An engine instance of the packaged build/llc-{simd,scalar}.wasm (SIMD where the host validates it). */
export async function createDenoEngine(variant: Variant = hostHasSimd() ? "simd" : "scalar"): Promise<Engine> {
  return createEngine(await denoHost.wasmBytes(variant), variant);
}
