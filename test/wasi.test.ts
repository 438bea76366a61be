// The WASI command (build/llc-wasi.wasm) against the JavaScript CLI: on files
// written by `llc example`, `llc-wasi.wasm estimate --config FILE` under
// node:wasi (in process) must give every number of the JS CLI's result bit for
// bit (and in fact the same bytes, apart from engine.variant); Deno's node:wasi
// must give the same bytes as Node's; the module may import nothing but
// wasi_snapshot_preview1 functions; bad configs and files end in a non-zero exit
// and a message naming the field or file, worded as the JS CLI words it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { WASI } from "node:wasi";
import { scratchDir } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = scratchDir("llc-wasi-");
const wasmPath = join(root, "build/llc-wasi.wasm");
let module: WebAssembly.Module;

type Run = { status: number | null; stdout: string; stderr: string };

const llc = (args: string[]): Run => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8", maxBuffer: 1 << 28 });

/** The WASI command under Node's node:wasi in this process, with `dir` preopened under its own name. */
function wasi(args: string[], preopens: Record<string, string> = { [dir]: dir }): Run {
  const outPath = join(dir, "wasi-stdout.txt"), errPath = join(dir, "wasi-stderr.txt");
  const stdout = openSync(outPath, "w"), stderr = openSync(errPath, "w");
  try {
    const w = new WASI({ version: "preview1", args: ["llc-wasi.wasm", ...args], env: {}, preopens, stdout, stderr, returnOnExit: true });
    const instance = new WebAssembly.Instance(module, w.getImportObject() as WebAssembly.Imports);
    const status = w.start(instance);
    return { status, stdout: readFileSync(outPath, "utf8"), stderr: readFileSync(errPath, "utf8") };
  } finally {
    closeSync(stdout);
    closeSync(stderr);
  }
}

function example(name: string): string {
  const caseDir = join(dir, name);
  if (!existsSync(join(caseDir, "case.json"))) {
    const made = llc(["example", name, "--dir", caseDir]);
    assert.is(made.status, 0, made.stderr);
  }
  return caseDir;
}

