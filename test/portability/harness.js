// The portability run, shared verbatim by Node (test/portability.test.ts), Deno
// (deno-main.js) and Chromium (page.js): plain JavaScript, and it gets the
// library (build/index.js) and the host from its caller, so every runtime runs
// exactly the same code on the same .wasm bytes.

/** The estimates compared across runtimes; configs equal to the brief's reducedRankCase / normalCrossingCase calls. */
export const SAMPLERS = {
  rrr: { make: "rrr", sampler: { chains: 2, draws: 200 } }, // reducedRankCase(5, 3, 5)
  nc: { make: "normal-crossing", sampler: { chains: 2, draws: 300 } }, // normalCrossingCase([1, 2])
};

/** A built-in case (lib.exampleCases) with sampler fields overridden, validated again by parseConfig. */
export function portabilityCase(lib, key) {
  const { make, sampler } = SAMPLERS[key];
  const c = lib.exampleCases[make]();
  return { ...c, config: lib.parseConfig({ ...c.config, sampler: { ...c.config.sampler, ...sampler } }) };
}

/** FNV-1a (32 bit) of a string's UTF-16 code units, as 8 hex digits: names a result in messages. */
export function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

const hex = (u32) => (u32 >>> 0).toString(16).padStart(8, "0");

/**
 * For each variant: the selfTest() hash of a fresh instance, and the full
 * result JSON of each case (each case in its own engine: inputs generated and
 * w* trained inside it, then estimate()).
 */
export async function runEstimates(lib, wasmBytes, variants = ["simd", "scalar"]) {
  const out = {};
  for (const variant of variants) {
    const bytes = await wasmBytes(variant);
    const module = await WebAssembly.compile(bytes);
    const selfTest = hex((await lib.createEngine(module, variant)).kernels.selfTest());
    const results = {};
    for (const key of Object.keys(SAMPLERS)) {
      const c = portabilityCase(lib, key);
      const engine = await lib.createEngine(module, variant);
      results[key] = JSON.stringify(await lib.estimate(engine, c.config, c.inputs(engine)));
    }
    out[variant] = { selfTest, results };
  }
  return out;
}

/**
 * The normal-crossing case as files through `host` (config + safetensors in
 * `dir`), estimated by runEstimateJob; then run again over the finished file
 * (read back through the host; a complete result is recomputed, not resumed),
 * which must leave it byte-identical. Returns the result file text.
 */
export async function runJob(lib, host, dir) {
  const c = portabilityCase(lib, "nc");
  const engine = await lib.createEngine(await host.wasmBytes("simd"), "simd");
  const inputs = c.inputs(engine);
  const path = (name) => `${dir}/${name}`;
  await host.writeBytes(path("weights.safetensors"), lib.writeSafetensors(inputs.weights));
  await host.writeBytes(path("data.safetensors"), lib.writeSafetensors(inputs.data));
  const config = { ...c.config, weights: "weights.safetensors", data: "data.safetensors" };
  await host.writeText(path("case.json"), JSON.stringify(config, null, 2));
  if (await host.exists(path("result.json"))) throw new Error(`${path("result.json")} exists before the job ran`);
  await lib.runEstimateJob(host, path("case.json"), { out: path("result.json") });
  const text = await host.readText(path("result.json"));
  await lib.runEstimateJob(host, path("case.json"), { out: path("result.json") });
  const again = await host.readText(path("result.json"));
  return { text, rerunIdentical: again === text };
}

/** Everything one runtime reports, as one JSON-able object. */
export async function runPortability(lib, host, dir) {
  const start = host.now();
  const estimates = await runEstimates(lib, (variant) => host.wasmBytes(variant));
  const job = await runJob(lib, host, dir);
  return { estimates, job, ms: Math.round(host.now() - start) };
}
