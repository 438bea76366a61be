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
  const r = llc(["estimate", "--config", "x.json", "--chains", "3"]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown argument "--chains"/);
  assert.match(r.stderr, /usage:/);
  assert.is(llc(["frobnicate"]).status, 2);
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
