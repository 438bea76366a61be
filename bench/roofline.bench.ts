// The f32x4 roofline of this core in WebAssembly: peak f32x4 mul+add throughput
// (no FMA: the engine's kernels use separate f32x4.mul and f32x4.add) from the
// 12-chain microkernels in bench/roofline.as.ts, compiled here with asc's API,
// and each matmul shape's SIMD GFLOP/s as a fraction of it (the matmul
// figures are re-measured in this run, so both see the same machine load).
//
// Records (family "roofline"): "peak <kernel>" (impl "wasm-simd", GFLOP/s) and
// "<matmul case>" with impl "simd" (mean GFLOP/s), FASTEST_SIMD (the fastest
// sample's) and "fraction" (the fastest sample's share of the peak, itself the
// fastest sample of the better of two measurements: on this shared VM a mean
// includes the host's slow spells, so fastest is compared with fastest).
import { readFileSync } from "node:fs";
import { createEngine } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import { MATMUL_CASES, matmulCallsPerSample, matmulFlops, latencyMs, prepareWasmMatmul, printTable, FASTEST_SIMD, type BenchRecord } from "./common.ts";

type Kernel = "muladdRegisters" | "muladdLoads" | "mulAndAdd" | "addOnly";
const KERNELS: { kernel: Kernel; flopPerIteration: number; label: string }[] = [
  { kernel: "muladdRegisters", flopPerIteration: 96, label: "mul+add, registers only (a = a·k1 + k2)" },
  { kernel: "muladdLoads", flopPerIteration: 96, label: "mul+add, operands loaded from L1 (a += x·k)" },
  { kernel: "mulAndAdd", flopPerIteration: 96, label: "mul ∥ add, independent streams (6 + 6 chains)" },
  { kernel: "addOnly", flopPerIteration: 48, label: "add only (a += k)" },
];
/** Iterations per call: ~2–5 ms per call at 20–40 GFLOP/s. */
const ITERATIONS = 1_000_000;

/** os.cpus()[0].speed is 0 in this KVM guest; /proc/cpuinfo's "cpu MHz" is the nominal clock (turbo unknown). */
function nominalMHz(): number {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? Math.round(Number(m[1])) : 0;
  } catch {
    return 0;
  }
}

async function compileKernels(): Promise<Record<Kernel | "init", (n?: number) => number>> {
  const asc = (await import("assemblyscript/asc")).default;
  const source = readFileSync(new URL("./roofline.as.ts", import.meta.url), "utf8");
  const result = await asc.compileString({ "roofline.ts": source }, {
    optimizeLevel: 3, shrinkLevel: 0, runtime: "stub", noAssert: true, enable: ["simd"],
  });
  if (result.error || !result.binary) throw new Error(`asc failed on bench/roofline.as.ts: ${result.error?.message}\n${result.stderr}`);
  // asc declares the binary as Uint8Array<ArrayBufferLike>; it is a plain Uint8Array over an ArrayBuffer.
  const { instance } = await WebAssembly.instantiate(result.binary as Uint8Array<ArrayBuffer>, {});
  return instance.exports as unknown as Record<Kernel | "init", (n?: number) => number>;
}

async function measurePeaks(k: Awaited<ReturnType<typeof compileKernels>>): Promise<Map<Kernel, number>> {
  let sink = 0;
  const tasks = KERNELS.map(({ kernel }) => ({ name: kernel, fn: () => void (sink += k[kernel](ITERATIONS)) }));
  // The fastest of ≥ 20 samples: what the core does between the host's slow spells,
  // the same statistic the kernels are rated by.
  const latencies = await latencyMs(tasks, { time: 800, warmupTime: 300, iterations: 20 });
  if (!Number.isFinite(sink)) throw new Error("roofline kernels produced a non-finite sum");
  return new Map(KERNELS.map(({ kernel, flopPerIteration }) => [kernel, (flopPerIteration * ITERATIONS) / (latencies.get(kernel)!.min * 1e6)]));
}

