// The engine's memory (src/engine.ts over assembly/memory.ts): plans grow the
// WebAssembly memory by what they ask for, not by the stub runtime's doubling,
// and a refused allocation leaves the memory as it was.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createEngine, OutOfMemoryError } from "../src/engine.ts";
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
    assert.throws(() => engine.alloc(3.9e9), (e: unknown) => e instanceof OutOfMemoryError && /3900000000 bytes/.test((e as Error).message));
    assert.is(engine.kernels.memory.buffer.byteLength, before, "memory not grown by the refused request");
    const next = engine.allocF32(1024);
    assert.ok(next > first, "later allocations still work");
    engine.f32(next, 1024).fill(1);
    assert.is(engine.f32(next, 1024)[1023], 1);
  });
}

test.run();
