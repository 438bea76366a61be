// The engine's memory (src/engine.ts over assembly/memory.ts): plans grow the
// WebAssembly memory by what they ask for, not by the stub runtime's doubling,
// and a refused allocation leaves the memory as it was.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createEngine, OutOfMemoryError, type Engine } from "../src/engine.ts";
import { measureAllocations, modelLayout, planModel } from "../src/models.ts";
import { parseConfig, parseModel } from "../src/config.ts";
import { estimate } from "../src/estimator.ts";
import { reducedRankCase } from "../src/cases.ts";
import { loadEngine } from "./helpers.ts";
import { nodeHost } from "../src/platform/node.ts";

const MiB = 2 ** 20;

for (const variant of ["simd", "scalar"] as const) {
  test(`${variant}: memory grows by what is allocated, not by doubling`, async () => {
    const engine = await createEngine(await nodeHost.wasmBytes(variant), variant);
    const start = engine.kernels.memory.buffer.byteLength;
    let asked = 0;
    // Left to the stub allocator, the third request doubles 201 MiB to 402 MiB.
    for (const mib of [100, 100, 10]) {
      const ptr = engine.alloc(mib * MiB);
      asked += mib * MiB;
      assert.ok(ptr + mib * MiB <= engine.kernels.memory.buffer.byteLength, `block of ${mib} MiB inside memory`);
    }
    const size = engine.kernels.memory.buffer.byteLength;
    // Slack: the start size, one 64 KiB page of rounding per request and block headers.
    assert.ok(size <= start + asked + 3 * 65536 + 1024, `memory ${(size / MiB).toFixed(1)} MiB for ${asked / MiB} MiB asked`);
  });

  test(`${variant}: an allocation too large is refused with OutOfMemoryError and leaves memory unchanged`, async () => {
    const engine = await createEngine(await nodeHost.wasmBytes(variant), variant);
    const first = engine.allocF32(1024);
    const before = engine.kernels.memory.buffer.byteLength;
    // 4.3e9 is past wasm32's 2^32 bytes; 2^32 itself wrapped to 0 on the way in (an i32) and trapped later.
    for (const bytes of [4.3e9, 2 ** 32, 2 ** 32 - 16]) {
      assert.throws(() => engine.alloc(bytes), (e: unknown) => {
        const m = (e as Error).message;
        return e instanceof OutOfMemoryError && m.includes(`an allocation needs ${bytes} bytes`) && m.includes("a wasm32 memory has 65536 pages of 64 KiB (4294967296 bytes)");
      });
    }
    assert.is(engine.kernels.memory.buffer.byteLength, before, "memory not grown by the refused request");
    const next = engine.allocF32(1024);
    assert.ok(next > first, "later allocations still work");
    engine.f32(next, 1024).fill(1);
    assert.is(engine.f32(next, 1024)[1023], 1);
  });
}

test("a plan's bytes are counted exactly before it is made (measureAllocations = what the heap takes)", async () => {
  const engine = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
  const model = parseModel({ kind: "transformer", n_layers: 2, n_heads: 4, d_model: 32, d_head: 8, n_ctx: 16, d_vocab: 50 }, "model");
  const layout = modelLayout(model);
  const plan = (e: Engine) => planModel(e, model, layout, e.allocF32(layout.padded), e.allocF32(layout.padded), 8, 16);
  const measured = measureAllocations(engine, plan);
  const before = engine.kernels.heapTop() >>> 0;
  plan(engine);
  // heapTop is a 16-byte probe itself.
  assert.is((engine.kernels.heapTop() >>> 0) - before - 16, measured);
});