export async function run(): Promise<BenchRecord[]> {
  const k = await compileKernels();
  k.init();
  // Peak before and after the matmul shapes; the better of the two (load on this machine varies).
  const before = await measurePeaks(k);
  const engine = await createEngine(await nodeHost.wasmBytes("simd"), "simd");
  const matmul = new Map<string, { mean: number; fastest: number }>();
  for (const { op, shape, name } of MATMUL_CASES) {
    const calls = matmulCallsPerSample(shape);
    const { fn } = prepareWasmMatmul(engine, op, shape, calls);
    const large = matmulFlops(shape) >= 2 * 256 ** 3;
    const latency = (await latencyMs([{ name, fn }], large ? { time: 600, warmupTime: 200, iterations: 3, warmupIterations: 1 } : { time: 600, warmupTime: 250 })).get(name)!;
    const gflops = (ms: number) => (matmulFlops(shape) * calls) / (ms * 1e6);
    matmul.set(name, { mean: gflops(latency.mean), fastest: gflops(latency.min) });
  }
  const after = await measurePeaks(k);

  const records: BenchRecord[] = [];
  const peaks = new Map(KERNELS.map(({ kernel }) => [kernel, Math.max(before.get(kernel)!, after.get(kernel)!)]));
  const peak = Math.max(peaks.get("muladdRegisters")!, peaks.get("muladdLoads")!, peaks.get("mulAndAdd")!);
  const mhz = nominalMHz();
  const rows = KERNELS.map(({ kernel, label }) => {
    const g = peaks.get(kernel)!;
    records.push({ family: "roofline", name: `peak ${kernel}`, impl: "wasm-simd", shape: [12, ITERATIONS], unit: "GFLOP/s", value: g });
    return [label, before.get(kernel)!.toFixed(1), after.get(kernel)!.toFixed(1), g.toFixed(1), mhz ? (g / (mhz / 1000)).toFixed(1) : "–"];
  });
  printTable(`f32x4 throughput, 12 independent chains (GFLOP/s; FLOP/cycle at the nominal ${mhz || "?"} MHz)`, ["kernel", "before", "after", "best", "FLOP/cycle"], rows);

  const body: string[][] = [];
  for (const { shape, name } of MATMUL_CASES) {
    const { mean, fastest } = matmul.get(name)!;
    records.push({ family: "roofline", name, impl: "simd", shape: [...shape], unit: "GFLOP/s", value: mean });
    records.push({ family: "roofline", name, impl: FASTEST_SIMD, shape: [...shape], unit: "GFLOP/s", value: fastest });
    records.push({ family: "roofline", name, impl: "fraction", shape: [...shape], unit: "fraction of f32x4 mul+add peak", value: fastest / peak });
    body.push([name, mean.toFixed(1), fastest.toFixed(1), `${((100 * fastest) / peak).toFixed(0)}%`]);
  }
  printTable(
    `matmul SIMD vs the f32x4 mul+add peak (${peak.toFixed(1)} GFLOP/s; fastest samples)`,
    ["shape", "mean GFLOP/s", "fastest GFLOP/s", "of peak"], body,
  );
  return records;
}

/** Families whose SIMD GFLOP/s issue 5 rates against the roofline ("within 2× of it"), besides matmul. */
const RATED_FAMILIES = ["attention", "layernorm"];

/**
 * After a run that measured the roofline: every attention and LayerNorm pass of the
 * same run as a fraction of the f32x4 mul+add peak, and whether it is within 2× of
 * it. Rated by the pass's fastest sample (FASTEST_SIMD), as the peak is a fastest
 * sample too; the mean is shown beside it. Returns the fraction records
 * (family "roofline", impl "fraction"); none when the run had no peak.
 */
export function rateAgainstPeak(records: BenchRecord[]): BenchRecord[] {
  const peaks = records.filter((r) => r.family === "roofline" && r.impl === "wasm-simd" && r.name !== "peak addOnly");
  if (peaks.length === 0) return [];
  const peak = Math.max(...peaks.map((r) => r.value));
  const rated = records.filter((r) => RATED_FAMILIES.includes(r.family) && r.impl === FASTEST_SIMD);
  if (rated.length === 0) return [];
  const mean = (r: BenchRecord) => records.find((m) => m.family === r.family && m.name === r.name && m.impl === "simd")?.value;
  const fractions: BenchRecord[] = [];
  const body = rated.map((r) => {
    const name = `${r.family} ${r.name}`;
    fractions.push({ family: "roofline", name, impl: "fraction", shape: [...r.shape], unit: "fraction of f32x4 mul+add peak", value: r.value / peak });
    return [name, mean(r)?.toFixed(1) ?? "–", r.value.toFixed(1), `${((100 * r.value) / peak).toFixed(0)}%`, r.value * 2 >= peak ? "yes" : "no"];
  });
  printTable(
    `attention and LayerNorm SIMD vs the f32x4 mul+add peak of this run (${peak.toFixed(1)} GFLOP/s; rated by the fastest sample)`,
    ["kernel", "mean GFLOP/s", "fastest GFLOP/s", "of peak", "within 2×"], body,
  );
  return fractions;
}
