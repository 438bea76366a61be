// `llc cluster` and `llc plot` end to end on hand-made files: a sweep of eight
// heads in two layers whose curves have known shapes, a code sweep on which one
// head changes shape, heads JSON with labels and multigram counts, circuits JSON.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "../helpers.ts";
import { parseXml, texts } from "./xml.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const llc = (args: string[]) => spawnSync(process.execPath, [join(root, "bin/llc.mjs"), ...args], { encoding: "utf8" });
const dir = scratchDir("llc-cluster-");
const path = (f: string) => join(dir, f);

const STEPS = [0, 100, 200, 400, 800, 1000, 2000, 3000, 4000, 6000];
const rise = (t: number, at: number) => 1 / (1 + Math.exp(-3 * (t - at)));
const SHAPE = { early: (t: number) => rise(t, 6), late: (t: number) => rise(t, 8), bump: (t: number) => Math.exp(-((t - 7) ** 2)) };
type Shape = keyof typeof SHAPE;
// head: [shape on prose, scale, offset, label]
const HEADS: Record<string, [Shape, number, number, string]> = {
  l0h0: ["early", 2, 1, "previous-token"], l0h1: ["early", 3, 0.5, "previous-token"], l0h2: ["bump", 1.5, 2, "multigram"], l0h3: ["bump", 2, 1.5, "multigram"],
  l1h0: ["late", 2, 1, "induction"], l1h1: ["late", 1, 1.2, "induction"], l1h2: ["late", 3, 0.2, "induction"], l1h3: ["early", 2, 2, "previous-token"],
};
const CODE_SHAPE: Record<string, Shape> = { l1h1: "early" };

function sweepFile(data: string, shapeOf: (h: string) => Shape): string {
  const lines = STEPS.flatMap((s) => Object.entries(HEADS).map(([h, [, a, b]]) =>
    JSON.stringify({ step: s, restrict: h, data, "llc/mean": b + a * SHAPE[shapeOf(h)](Math.log(Math.max(s, 1))), "llc/std": 0.1, status: "complete", nbeta: 30 })));
  // A non-head selector's rows are ignored.
  lines.push(JSON.stringify({ step: 100, restrict: "l1", data, "llc/mean": 9, status: "complete" }));
  return lines.join("\n") + "\n";
}

test.before(() => {
  writeFileSync(path("prose.jsonl"), sweepFile("prose", (h) => HEADS[h][0]));
  writeFileSync(path("code.jsonl"), sweepFile("code", (h) => CODE_SHAPE[h] ?? HEADS[h][0]));
  const heads = Object.entries(HEADS).map(([h, [, , , label]], i) => {
    const [, layer, head] = /l(\d)h(\d)/.exec(h)!.map(Number);
    return { layer, head, previous_token: 0.1, current_token: 0.05, induction: 0.2, ablation_delta: 0.01, label, multigrams: { counts: { "2-gram": 3 * i, "3-gram": i, "4-gram": 0, "skip-bigram": 8 - i }, top: [] } };
  });
  writeFileSync(path("heads.json"), JSON.stringify({ checkpoints: [{ step: 6000, data: "prose", heads }, { step: 6000, data: "code", heads: heads.map((h) => ({ ...h, label: "other" })) }] }));
  const M = (f: (i: number, j: number) => number) => [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => f(i, j)));
  writeFileSync(path("circuits.json"), JSON.stringify({ composition: { Q: M((i, j) => 0.1 + 0.01 * i * j), K: M((i, j) => (i === 0 && j === 2 ? 0.6 : 0.1)), V: M(() => 0.12), baseline: 0.09 }, path_ablation: { Q: M(() => 0), K: M((i, j) => (i === 0 && j === 2 ? 0.3 : 0)), V: M(() => 0.001) } }));
});

