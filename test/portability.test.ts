// The promise that an estimate is the same number, to the bit, wherever it
// runs: the same estimates (an MLP and a normal-crossing case, SIMD and scalar
// builds) in Node, Deno, headless Chromium and the SpiderMonkey and
// JavaScriptCore shells must produce byte-identical result JSON (and a job's
// result file through the Node, Deno and browser hosts), and the module's own
// selfTest() hash must agree in all of them plus wabt's interpreter. Deno comes
// with npm ci; an engine that is not installed here (Chromium, js102, jsc,
// wasm-interp) skips its test, saying how to get it, except under CI=true, where
// it fails (.ci/run installs them all with .ci/install-engines).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, resolve as resolvePath, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { transform } from "esbuild";
import { chromium } from "playwright-core";
import { nodeHost } from "../src/platform/node.ts";
import { BrowserHost } from "../src/platform/browser.ts";
import { normalCrossingCase, reducedRankCase } from "../src/cases.ts";
import { fnv1a, portabilityCase, runPortability, SAMPLERS } from "./portability/harness.js";
import { CHROMIUM_ARGS, chromiumProgram, requireProgram, testNeeding } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "llc-portability-"));
const TIMEOUT_MS = 90_000;
const VARIANTS = ["simd", "scalar"] as const;
const CASES = Object.keys(SAMPLERS) as (keyof typeof SAMPLERS)[];

type Report = {
  runtime?: string;
  error?: string;
  estimates: Record<string, { selfTest: string; results: Record<string, string> }>;
  job: { text: string; rerunIdentical: boolean };
  ms: number;
};

// ------------------------------------------------------------------ helpers
/** "8b80de73 (llc/mean 0.0582…, llc/std …)": enough to tell two results apart in a message. */
function describe(json: string): string {
  const r = JSON.parse(json);
  return `${fnv1a(json)} (llc/mean ${r["llc/mean"]}, llc/std ${r["llc/std"]}, variant ${r.engine?.variant})`;
}

function sameText(actual: string, expected: string, what: string): void {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  assert.unreachable(
    `${what}: ${describe(actual)} differs from Node's ${describe(expected)} at character ${i}: ` +
      `…${actual.slice(Math.max(0, i - 40), i + 40)}… vs …${expected.slice(Math.max(0, i - 40), i + 40)}…`,
  );
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Run a command to completion; ENOENT and non-zero exits become errors that say what to install. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, install = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "ENOENT" ? `${cmd} not found${install ? `: ${install}` : ""}` : `${cmd}: ${e.message}`)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code ?? signal}\n${stderr.slice(-3000)}`));
    });
  });
}

// The engines besides Node and Deno, each looked up once (test/helpers.ts decides run, skip or fail).
const CHROMIUM = chromiumProgram();
const JS102 = requireProgram("js102", "apt-get install libmozjs-102-dev");
/** The jsc shell: on PATH in Debian 12's libjavascriptcoregtk-4.0-bin, under a webkit2gtk libexec dir elsewhere. */
const JSC = requireProgram("jsc", "apt-get install libjavascriptcoregtk-4.0-bin", {
  paths: ["/usr/lib/x86_64-linux-gnu/webkit2gtk-4.0/jsc", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/jsc", "/usr/libexec/webkit2gtk-4.0/jsc", "/usr/libexec/webkit2gtk-4.1/jsc"],
});
const WASM_INTERP = requireProgram("wasm-interp", "apt-get install wabt");

const denoCommand = (): [string, string[]] => {
  const bin = join(root, "node_modules/.bin/deno");
  return existsSync(bin) ? [bin, []] : [process.execPath, [join(root, "node_modules/deno/bin.cjs")]];
};

// ------------------------------------------------------------------ static server
// Serves build/, src/ (TypeScript stripped by esbuild, so the page can import
// src/platform/browser.ts) and test/portability/ on 127.0.0.1; HEAD as GET.
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".ts": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json",
};
const SERVED = ["/build/", "/src/", "/test/portability/"];

function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    const file = resolvePath(root, `.${path}`);
    const inside = file.startsWith(resolvePath(root) + sep);
    const type = TYPES[extname(file)];
    try {
      if (!inside || !type || !SERVED.some((p) => path.startsWith(p))) throw new Error("not served");
      let body: Buffer | string = await readFile(file);
      if (file.endsWith(".ts")) body = (await transform(body.toString("utf8"), { loader: "ts", format: "esm", target: "es2022" })).code;
      res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end(req.method === "HEAD" ? undefined : "not found");
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number };
    resolve({ server, origin: `http://127.0.0.1:${address.port}` });
  }));
}

