// The worker pool's throughput (src/parallel.ts): total SGLD steps over all chains
// per second of wall time of one estimateParallel call, with 1 and with 2 workers,
// in Node (worker_threads, platform/node-workers.ts), Deno (module Workers,
// bench/workers/deno-main.js) and headless Chromium (module Workers,
// bench/workers/page.html). The case is bench/sgld.bench.ts's MLP (same sizes,
// batch, sampler, w* and data recipe) as an estimate with 4 chains. Every runtime
// runs bench/workers/harness.ts on the library bundle (build/index.js) and the
// bundled worker (build/worker.js), after one untimed warm-up estimate, and
// checks that the 1- and 2-worker results are the same bits (llc/mean and loss
// traces); the table also says whether each runtime's result equals Node's.
// A runtime that is not installed is skipped with the reason.
import { spawn, spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import os from "node:os";
import { extname, join, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { transform } from "esbuild";
import type * as Lib from "../src/index.ts";
import { parseConfig } from "../src/config.ts";
import { modelLayout } from "../src/models.ts";
import { writeSafetensors, type Tensor } from "../src/io/safetensors.ts";
import { nodeHost } from "../src/platform/node.ts";
import { nodeWorkers } from "../src/platform/node-workers.ts";
import { fillUniform, printTable, type BenchRecord } from "./common.ts";
import { SIZES, BATCH } from "./sgld.bench.ts";
import { runWorkersBench, type WorkersCase, type WorkersReport } from "./workers/harness.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = process.env.LLC_CHROMIUM ?? "/usr/bin/chromium";
const CHAINS = 4;
/** Draws per chain of each timed run; doubled (in every runtime on its own) until 1 worker takes MIN_MS. */
const DRAWS = 500;
const MIN_MS = 2000;
/**
 * Draws per chain of the untimed warm-up estimate (on the most workers). With 25, the first
 * timed 2-worker runs were still ~25% slow in Chromium (its workers' code still tiering up).
 */
const WARMUP_DRAWS = 200;
const WORKERS = [1, 2];
/** Timed runs per worker count (interleaved; the fastest counts: harness.ts). */
const REPEATS = 5;
/** Data rows, as bench/sgld.bench.ts. */
const N = 4096;
/** Per runtime (warm-up, the timed runs, start-up). */
const TIMEOUT_MS = 10 * 60_000;
const RUNTIMES = ["node", "deno", "chromium"] as const;
type Runtime = (typeof RUNTIMES)[number];
type Outcome = { report: WorkersReport } | { skipped: string };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const caseName = `MLP ${SIZES.join("-")} b${BATCH} SGLD, ${CHAINS} chains`;
const recordName = (workers: number) => `${caseName}, ${workers} worker${workers === 1 ? "" : "s"}`;

// ------------------------------------------------------------------ the case
/**
 * bench/sgld.bench.ts's setup() as estimate inputs: w* = 0.05 · fillUniform(seed 1)
 * over the padded arena, x and y = fillUniform(seeds 2, 3), ε 1e-5, γ 100, nβ 30,
 * seed 1. Written as case.json + safetensors into `dir`, read back by every runtime.
 */
function writeCase(dir: string): string {
  const raw = {
    model: { kind: "mlp", sizes: SIZES, activation: "relu", bias: true },
    weights: "weights.safetensors",
    data: "data.safetensors",
    sampler: { epsilon: 1e-5, gamma: 100, nbeta: 30, chains: CHAINS, draws: DRAWS, batch_size: BATCH, seed: 1 },
  };
  const layout = modelLayout(parseConfig(raw).model);
  const wStar = fillUniform(new Float32Array(layout.padded), 1).map((v, i) => (i < layout.size ? v * 0.05 : 0));
  const weights = new Map<string, Tensor>(
    layout.tensors.map((t) => [t.name, { dtype: "F32", shape: [...t.shape], data: wStar.slice(t.offset, t.offset + t.size) }]),
  );
  const data = new Map<string, Tensor>([
    ["x", { dtype: "F32", shape: [N, SIZES[0]], data: fillUniform(new Float32Array(N * SIZES[0]), 2) }],
    ["y", { dtype: "F32", shape: [N, SIZES[SIZES.length - 1]], data: fillUniform(new Float32Array(N * SIZES[SIZES.length - 1]), 3) }],
  ]);
  writeFileSync(join(dir, raw.weights), writeSafetensors(weights));
  writeFileSync(join(dir, raw.data), writeSafetensors(data));
  const spec: WorkersCase = { config: raw, warmupDraws: WARMUP_DRAWS, workers: WORKERS, minMs: MIN_MS, repeats: REPEATS };
  const path = join(dir, "case.json");
  writeFileSync(path, JSON.stringify(spec, null, 2));
  return path;
}

// ------------------------------------------------------------------ helpers
function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A report line from a runtime, or its error as an exception. */
function checked(report: WorkersReport & { error?: string }, what: string): WorkersReport {
  if (report.error) throw new Error(`${what}: ${report.error}`);
  return report;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(", ");

// ------------------------------------------------------------------ Node
async function runNode(casePath: string): Promise<WorkersReport> {
  const lib = (await import(pathToFileURL(join(root, "build/index.js")).href)) as typeof Lib;
  const spawnWorker = nodeWorkers(pathToFileURL(join(root, "build/worker.js"))); // the bundle: no TypeScript loader in the workers
  return runWorkersBench(lib, nodeHost, casePath, spawnWorker, `node ${process.version} (V8 ${process.versions.v8})`);
}

// ------------------------------------------------------------------ Deno
function denoCommand(): [string, string[]] | undefined {
  const bin = join(root, "node_modules/.bin/deno");
  if (existsSync(bin)) return [bin, []];
  const cjs = join(root, "node_modules/deno/bin.cjs");
  return existsSync(cjs) ? [process.execPath, [cjs]] : undefined;
}

async function runDeno(dir: string, casePath: string): Promise<Outcome> {
  const command = denoCommand();
  if (!command) return { skipped: "node_modules/.bin/deno not found (npm ci installs the deno package)" };
  const [cmd, pre] = command;
  const env = { ...process.env, NO_COLOR: "1", DENO_DIR: join(dir, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };
  const args = [
    ...pre, "run", "--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt",
    `--allow-read=${root},${dir}`, `--allow-write=${dir}`,
    join(root, "bench/workers/deno-main.js"), casePath,
  ];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`deno exited ${code ?? signal}\n${stderr.slice(-3000)}`));
    });
  });
  const line = out.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`deno printed no JSON line:\n${out.slice(-3000)}`);
  return { report: checked(JSON.parse(line), "deno") };
}