test("llc cluster: the table, clusters per layer equal to the known groups, labels, ARI, code splits; JSON and figures", () => {
  const r = llc(["cluster", "--sweep", path("prose.jsonl"), "--sweep-code", path("code.jsonl"), "--heads", path("heads.json"), "--json", path("out/sig.json")]);
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /refined-LLC curves of 8 heads at 9 checkpoints \(steps 100–6000\), data "prose"; resampled uniform in log\(step\), normalised standardise/);
  assert.match(out, /layer 0: k = 2 \(by silhouette: 2: [0-9.]+, 3: [0-9.]+\), silhouette [0-9.]+, ARI\(k-means, labels\) 1\.000; on code k = 2/);
  assert.match(out, /left out: step 0 \(step 0 has no place on a log-step axis\)/);
  // λ̂ at 6000 = 1.2 + 1/(1 + e^(−3(ln 6000 − 8))) = 2.0908
  assert.match(out, /^1:1\s+2\s+2\s+induction\s+2\.091\s+/m);
  assert.match(out, /prose cluster 2 splits apart on code: l1h0 l1h2 \| l1h1/);
  const json = JSON.parse(readFileSync(path("out/sig.json"), "utf8"));
  assert.equal(json.clusters, { l0h0: 0, l0h1: 0, l0h2: 1, l0h3: 1, l1h0: 2, l1h1: 2, l1h2: 2, l1h3: 3 });
  assert.equal(json.hierarchical, json.clusters);
  assert.equal(json.labels, Object.fromEntries(Object.entries(HEADS).map(([h, v]) => [h, v[3]])));
  // clusters [0,0,1,1,2,2,2,3] vs labels [P,P,M,M,I,I,I,P]: Σ C(n_ij,2) = 5, clusters' Σ 5, labels' Σ 7,
  // C(8,2) = 28: E = 35/28 = 1.25, ARI = (5 − 1.25)/(6 − 1.25) = 15/19. Within each layer: 1.
  assert.ok(Math.abs(json.ari - 15 / 19) < 1e-15, String(json.ari));
  assert.equal(json.ari_by_layer, { 0: 1, 1: 1 });
  assert.is(json.normalise, "standardise");
  assert.equal(json.steps, STEPS.slice(1));
  assert.equal(json.code.splits, [{ cluster: 2, groups: [["l1h0", "l1h2"], ["l1h1"]] }]);
  assert.is(json.code.split.l1h1, true);
  assert.is(json.code.split.l0h0, false);
  assert.equal(json.code.ratio.l0h0, json.code.curves.l0h0.map((v: number, i: number) => v / json.curves.l0h0[i]));
  for (const f of ["out/sig-wrllc.svg", "out/sig-code.svg"]) assert.ok(texts(parseXml(readFileSync(path(f), "utf8"))).length > 10, f);
  assert.match(r.stderr, /wrote .*sig\.json, .*sig-wrllc\.svg, .*sig-code\.svg/);
});

test("llc cluster: --k, --normalise, --pooled, --svg DIR; same output for the same input", () => {
  const args = ["cluster", "--sweep", path("prose.jsonl"), "--k", "3", "--normalise", "minmax", "--pooled", "--svg", path("svg")];
  const a = llc(args), b = llc(args);
  assert.is(a.status, 0, a.stderr);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, /normalised minmax/);
  assert.match(a.stdout, /all heads: k = 3, silhouette/);
  assert.ok(existsSync(path("svg/signatures-wrllc.svg")));
  assert.not.ok(existsSync(path("svg/signatures-code.svg")));
});

test("llc plot: multigram bars from heads JSON, heat maps from circuits JSON, the cluster figures again", () => {
  const r = llc(["plot", "--heads", path("heads.json"), "--circuits", path("circuits.json"), "--cluster", path("out/sig.json"), "--out", path("plots")]);
  assert.is(r.status, 0, r.stderr);
  for (const f of ["heads-multigrams.svg", "circuits-circuits.svg", "sig-wrllc.svg", "sig-code.svg"]) assert.ok(existsSync(path(`plots/${f}`)), f);
  const bars = texts(parseXml(readFileSync(path("plots/heads-multigrams.svg"), "utf8")));
  assert.ok(bars.includes("Layer 1: multigrams each head holds (step 6000, held-out prose)"));
  assert.ok(bars.includes("induction"), "the prose labels, not the code entry's");
  // The same figure as llc cluster wrote.
  assert.is(readFileSync(path("plots/sig-wrllc.svg"), "utf8"), readFileSync(path("out/sig-wrllc.svg"), "utf8"));
  const heat = llc(["plot", "--circuits", path("circuits.json")]);
  assert.is(heat.status, 0, heat.stderr);
  assert.ok(existsSync(path("circuits-circuits.svg")), "next to the JSON by default");
});

test("bad input: usage errors (exit 2) and file errors (exit 1) that name the flag, file and line", () => {
  const cases: [string[], number, RegExp][] = [
    [["cluster"], 2, /--sweep FILE\.jsonl is required/],
    [["cluster", "--sweep", path("prose.jsonl"), "--normalise", "zscore"], 2, /--normalise: expected minmax, standardise, none, got "zscore"/],
    [["cluster", "--sweep", path("prose.jsonl"), "--k", "0"], 2, /--k: expected an integer >= 1/],
    [["cluster", "--sweep", path("prose.jsonl"), "--k", "5"], 1, /k: expected an integer in 1\.\.4 \(layer 0 has 4 heads\), got 5/],
    [["cluster", "--sweep", path("missing.jsonl")], 1, /sweep: .*missing\.jsonl does not exist/],
    [["cluster", "--sweep", path("heads.json")], 1, /heads\.json:1: expected a JSON object|heads\.json:1: "step"/],
    [["cluster", "--sweep", path("prose.jsonl"), "--heads", path("circuits.json")], 1, /circuits\.json: expected a list of heads or an object with "checkpoints" or "heads"/],
    [["plot"], 2, /give at least one of --cluster/],
    [["plot", "--circuits", path("heads.json")], 1, /heads\.json: expected \{"composition"/],
  ];
  for (const [args, status, re] of cases) {
    const r = llc(args);
    assert.is(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
});

test.run();
