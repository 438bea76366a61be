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

/**
 * Run the tasks with tinybench and return each task's mean latency in ms.
 * The warm-up matters: V8 first runs wasm in its baseline compiler (Liftoff)
 * and tiers up to TurboFan while it runs (research notes §1.3 e).
 * Throws if a task did not complete, so a broken kernel never prints a number.
 */
export async function meanLatencyMs(tasks: BenchTask[], timing: BenchTiming): Promise<Map<string, number>> {
  const bench = new Bench({
    time: timing.time,
    warmupTime: timing.warmupTime,
    iterations: timing.iterations ?? 8,
    warmupIterations: timing.warmupIterations ?? 4,
  });
  for (const task of tasks) bench.add(task.name, task.fn);
  await bench.run();
  const means = new Map<string, number>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state !== "completed") {
      const detail = result.state === "errored" ? `: ${result.error.message}` : "";
      throw new Error(`bench task "${task.name}" ${result.state}${detail}`);
    }
    means.set(task.name, result.latency.mean);
  }
  return means;
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
  const unit = records[0]?.unit ?? "";
  const header = ["", ...columns.map((c) => ("impl" in c ? `${c.impl} ${unit}` : `${c.ratio[0]}/${c.ratio[1]}`))];
  const body = [...rows].map(([name, values]) => [
    name,
    ...columns.map((c) => {
      if ("impl" in c) {
        const v = values.get(c.impl);
        return v === undefined ? "–" : formatNumber(v);
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
