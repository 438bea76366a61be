// Shared by every bench/*.bench.ts: the record format, a tinybench wrapper that
// returns mean latencies, a side-by-side table printer and the machine header.
import os from "node:os";
import { Bench } from "tinybench";
import { createEngine, type Engine, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";

/** One measured figure; bench/run.ts --json writes an array of these. */
export interface BenchRecord {
  /** Kernel family, e.g. "matmul"; also the bench file name (bench/<family>.bench.ts). */
  family: string;
  /** What was measured, e.g. "AB 256x256x256"; one table row. */
  name: string;
  /** Implementation, e.g. "simd" | "scalar" | "js"; one table column. */
  impl: string;
  shape: number[];
  unit: string;
  value: number;
}

/** A bench file's entry point, as bench/run.ts expects it. */
export type BenchModule = { run(): Promise<BenchRecord[]> };

export interface BenchTask {
  name: string;
  fn: () => void;
}

export interface BenchTiming {
  /** Minimum measuring time per task, ms. */
  time: number;
  warmupTime: number;
  /** Minimum samples per task (tinybench runs until both time and iterations are reached). */
  iterations?: number;
  warmupIterations?: number;
}

/** A task's latency over its samples, ms: the mean, and the fastest sample. */
export interface Latency {
  mean: number;
  min: number;
}

/**
 * Run the tasks with tinybench and return each task's latency (mean and fastest
 * sample) in ms. The warm-up matters: V8 first runs wasm in its baseline compiler
 * (Liftoff) and tiers up to TurboFan while it runs (research notes §1.3 e).
 * Throws if a task did not complete, so a broken kernel never prints a number.
 */
export async function latencyMs(tasks: BenchTask[], timing: BenchTiming): Promise<Map<string, Latency>> {
  const bench = new Bench({
    time: timing.time,
    warmupTime: timing.warmupTime,
    iterations: timing.iterations ?? 8,
    warmupIterations: timing.warmupIterations ?? 4,
  });
  for (const task of tasks) bench.add(task.name, task.fn);
  await bench.run();
  const latencies = new Map<string, Latency>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state !== "completed") {
      const detail = result.state === "errored" ? `: ${result.error.message}` : "";
      throw new Error(`bench task "${task.name}" ${result.state}${detail}`);
    }
    latencies.set(task.name, { mean: result.latency.mean, min: result.latency.min });
  }
  return latencies;
}

/**
 * How many times faster `ours` runs than `peer`: the median over `rounds` rounds of
 * (peer's time per call) / (ours), each round timing the two back to back for at
 * least `roundMs` each, in alternating order. Unlike two tinybench tasks measured
 * one after the other, a slow spell of a shared host then hits both sides of a
 * round alike, and the median drops the rounds it split.
 */
export function interleavedSpeedup(ours: () => void, peer: () => void, rounds = 9, roundMs = 60): number {
  const ratios = interleavedRounds([ours, peer], rounds, roundMs).map(([oursMs, peerMs]) => peerMs / oursMs);
  return median(ratios);
}

/**
 * ms per call of each task in each of `rounds` rounds ([round][task]): a round times every
 * task back to back for at least `roundMs` each, the order rotated by one task per round
 * (for two tasks: alternating), so a slow spell of a shared host hits every task of a round.
 */
export function interleavedRounds(tasks: (() => void)[], rounds: number, roundMs: number): number[][] {
  const msPerCall = (fn: () => void) => {
    const start = performance.now();
    let calls = 0, now = start;
    do {
      fn();
      calls++;
      now = performance.now();
    } while (now - start < roundMs);
    return (now - start) / calls;
  };
  return Array.from({ length: rounds }, (_, round) => {
    const ms = new Array<number>(tasks.length);
    for (let j = 0; j < tasks.length; j++) {
      const t = (j + round) % tasks.length;
      ms[t] = msPerCall(tasks[t]);
    }
    return ms;
  });
}

/** The middle value (the upper middle for an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((x, y) => x - y)[values.length >> 1];
}

/** latencyMs's means only. */
export async function meanLatencyMs(tasks: BenchTask[], timing: BenchTiming): Promise<Map<string, number>> {
  return new Map([...(await latencyMs(tasks, timing))].map(([name, latency]) => [name, latency.mean]));
}