// ------------------------------------------------------------------ runtimes
async function runDeno(): Promise<Report> {
  const dir = join(work, "deno");
  mkdirSync(join(dir, "job"), { recursive: true });
  const [cmd, pre] = denoCommand();
  const env = { ...process.env, NO_COLOR: "1", DENO_DIR: join(dir, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };
  const out = await run(cmd, [
    ...pre, "run", "--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt",
    `--allow-read=${root},${dir}`, `--allow-write=${join(dir, "job")}`,
    join(root, "test/portability/deno-main.js"), join(dir, "job"),
  ], env, "npm ci installs the deno package");
  return JSON.parse(out.trim().split("\n").pop()!);
}

/** harness.runEstimates in a bare shell (shell-estimate.mjs as a module). */
async function runShell(cmd: string): Promise<Report["estimates"]> {
  const out = await run(cmd, ["-m", join(root, "test/portability/shell-estimate.mjs")]);
  const estimates = JSON.parse(out.trim().split("\n").pop()!);
  if (estimates.error) throw new Error(`${cmd}: ${estimates.error}`);
  return estimates;
}

async function runChromium(executablePath: string, origin: string): Promise<Report> {
  const profile = mkdtempSync(join(work, "chromium-profile-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS });
  const logs: string[] = [];
  try {
    const page = await context.newPage();
    page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    // An exception while the modules evaluate ends the wait at once, not at the timeout.
    const failed = new Promise<never>((_, reject) => page.on("pageerror", (e) => reject(new Error(`pageerror: ${e.message}`))));
    failed.catch(() => {});
    const response = await page.goto(`${origin}/test/portability/page.html`);
    if (!response?.ok()) throw new Error(`page.html: HTTP ${response?.status()}`);
    await Promise.race([page.waitForFunction(() => "portability" in window, undefined, { timeout: TIMEOUT_MS }), failed]);
    const report = (await page.evaluate(() => (window as any).portability)) as Report;
    if (report.error) throw new Error(`page: ${report.error}`);
    return report;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${logs.join("\n")}`);
  } finally {
    await context.close();
  }
}

// ------------------------------------------------------------------ setup
// Each engine's report, started in before() for the engines that are here (undefined otherwise).
let node: Report;
let deno: Promise<Report>;
let browser: Promise<Report> | undefined;
let spidermonkey: Promise<Report["estimates"]> | undefined;
let javascriptcore: Promise<Report["estimates"]> | undefined;
let origin = "";
let server: Server | undefined;
const started = performance.now();
const seen: string[] = []; // selfTest hashes per engine, printed at the end

test.before(async () => {
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, encoding: "utf8" });
  assert.is(built.status, 0, built.stderr);
  ({ server, origin } = await serve());
  // The other engines run while Node computes its own report.
  deno = withTimeout(runDeno(), "deno");
  if (CHROMIUM.path) browser = withTimeout(runChromium(CHROMIUM.path, origin), "chromium");
  if (JS102.path) spidermonkey = runShell(JS102.path);
  if (JSC.path) javascriptcore = runShell(JSC.path);
  for (const p of [deno, browser, spidermonkey, javascriptcore]) p?.catch(() => {});
  const lib = await import(pathToFileURL(join(root, "build/index.js")).href);
  mkdirSync(join(work, "node", "job"), { recursive: true });
  node = { runtime: `node ${process.version}`, ...(await runPortability(lib, nodeHost, join(work, "node", "job"))) };
});

test.after(async () => {
  await Promise.allSettled([deno, browser, spidermonkey, javascriptcore]);
  server?.close();
  rmSync(work, { recursive: true, force: true });
  const results = node ? VARIANTS.flatMap((v) => CASES.map((k) => `${k}/${v} ${describe(node.estimates[v].results[k])}`)) : [];
  console.log(`\nNode's results: ${results.join("; ")}`);
  console.log(`selfTest (simd/scalar): ${seen.join(", ")}; ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
});

function compareEstimates(name: string, estimates: Report["estimates"]): void {
  for (const variant of VARIANTS)
    for (const key of CASES) sameText(estimates[variant].results[key], node.estimates[variant].results[key], `${name}, ${variant} build, case ${key}`);
  assert.is(estimates.simd.selfTest, node.estimates.simd.selfTest, `${name} selfTest (simd)`);
  assert.is(estimates.scalar.selfTest, node.estimates.simd.selfTest, `${name} selfTest (scalar)`);
}

function compareRuntime(name: string, report: Report): void {
  compareEstimates(name, report.estimates);
  sameText(report.job.text, node.job.text, `${name}, runEstimateJob result file`);
  assert.ok(report.job.rerunIdentical, `${name}: rerunning the job changed its result file`);
  seen.push(`${name} ${report.estimates.simd.selfTest}/${report.estimates.scalar.selfTest} (${report.ms} ms)`);
}

// ------------------------------------------------------------------ tests
test("the compared configs are the brief's reducedRankCase(5,3,5) and normalCrossingCase([1,2]) with short samplers", async () => {
  const lib = await import(pathToFileURL(join(root, "build/index.js")).href);
  const rrr = reducedRankCase(5, 3, 5).config;
  assert.equal(portabilityCase(lib, "rrr").config, { ...rrr, sampler: { ...rrr.sampler, chains: 2, draws: 200 } });
  assert.equal(portabilityCase(lib, "nc").config, normalCrossingCase([1, 2], { chains: 2, draws: 300 }).config);
});

test("Node: the scalar build gives the SIMD build's result JSON, byte for byte (but the variant name)", () => {
  for (const key of CASES) {
    const simd = node.estimates.simd.results[key];
    const scalar = node.estimates.scalar.results[key];
    assert.ok(scalar.includes('"variant":"scalar"'));
    sameText(scalar.replace('"variant":"scalar"', '"variant":"simd"'), simd, `Node, scalar build, case ${key}`);
  }
  assert.is(node.estimates.scalar.selfTest, node.estimates.simd.selfTest, "selfTest: scalar vs simd");
  assert.ok(node.job.rerunIdentical, "rerunning the job changed its result file");
  seen.push(`node ${node.estimates.simd.selfTest}/${node.estimates.scalar.selfTest} (${node.ms} ms)`);
});

test("Deno: byte-identical result JSON (both builds, and a runEstimateJob file through the Deno host)", async () => {
  compareRuntime("deno", await deno);
});

testNeeding(test, [CHROMIUM], "Chromium: byte-identical result JSON (both builds, and a runEstimateJob file through the browser host)", async () => {
  compareRuntime("chromium", await browser!);
});

/** selfTest alone in a classic shell script (shell-selftest.js): no library, no module loader, no promises. */
async function shellSelfTest(name: string, cmd: string, args: (wasm: string) => string[]): Promise<void> {
  for (const variant of VARIANTS) {
    const out = await run(cmd, args(join(root, `build/llc-${variant}.wasm`)));
    const report = JSON.parse(out.trim().split("\n").pop()!);
    assert.ok(report.simd, `${name} validates fixed-width SIMD`);
    assert.is(report.selfTest, node.estimates.simd.selfTest, `${name} selfTest (${variant})`);
  }
}
const script = join(root, "test/portability/shell-selftest.js");

testNeeding(test, [JS102], "SpiderMonkey (js102 shell): byte-identical result JSON and selfTest, both builds", async () => {
  await shellSelfTest("spidermonkey", JS102.path!, (wasm) => [script, wasm]);
  const estimates = await spidermonkey!;
  compareEstimates("spidermonkey", estimates);
  seen.push(`spidermonkey ${estimates.simd.selfTest}/${estimates.scalar.selfTest}`);
});

testNeeding(test, [JSC], "JavaScriptCore (jsc shell): byte-identical result JSON and selfTest, both builds", async () => {
  await shellSelfTest("javascriptcore", JSC.path!, (wasm) => [script, "--", wasm]);
  const estimates = await javascriptcore!;
  compareEstimates("javascriptcore", estimates);
  seen.push(`javascriptcore ${estimates.simd.selfTest}/${estimates.scalar.selfTest}`);
});

testNeeding(test, [WASM_INTERP], "wabt interpreter (wasm-interp): selfTest gives Node's hash, both builds", async () => {
  const hashes: string[] = [];
  for (const variant of VARIANTS) {
    // --run-all-exports calls every export without parameters (resetHeap, selfTest); env.abort is a dummy.
    const out = await run(WASM_INTERP.path!, [join(root, `build/llc-${variant}.wasm`), "--dummy-import-func", "--run-all-exports"]);
    const m = /^selfTest\(\) => i32:(\d+)$/m.exec(out);
    assert.ok(m, `no selfTest line in wasm-interp output:\n${out}`);
    hashes.push((Number(m![1]) >>> 0).toString(16).padStart(8, "0"));
    assert.is(hashes[hashes.length - 1], node.estimates.simd.selfTest, `wasm-interp selfTest (${variant})`);
  }
  seen.push(`wasm-interp ${hashes.join("/")}`);
});

test("BrowserHost: reads over HTTP, keeps written files in memory, resolves paths as URLs", async () => {
  const host = new BrowserHost({ base: `${origin}/test/portability/page.html`, wasmBase: `${origin}/build/` });
  const wasm = await host.wasmBytes("simd");
  assert.ok(Buffer.from(wasm).equals(readFileSync(join(root, "build/llc-simd.wasm"))), "wasmBytes");
  assert.is(host.resolve("job/case.json", "weights.safetensors"), `${origin}/test/portability/job/weights.safetensors`);
  assert.is(host.resolve(`${origin}/a/b.json`, "../c.json"), `${origin}/c.json`);
  assert.is(await host.exists("harness.js"), true);
  assert.is(await host.exists("missing.json"), false);
  try {
    await host.readText("missing.json");
    assert.unreachable("reading a missing URL should fail");
  } catch (e) {
    assert.match((e as Error).message, `${origin}/test/portability/missing.json: HTTP 404`);
  }
  await host.writeText("out/result.json", "{}\n");
  assert.is(await host.readText(`${origin}/test/portability/out/result.json`), "{}\n");
  assert.is(await host.exists("out/result.json"), true);
  assert.equal([...host.files.keys()], [`${origin}/test/portability/out/result.json`]);
});

test.run();
