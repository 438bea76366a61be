// The page's arithmetic (src/web/diagnostics.ts, src/web/svg.ts) in Node: no
// browser needed, so these run wherever `npm test` runs (test/web.test.ts drives
// the page itself in headless Chromium).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { estimate, exampleCases, parseConfig } from "../src/index.ts";
import { runningLlc, trendCheck, malaCheck, tCritical } from "../src/web/diagnostics.ts";
import { chartsToSvg, niceTicks } from "../src/web/svg.ts";
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

test.run();
