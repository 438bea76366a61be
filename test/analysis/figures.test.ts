// The analysis figures (src/analysis/figures.ts) and the JSON readers they draw
// from (src/analysis/results-json.ts): each SVG is well-formed XML (parsed by a
// strict parser), carries its titles, legend entries and axis labels, and puts
// known points, cells and bars where the axes say.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { circuitsFigure, codeFigure, multigramFigure, shade, signatureFigure, CATEGORICAL, type SignatureJson } from "../../src/analysis/figures.ts";
import { headLabels, readCircuitsJson, readHeadsJson, ResultsJsonError, selectHeadsEntry } from "../../src/analysis/results-json.ts";
import { findAll, parseXml, texts, type XmlElement } from "./xml.ts";

const close = (a: number, b: number, tol: number, what = "") => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);
const points = (el: XmlElement) => el.attrs.points.split(" ").map((p) => p.split(",").map(Number));

const signature: SignatureJson = {
  clusters: { l0h0: 0, l0h1: 1 },
  labels: { l0h0: "previous-token", l0h1: "induction" },
  normalise: "standardise",
  data: "prose",
  steps: [100, 1000, 10000],
  curves: { l0h0: [1, 2, 3], l0h1: [3, 2, 1] },
  layers: [{ layer: 0, heads: ["l0h0", "l0h1"], k: 2 }],
  code: { data: "code", steps: [100, 1000, 10000], curves: { l0h0: [1, 1, 1], l0h1: [2, 2, 2] }, ratio: { l0h0: [1, 0.5, 1 / 3], l0h1: [2 / 3, 1, 2] }, split: { l0h0: true, l0h1: false } },
};

test("signatureFigure: well-formed; title, legend (head, label, cluster), log-x axis; points at the computed coordinates", () => {
  const svg = signatureFigure(signature);
  const root = parseXml(svg);
  assert.is(root.name, "svg");
  const t = texts(root);
  assert.ok(t.some((s) => /^Layer 0 heads: weight-refined LLC over training, coloured by k-means cluster \(k = 2\)$/.test(s)), t.join("|"));
  assert.ok(t.includes("0:0 previous-token · cluster 0"));
  assert.ok(t.includes("0:1 induction · cluster 1"));
  assert.ok(t.includes("training step (log scale)"));
  assert.ok(t.includes("wrLLC λ̂ on prose (dimensionless)"));
  for (const tick of ["100", "1k", "10k"]) assert.ok(t.includes(tick), `x tick ${tick}`);
  const lines = findAll(root, (e) => e.name === "polyline");
  assert.is(lines.length, 2);
  // Cluster colours: cluster c takes CATEGORICAL[c] (a cluster of one head, its middle shade: the colour itself).
  assert.equal(lines.map((l) => l.attrs.stroke), [CATEGORICAL[0], CATEGORICAL[1]]);
  // Shades of a cluster of three: darkest (×0.55), the colour, half-way to white.
  assert.equal([0, 1, 2].map((i) => shade("#4080c0", i, 3)), ["#23466a", "#4080c0", "#a0c0e0"]);
  // Layout (src/web/svg.ts): plot from x = 72 to 960 − 16, top margin 34 + 16 per legend row (one
  // row here), bottom 44 of a 380 px panel; x is log10(step) across [100, 10000]; y spans
  // [1, 3] padded by 4% of the range each side. Coordinates are printed to 0.01.
  const X = (s: number) => 72 + ((Math.log10(s) - 2) / 2) * (960 - 72 - 16);
  const plotH = 380 - 50 - 44;
  const Y = (v: number) => 50 + plotH - ((v - 0.92) / 2.16) * plotH;
  const got = points(lines[0]);
  [[100, 1], [1000, 2], [10000, 3]].forEach(([s, v], i) => {
    close(got[i][0], X(s), 0.005, `x of step ${s}`);
    close(got[i][1], Y(v), 0.005, `y of ${v}`);
  });
  assert.equal([X(100), X(1000), X(10000)], [72, 508, 944]);
  // A dot at each point.
  assert.is(findAll(root, (e) => e.name === "circle").length, 6);
});

