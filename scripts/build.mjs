// `npm run build`: the two WebAssembly builds from one AssemblyScript source
// (SIMD and scalar), the JS bundles and the type declarations. Skips work whose
// outputs are newer than their sources unless --force is given.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync, mkdirSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const force = process.argv.includes("--force");

const wasiSources = join(root, "assembly/wasi"); // only build/llc-wasi.wasm depends on these
function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (p === wasiSources) continue;
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}
const stale = (outputs, sourceTime) =>
  force || outputs.some((o) => !existsSync(join(root, o)) || statSync(join(root, o)).mtimeMs < sourceTime);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

mkdirSync(join(root, "build"), { recursive: true });
const asc = join(root, "node_modules/assemblyscript/bin/asc.js");
const asTime = Math.max(newest(join(root, "assembly")), statSync(join(root, "asconfig.json")).mtimeMs);
for (const target of ["simd", "scalar"]) {
  if (stale([`build/llc-${target}.wasm`], asTime)) {
    console.error(`asc: build/llc-${target}.wasm`);
    run(process.execPath, [asc, "--config", "asconfig.json", "--target", target]);
  }
}
// The WASI command (assembly/wasi/main.ts on the same kernels), from its own config.
// src/limits.ts is read by both configs' validators (src/config.ts and assembly/wasi/config.ts).
const limitsTime = statSync(join(root, "src/limits.ts")).mtimeMs;
if (stale(["build/llc-wasi.wasm"], Math.max(asTime, newest(wasiSources), limitsTime, statSync(join(root, "asconfig.wasi.json")).mtimeMs))) {
  console.error("asc: build/llc-wasi.wasm");
  run(process.execPath, [asc, "--config", "asconfig.wasi.json", "--target", "wasi"]);
}

const tsTime = newest(join(root, "src"));
const bundles = ["index", "cli", "worker", "node", "deno"].filter((name) => existsSync(join(root, `src/${name}.ts`)));
// build/node.js and deno.js (the llc-wasm/node and /deno entries) import the library
// from build/index.js instead of bundling a second copy: one class per error
// (`instanceof ConfigError` holds whichever entry a user imported it from).
const libraryFromIndex = {
  name: "library-from-index",
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.ts$/ }, () => ({ path: "./index.js", external: true }));
  },
};
if (stale(bundles.map((name) => `build/${name}.js`), tsTime)) {
  console.error(`esbuild: ${bundles.map((name) => `build/${name}.js`).join(", ")}`);
  const common = { bundle: true, format: "esm", target: "es2022", sourcemap: true, logLevel: "warning", external: ["node:*"] };
  for (const name of bundles) {
    // The library bundle must stay host-neutral (DESIGN.md); only the CLI and llc-wasm/node may lean on Node.
    const platform = name === "cli" || name === "node" ? "node" : "neutral";
    const plugins = name === "node" || name === "deno" ? [libraryFromIndex] : [];
    await build({ ...common, entryPoints: [join(root, `src/${name}.ts`)], outfile: join(root, `build/${name}.js`), platform, plugins });
  }
}
// The page (src/web/, served by `llc web`: src/platform/node-server.ts): main.js with uPlot bundled in,
// inputs-worker.js, style.css with uPlot's CSS inlined, index.html copied; it runs build/worker.js.
const webOut = ["build/web/index.html", "build/web/main.js", "build/web/inputs-worker.js", "build/web/style.css"];
if (existsSync(join(root, "src/web/main.ts")) && stale(webOut, Math.max(tsTime, statSync(join(root, "node_modules/uplot/package.json")).mtimeMs))) {
  console.error(`esbuild: ${webOut.join(", ")}`);
  mkdirSync(join(root, "build/web"), { recursive: true });
  const web = { bundle: true, target: "es2022", sourcemap: true, logLevel: "warning", platform: "browser" };
  await build({ ...web, format: "esm", entryPoints: ["main", "inputs-worker"].map((n) => join(root, `src/web/${n}.ts`)), outdir: join(root, "build/web") });
  await build({ ...web, entryPoints: [join(root, "src/web/style.css")], outfile: join(root, "build/web/style.css") });
  copyFileSync(join(root, "src/web/index.html"), join(root, "build/web/index.html"));
}
if (process.argv.includes("--types") && stale(["build/types/index.d.ts"], tsTime)) {
  console.error("tsc: build/types");
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]);
}