// ------------------------------------------------------------------ Chromium
// Serves build/ (the bundle, worker and .wasm), bench/workers/ (the page; .ts with
// types stripped) and /case/ (the case files) on 127.0.0.1, cross-origin isolated
// as `llc web` (src/platform/node-server.ts) serves the real page (so the pool's stop flags exist).
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".ts": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json", ".safetensors": "application/octet-stream",
};

function serve(caseDir: string): Promise<{ server: Server; origin: string }> {
  const mounts: [prefix: string, dir: string][] = [["/build/", join(root, "build")], ["/bench/workers/", join(root, "bench/workers")], ["/case/", caseDir]];
  const server = createServer(async (req, res) => {
    const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store" };
    try {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
      const mount = mounts.find(([prefix]) => path.startsWith(prefix));
      if (!mount) throw new Error("not served");
      const base = resolvePath(mount[1]);
      const file = resolvePath(base, `.${path.slice(mount[0].length - 1)}`);
      const type = TYPES[extname(file)];
      if (!file.startsWith(base + sep) || !type) throw new Error("not served");
      let body: Buffer | string = await readFile(file);
      if (file.endsWith(".ts")) body = (await transform(body.toString("utf8"), { loader: "ts", format: "esm", target: "es2022" })).code;
      res.writeHead(200, { ...headers, "Content-Type": type });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" });
      res.end(req.method === "HEAD" ? undefined : "not found");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${(server.address() as { port: number }).port}` }));
  });
}

async function runChromium(dir: string): Promise<Outcome> {
  if (!existsSync(CHROMIUM)) return { skipped: `${CHROMIUM} not found (apt-get install chromium, or set LLC_CHROMIUM)` };
  let chromium: typeof import("playwright-core").chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    return { skipped: `playwright-core cannot be loaded (npm ci installs it): ${(e as Error).message}` };
  }
  const { server, origin } = await serve(dir);
  const profile = mkdtempSync(join(dir, "chromium-profile-"));
  const logs: string[] = [];
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const page = await context.newPage();
      page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
      const failed = new Promise<never>((_, reject) => page.on("pageerror", (e) => reject(new Error(`pageerror: ${e.message}`))));
      failed.catch(() => {});
      const response = await page.goto(`${origin}/bench/workers/page.html`);
      if (!response?.ok()) throw new Error(`page.html: HTTP ${response?.status()}`);
      await Promise.race([page.waitForFunction(() => "workersBench" in window, undefined, { timeout: 30_000 }), failed]);
      const report = await Promise.race([page.evaluate(() => (window as unknown as { workersBench: Promise<WorkersReport> }).workersBench), failed]);
      return { report: checked(report, "chromium") };
    } finally {
      await context.close();
    }
  } catch (e) {
    throw new Error(`${(e as Error).message}${logs.length ? `\n${logs.join("\n")}` : ""}`);
  } finally {
    server.close();
  }
}

// ------------------------------------------------------------------ the bench
function ensureBuild(): void {
  const needed = ["build/index.js", "build/worker.js", "build/llc-simd.wasm"];
  if (needed.every((f) => existsSync(join(root, f)))) return;
  console.log("build/ is incomplete: running scripts/build.mjs");
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) throw new Error(`scripts/build.mjs exited ${built.status}`);
}

export async function run(): Promise<BenchRecord[]> {
  ensureBuild();
  const dir = mkdtempSync(join(os.tmpdir(), "llc-workers-bench-"));
  const outcomes = new Map<Runtime, Outcome>();
  const loadBefore = loadavg();
  try {
    mkdirSync(dir, { recursive: true });
    const casePath = writeCase(dir);
    // One runtime at a time: they would compete for the same cores.
    const runners: Record<Runtime, () => Promise<Outcome>> = {
      node: async () => ({ report: await runNode(casePath) }),
      deno: () => runDeno(dir, casePath),
      chromium: () => runChromium(dir),
    };
    for (const runtime of RUNTIMES) {
      try {
        outcomes.set(runtime, await withTimeout(runners[runtime](), runtime));
      } catch (e) {
        outcomes.set(runtime, { skipped: `FAILED: ${(e as Error).stack ?? e}` });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg();

  const records: BenchRecord[] = [];
  const node = outcomes.get("node");
  const nodeReport = node && "report" in node ? node.report : undefined;
  const rate = (r: WorkersReport, workers: number) => r.timings.find((t) => t.workers === workers);
  const body: string[][] = [];
  const notes: string[] = [];
  for (const runtime of RUNTIMES) {
    const outcome = outcomes.get(runtime)!;
    if ("skipped" in outcome) {
      body.push([runtime, "–", "–", "–", "–", "–", "–", "–"]);
      notes.push(`${runtime} skipped: ${outcome.skipped}`);
      continue;
    }
    const r = outcome.report;
    for (const t of r.timings)
      records.push({ family: "workers", name: recordName(t.workers), impl: runtime, shape: [...SIZES, BATCH, CHAINS, t.workers], unit: "steps/s", value: t.stepsPerSecond });
    const one = rate(r, 1), two = rate(r, 2);
    const sameDraws = nodeReport && nodeReport.timings[0].draws === r.timings[0].draws;
    body.push([
      runtime,
      one ? one.stepsPerSecond.toFixed(0) : "–",
      two ? two.stepsPerSecond.toFixed(0) : "–",
      one && two ? `${(two.stepsPerSecond / one.stepsPerSecond).toFixed(2)}×` : "–",
      one && two ? `${(median(two.samples) / median(one.samples)).toFixed(2)}×` : "–",
      `${CHAINS} × ${r.timings[0].draws}${one ? ` in ${(one.ms / 1000).toFixed(2)} s` : ""}`,
      r.identical ? "yes" : "NO",
      runtime === "node" ? `(${r.resultHash})` : !nodeReport ? "–" : !sameDraws ? "– (other draws)" : r.resultHash === nodeReport.resultHash ? "yes" : `NO (${r.resultHash})`,
    ]);
    const spread = r.timings.map((t) => `${t.workers}w ${t.samples.map((v) => v.toFixed(0)).join("/")}`).join(", ");
    notes.push(`${runtime}: ${r.runtime}; warm-up ${(r.warmupMs / 1000).toFixed(2)} s; every run (steps/s) ${spread}; llc/mean ${r.llcMean}${r.mismatch ? `; MISMATCH: ${r.mismatch}` : ""}`);
  }
  printTable(
    `Worker pool throughput: ${caseName} (steps/s = SGLD steps over all chains / wall time of estimateParallel; fastest of ${REPEATS} interleaved runs, and the ratio of the medians)`,
    ["runtime", "1 worker", "2 workers", "2w/1w", "2w/1w of medians", "steps (1 worker time)", "1w = 2w bits", "= Node bits"],
    body,
  );
  for (const note of notes) console.log(note);
  console.log(`load average (1, 5, 15 min): ${loadBefore} before, ${loadAfter} after; ${os.availableParallelism()} cores available`);
  return records;
}
