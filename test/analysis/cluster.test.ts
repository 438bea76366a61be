// Developmental signatures (src/analysis/cluster.ts): the pieces against hand
// computations (ARI on known contingency tables, silhouette, average linkage on
// a worked example, log-grid resampling, normalisation), k-means and
// hierarchical clustering recovering known groups of synthetic curves exactly,
// the prose/code comparison, and the reading of sweep rows.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  adjustedRandIndex, analyseSignatures, averageLinkage, canonicalLabels, ClusterError, clusterCurves, compareCode, cutTree,
  distanceMatrix, formatSignatureTable, headCurves, kmeans, logF64, logGridResample, normaliseCurve, parseSweepRows,
  signatureJson, silhouette, uniformAt, type HeadCurves,
} from "../../src/analysis/cluster.ts";
import { mulberry32 } from "../helpers.ts";

const close = (a: number, b: number, tol: number, what = "") => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

test("logF64: within 2 ulp of the true log over 1e-300..1e300, exact at 1, and no host Math in it", () => {
  assert.is(logF64(1), 0);
  const u = mulberry32(7);
  for (let i = 0; i < 20000; i++) {
    const x = Math.exp((u() - 0.5) * 1380); // inputs only: spread over the f64 range
    const want = Math.log(x);
    // Math.log is correctly rounded or within 1 ulp on V8 (fdlibm); ours is a few roundings of a
    // series whose truncation error is < 2^-60 relative: 4 ulp of |log x| bounds both.
    close(logF64(x), want, 4 * Number.EPSILON * Math.max(Math.abs(want), 1e-300) + 1e-300, `log ${x}`);
  }
  for (const step of [100, 200, 400, 1000, 8500, 50000]) close(logF64(step), Math.log(step), 2 * Number.EPSILON * Math.log(step), `log ${step}`);
  assert.throws(() => logF64(0), /positive finite/);
  assert.throws(() => logF64(-1), /positive finite/);
  assert.not.match(logF64.toString(), /Math\.(log|exp|pow)/);
});

test("uniformAt: a pure function of its counter, in [0, 1), roughly uniform", () => {
  assert.is(uniformAt(3, 1, 2), uniformAt(3, 1, 2));
  assert.is.not(uniformAt(3, 1, 2), uniformAt(3, 2, 1));
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const v = uniformAt(0, 0, i);
    assert.ok(v >= 0 && v < 1);
    sum += v;
  }
  // Mean of 10^4 uniforms: sd 1/sqrt(12·10^4) ≈ 0.0029; 5 sd.
  close(sum / 10000, 0.5, 0.015, "mean");
});

test("adjusted Rand index: identical partitions, and sklearn's documented examples computed by hand", () => {
  assert.is(adjustedRandIndex([0, 0, 1, 1], [1, 1, 0, 0]), 1);
  assert.is(adjustedRandIndex(["a", "a", "b"], [5, 5, 7]), 1);
  // [0,0,1,1] vs [0,0,1,2]: Σ C(n_ij,2) = 1, Σ C(a_i,2) = 2, Σ C(b_j,2) = 1, C(4,2) = 6:
  // E = 2·1/6, ARI = (1 − 1/3) / (3/2 − 1/3) = 4/7.
  close(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]), 4 / 7, 1e-15);
  // [0,0,1,1] vs [0,1,0,1]: index 0, E = 2·2/6: (0 − 2/3) / (2 − 2/3) = −1/2.
  close(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]), -0.5, 1e-15);
  // [0,0,0,1,1,1] vs [0,0,1,1,2,2]: index 2, Σa 6, Σb 3, C(6,2) 15: E = 1.2, ARI = 0.8/3.3 = 8/33.
  close(adjustedRandIndex([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 8 / 33, 1e-15);
  // Symmetric.
  close(adjustedRandIndex([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]), 8 / 33, 1e-15);
  // Everything in one cluster on both sides: 1 by convention (sklearn's too).
  assert.is(adjustedRandIndex([0, 0, 0], [1, 1, 1]), 1);
  assert.throws(() => adjustedRandIndex([0], [0, 1]), /1 and 2 items/);
});

