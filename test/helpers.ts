// Shared by the tests: both builds of the engine, and seeded test data made
// without Math.random so every failure reproduces.
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { Callback, Test } from "uvu";
import { createEngine, type Engine, type Variant } from "../src/engine.ts";
import { nodeHost } from "../src/platform/node.ts";
import type { TransformerConfig } from "../src/config.ts";
import { modelLayout } from "../src/models.ts";

/**
 * A fresh directory under the OS temp dir, removed when the test process exits
 * (each test file runs in a process of its own), unless LLC_KEEP_TMP is set to
 * look at what a failing test left there.
 */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!process.env.LLC_KEEP_TMP) process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const VARIANTS: Variant[] = ["simd", "scalar"];

export async function loadEngine(variant: Variant): Promise<Engine> {
  return createEngine(await nodeHost.wasmBytes(variant), variant);
}

/** Deterministic uniform numbers in [0, 1) (mulberry32): integer ops only, so every host agrees. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic uniform numbers in [-1, 1), for filling test inputs. */
export function seededUniform(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() * 2 - 1;
}

export function fillUniform(view: Float32Array, seed: number): Float32Array {
  const u = seededUniform(seed);
  for (let i = 0; i < view.length; i++) view[i] = u();
  return view;
}

/**
 * `engine` with every allocation followed by memory.grow(1), which detaches every
 * view of the old buffer: code that keeps a view across an allocation then fails
 * at once ("detached ArrayBuffer") instead of only when an allocation happens to
 * cross the end of the memory.
 */
export function detachingEngine(engine: Engine): Engine {
  const grow = <A extends unknown[]>(f: (...a: A) => number) => (...a: A) => {
    const ptr = f(...a);
    engine.kernels.memory.grow(1);
    return ptr;
  };
  return { ...engine, alloc: grow(engine.alloc), allocF32: grow(engine.allocF32), allocF64: grow(engine.allocF64), allocI32: grow(engine.allocI32) };
}

// ------------------------------------------------------------------ external programs
/** Under CI every program of the test matrix is required (.ci/run installs them via .ci/install-engines). */
export const IN_CI = /^(true|1)$/i.test(process.env.CI ?? "");

/** What gets the whole matrix at once, said in every message about a missing program. */
const ALL_ENGINES = "or .ci/install-engines for all of them";

export interface Program {
  name: string;
  /** Where it is, or undefined when it is missing. */
  path?: string;
  /** "needs js102 (apt-get install libmozjs-102-dev, …)": what a skipped or failed test prints. */
  needs: string;
  /** Where it was looked for ("js102 on PATH", "/usr/bin/chromium"). */
  looked: string;
}

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * An external program some tests run (Chromium, a JS shell, wabt's interpreter),
 * looked up once: the first executable `name` in a PATH directory (unless
 * `onPath` is false), else the first of `paths`. `how` says how to get it, e.g.
 * "apt-get install wabt".
 */
export function requireProgram(name: string, how: string, { onPath = true, paths = [] as string[] } = {}): Program {
  const candidates = [...(onPath ? (process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, name)) : []), ...paths];
  const looked = [...(onPath ? [`${name} on PATH`] : []), ...paths].join(", ");
  return { name, path: candidates.find(isExecutable), needs: `needs ${name} (${how}, ${ALL_ENGINES})`, looked };
}

/** Debian's chromium (or LLC_CHROMIUM), driven by playwright-core: the tests never download a browser. */
export const chromiumProgram = (): Program =>
  requireProgram("chromium", "apt-get install chromium, or set LLC_CHROMIUM to a Chromium binary", { onPath: false, paths: [process.env.LLC_CHROMIUM ?? "/usr/bin/chromium"] });

/** How every test starts it (with a fresh --user-data-dir of its own): headless, no sandbox (CI runs as root), quiet. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * `test(name, fn)` when every program in `needs` is present. When one is missing
 * the test is skipped (uvu's test.skip, so its report counts it) with a line saying
 * what it needs and how to get it, except under CI=true, where it fails with that
 * message: CI must run the whole matrix.
 */
export function testNeeding<T>(test: Test<T>, needs: Program[], name: string, fn: Callback<T>): void {
  const missing = needs.filter((p) => !p.path);
  if (!missing.length) return test(name, fn);
  const why = missing.map((p) => `${p.name} not found (looked for ${p.looked}): ${p.needs}`).join("; ");
  if (IN_CI) return test(name, () => {
    throw new Error(`${why} (CI=true: every program of the test matrix is required)`);
  });
  console.log(`SKIP "${name}": ${why}`);
  test.skip(name, fn);
}

/**
 * Seeded transformer weights as a padded arena and as f64 tensors (for the f64
 * reference): entries scale·u, LayerNorm weights 1 + lnSpread·u, u uniform in [−1, 1).
 */
export function randomTransformerWeights(m: TransformerConfig, seed: number, scale = 0.5, lnSpread = 0.2): { arena: Float32Array; params: Map<string, Float64Array> } {
  const layout = modelLayout(m);
  const u = seededUniform(seed);
  const arena = new Float32Array(layout.padded);
  const params = new Map<string, Float64Array>();
  for (const t of layout.tensors) {
    const isLnWeight = /ln(1|_final)\.w$/.test(t.name);
    for (let i = 0; i < t.size; i++) arena[t.offset + i] = isLnWeight ? 1 + lnSpread * u() : scale * u();
    params.set(t.name, Float64Array.from(arena.subarray(t.offset, t.offset + t.size)));
  }
  return { arena, params };
}