/** A column of a side-by-side table: one impl's value, or the ratio of two impls. */
export type Column = { impl: string } | { ratio: [numerator: string, denominator: string] };

/**
 * Print records as a table: one row per record name (in first-seen order), one
 * column per requested impl or ratio; missing values print as "–".
 */
export function printSideBySide(title: string, records: BenchRecord[], columns: Column[]): void {
  const rows = new Map<string, Map<string, number>>();
  for (const r of records) {
    if (!rows.has(r.name)) rows.set(r.name, new Map());
    rows.get(r.name)!.set(r.impl, r.value);
  }
  // Unit "ratio" records (a speedup measured as such) print as "1.3×" under a bare header.
  const unitOf = (impl: string) => records.find((r) => r.impl === impl)?.unit ?? "";
  const header = ["", ...columns.map((c) =>
    "impl" in c ? (unitOf(c.impl) === "ratio" ? c.impl : `${c.impl} ${unitOf(c.impl)}`) : `${c.ratio[0]}/${c.ratio[1]}`)];
  const body = [...rows].map(([name, values]) => [
    name,
    ...columns.map((c) => {
      if ("impl" in c) {
        const v = values.get(c.impl);
        return v === undefined ? "–" : unitOf(c.impl) === "ratio" ? `${v.toFixed(1)}×` : formatNumber(v);
      }
      const [num, den] = c.ratio.map((impl) => values.get(impl));
      return num === undefined || den === undefined ? "–" : `${(num / den).toFixed(1)}×`;
    }),
  ]);
  printTable(title, header, body);
}

export function printTable(title: string, header: string[], body: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => "─".repeat(w)).join("  "));
  for (const row of body) console.log(line(row));
}