test("silhouette: two hand-worked examples", () => {
  // Points 0, 1 | 4, 5 on a line: s = 7/9, 5/7, 5/7, 7/9 → mean 47/63.
  const D = distanceMatrix([[0], [1], [4], [5]]);
  close(silhouette(D, [0, 0, 1, 1]), 47 / 63, 1e-15);
  // 0, 1 | 5: s = 4/5, 3/4, and 0 for the singleton → 1.55/3.
  close(silhouette(distanceMatrix([[0], [1], [5]]), [0, 0, 1]), 1.55 / 3, 1e-15);
  assert.throws(() => silhouette(D, [0, 0, 0, 0]), /2 ≤ clusters/);
});

test("average linkage: the worked example 0, 1, 3, 7 gives scipy's linkage matrix", () => {
  // d01 = 1 → {0,1} (id 4); d({0,1},2) = (3+2)/2 = 2.5 < d(2,3) = 4 → {0,1,2} (id 5);
  // d({0,1,2},3) = (7+6+4)/3 = 17/3. (Single linkage would give heights 1, 2, 4; complete 1, 3, 7.)
  const merges = averageLinkage(distanceMatrix([[0], [1], [3], [7]]));
  assert.equal(merges.map((m) => [m.a, m.b, m.size]), [[0, 1, 2], [2, 4, 3], [3, 5, 4]]);
  assert.equal(merges.map((m) => m.distance), [1, 2.5, 17 / 3]);
  assert.equal(cutTree(merges, 4, 2), [0, 0, 0, 1]);
  assert.equal(cutTree(merges, 4, 3), [0, 0, 1, 2]);
  assert.equal(cutTree(merges, 4, 1), [0, 0, 0, 0]);
  assert.equal(cutTree(merges, 4, 4), [0, 1, 2, 3]);
});

test("normalisation and the log-step grid against hand values", () => {
  assert.equal(normaliseCurve([2, 4, 6], "minmax"), [0, 0.5, 1]);
  const z = normaliseCurve([1, 2, 3], "standardise"); // mean 2, population sd √(2/3)
  close(z[0], -Math.sqrt(1.5), 1e-15), close(z[1], 0, 0), close(z[2], Math.sqrt(1.5), 1e-15);
  assert.equal(normaliseCurve([3, 3], "standardise"), [0, 0]);
  assert.equal(normaliseCurve([3, 3], "minmax"), [0, 0]);
  assert.equal(normaliseCurve([3, 5], "none"), [3, 5]);
  // Steps 1 and 100, values 0 and 2: the middle grid point sits at step 10 in log, value 1.
  const r = logGridResample([1, 100], [0, 2], 3);
  assert.is(r[0], 0), close(r[1], 1, 1e-15), assert.is(r[2], 2);
  // Steps 100, 200, 400, 800 are uniform in log already: the grid returns the values (to rounding).
  const v = [5, 1, 4, 2];
  logGridResample([100, 200, 400, 800], v).forEach((x, i) => close(x, v[i], 1e-13, `grid ${i}`));
  // Steps 100, 1000, 1100: the grid's middle point is at √(100·1100) ≈ 331.7, between 100 and 1000.
  const w = (logF64(Math.sqrt(110000)) - logF64(100)) / (logF64(1000) - logF64(100));
  close(logGridResample([100, 1000, 1100], [0, 10, 20])[1], 10 * w, 1e-12);
  assert.throws(() => logGridResample([10, 5], [0, 1]), /ascending/);
});

// Synthetic wrLLC curves of known shape: 12 heads in three groups of four, each
// group's heads scaled and shifted differently (so only the shape is shared)
// plus deterministic noise. Steps follow the paper's schedule's shape.
const STEPS = [100, 200, 400, 600, 800, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 10000, 15000, 20000, 30000, 50000];
const SHAPES = [
  (t: number) => 1 / (1 + Math.exp(-3 * (t - 6.5))), // rises early (t = ln step)
  (t: number) => 1 / (1 + Math.exp(-3 * (t - 9.5))), // rises late
  (t: number) => Math.exp(-((t - 8) ** 2)), // a bump in the middle
];
function syntheticCurves(layers = 1, perGroup = 4, noise = 0.02): { curves: HeadCurves; truth: Record<string, number> } {
  const u = mulberry32(11);
  const heads: string[] = [], curves: number[][] = [], truth: Record<string, number> = {};
  for (let l = 0; l < layers; l++)
    for (let g = 0; g < SHAPES.length; g++)
      for (let i = 0; i < perGroup; i++) {
        const name = `l${l}h${g * perGroup + i}`;
        const scale = 1 + 3 * u(), shift = 10 * u();
        heads.push(name);
        truth[name] = g;
        curves.push(STEPS.map((s) => shift + scale * (SHAPES[g](Math.log(s)) + noise * (u() - 0.5))));
      }
  return { curves: { data: "prose", steps: STEPS, heads, curves, dropped: [] }, truth };
}

