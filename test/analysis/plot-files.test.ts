// plotFiles (src/analysis/plot-files.ts), what the page's Analysis panel draws from
// dropped files: each file recognised by its content, and every figure the same
// bytes as the SVG file the CLI writes from the same files (`llc cluster`, `llc plot`).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "../helpers.ts";
import { fileKind, plotFiles, type PlotInput } from "../../src/analysis/plot-files.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-plot-files-");
const path = (f: string) => join(dir, f);
const input = (name: string): PlotInput => ({ name, text: readFileSync(path(name), "utf8") });

// Two groups of curve shapes per layer (a rise early or late in log step), so k-means has something to find.
const STEPS = [100, 300, 1000, 3000, 10000];
const HEADS: Record<string, [number, string]> = { l0h0: [5, "previous-token"], l0h1: [5, "previous-token"], l0h2: [8, "multigram"], l0h3: [8, "multigram"] };
const rise = (s: number, at: number, scale: number) => 1 + scale / (1 + Math.exp(-3 * (Math.log(s) - at)));
const sweep = (data: string, flip: string[] = []) =>
  STEPS.flatMap((s) => Object.entries(HEADS).map(([h, [at]], i) => JSON.stringify({ step: s, restrict: h, data, "llc/mean": rise(s, flip.includes(h) ? 13 - at : at, 1 + 0.1 * i), status: "complete" }))).join("\n") + "\n";

test.before(() => {
  writeFileSync(path("sweep-prose.jsonl"), sweep("prose"));
  writeFileSync(path("sweep-code.jsonl"), sweep("code", ["l0h1"]));
  const heads = Object.entries(HEADS).map(([h, [, label]], i) => ({ layer: 0, head: Number(h.slice(3)), previous_token: 0.1, current_token: 0, induction: 0, ablation_delta: 0.1, label, multigrams: { counts: { "2-gram": i + 1, "skip-bigram": 4 - i }, top: [] } }));
  writeFileSync(path("heads.json"), JSON.stringify({ checkpoints: [{ step: 10000, data: "prose", heads }] }));
  const M = (f: (i: number, j: number) => number) => [0, 1].map((i) => [0, 1].map((j) => f(i, j)));
  writeFileSync(path("circuits.json"), JSON.stringify({ composition: { Q: M((i, j) => 0.1 * (i + j)), K: M(() => 0.2), V: M(() => 0.3), baseline: 0.15 }, path_ablation: { Q: M(() => 0), K: M((i, j) => (i === j ? 0.2 : 0)), V: M(() => 0.01) } }));
  writeFileSync(path("junk.json"), JSON.stringify({ hello: 1 }));
});

test("fileKind: each command's JSON and sweep rows by their content; anything else named", () => {
  assert.equal(["heads.json", "circuits.json", "sweep-prose.jsonl"].map((f) => fileKind(input(f))), ["heads", "circuits", "sweep"]);
  assert.is(fileKind({ name: "list.json", text: "[]" }), "heads");
  assert.throws(() => fileKind(input("junk.json")), /^junk\.json: not the JSON of llc heads, llc circuits or llc cluster --json/);
  assert.throws(() => fileKind({ name: "x.txt", text: "hello\nworld" }), /x\.txt: neither JSON nor the JSON lines of llc sweep/);
});

test("plotFiles: the figures are the CLI's SVG files, byte for byte (sweeps clustered as llc cluster does, labels from the heads file)", () => {
  let r = llc(["cluster", "--sweep", path("sweep-prose.jsonl"), "--sweep-code", path("sweep-code.jsonl"), "--heads", path("heads.json"), "--json", path("cli/sweep-prose.json")]);
  assert.is(r.status, 0, r.stderr);
  r = llc(["plot", "--heads", path("heads.json"), "--circuits", path("circuits.json"), "--out", path("cli")]);
  assert.is(r.status, 0, r.stderr);
  const cli = (f: string) => readFileSync(path(`cli/${f}`), "utf8");

  const got = plotFiles(["sweep-code.jsonl", "heads.json", "circuits.json", "sweep-prose.jsonl", "junk.json"].map(input));
  assert.equal(got.figures.map((f) => f.fileName), ["heads-multigrams.svg", "circuits-circuits.svg", "sweep-prose-wrllc.svg", "sweep-prose-code.svg"]);
  for (const f of got.figures) assert.ok(f.svg === cli(f.fileName), `${f.fileName} differs from the CLI's`);
  assert.equal(got.problems, [{ source: "junk.json", message: 'junk.json: not the JSON of llc heads, llc circuits or llc cluster --json (no "checkpoints"/"heads", "composition", or "clusters"/"curves"/"layers"), nor sweep rows' }]);
  assert.equal(got.kinds, { "sweep-code.jsonl": "sweep", "heads.json": "heads", "circuits.json": "circuits", "sweep-prose.jsonl": "sweep" });

  // llc cluster's own JSON gives the same two figures.
  const fromJson = plotFiles([input("cli/sweep-prose.json")]);
  assert.equal(fromJson.figures.map((f) => [f.fileName, f.svg === cli(f.fileName)]), [["sweep-prose-wrllc.svg", true], ["sweep-prose-code.svg", true]]);
});

test("plotFiles: a malformed file is a problem naming its path; the other files still draw", () => {
  const bad = { name: "c.json", text: JSON.stringify({ composition: { Q: [[1, 2]], K: [[1]], V: [[1, 2]] } }) };
  const got = plotFiles([bad, input("heads.json")]);
  assert.equal(got.figures.map((f) => f.fileName), ["heads-multigrams.svg"]);
  assert.equal(got.problems, [{ source: "c.json", message: "c.json.composition.K: 1×1, but c.json.composition.Q is 1×2" }]);
  const one = plotFiles([{ name: "s.jsonl", text: sweep("prose").split("\n").slice(0, 4).join("\n") + "\n" }]);
  assert.match(one.problems[0].message, /^s\.jsonl: 1 checkpoint\(s\) with step > 0 where every head has an estimate; a curve needs at least 2/);
});

test.run();
