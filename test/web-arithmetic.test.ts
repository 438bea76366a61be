// The page's arithmetic and words (src/web/diagnostics.ts, svg.ts, describe.ts) in Node: no
// browser needed, so these run wherever `npm test` runs (test/web.test.ts drives
// the page itself in headless Chromium).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { estimate, exampleCases, parseConfig } from "../src/index.ts";
import { runningLlc, trendCheck, malaCheck, tCritical } from "../src/web/diagnostics.ts";
import { chartsToSvg, niceTicks } from "../src/web/svg.ts";
import { describeRestriction, fmt, otherSettings, resultCaption, resultTitle, samplerLine } from "../src/web/describe.ts";
import { loadEngine } from "./helpers.ts";

/** Node's result for a built-in case with sampler overrides: estimate() in one engine, no workers. */
async function nodeEstimate(name: keyof typeof exampleCases, sampler: Record<string, unknown>) {
  const c = exampleCases[name]();
  const config = parseConfig({ ...c.config, sampler: { ...c.config.sampler, ...sampler } });
  const engine = await loadEngine("simd");
  return estimate(engine, config, c.inputs(engine));
}

test("diagnostics: running λ̂ ends at llc-chain/c to the bit; the trend and MALA rules", async () => {
  const result = await nodeEstimate("normal-crossing", { chains: 3, draws: 120 });
  result["loss/trace"].forEach((loss: number[], c: number) => {
    const running = runningLlc(loss, result.init_loss, result.nbeta);
    assert.is(running[running.length - 1], result[`llc-chain/${c}`]);
  });
  const flat = [0, 1, 2, 3].map((c) => Array.from({ length: 100 }, (_, t) => Math.sin(t * 1.7 + c * 2.3)));
  assert.is(trendCheck(flat)!.trending, false);
  const rising = flat.map((trace, c) => trace.map((v, t) => v + t * 0.05 + c * 0.01));
  const trend = trendCheck(rising)!;
  assert.ok(trend.trending && trend.shift > 1 && trend.t > trend.critical, JSON.stringify(trend));
  assert.is(trend.critical, tCritical(3));
  assert.is(trendCheck([flat[0]]), null, "one chain: no test");
  assert.is(trendCheck([[1, 2], [3, 4]]), null, "fewer than 8 draws: no test");
  assert.is(tCritical(1), 63.657);
  assert.is(tCritical(100), 2.576);
  assert.is(malaCheck(0.3), "low");
  assert.is(malaCheck(0.9), "ok");
  assert.is(malaCheck(0.999), "high");
  assert.is(malaCheck(null), null);
});

test("svg: a standalone document, gaps skipped, labels escaped, nice ticks", () => {
  assert.equal(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.equal(niceTicks(0.13, 0.61, 5), [0.2, 0.3, 0.4, 0.5, 0.6]);
  const svg = chartsToSvg([{ title: "a <b> & c", xLabel: "draw", yLabel: "loss", series: [
    { label: "chain 0", color: "#f00", x: [0, 1, 2, 3], y: [1, null, 3, 2] },
    { label: "empty", color: "#00f", x: [0, 1], y: [null, null] },
  ] }], { caption: "x" });
  assert.ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.match(svg, "a &lt;b&gt; &amp; c");
  const polylines = svg.match(/points="([^"]*)"/g)!;
  assert.is(polylines.length, 1, "an all-null series draws nothing");
  assert.is(polylines[0].split(" ").length, 3, "the null point is skipped");
});

test("svg: the heading above the panels, a legend entry per series, caption lines below", () => {
  const panel = (title: string) => ({ title, xLabel: "draw", yLabel: "λ̂", series: [
    { label: "chain 0", color: "#4e79a7", x: [0, 1, 2], y: [1, 2, 3] },
    { label: "true λ", color: "#888", dash: "6 4", x: [0, 1, 2], y: [2, 2, 2] },
  ] });
  const svg = chartsToSvg([panel("loss"), panel("Running λ̂")], { title: "rrr: λ̂ = 5.531 ± 0.882", caption: ["MLP 5→3→5", "2 chains × 200 draws · ε 0.0006"], panelHeight: 300 });
  const texts = [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  assert.is(texts[0], "rrr: λ̂ = 5.531 ± 0.882", "the heading comes first");
  for (const label of ["chain 0", "true λ"]) assert.is(texts.filter((t) => t === label).length, 2, `a legend entry "${label}" in each panel`);
  assert.equal(texts.slice(-2), ["MLP 5→3→5", "2 chains × 200 draws · ε 0.0006"], "the caption lines come last");
  assert.match(svg, /stroke="#888" stroke-width="2" stroke-dasharray="6 4"\/>/, "the legend draws the dashed series dashed");
  // 36 px of heading, two 300 px panels, 12 + 16 px per caption line.
  assert.match(svg, 'width="900" height="680" viewBox="0 0 900 680"');
});

test("describe: restrict in each form, every sampler setting, the plots' heading and caption", async () => {
  assert.is(describeRestriction(null), "none (every weight moves)");
  assert.is(describeRestriction(["l0h0", "l1h3"]), "l0h0, l1h3");
  assert.is(describeRestriction({ "0.weight": "all", "1.weight": [0, 1, 1, 0, 1] }), "0.weight, 1.weight (3 of 5)");
  const result = await nodeEstimate("rrr", { chains: 2, draws: 20 });
  const line = samplerLine({ ...result.config, restrict: ["0.weight"] });
  assert.is(line, `2 chains × 20 draws · ε 0.0006 · γ 1 · sgld · batch ${result.config.sampler.batch_size} · nβ default (b / ln b) · seed ${result.config.sampler.seed} · burn-in 0 · thin 1 · L0 batches · restrict 0.weight`);
  assert.is(otherSettings(result.config).at(-1), "restrict none (every weight moves)", "the config line under the fields names restrict");
  const rms = otherSettings({ ...result.config, sampler: { ...result.config.sampler, method: "rmsprop_sgld", bounding_box: 2, weight_decay: 0.01 } });
  for (const part of ["rmsprop_sgld", "α 0.99", "eps 0.1", "weight decay 0.01", "box 2"]) assert.ok(rms.includes(part), part);
  assert.is(resultTitle("rrr", result), `rrr: λ̂ = ${result["llc/mean"]!.toFixed(3)} ± ${result["llc/std"]!.toFixed(3)}`);
  assert.is(resultTitle("rrr", { ...result, status: "partial", chains_completed: 1 }), `rrr: λ̂ = ${fmt(result["llc/mean"])} ± ${fmt(result["llc/std"])} (partial: 1 of 2 chains)`);
  assert.equal(resultCaption(result, 6.5), [
    `MLP 5→3→5, identity · nβ = ${fmt(result.nbeta)} · L0 = ${fmt(result.init_loss, 5)} · MALA accept ${fmt(result["mala_accept/mean"])} · true λ = 6.5`,
    samplerLine(result.config),
  ]);
  assert.is(fmt(-0.0001), "-1.00e-4");
  assert.is(fmt(Number.NaN), "–");
});

test.run();
