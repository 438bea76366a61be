// `llc-wasm/node` (build/node.js): everything "llc-wasm" exports — re-exported from
// the same build/index.js, so there is one class per error and one engine type —
// plus what Node (and Deno's node: layer) adds: the file Host, worker threads, the
// corpora by module resolution, and an engine from the packaged .wasm.
import { createEngine, hostHasSimd, type Engine, type Variant } from "./index.ts";
import { nodeHost } from "./platform/node.ts";

export * from "./index.ts";
export { nodeHost, nodePackageReader, resolvePackageDir } from "./platform/node.ts";
export { nodeWorkers } from "./platform/node-workers.ts";

/** An engine instance of the packaged build/llc-{simd,scalar}.wasm (SIMD where the host validates it). */
export async function createNodeEngine(variant: Variant = hostHasSimd() ? "simd" : "scalar"): Promise<Engine> {
  return createEngine(await nodeHost.wasmBytes(variant), variant);
}