test("codeFigure: prose solid and code dashed per head, the ratio panel, a split head drawn thicker", () => {
  const root = parseXml(codeFigure(signature));
  const t = texts(root);
  assert.ok(t.includes('Layer 0: wrLLC on prose (solid) and drLLC on code (dashed)'));
  assert.ok(t.includes("Layer 0: drLLC(code) / wrLLC(prose) per head"));
  assert.ok(t.includes("0:0 (splits on code)"));
  assert.ok(t.includes("ratio code / prose"));
  const lines = findAll(root, (e) => e.name === "polyline");
  // Panel 1: per head, prose (solid) and code (dashed, same colour); panel 2: two ratio lines.
  assert.equal(lines.map((l) => [l.attrs.stroke, l.attrs["stroke-dasharray"] ?? "solid"]), [
    [CATEGORICAL[0], "solid"], [CATEGORICAL[0], "5 3"], [CATEGORICAL[1], "solid"], [CATEGORICAL[1], "5 3"], [CATEGORICAL[0], "solid"], [CATEGORICAL[1], "solid"],
  ]);
  assert.equal(lines.slice(4).map((l) => l.attrs["stroke-width"]), ["2.6", "1.4"]);
  assert.throws(() => codeFigure({ ...signature, code: undefined }), /--sweep-code/);
  // A ratio blown up by a prose λ̂ near 0: the axis stops at 1.5× the 90th percentile and the title says so.
  const ratio = { l0h0: [400, 1, 1, 1, 1, 1, 1, 1, 1, 1], l0h1: [1, 1, 1, 1, 1, 1, 1, 1, 1, 2] };
  const steps10 = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
  const ones = steps10.map(() => 1);
  const blown = texts(parseXml(codeFigure({ ...signature, steps: steps10, curves: { l0h0: ones, l0h1: ones }, code: { ...signature.code!, steps: steps10, curves: { l0h0: ones, l0h1: ones }, ratio } })));
  // 20 ratios sorted: eighteen 1s, 2, 400; the 90th percentile (index 18) is 2, so the cut is at 3.
  assert.ok(blown.includes("Layer 0: drLLC(code) / wrLLC(prose) per head (axis cut at 3.0; up to 400 where prose λ̂ ≈ 0)"), blown.join("|"));
  // A token file's path is named by its base name.
  assert.ok(texts(parseXml(signatureFigure({ ...signature, data: "/runs/x/data/prose-512.safetensors" }))).includes("wrLLC λ̂ on prose-512 (dimensionless)"));
});

const circuits = {
  composition: { Q: [[0, 0.1], [0.2, 0.4]], K: [[0.1, 0.1], [0.1, 0.1]], V: [[0.3, 0.2], [0.1, 0]], baseline: 0.15 },
  path_ablation: { Q: [[0, 0], [0, 0]], K: [[0.5, 0], [-0.5, 0.01]], V: [[0, 0.25], [0, 0]] },
};

