// The command line end to end: files made by `llc example`, bad arguments and
// configs, malformed safetensors, results written as chains finish, and a run
// killed mid-way that resumes to the same bytes as an uninterrupted one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./helpers.ts";
import { COMMANDS } from "../src/cli.ts";
import { exampleCases } from "../src/cases.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-cli-");
const caseDir = join(dir, "rrr");

test.before(() => {
  const made = llc(["example", "rrr", "--dir", caseDir]);
  assert.is(made.status, 0, made.stderr);
});

function writeConfig(name: string, edit: (c: any) => void): string {
  const config = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8"));
  edit(config);
  const path = join(caseDir, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

test("estimate on example files prints devinterp's keys and matches the in-memory run", () => {
  const path = writeConfig("short.json", (c) => Object.assign(c.sampler, { chains: 2, draws: 50 }));
  const r = llc(["estimate", "--config", path, "--quiet"]);
  assert.is(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  for (const key of ["llc/mean", "llc/std", "llc-chain/0", "llc-chain/1", "loss/trace", "llc/trace", "init_loss", "nbeta", "mala_accept/mean", "config", "engine"])
    assert.ok(key in result, key);
  assert.is(result["loss/trace"].length, 2);
  assert.is(result["loss/trace"][0].length, 50);
  assert.is(result.status, "complete");
  assert.is(r.stderr, "", "--quiet prints nothing on stderr");
});

test("the same CLI entry runs under Deno and writes the same bytes as under Node (with 2 workers too)", () => {
  const path = writeConfig("deno.json", (c) => Object.assign(c.sampler, { chains: 2, draws: 60 }));
  const node = llc(["estimate", "--config", path, "--quiet"]);
  assert.is(node.status, 0, node.stderr);
  const denoBinary = existsSync(join(root, "node_modules/.bin/deno")) ? join(root, "node_modules/.bin/deno") : null;
  const deno = (extra: string[]) => spawnSync(denoBinary ?? process.execPath,
    [...(denoBinary ? [] : [join(root, "node_modules/deno/bin.cjs")]), "run", "-A", "--no-config", "--no-lock", join(root, "bin/llc.mjs"), "estimate", "--config", path, "--quiet", ...extra],
    { encoding: "utf8", env: { ...process.env, NO_COLOR: "1", DENO_DIR: join(dir, "deno-cache") } });
  for (const extra of [[], ["--workers", "2"]]) {
    const r = deno(extra);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, node.stdout, `deno ${extra.join(" ")}`);
  }
});

test("unknown arguments and commands exit 2 with usage", () => {
  const r = llc(["estimate", "--config", "x.json", "--chanis", "3"]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown argument "--chanis"/);
  assert.match(r.stderr, /usage:/);
  const unknown = llc(["frobnicate"]);
  assert.is(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  for (const { name } of COMMANDS) assert.ok(unknown.stderr.includes(name), `the command list names ${name}`);
});

test("every command has --help and -h: exit 0, what it does, each of its flags, what it reads, an example", () => {
  assert.ok(COMMANDS.length >= 6);
  for (const spec of COMMANDS) {
    const help = llc([spec.name, "--help"]);
    assert.is(help.status, 0, help.stderr);
    assert.is(help.stderr, "");
    assert.ok(help.stdout.startsWith(`llc ${spec.name}: ${spec.summary}\n`), help.stdout);
    for (const flag of spec.flags) assert.ok(help.stdout.includes(`--${flag.name}`), `${spec.name} --help names --${flag.name}`);
    assert.match(help.stdout, /\nreads: /);
    assert.match(help.stdout, new RegExp(`\nexample:\n  llc ${spec.name} `));
    assert.is(llc([spec.name, "-h"]).stdout, help.stdout, `${spec.name} -h`);
    assert.is(llc(["help", spec.name]).stdout, help.stdout, `help ${spec.name}`);
    // --help wins over anything else on the line, even a bad flag.
    assert.is(llc([spec.name, "--frob", "--help"]).status, 0);
  }
  // The flags each command needs, by name, so the table cannot silently lose them.
  const named: Record<string, string[]> = {
    estimate: ["--config FILE", "--out FILE", "--workers N", "--chains N", "--draws N", "--epsilon X", "--gamma X", "--nbeta X|default", "--batch-size N", "--seed N", "--burnin N", "--thin N"],
    sweep: ["--run DIR", "--sampler FILE.json", "--restrict", "--heads", "--steps", "--chains N", "--epsilon X"],
    train: ["--config FILE", "--out DIR"],
    heads: ["--run DIR", "--steps", "--data", "--sequences N"],
    example: ["[NAME]", "--dir DIR"],
    table: ["--quick", "--variant simd|scalar"],
  };
  for (const [command, flags] of Object.entries(named)) {
    const help = llc([command, "--help"]).stdout;
    for (const flag of flags) assert.ok(help.includes(flag), `${command} --help: ${flag}`);
  }
  const list = llc([]);
  assert.is(list.status, 0);
  for (const spec of COMMANDS) assert.match(list.stdout, new RegExp(`\n  ${spec.name} +${spec.summary.slice(0, 20).replace(/[()*+?.[\]\\]/g, "\\$&")}`));
});

test("a usage error prints that command's usage only, and exits 2", () => {
  const cases: [string[], RegExp][] = [
    [["estimate"], /--config FILE is required/],
    [["estimate", "--config", "x.json", "--bogus"], /unknown argument "--bogus"/],
    [["sweep", "--run", "r"], /--sampler FILE\.json is required/],
    [["heads", "--steps", "all"], /--run DIR is required/],
    [["circuits", "--fold-ln"], /--run DIR is required/],
    [["train", "--config", "a.json", "--out", "b"], /not both/],
    [["example", "rrr"], /--dir DIR is required/],
    [["example", "nope", "--dir", "d"], /unknown case "nope"/],
    [["table", "--quick=yes"], /--quick takes no value/],
  ];
  for (const [args, message] of cases) {
    const r = llc(args);
    assert.is(r.status, 2, args.join(" "));
    assert.match(r.stderr, message);
    const usage = r.stderr.split("\n").filter((l) => l.startsWith("usage: "));
    assert.equal(usage, [`usage: llc ${args[0]}${usage[0]?.slice(`usage: llc ${args[0]}`.length)}`], `${args.join(" ")}: one usage line, its own`);
    for (const other of COMMANDS.filter((c) => c.name !== args[0])) assert.not.ok(r.stderr.includes(`llc ${other.name}`), `${args.join(" ")}: not ${other.name}'s usage`);
  }
});

test("--version and -V print the package's version, the one result files record as engine.version", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  for (const flag of ["--version", "-V"]) {
    const r = llc([flag]);
    assert.is(r.status, 0);
    assert.is(r.stdout, `llc-wasm ${pkg.version}\n`);
  }
  const path = writeConfig("version.json", (c) => Object.assign(c.sampler, { chains: 1, draws: 5 }));
  assert.is(JSON.parse(llc(["estimate", "--config", path, "--quiet"]).stdout).engine.version, pkg.version);
});

test("sampler flags give the same bytes as the same fields written in the config", () => {
  const fields = { chains: 3, draws: 40, epsilon: 3e-4, gamma: 50, nbeta: 12.5, batch_size: 16, seed: 7, burnin: 4, thin: 2, init_loss: "full", bounding_box: null };
  const written = writeConfig("written.json", (c) => Object.assign(c.sampler, fields));
  const base = writeConfig("base.json", (c) => Object.assign(c.sampler, { chains: 2, draws: 50, bounding_box: 3 }));
  const expected = llc(["estimate", "--config", written, "--quiet"]);
  assert.is(expected.status, 0, expected.stderr);
  const flags = ["--chains", "3", "--draws", "40", "--epsilon", "3e-4", "--gamma", "50", "--nbeta", "12.5", "--batch-size", "16", "--seed", "7",
    "--burnin", "4", "--thin", "2", "--init-loss", "full", "--bounding-box=null"];
  const overridden = llc(["estimate", "--config", base, "--quiet", ...flags]);
  assert.is(overridden.status, 0, overridden.stderr);
  assert.is(overridden.stdout, expected.stdout, "same result, config and job fingerprint");
  const result = JSON.parse(overridden.stdout);
  assert.equal(result.config.sampler.chains, 3);
  assert.is(result["loss/trace"].length, 3);
  // And it is part of the job: the same flags resume the same file, other flags are another job.
  const without = llc(["estimate", "--config", base, "--quiet"]);
  assert.is.not(JSON.parse(without.stdout).job, result.job);
});

test("a bad sampler flag is refused as the config field would be, naming the flag", () => {
  const cases: [string[], string][] = [
    [["--chains", "0"], "--chains: expected an integer >= 1, got 0 (sampler.chains)"],
    [["--chains", "2.5"], "--chains: expected an integer >= 1, got 2.5 (sampler.chains)"],
    [["--epsilon", "-1"], "--epsilon: expected a positive finite number, got -1 (sampler.epsilon)"],
    [["--epsilon", "fast"], '--epsilon: expected a positive finite number, got "fast" (sampler.epsilon)'],
    [["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0 (sampler.batch_size)"],
    [["--method", "sgdl"], '--method: expected one of "sgld", "rmsprop_sgld", got "sgdl"; did you mean "sgld"? (sampler.method)'],
  ];
  for (const [flags, message] of cases) {
    const r = llc(["estimate", "--config", join(caseDir, "case.json"), ...flags]);
    assert.is(r.status, 2, flags.join(" "));
    assert.ok(r.stderr.startsWith(`llc: UsageError: ${message}\n`), r.stderr);
  }
});

test("llc train without a config says what it will train, where and about how long, before it starts", async () => {
  const out = join(dir, "default-run");
  const child = spawn(process.execPath, [join(root, "bin/llc.mjs"), "train", "--out", out]);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !/of training \(/.test(stderr)) await new Promise((r) => setTimeout(r, 50));
  child.kill("SIGKILL");
  await exited;
  assert.match(stderr, /^training attn-only-2l: transformer, 2 layer\(s\) × 8 head\(s\) \(d_head 16\), d_model 64, n_ctx 64, vocabulary 1024, [\d,]+ parameters; 6000 steps of 32 sequences \(the default config\), on the built-in prose \+ code mix, into /);
  assert.ok(stderr.includes(`into ${out}\n`), stderr);
  assert.match(stderr, /\nabout (\d+ (s|min|h)[\d\s\w]*) of training \([\d.]+ ms per step in a \d+-step calibration\), plus preparing the data on a first run\n/);
  assert.not.match(stderr, /step \d+ /, "announced before the first step");
});

test("llc example without a name lists the cases, one line each", () => {
  const r = llc(["example"]);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.is(lines.length, 1 + Object.keys(exampleCases).length);
  for (const [name, make] of Object.entries(exampleCases)) assert.ok(lines.some((l) => l.startsWith(`  ${name}`) && l.includes(make().name)), name);
});

test("a config with an unknown field names it and exits 1", () => {
  const path = writeConfig("typo.json", (c) => { c.sampler.epslion = 1e-4; });
  const r = llc(["estimate", "--config", path]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /sampler\.epslion: unknown field, did you mean epsilon\?/);
});

test("malformed safetensors input names the file and the problem", () => {
  const bad = join(caseDir, "truncated.safetensors");
  writeFileSync(bad, readFileSync(join(caseDir, "weights.safetensors")).subarray(0, 40));
  const path = writeConfig("bad-weights.json", (c) => { c.weights = "truncated.safetensors"; });
  const r = llc(["estimate", "--config", path]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /SafetensorsError: truncated\.safetensors/);
});

test("a diverging run exits 1 naming chain and draw, and the file keeps the draws before it", () => {
  const path = writeConfig("diverge.json", (c) => Object.assign(c.sampler, { epsilon: 50, chains: 2, draws: 100, fail_fast: true }));
  const out = join(dir, "diverge-result.json");
  const r = llc(["estimate", "--config", path, "--out", out, "--quiet"]);
  assert.is(r.status, 1);
  const m = /(NaN|Inf) detected in loss at chain 0, draw (\d+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const saved = JSON.parse(readFileSync(out, "utf8"));
  assert.is(saved.status, "error");
  assert.is(saved["loss/trace"][0].length, Number(m![2]) + 1);
});

test("killed after its first chain, a rerun resumes and writes the same bytes as an uninterrupted run", async () => {
  const path = writeConfig("long.json", (c) => Object.assign(c.sampler, { chains: 3, draws: 6000 }));
  const reference = join(dir, "reference.json");
  assert.is(llc(["estimate", "--config", path, "--out", reference, "--quiet"]).status, 0);

  const out = join(dir, "resumed.json");
  const child = spawn(process.execPath, [join(root, "bin/llc.mjs"), "estimate", "--config", path, "--out", out, "--quiet"]);
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(out) && JSON.parse(readFileSync(out, "utf8")).chains_completed >= 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await exited;
  const partial = JSON.parse(readFileSync(out, "utf8"));
  assert.is(partial.status, "partial", "killed before it finished");
  const resumed = llc(["estimate", "--config", path, "--out", out]);
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming: ${partial.chains_completed} chain`));
  assert.is(readFileSync(out, "utf8"), readFileSync(reference, "utf8"));
});

test.run();