test("k-means and average linkage recover three known groups of curve shapes exactly (standardise, log grid)", () => {
  const { curves, truth } = syntheticCurves();
  const truthList = curves.heads.map((h) => truth[h]);
  for (const k of [3, undefined]) {
    const c = clusterCurves(curves, { k, normalise: "standardise", seed: 1 });
    assert.is(c.layers.length, 1);
    assert.is(c.layers[0].k, 3, "silhouette picks k = 3");
    assert.equal(curves.heads.map((h) => c.clusters[h]), canonicalLabels(truthList));
    assert.equal(curves.heads.map((h) => c.hierarchical[h]), canonicalLabels(truthList));
    assert.is(adjustedRandIndex(curves.heads.map((h) => c.clusters[h]), truthList), 1);
  }
  // Unnormalised, the shifts (0–10) swamp the shapes: the groups are not recovered.
  const raw = clusterCurves(curves, { k: 3, normalise: "none" });
  assert.ok(adjustedRandIndex(curves.heads.map((h) => raw.clusters[h]), truthList) < 0.5);
});

test("k-means: seeded and deterministic; several restarts never do worse; centroids are the cluster means", () => {
  const { curves } = syntheticCurves(1, 4, 0.5);
  const X = curves.curves.map((y) => normaliseCurve(y, "standardise"));
  const a = kmeans(X, 4, { seed: 5, restarts: 8 }), b = kmeans(X, 4, { seed: 5, restarts: 8 });
  assert.equal(a, b);
  for (let seed = 0; seed < 5; seed++) assert.ok(kmeans(X, 4, { seed, restarts: 8 }).inertia <= kmeans(X, 4, { seed, restarts: 1 }).inertia);
  const pts = [[0, 0], [0, 1], [10, 10], [10, 12], [11, 11]];
  const r = kmeans(pts, 2, { seed: 3 });
  assert.equal(r.assign, [0, 0, 1, 1, 1]);
  assert.equal(r.centroids, [[0, 0.5], [31 / 3, 11]]);
  close(r.inertia, 0.25 + 0.25 + (1 / 9 + 1) + (1 / 9 + 1) + 4 / 9, 1e-12); // Σ‖x − c‖²
  assert.throws(() => kmeans(pts, 6), /1\.\.5/);
});

test("clusters per layer by default, numbered after the previous layer's; pooled on request", () => {
  const { curves } = syntheticCurves(2, 3);
  const c = clusterCurves(curves, { k: 3 });
  assert.equal(c.layers.map((l) => [l.layer, l.heads.length, l.k]), [[0, 9, 3], [1, 9, 3]]);
  assert.equal(new Set(Object.entries(c.clusters).filter(([h]) => h.startsWith("l1")).map(([, v]) => v)), new Set([3, 4, 5]));
  const pooled = clusterCurves(curves, { k: 3, pooled: true });
  assert.equal(pooled.layers.map((l) => [l.layer, l.heads.length]), [["all", 18]]);
  assert.throws(() => clusterCurves(curves, { k: 10 }), /1\.\.9/);
});