test("circuitsFigure: six heat maps with head indices on the axes; cell colours and places from the values", () => {
  const root = parseXml(circuitsFigure(readCircuitsJson(JSON.stringify(circuits), "c.json")));
  const t = texts(root);
  for (const k of ["Q", "K", "V"]) assert.ok(t.includes(`${k}-composition`) && t.includes(`${k} path ablated: Δloss`), k);
  assert.is(t.filter((s) => s === "layer-1 head j").length, 6);
  assert.is(t.filter((s) => s === "layer-0 head i").length, 6);
  assert.ok(t.includes("composition score (dimensionless)") && t.includes("Δ loss (nats per token)") && t.includes("random"));
  const cells = findAll(root, (e) => e.name === "rect" && e.children.some((c) => c.name === "title"));
  assert.is(cells.length, 6 * 4);
  const cell = (map: number, i: number, j: number) => cells[map * 4 + i * 2 + j];
  // 2 × 2 maps: 48 px cells; maps at x = 64, 64 + 96 + 56, …; the composition row at y = 90 + 22,
  // the path-ablation row 2·48 + 100 px lower.
  assert.equal([cell(0, 1, 0).attrs.x, cell(0, 1, 0).attrs.y, cell(0, 1, 0).attrs.width], ["64", "160", "48"]);
  assert.equal([cell(1, 0, 1).attrs.x, cell(1, 0, 1).attrs.y], [String(216 + 48), "112"]);
  assert.equal([cell(3, 1, 0).attrs.x, cell(3, 1, 0).attrs.y], ["64", String(112 + 196 + 48)]);
  // Composition: viridis from 0 (dark purple) to the largest score (yellow).
  assert.is(cell(0, 1, 1).attrs.fill, "#fde725");
  assert.is(cell(0, 0, 0).attrs.fill, "#440154");
  // Δloss: RdBu centred on 0 at ± the largest |Δ|.
  assert.is(cell(4, 0, 0).attrs.fill, "#b2182b");
  assert.is(cell(4, 1, 0).attrs.fill, "#2166ac");
  assert.is(cell(3, 0, 0).attrs.fill, "#f7f7f7");
  assert.match(cell(4, 1, 0).children[0].text, /layer-0 head 1 → layer-1 head 0: -0\.5/);
  // Cells annotated with their values; Δloss only where |Δ| ≥ 10% of the largest (0.01 is not).
  assert.ok(t.includes("0.40") && t.includes("0.50") && t.includes("-0.50") && !t.includes("0.01"));
});

test("multigramFigure: grouped bars per head and kind, heights on the count axis, legend of kinds", () => {
  const entries = readHeadsJson(JSON.stringify({ checkpoints: [
    { step: 100, data: "prose", heads: [{ layer: 0, head: 0, label: "other", multigrams: { counts: { "2-gram": 1 } } }] },
    { step: 6000, data: "prose", heads: [
      { layer: 0, head: 0, label: "multigram", multigrams: { counts: { "2-gram": 10, "skip-bigram": 5 }, top: [] }, extra: 1 },
      { layer: 0, head: 1, label: "previous-token", multigrams: { "2-gram": 0, "skip-bigram": 2 } },
    ] },
  ] }), "h.json");
  const entry = selectHeadsEntry(entries, "h.json", { prefer: ["prose"] });
  assert.is(entry.step, 6000);
  const root = parseXml(multigramFigure(entry));
  const t = texts(root);
  assert.ok(t.includes("Layer 0: multigrams each head holds (step 6000, held-out prose)"));
  assert.ok(t.includes("2-gram") && t.includes("skip-bigram") && t.includes("multigrams held (count)"));
  assert.ok(t.includes("0:0") && t.includes("multigram") && t.includes("previous-token"));
  const bars = findAll(root, (e) => e.name === "rect" && e.children.some((c) => c.name === "title"));
  const bar = (title: string) => bars.find((b) => b.children[0].text === title)!;
  // Axis 0..10 over a 310 − 70 − 58 = 182 px plot: 10 → 182 px, 5 → 91 px, both on the baseline.
  assert.is(Number(bar("0:0 2-gram: 10").attrs.height), 182);
  assert.is(Number(bar("0:0 skip-bigram: 5").attrs.height), 91);
  assert.is(Number(bar("0:0 2-gram: 10").attrs.y) + 182, Number(bar("0:0 skip-bigram: 5").attrs.y) + 91);
  assert.is(bar("0:0 skip-bigram: 5").attrs.fill, CATEGORICAL[1]);
  assert.throws(() => multigramFigure({ step: 1, data: null, heads: [{ layer: 0, head: 0 }] }), /no head has multigram counts/);
});