/** A config beside an example's files: its case.json edited. */
function writeConfig(exampleName: string, file: string, edit: (config: any) => void): string {
  const caseDir = example(exampleName);
  const config = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8"));
  edit(config);
  const path = join(caseDir, file);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Every number equal with Object.is (so -0 ≠ 0 and NaN = NaN), every other value equal; `path` names the spot. */
function sameValues(actual: unknown, expected: unknown, path: string): void {
  if (typeof expected === "number") {
    assert.ok(typeof actual === "number" && Object.is(actual, expected), `${path}: WASI ${actual} vs JS ${expected}`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: WASI ${JSON.stringify(actual)?.slice(0, 80)} is not an array`);
    assert.is((actual as unknown[]).length, expected.length, `${path}: length`);
    expected.forEach((e, i) => sameValues((actual as unknown[])[i], e, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    assert.ok(actual !== null && typeof actual === "object" && !Array.isArray(actual), `${path}: not an object`);
    assert.equal(Object.keys(actual as object), Object.keys(expected), `${path}: keys`);
    for (const key of Object.keys(expected)) sameValues((actual as any)[key], (expected as any)[key], `${path}.${key}`);
    return;
  }
  assert.is(actual, expected, path);
}

// Every sampler field the WASI build takes, across the polynomial and the MLP (with and without bias, three activations).
const CASES: Record<string, [string, (config: any) => void]> = {
  "rrr (chains 2, draws 100)": ["rrr", (c) => Object.assign(c.sampler, { chains: 2, draws: 100 })],
  "normal crossing (chains 2, draws 100)": ["normal-crossing", (c) => Object.assign(c.sampler, { chains: 2, draws: 100 })],
  "rrr, rmsprop_sgld, burn-in, thinning, full L0, box, decay, noise level, restrict all": ["rrr", (c) => {
    Object.assign(c.sampler, {
      method: "rmsprop_sgld", chains: 2, draws: 60, burnin: 7, thin: 3, init_loss: "full", batch_size: 64, seed: 3, nbeta: 12.5,
      weight_decay: 0.01, noise_level: 0.8, bounding_box: 0.5, alpha: 0.9, eps: 0.05,
    });
    c.restrict = { "layers.0.weight": "all" };
  }],
  "rrr, 3 chains, given L0, 0/1 mask": ["rrr", (c) => {
    Object.assign(c.sampler, { chains: 3, draws: 50, init_loss: 0.25, batch_size: 100 });
    c.restrict = { "layers.1.weight": [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], "layers.0.weight": "all" };
  }],
  "normal crossing, one chain, restrict by name, burn-in, thinning": ["normal-crossing", (c) => {
    Object.assign(c.sampler, { chains: 1, draws: 40, burnin: 10, thin: 2, batch_size: 100 });
    c.restrict = "weights";
  }],
  "regression with bias": ["regression", (c) => Object.assign(c.sampler, { chains: 2, draws: 80, gamma: 10 })],
  "deep linear as tanh, odd batch": ["dln", (c) => {
    Object.assign(c.sampler, { chains: 2, draws: 80, batch_size: 7 });
    c.model.activation = "tanh";
  }],
  "deep linear as relu": ["dln", (c) => {
    Object.assign(c.sampler, { chains: 2, draws: 80 });
    c.model.activation = "relu";
  }],
};

const REQUIRED_KEYS = [
  "llc/mean", "llc/std", "llc-chain/0", "llc/means", "llc/stds", "loss/trace", "llc/trace", "init_loss", "nbeta", "mala_accept/trace", "mala_accept/mean",
  "gradient_norm/trace", "noise_norm/trace", "distance/trace", "weight_norm/trace", "status", "chains_completed", "config", "engine", "job",
];

const runs = new Map<string, { config: string; js: Run; wasi: Run }>();

test.before(() => {
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, encoding: "utf8" });
  assert.is(built.status, 0, built.stderr);
  module = new WebAssembly.Module(readFileSync(wasmPath));
  let i = 0;
  for (const [name, [exampleName, edit]] of Object.entries(CASES)) {
    const config = writeConfig(exampleName, `wasi-case-${i++}.json`, edit);
    runs.set(name, { config, js: llc(["estimate", "--config", config, "--quiet"]), wasi: wasi(["estimate", "--config", config, "--quiet"]) });
  }
});

test("the module imports only wasi_snapshot_preview1 functions and exports _start and memory", () => {
  const imports = WebAssembly.Module.imports(module);
  assert.ok(imports.length > 0);
  for (const i of imports) assert.ok(i.module === "wasi_snapshot_preview1" && i.kind === "function", `import ${i.module}.${i.name} (${i.kind})`);
  assert.equal(WebAssembly.Module.exports(module).map((e) => `${e.name}:${e.kind}`).sort(), ["_start:function", "memory:memory"]);
});

for (const name of Object.keys(CASES)) {
  test(`${name}: every number of the JS CLI's result, bit for bit`, () => {
    const { js, wasi: w } = runs.get(name)!;
    assert.is(js.status, 0, js.stderr);
    assert.is(w.status, 0, w.stderr);
    assert.is(w.stderr, "", "--quiet prints nothing on stderr");
    const expected = JSON.parse(js.stdout), actual = JSON.parse(w.stdout);
    for (const key of REQUIRED_KEYS) assert.ok(key in actual, `WASI result lacks ${key}`);
    const shared = Object.keys(expected).filter((key) => key in actual && key !== "engine");
    assert.ok(shared.length >= REQUIRED_KEYS.length - 1, `shared keys: ${shared.join(", ")}`);
    for (const key of shared) sameValues(actual[key], expected[key], key);
    assert.equal(actual.engine, { ...expected.engine, variant: "wasi" });
  });
}

test("every case: the same bytes as the JS CLI's stdout, apart from engine.variant", () => {
  for (const [name, { js, wasi: w }] of runs) {
    assert.ok(js.stdout.includes('"variant": "simd"'));
    if (w.stdout.replace('"variant": "wasi"', '"variant": "simd"') !== js.stdout) {
      const a = w.stdout, b = js.stdout;
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      assert.unreachable(`${name}: differs at character ${i}: WASI …${a.slice(Math.max(0, i - 60), i + 40)}… vs JS …${b.slice(Math.max(0, i - 60), i + 40)}…`);
    }
  }
});

test("Deno's node:wasi runs the module to the same bytes as Node's", () => {
  const deno = join(root, "node_modules/.bin/deno");
  assert.ok(existsSync(deno), `${deno} not found: npm ci installs the deno package`);
  const runner = join(dir, "run-wasi.mjs");
  writeFileSync(runner, [
    'import { WASI } from "node:wasi";',
    'import { readFileSync } from "node:fs";',
    'import process from "node:process";',
    "const [wasm, preopen, ...args] = process.argv.slice(2);",
    'const wasi = new WASI({ version: "preview1", args: ["llc-wasi.wasm", ...args], env: {}, preopens: { [preopen]: preopen }, returnOnExit: true });',
    "const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm)), wasi.getImportObject());",
    "process.exit(wasi.start(instance));",
    "",
  ].join("\n"));
  const env = { ...process.env, NO_COLOR: "1", DENO_DIR: join(dir, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };
  // Deno's node:wasi asks for write access to every preopened directory, even one only read.
  const denoRun = (args: string[]) => spawnSync(deno, ["run", `--allow-read=${join(root, "build")},${dir}`, `--allow-write=${dir}`, runner, wasmPath, dir, ...args], {
    encoding: "utf8", env, maxBuffer: 1 << 28,
  });
  for (const name of ["rrr (chains 2, draws 100)", "normal crossing (chains 2, draws 100)"]) {
    const { config, wasi: node } = runs.get(name)!;
    const r = denoRun(["estimate", "--config", config, "--quiet"]);
    assert.is(r.status, 0, `deno exited ${r.status}: ${r.stderr}`);
    assert.ok(r.stdout === node.stdout, `${name}: Deno's stdout differs from Node's (llc/mean ${JSON.parse(r.stdout || "{}")["llc/mean"]} vs ${JSON.parse(node.stdout)["llc/mean"]})`);
  }
  const typo = writeConfig("rrr", "wasi-deno-typo.json", (c) => { c.sampler.epslion = 1e-4; });
  const bad = denoRun(["estimate", "--config", typo]);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /sampler\.epslion: unknown field, did you mean epsilon\?/);
});

/** Both CLIs on the same config: the same exit code and the same stderr. */
function sameFailure(config: string): Run {
  const js = llc(["estimate", "--config", config, "--quiet"]);
  const w = wasi(["estimate", "--config", config, "--quiet"]);
  assert.ok(js.status !== 0, "the JS CLI accepted it");
  assert.is(w.status, js.status, w.stderr);
  assert.is(w.stderr, js.stderr);
  assert.is(w.stdout, "");
  return w;
}

test("a malformed config exits 1 and names the field, in the JS CLI's words", () => {
  const edits: Record<string, (c: any) => void> = {
    typo: (c) => { c.sampler.epslion = 1e-4; },
    negative: (c) => { c.sampler.epsilon = -1; },
    devinterp: (c) => { c.sampler.num_chains = 4; },
    huge: (c) => { c.sampler.draws = 1e300; },
    kind: (c) => { c.model.kind = "mpl"; },
    width: (c) => { c.model.sizes = [5, 0.5, 5]; },
    nbeta: (c) => { c.sampler.nbeta = "defualt"; },
    mask: (c) => { c.restrict = { "layers.0.weight": [0, 1, 2] }; },
    // Limits both validators read from src/limits.ts: refused before any work, in the same words.
    draws: (c) => { c.sampler.draws = 1e12; },
    chains: (c) => { c.sampler.chains = 1e9; },
    burnin: (c) => { c.sampler.burnin = 1e12; c.sampler.chains = 1; },
    bytes: (c) => { c.model.sizes = [1e9, 1e9]; },
    tensor: (c) => { c.restrict = { "layers.9.weight": "all" }; },
    empty: (c) => { c.restrict = {}; },
    zeros: (c) => { c.restrict = { "layers.0.weight": new Array(15).fill(0) }; },
    failFast: (c) => { c.sampler.fail_fast = "yes"; },
    missing: (c) => { delete c.data; },
  };
  const expected: Record<string, RegExp> = {
    typo: /^llc: ConfigError: sampler\.epslion: unknown field, did you mean epsilon\? \(known: method, /,
    negative: /^llc: ConfigError: sampler\.epsilon: expected a positive finite number, got -1 \(in /,
    devinterp: /^llc: ConfigError: sampler\.num_chains: unknown field, did you mean chains\?/,
    huge: /^llc: ConfigError: sampler\.draws: expected an integer >= 1, got 1e\+300 \(beyond 2\^53 - 1/,
    kind: /^llc: ConfigError: model\.kind: expected one of "mlp", "polynomial", "transformer", got "mpl"; did you mean "mlp"\?/,
    width: /^llc: ConfigError: model\.sizes\[1\]: expected an integer >= 1, got 0\.5/,
    nbeta: /^llc: ConfigError: sampler\.nbeta: expected "default" or a positive finite number, got "defualt"; did you mean "default"\?/,
    mask: /^llc: ConfigError: restrict\.layers\.0\.weight\[2\]: expected one of 0, 1, got 2/,
    draws: /^llc: ConfigError: sampler\.draws: chains × draws = 4 × 1000000000000 = 4000000000000 draws in each trace of the result; expected at most 1000000 /,
    chains: /^llc: ConfigError: sampler\.chains: chains × draws = 1000000000 × \d+ = \d+ draws in each trace/,
    burnin: /^llc: ConfigError: sampler\.burnin: burnin \+ draws × thin = 1000000000000 \+ \d+ × 1 = \d+ SGLD steps per chain; expected at most 2147483647/,
    bytes: /^llc: ConfigError: model\.sizes: the model has 1000000000000000000 parameters, 4000000000000000000 bytes for one f32 copy of them; a WebAssembly memory holds at most 4294967296 bytes \(wasm32: 65536 pages of 64 KiB\)/,
    tensor: /^llc: ConfigError: restrict\.layers\.9\.weight: no such tensor in the model \(tensors: layers\.0\.weight, layers\.1\.weight\)/,
    empty: /^llc: ConfigError: restrict: expected a non-empty object of tensor names → "all" or a 0\/1 mask \(or null: every weight moves\), got \{\}/,
    zeros: /^llc: ConfigError: restrict\.layers\.0\.weight: every mask entry is 0, so no parameter moves/,
    failFast: /^llc: ConfigError: sampler\.fail_fast: expected true or false, got "yes"/,
    missing: /^llc: ConfigError: data: expected a non-empty string \(a file path\), got nothing \(the field is required\)/,
  };
  for (const [name, edit] of Object.entries(edits)) assert.match(sameFailure(writeConfig("rrr", `wasi-bad-${name}.json`, edit)).stderr, expected[name]);
  const syntax = join(dir, "rrr", "wasi-bad-syntax.json");
  writeFileSync(syntax, '{\n  "model": {"kind": "mlp",, }\n}');
  assert.match(sameFailure(syntax).stderr, /wasi-bad-syntax\.json: invalid JSON at line 2, column 27: expected a string key, found ","/);
});

test("a missing or malformed input file exits 1 and names the file", () => {
  const caseDir = example("rrr");
  assert.match(sameFailure(join(caseDir, "no-such-config.json")).stderr, /^llc: ENOENT: no such file or directory, open '.*no-such-config\.json'/);
  const missing = writeConfig("rrr", "wasi-missing-weights.json", (c) => { c.weights = "nowhere.safetensors"; });
  assert.match(sameFailure(missing).stderr, /^llc: InputError: weights: ENOENT: no such file or directory, open '.*nowhere\.safetensors'/);
  writeFileSync(join(caseDir, "wasi-truncated.safetensors"), readFileSync(join(caseDir, "weights.safetensors")).subarray(0, 40));
  const truncated = writeConfig("rrr", "wasi-truncated.json", (c) => { c.weights = "wasi-truncated.safetensors"; });
  assert.match(sameFailure(truncated).stderr, /^llc: SafetensorsError: wasi-truncated\.safetensors: header length prefix is \d+ bytes but only 32 bytes follow/);
  const wrong = writeConfig("rrr", "wasi-wrong-shape.json", (c) => { c.model.sizes = [5, 4, 5]; });
  assert.match(sameFailure(wrong).stderr, /^llc: InputError: weights\["layers\.0\.weight"\]: expected shape \[4, 5\], got \[3, 5\]/);
  // Regular files only, in the JS CLI's words: a directory as weights; /dev/zero as data (read forever before).
  mkdirSync(join(caseDir, "wasi-a-directory.safetensors"), { recursive: true });
  const directory = writeConfig("rrr", "wasi-directory.json", (c) => { c.weights = "wasi-a-directory.safetensors"; });
  assert.match(sameFailure(directory).stderr, /^llc: InputError: weights: cannot read .*wasi-a-directory\.safetensors: a directory, not a regular file/);
  const zero = writeConfig("rrr", "wasi-dev-zero.json", (c) => { c.data = "/dev/zero"; });
  const device = wasi(["estimate", "--config", zero, "--quiet"], { [dir]: dir, "/dev": "/dev" });
  assert.is(device.status, 1, device.stderr);
  assert.is(device.stderr, llc(["estimate", "--config", zero, "--quiet"]).stderr);
  assert.match(device.stderr, /^llc: InputError: data: cannot read \/dev\/zero: a character device, not a regular file/);
  // Outside every preopened directory: the sandbox, not the file system, is the problem, and the message says so.
  const elsewhere = wasi(["estimate", "--config", join(caseDir, "case.json")], { "/sandbox": caseDir });
  assert.is(elsewhere.status, 1);
  assert.match(elsewhere.stderr, /cannot open '.*case\.json': no preopened directory contains it \(preopened: \/sandbox\)/);
  // The same case through a preopen under another guest name runs (paths resolve inside the sandbox).
  const guest = wasi(["estimate", "--config", "/sandbox/wasi-case-0.json", "--quiet"], { "/sandbox": caseDir });
  assert.is(guest.status, 0, guest.stderr);
  assert.is(JSON.parse(guest.stdout)["llc/mean"], JSON.parse(runs.get("rrr (chains 2, draws 100)")!.js.stdout)["llc/mean"]);
});

test("a diverging chain exits 1 with the JS CLI's message", () => {
  const config = writeConfig("rrr", "wasi-diverge.json", (c) => Object.assign(c.sampler, { epsilon: 50, chains: 2, draws: 100, fail_fast: true }));
  assert.match(sameFailure(config).stderr, /^llc: ChainDivergedError: (NaN|Inf) detected in loss at chain 0, draw \d+ \(SGLD step \d+\)/);
});

test("numbers: the module's formatter writes what V8 writes, and its parser reads what JSON.parse reads", () => {
  // assembly/wasi/numbers.ts on its own, in a throwaway module with a few exports.
  const harness = join(dir, "numbers-harness.ts");
  const numbers = relative(dir, join(root, "assembly/wasi/numbers")).split(sep).join("/");
  writeFileSync(harness, [
    `import { formatNumber, parseDecimal, toPrecision } from "${numbers}";`,
    "const buf = memory.data(8192);",
    "export function buffer(): usize { return buf; }",
    "function put(s: string): i32 { memory.copy(buf, changetype<usize>(s), <usize>s.length << 1); return s.length; }",
    "export function fmt(x: f64): i32 { return put(formatNumber(x)); }",
    "export function prec(x: f64, p: i32): i32 { return put(toPrecision(x, p)); }",
    "export function parse(n: i32): f64 { return parseDecimal(String.UTF16.decodeUnsafe(buf, <usize>n << 1), 0, n); }",
    "",
  ].join("\n"));
  const out = join(dir, "numbers-harness.wasm");
  const asc = spawnSync(process.execPath, [join(root, "node_modules/assemblyscript/bin/asc.js"), harness, "--runtime", "stub", "-O3", "--noAssert", "--outFile", out], { encoding: "utf8" });
  assert.is(asc.status, 0, asc.stderr);
  const e = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(out)), { env: { abort() { throw new Error("abort"); } } }).exports as any;
  const text = (n: number) => String.fromCharCode(...new Uint16Array(e.memory.buffer, e.buffer(), n));
  const fmt = (x: number) => text(e.fmt(x));
  const prec = (x: number, p: number) => text(e.prec(x, p));
  const parse = (s: string) => {
    new Uint16Array(e.memory.buffer, e.buffer(), s.length).set(Array.from(s, (c) => c.charCodeAt(0)));
    return e.parse(s.length) as number;
  };
  let seed = 20261125;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const bits = new DataView(new ArrayBuffer(8));
  const doubles = [0, -0, 5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308, 1e21, 1e-7, 123456789012345680000, 0.1, 1e-4, 6e-4];
  for (let k = -1074; k <= 1023; k += 7) doubles.push(2 ** k);
  for (let i = 0; i < 30000; i++) {
    bits.setUint32(0, next());
    bits.setUint32(4, next());
    const x = bits.getFloat64(0);
    if (Number.isFinite(x)) doubles.push(x);
    doubles.push(Math.fround((next() / 2 ** 32 - 0.5) * 10 ** ((next() % 20) - 10)));
  }
  for (const x of doubles) {
    assert.is(fmt(x), String(x), `format ${x}`);
    for (const s of [String(x), x.toExponential(), x.toPrecision(17)]) {
      const json = s.replace("e+", "e");
      assert.ok(Object.is(parse(json), JSON.parse(json)), `parse ${json}`);
    }
  }
  for (let i = 0; i < 5000; i++) {
    const x = doubles[i * 7];
    const p = 1 + (i % 21);
    assert.is(prec(x, p), x.toPrecision(p), `toPrecision(${x}, ${p})`);
  }
  const decimals = [
    "0.1000000000000000055511151231257827021181583404541015625", "2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623158e308",
    "1.7976931348623159e308", "1e400", "-1e-400", "9007199254740993", "9007199254740993.0000000000000000000000000000001", "0.0006", "1e-4",
    `1.${"0".repeat(900)}1`, `0.5${"0".repeat(850)}1e-323`, "9".repeat(400), `0.${"0".repeat(300)}1`,
  ];
  for (let i = 0; i < 20000; i++) {
    let digits = String(1 + (next() % 9));
    for (let j = next() % 25; j > 0; j--) digits += String(next() % 10);
    decimals.push(`${digits}e${(next() % 700) - 350}`, `-0.${digits}`);
  }
  for (const s of decimals) assert.ok(Object.is(parse(s), JSON.parse(s)), `parse ${s.slice(0, 60)}`);
});

test("the transformer is refused with a clear message, and bad arguments exit 2 with usage", () => {
  const transformer = writeConfig("rrr", "wasi-transformer.json", (c) => {
    c.model = { kind: "transformer", n_layers: 1, n_heads: 2, d_model: 8, d_head: 4, n_ctx: 8, d_vocab: 5 };
  });
  const t = wasi(["estimate", "--config", transformer]);
  assert.is(t.status, 1);
  assert.match(t.stderr, /^llc: ConfigError: model\.kind: the transformer is not supported in the WASI build yet/);
  const kl = wasi(["estimate", "--config", writeConfig("rrr", "wasi-kl.json", (c) => { c.loss = { kind: "kl", reference: "w*" }; })]);
  assert.is(kl.status, 1);
  assert.match(kl.stderr, /^llc: ConfigError: loss: the "kl" loss \(a transformer loss/);
  const unknown = wasi(["estimate", "--config", transformer, "--chains", "3"]);
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /^llc: UsageError: unknown argument "--chains"\nusage:/);
  assert.is(wasi(["estimate"]).status, 2);
  assert.is(wasi(["frobnicate"]).status, 2);
  const help = wasi(["help"]);
  assert.is(help.status, 0);
  assert.match(help.stdout, /^usage:\n {2}llc-wasi\.wasm estimate --config FILE/);
});

test.run();