test("curves alike (two checkpoints, all rising): one cluster, not an error; a k larger than the distinct curves finds fewer", () => {
  // Standardised, a two-point curve is (−1, 1) or (1, −1): with every head rising, all alike.
  const heads = ["l0h0", "l0h1", "l0h2", "l0h3"];
  const alike: HeadCurves = { data: "prose", steps: [100, 1000], heads, curves: [[1, 2], [0, 5], [3, 3.5], [1, 9]], dropped: [] };
  const c = clusterCurves(alike);
  assert.equal([c.layers[0].k, c.layers[0].silhouette, c.layers[0].silhouettes], [1, null, {}]);
  assert.equal(Object.values(c.clusters), [0, 0, 0, 0]);
  const two: HeadCurves = { ...alike, curves: [[1, 2], [0, 5], [3, 1], [9, 1]] };
  const given = clusterCurves(two, { k: 3 });
  assert.equal([given.layers[0].k, heads.map((h) => given.clusters[h]), heads.map((h) => given.hierarchical[h])], [2, [0, 0, 1, 1], [0, 0, 1, 1]]);
});

test("the prose/code comparison: ratios, and a prose cluster whose heads split apart on code", () => {
  // Six heads, two prose groups (early and late risers); on code, heads 0–1 of the
  // early group turn into bumps while head 2 stays an early riser: with k chosen by
  // silhouette on each (2 shapes on prose, 3 on code) that group splits.
  const steps = [100, 300, 1000, 3000, 10000, 30000];
  const t = steps.map(Math.log);
  const early = t.map((x) => 1 + SHAPES[0](x)), late = t.map((x) => 1 + SHAPES[1](x)), bump = t.map((x) => 1 + SHAPES[2](x));
  const heads = ["l0h0", "l0h1", "l0h2", "l0h3", "l0h4", "l0h5"];
  const mk = (curves: number[][], data: string): HeadCurves => ({ data, steps, heads, curves, dropped: [] });
  const prose = mk([early, early.map((v) => 2 * v), early.map((v) => 3 * v), late, late.map((v) => 2 * v), late.map((v) => 0.5 * v)], "prose");
  const code = mk([bump, bump.map((v) => 1.5 * v), early.map((v) => 6 * v), late, late.map((v) => 2 * v), late.map((v) => 0.5 * v)], "code");
  const a = analyseSignatures(prose, { code, labels: { l0h0: "multigram", l0h1: "multigram", l0h2: "multigram", l0h3: "induction", l0h4: "induction", l0h5: "induction" } });
  assert.equal(heads.map((h) => a.clustering.clusters[h]), [0, 0, 0, 1, 1, 1]);
  assert.is(a.ari, 1);
  const cmp = a.code!;
  assert.equal(cmp.splits, [{ cluster: 0, groups: [["l0h0", "l0h1"], ["l0h2"]] }]);
  assert.equal(heads.map((h) => cmp.split[h]), [true, true, true, false, false, false]);
  // Ratio = code / prose, computed from the same two numbers.
  assert.equal(cmp.ratio.l0h2, early.map((v) => (6 * v) / (3 * v)));
  assert.equal(cmp.ratio.l0h3, late.map((v) => v / v));
  assert.equal(heads.map((h) => cmp.clusters[h]), [0, 0, 1, 2, 2, 2]);
  assert.equal(cmp.k, { 0: 3 });
  // prose {0,1,2},{3,4,5} vs code {0,1},{2},{3,4,5}: Σ C(n_ij,2) = 1 + 3 = 4, Σa 6, Σb 4, C(6,2) 15:
  // E = 24/15 = 1.6, max 5, ARI = 2.4/3.4.
  close(cmp.ari, 2.4 / 3.4, 1e-15);
  // With k fixed at 2 on both: heads 0–1 turning into late risers on code leave head 2 alone.
  const code2 = mk([late, late.map((v) => 1.5 * v), early.map((v) => 6 * v), late, late.map((v) => 2 * v), late.map((v) => 0.5 * v)], "code");
  const fixed = analyseSignatures(prose, { k: 2, code: code2 }).code!;
  assert.equal(fixed.splits, [{ cluster: 0, groups: [["l0h0", "l0h1"], ["l0h2"]] }]);
  // Shape change: RMS of the standardised code − prose curves; a scaled copy keeps its shape
  // (to rounding), an early riser turned into a bump does not (√2 would be uncorrelated).
  for (const h of ["l0h2", "l0h3", "l0h4", "l0h5"]) close(cmp.shapeChange[h], 0, 1e-14, h); // a few roundings of O(1) values
  assert.ok(cmp.shapeChange.l0h0 > 0.5 && cmp.shapeChange.l0h1 > 0.5, JSON.stringify(cmp.shapeChange));
  // A prose λ̂ ≤ 0 gives no ratio.
  const neg = mk(prose.curves.map((c, i) => (i === 0 ? c.map((v, s) => (s === 0 ? -v : v)) : c)), "prose");
  assert.is(compareCode(neg, code, clusterCurves(neg, { k: 2 })).ratio.l0h0[0], null);
  const table = formatSignatureTable(a);
  assert.match(table, /prose cluster 0 splits apart on code: l0h0 l0h1 \| l0h2/);
  assert.match(table, /0:2\s+0\s+0\s+multigram/);
  const json = signatureJson(a) as Record<string, any>;
  assert.equal(json.clusters, { l0h0: 0, l0h1: 0, l0h2: 0, l0h3: 1, l0h4: 1, l0h5: 1 });
  assert.is(json.ari, 1);
  assert.equal(json.code.curves.l0h2, early.map((v) => 6 * v));
});