test("heads JSON: a bare list, {heads}, {checkpoints}; labels by head name; errors name the path", () => {
  const bare = readHeadsJson(JSON.stringify([{ layer: 1, head: 2, label: "induction", induction: 0.9 }]), "b.json");
  assert.equal(bare, [{ step: null, data: null, heads: [{ layer: 1, head: 2, label: "induction", induction: 0.9 }] }]);
  assert.equal(headLabels(selectHeadsEntry(bare, "b.json")), { l1h2: "induction" });
  const one = readHeadsJson(JSON.stringify({ step: 5, data: "code", heads: [{ layer: 0, head: 0 }] }), "o.json");
  assert.equal(one[0].step, 5);
  const many = readHeadsJson(JSON.stringify({ checkpoints: [
    { step: 9, data: "code", heads: [{ layer: 0, head: 0, label: "a" }] },
    { step: 9, data: "prose", heads: [{ layer: 0, head: 0, label: "b" }] },
    { step: 3, data: "prose", heads: [{ layer: 0, head: 0, label: "c" }] },
  ] }), "m.json");
  assert.equal(headLabels(selectHeadsEntry(many, "m.json", { prefer: ["prose"] })), { l0h0: "b" });
  assert.equal(headLabels(selectHeadsEntry(many, "m.json")), { l0h0: "a" });
  assert.equal(headLabels(selectHeadsEntry(many, "m.json", { step: 3 })), { l0h0: "c" });
  assert.throws(() => selectHeadsEntry(many, "m.json", { step: 4 }), /no heads at step 4 \(steps 9, 3\)/);
  assert.throws(() => selectHeadsEntry(many, "m.json", { data: "mix" }), /no heads for data "mix"/);
  const bad = (json: unknown, re: RegExp) => assert.throws(() => readHeadsJson(JSON.stringify(json), "x.json"), (e: Error) => e instanceof ResultsJsonError && re.test(e.message));
  bad([{ layer: 0 }], /x\.json\[0\]\.head: expected an integer/);
  bad([{ layer: 0, head: 1, label: 3 }], /x\.json\[0\]\.label: expected a string/);
  bad({ checkpoints: [{ step: 1, heads: [{ layer: 0, head: 0, multigrams: { counts: { "2-gram": -1 } } }] }] }, /x\.json\.checkpoints\[0\]\.heads\[0\]\.multigrams\.counts\.2-gram: expected a count/);
  bad({ nothing: 1 }, /"checkpoints" or "heads"/);
  assert.throws(() => readHeadsJson("{", "x.json"), /x\.json: not JSON/);
});

test("circuits JSON: matrices checked for shape and type, path_ablation optional", () => {
  const c = readCircuitsJson(JSON.stringify({ composition: circuits.composition }), "c.json");
  assert.is(c.path_ablation, undefined);
  assert.is(c.composition.baseline, 0.15);
  const bad = (json: unknown, re: RegExp) => assert.throws(() => readCircuitsJson(JSON.stringify(json), "c.json"), re);
  bad({ composition: { ...circuits.composition, K: [[1, 2]] } }, /c\.json\.composition\.K: 1×2, but c\.json\.composition\.Q is 2×2/);
  bad({ composition: { ...circuits.composition, V: [[1, "x"], [1, 2]] } }, /c\.json\.composition\.V\[0\]\[1\]: expected a number/);
  bad({ composition: { ...circuits.composition, Q: [[1, 2], [3]] } }, /c\.json\.composition\.Q\[1\]: 1 entries, row 0 has 2/);
  bad({ path_ablation: circuits.path_ablation }, /expected \{"composition"/);
  // Without a baseline, no mark on the colour bar.
  const noBaseline = circuitsFigure(readCircuitsJson(JSON.stringify({ composition: { ...circuits.composition, baseline: undefined } }), "c.json"));
  assert.not.ok(texts(parseXml(noBaseline)).includes("random"));
});

test("the XML parser used here rejects what is not well-formed", () => {
  for (const bad of ["<a><b></a></b>", "<a x=1/>", '<a x="1" x="2"/>', "<a>&nope;</a>", "<a>&</a>", "<a/><b/>", "<a>"]) assert.throws(() => parseXml(bad), /XML/, bad);
  assert.is(parseXml('<a t="&lt;&amp;">x &gt; y</a>').text, "x > y");
});

test.run();