// ~3 GiB in one engine (the machine this runs on has 24 GiB): a single buffer past
// 2 GiB, then an estimate whose every buffer lies above it (its addresses read
// back from WebAssembly as negative i32s before they were taken as u32).
test("memory above 2 GiB: a 2.5 GiB buffer, and an estimate above it with the same bits as one at the bottom of memory", async () => {
  const c = reducedRankCase(5, 3, 5);
  const config = { ...c.config, sampler: { ...c.config.sampler, chains: 2, draws: 50 } };
  const inputs = c.inputs(await loadEngine("simd"));
  const low = await estimate(await loadEngine("simd"), config, inputs);

  const engine = await loadEngine("simd");
  const bytes = 2.5 * 2 ** 30;
  const big = engine.alloc(bytes);
  assert.ok(big + bytes <= engine.kernels.memory.buffer.byteLength);
  // Its last floats, written from JS and summed in WebAssembly: addresses past 2^31 work on both sides.
  const tail = big + bytes - 4096;
  assert.ok(tail > 2 ** 31);
  engine.f32(tail, 1024).set(Float32Array.from({ length: 1024 }, (_, i) => i % 7));
  // Σ (i mod 7)² over 1024 terms: small integers, exact in f64.
  const expected = Array.from({ length: 1024 }, (_, i) => (i % 7) ** 2).reduce((a, b) => a + b, 0);
  assert.is(engine.kernels.sumOfSquares(tail, 1024), expected);

  const high = await estimate(engine, config, inputs);
  assert.ok((engine.kernels.heapTop() >>> 0) > 2 ** 31 + 2 ** 29);
  assert.is(JSON.stringify(high), JSON.stringify(low));
});

test("a plan too large is refused before any of it is allocated, with its total bytes and the real limit", async () => {
  const engine = await loadEngine("simd");
  const rows = 2 ** 20, width = 1000;
  const config = parseConfig({ model: { kind: "mlp", sizes: [1, width, 1] }, weights: "w", data: "d", sampler: { chains: 1, draws: 1, batch_size: rows } });
  const f32 = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const inputs = {
    weights: new Map([["layers.0.weight", f32([width, 1])], ["layers.0.bias", f32([width])], ["layers.1.weight", f32([1, width])], ["layers.1.bias", f32([1])]]),
    data: new Map([["x", f32([rows, 1])], ["y", f32([rows, 1])]]),
  };
  const before = engine.kernels.memory.buffer.byteLength;
  const top = engine.kernels.heapTop() >>> 0;
  const error = await estimate(engine, config, inputs).then(() => undefined, (e) => e);
  assert.instance(error, OutOfMemoryError);
  // Three activation buffers of rows × width floats (the layer output and two gradient buffers) alone make 12 GB.
  assert.ok(error.bytes > 3 * rows * width * 4, String(error.bytes));
  assert.match(error.message, `out of memory: the estimate (model plan, data and chain buffers) needs ${error.bytes} bytes`);
  assert.match(error.message, /at most \d+ bytes \(4\.00 GiB\) fit: a wasm32 memory has 65536 pages of 64 KiB \(4294967296 bytes\)/);
  assert.is(engine.kernels.memory.buffer.byteLength, before, "nothing grown");
  assert.is((engine.kernels.heapTop() >>> 0) - top, 32, "nothing allocated but two 16-byte probes (reserve's and this one)");
});

test("the host's own limit is found out and named (V8 with --wasm-max-mem-pages=16384: 1 GiB)", () => {
  const script = `
    import { createEngine } from ${JSON.stringify(new URL("../src/engine.ts", import.meta.url).href)};
    import { nodeHost } from ${JSON.stringify(new URL("../src/platform/node.ts", import.meta.url).href)};
    const engine = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
    try { engine.reserve(1.5 * 2 ** 30, "a test plan"); console.log("reserved"); } catch (e) { console.log(e.name + ": " + e.message); }
    console.log(engine.alloc(2 ** 29) > 0);`;
  const run = spawnSync(process.execPath, ["--wasm-max-mem-pages=16384", "--import", fileURLToPath(new URL("../scripts/ts-register.mjs", import.meta.url)), "--input-type=module", "-e", script], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const [refused, allocated] = run.stdout.trim().split("\n");
  assert.match(refused!, /^OutOfMemoryError: out of memory: a test plan needs 1610612736 bytes \(1\.50 GiB\) of WebAssembly memory; at most \d+ bytes \(1\.00 GiB\) fit: this host lets a WebAssembly memory grow to 16384 pages of 64 KiB \(1073741824 bytes\)/);
  assert.is(allocated, "true", "what fits still works");
});

test.run();