const row = (step: number, restrict: string, mean: number | null, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ step, restrict, data: "prose", "llc/mean": mean, "llc/std": 0.1, status: "complete", ...extra });

test("sweep rows → head curves: step 0 and incomplete steps left out with a reason, first row of a pair kept", () => {
  const lines = [
    row(0, "l0h0", 1), row(0, "l0h1", 1),
    row(100, "l0h0", 2), row(100, "l0h1", 3), row(100, "l1", 9),
    row(200, "l0h0", 4), row(200, "l0h1", 5), row(200, "l0h1", 99),
    row(300, "l0h0", 6), row(300, "l0h1", null, { status: "error" }),
    row(400, "l0h0", 7),
    row(800, "l0h1", 8), row(800, "l0h0", 9),
  ];
  const { rows, warnings } = parseSweepRows(lines.join("\n") + "\n" + '{"step": 9', "s.jsonl");
  assert.equal(warnings, ["s.jsonl:14: a torn last line (an interrupted sweep) was ignored"]);
  const c = headCurves(rows, "s.jsonl");
  assert.equal(c.heads, ["l0h0", "l0h1"]);
  assert.equal(c.steps, [100, 200, 800]);
  assert.equal(c.curves, [[2, 4, 9], [3, 5, 8]]);
  assert.equal(c.dropped.map((d) => d.step), [0, 300, 400]);
  assert.match(c.dropped[1].reason, /l0h1 has no finite estimate \(status "error"\)/);
  assert.match(c.dropped[2].reason, /no row for l0h1/);
  assert.is(c.data, "prose");
});

test("sweep rows: bad input is an error naming the line and field", () => {
  assert.throws(() => parseSweepRows("not json\n", "s.jsonl"), (e: Error) => e instanceof ClusterError && /s\.jsonl:1: not a JSON line/.test(e.message));
  assert.throws(() => parseSweepRows(row(1, "l0h0", 1) + "\n" + JSON.stringify({ step: "x", restrict: "l0h0", "llc/mean": 1 }) + "\n", "s.jsonl"), /s\.jsonl:2: "step" must be an integer/);
  assert.throws(() => parseSweepRows(JSON.stringify({ step: 1, restrict: 3, "llc/mean": 1 }) + "\n", "f"), /f:1: "restrict"/);
  assert.throws(() => parseSweepRows(JSON.stringify({ step: 1, restrict: "l0h0", "llc/mean": "1" }) + "\n", "f"), /f:1: "llc\/mean"/);
  const two = parseSweepRows([row(100, "l0h0", 1), row(200, "l0h0", 2, { data: "code" })].join("\n") + "\n", "f").rows;
  assert.throws(() => headCurves(two, "f"), /several data sets \("prose", "code"\)/);
  assert.throws(() => headCurves(parseSweepRows(row(100, "l1", 1) + "\n", "f").rows, "f"), /no rows of single heads/);
  assert.throws(() => headCurves(parseSweepRows([row(0, "l0h0", 1), row(100, "l0h0", 1)].join("\n") + "\n", "f").rows, "f"), /1 checkpoint\(s\) with step > 0.*left out: 0: step 0/);
});

test.run();