function formatNumber(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  v8: string;
  platform: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

export function printMachineInfo(): void {
  const m = machineInfo();
  console.log(`${m.cpu} (${m.cores} cores available), Node ${m.node} (V8 ${m.v8}), ${m.platform}, ${m.date}`);
}

/** Both builds of the engine, each in its own instance and memory. */
export async function loadEngines(): Promise<Record<Variant, Engine>> {
  const [simd, scalar] = await Promise.all(
    (["simd", "scalar"] as const).map(async (variant) => createEngine(await nodeHost.wasmBytes(variant), variant)),
  );
  return { simd, scalar };
}

/**
 * Impl of the GFLOP/s of the SIMD build's fastest sample: on this shared VM the
 * mean of a pass moves by ±30% with the host's load, the fastest sample far less,
 * and the roofline peak it is rated against is a fastest sample too.
 */
export const FASTEST_SIMD = "simd-fastest";

/**
 * GFLOP/s of a kernel family's passes (e.g. "fwd", "fwd+bwd") in the SIMD and the
 * scalar build, shape by shape: `prepare` puts one shape's operands in an engine
 * and returns a call per pass; `flops` counts a pass's work. Records are named
 * "<pass> <shape joined by x>", impl "simd" | "scalar" (mean latency) and
 * FASTEST_SIMD (the SIMD build's fastest sample).
 */
export async function timeKernelPasses<S extends number[]>(
  family: string, shapes: readonly S[], prepare: (engine: Engine, shape: S) => Record<string, () => void>,
  flops: (pass: string, shape: S) => number, timing: BenchTiming,
): Promise<BenchRecord[]> {
  const engines = await loadEngines();
  const records: BenchRecord[] = [];
  for (const shape of shapes) {
    const calls = { simd: prepare(engines.simd, shape), scalar: prepare(engines.scalar, shape) };
    const tasks: BenchTask[] = Object.keys(calls.simd).flatMap((pass) =>
      (["simd", "scalar"] as const).map((impl) => ({ name: `${pass} ${impl}`, fn: calls[impl][pass] })));
    for (const [task, { mean, min }] of await latencyMs(tasks, timing)) {
      const [pass, impl] = task.split(" ");
      const record = (impl: string, ms: number) =>
        records.push({ family, name: `${pass} ${shape.join("x")}`, impl, shape: [...shape], unit: "GFLOP/s", value: flops(pass, shape) / (ms * 1e6) });
      record(impl, mean);
      if (impl === "simd") record(FASTEST_SIMD, min);
    }
  }
  return records;
}

/** Deterministic fill in [-1, 1) (mulberry32), so runs are repeatable. */
export function fillUniform(view: Float32Array, seed: number): Float32Array {
  let a = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    view[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return view;
}

// ---- Shared by the peer and roofline benches (bench/peers.bench.ts, bench/roofline.bench.ts) ----

export type MatmulOp = "matmulAB" | "matmulABt" | "matmulAtB";
export type MatmulShape = [M: number, N: number, K: number];

/** The shapes bench/matmul.bench.ts measures, with the same record names ("AB 256x256x256", ...). */
export const MATMUL_CASES: { op: MatmulOp; shape: MatmulShape; name: string }[] = [
  ...[32, 64, 128, 256, 512].map((n) => ({ op: "matmulAB" as MatmulOp, shape: [n, n, n] as MatmulShape })),
  { op: "matmulAB" as MatmulOp, shape: [4096, 32, 256] as MatmulShape },
  { op: "matmulABt" as MatmulOp, shape: [256, 256, 256] as MatmulShape },
  { op: "matmulAtB" as MatmulOp, shape: [256, 256, 256] as MatmulShape },
].map((c) => ({ ...c, name: matmulCaseName(c.op, c.shape) }));

/** "AB 256x256x256": the record name of a product and shape. */
function matmulCaseName(op: MatmulOp, shape: MatmulShape): string {
  return `${{ matmulAB: "AB", matmulABt: "ABt", matmulAtB: "AtB" }[op]} ${shape.join("x")}`;
}

/**
 * The default training model's products at batch 32 (2048 rows of d_model 64, 8 heads
 * of 16 = width 128, unembed chunks of 512 rows × d_vocab 1024; assembly/transformer.ts):
 * a projection x·W_Q and x·W_O, the unembed, and their weight and input gradients.
 * Issue 5 asks for the tfjs comparison "on the transformer's real shapes" too.
 */
export const TRANSFORMER_MATMUL_CASES: { op: MatmulOp; shape: MatmulShape; name: string }[] = ([
  ["matmulAB", [2048, 128, 64]], ["matmulAB", [2048, 64, 128]], ["matmulAB", [512, 1024, 64]],
  ["matmulAtB", [64, 128, 2048]], ["matmulABt", [2048, 64, 128]], ["matmulAtB", [64, 1024, 512]], ["matmulABt", [512, 64, 1024]],
] as [MatmulOp, MatmulShape][]).map(([op, shape]) => ({ op, shape, name: matmulCaseName(op, shape) }));

export const matmulFlops = ([M, N, K]: MatmulShape) => 2 * M * N * K;

/** Calls per sample so each sample is ~4 MFLOP (as bench/matmul.bench.ts does). */
export const matmulCallsPerSample = (shape: MatmulShape) => Math.max(1, Math.round(4e6 / matmulFlops(shape)));

/**
 * Operands of one shape resident in an engine's memory (A filled with seed 1, B
 * with seed 2, in the layout the op expects), plus a call that runs the product
 * `calls` times, and the address of C.
 */
export function prepareWasmMatmul(engine: Engine, op: MatmulOp, [M, N, K]: MatmulShape, calls: number): { fn: () => void; c: () => Float32Array } {
  const k = engine.kernels;
  k.resetHeap();
  const pA = engine.allocF32(M * K);
  const pB = engine.allocF32(K * N);
  const pC = engine.allocF32(M * N);
  const pScratch = engine.alloc(k.matmulScratchBytes(M, N, K));
  fillUniform(engine.f32(pA, M * K), 1);
  fillUniform(engine.f32(pB, K * N), 2);
  const product = k[op] as (C: number, A: number, B: number, M: number, N: number, K: number, acc: number, scratch: number) => void;
  return {
    fn: () => {
      for (let c = 0; c < calls; c++) product(pC, pA, pB, M, N, K, 0, pScratch);
    },
    c: () => engine.f32(pC, M * N),
  };
}
