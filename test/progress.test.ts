// Progress: the pure formatters (percentage, rate, ETA, no "-0.0000"), the line that
// redraws on a terminal and prints plain lines elsewhere, the estimate's progress
// over all chains, and the sampler's finer blocks of steps, which must not change a bit.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadEngine } from "./helpers.ts";
import { formatDuration, formatFixed, formatProgress, formatRate, formatSigned, progressBar } from "../src/format.ts";
import { ProgressLine, estimateProgress, PLAIN_LINE_MS, QUIET_START_MS, TTY_REDRAW_MS } from "../src/progress.ts";
import { nextBlock, PROGRESS_CALL_MS, STEPS_PER_CALL, ChainDivergedError, type Progress } from "../src/sampler.ts";
import { prepareEstimate } from "../src/estimator.ts";
import { normalCrossingCase, reducedRankCase } from "../src/cases.ts";
import { formatHeadTable } from "../src/analysis/heads.ts";
import { formatSweepTable, pairKey, type SweepRow } from "../src/sweep.ts";

test("formatFixed: values that round to zero print without a sign; NaN and ±Infinity as –", () => {
  assert.is(formatFixed(-0, 4), "0.0000");
  assert.is(formatFixed(-1e-6, 4), "0.0000"); // toFixed gives "-0.0000"
  assert.is(formatFixed(-0.00004, 4), "0.0000");
  assert.is(formatFixed(-0.4, 0), "0"); // toFixed gives "-0"
  assert.is(formatFixed(-0.0001, 4), "-0.0001");
  assert.is(formatFixed(1.23456, 3), "1.235");
  assert.is(formatFixed(-2.5, 1), "-2.5");
  assert.is(formatFixed(NaN, 3), "–");
  assert.is(formatFixed(-Infinity, 3), "–");
  assert.is(formatSigned(-1e-7, 4), "+0.0000");
  assert.is(formatSigned(0.0123, 4), "+0.0123");
  assert.is(formatSigned(-0.05, 4), "-0.0500");
});

test("formatDuration and formatRate", () => {
  assert.is(formatDuration(0), "0 s");
  assert.is(formatDuration(59.4), "59 s");
  assert.is(formatDuration(59.6), "1 min 00 s");
  assert.is(formatDuration(185), "3 min 05 s");
  assert.is(formatDuration(3599), "59 min 59 s");
  assert.is(formatDuration(7620), "2 h 07 min");
  assert.is(formatDuration(NaN), "–");
  assert.is(formatDuration(Infinity), "–");
  assert.is(formatRate(1.234), "1.23");
  assert.is(formatRate(45.66), "45.7");
  assert.is(formatRate(789.4), "789");
  assert.is(formatRate(0), "–");
  assert.is(formatRate(NaN), "–");
});

test("formatProgress: floored percentage, rate of this run, ETA at that rate", () => {
  // 1234 of 3300 = 37.39…% → 37.3; 1234 draws in 3 s = 411.3/s; 2066 left → 5.02 s.
  assert.is(formatProgress({ label: "estimate", done: 1234, total: 3300, unit: "draws", doneThisRun: 1234, elapsedSeconds: 3 }),
    "estimate   37.3%  1234/3300 draws  411 draws/s  ETA 5 s");
  // Resumed: 2 of 4 chains of 100 came from the file; 50 draws in 10 s → 5/s, 150 left → 30 s.
  assert.is(formatProgress({ done: 250, total: 400, unit: "steps", doneThisRun: 50, elapsedSeconds: 10 }), " 62.5%  250/400 steps  5.00 steps/s  ETA 30 s");
  // Nothing timed yet: no rate, no ETA, and 0.0% (not -0.0%).
  assert.is(formatProgress({ done: 0, total: 10, unit: "draws", doneThisRun: 0, elapsedSeconds: 0 }), "  0.0%  0/10 draws  – draws/s  ETA –");
  // 99.99% is not 100.0% until it is done.
  assert.match(formatProgress({ done: 9999, total: 10000, unit: "draws", doneThisRun: 9999, elapsedSeconds: 1 }), /^ 99\.9%/);
  assert.match(formatProgress({ done: 10, total: 10, unit: "draws", doneThisRun: 10, elapsedSeconds: 1 }), /^100\.0% .* ETA 0 s$/);
  // On a terminal, a bar: 37.3% of 10 cells is 3 filled.
  assert.is(formatProgress({ done: 1234, total: 3300, unit: "draws", doneThisRun: 1234, elapsedSeconds: 3, barWidth: 10 }),
    " 37.3%  ███░░░░░░░  1234/3300 draws  411 draws/s  ETA 5 s");
  assert.is(progressBar(0.999, 10), "█████████░");
  assert.is(progressBar(1, 4), "████");
  assert.is(progressBar(-0.1, 4), "░░░░");
});

/** A fake terminal or pipe with a clock the test moves. */
function fakeOutput(tty: boolean) {
  const out = { text: "", time: 0, tty, columns: 40, write: (t: string) => void (out.text += t), now: () => out.time };
  return out;
}

/** At the end of the quiet start: `first`, a line too soon after it (dropped), then `second`, `gap` ms after the first. */
function showTwice(line: ProgressLine, out: ReturnType<typeof fakeOutput>, first: string, second: string, gap: number): void {
  out.time = QUIET_START_MS;
  line.show(first);
  out.time += gap - 1;
  line.show("dropped");
  out.time += 1;
  line.show(second);
}

test("ProgressLine on a TTY: quiet for the first second, redrawn in place at most every 100 ms, cleared at the end", () => {
  const out = fakeOutput(true);
  const line = new ProgressLine(out);
  line.show("early");
  assert.is(out.text, "", "nothing in the quiet start");
  showTwice(line, out, "a longer line", "short", TTY_REDRAW_MS);
  assert.is(out.text, "\ra longer line\rshort        ", "the shorter line overwrites the longer one");
  line.log("a row");
  assert.is(out.text.slice("\ra longer line\rshort        ".length), "\r     \ra row\nshort", "a row goes above the line, which is drawn again");
  line.clear();
  assert.ok(out.text.endsWith("short\r     \r"));
  out.time += 1000;
  line.show("x".repeat(100));
  assert.ok(out.text.endsWith("\r" + "x".repeat(39)), "clipped to the terminal's width − 1: a wrapped line cannot be redrawn");
});

test("ProgressLine elsewhere: a plain line every few seconds", () => {
  const out = fakeOutput(false);
  const line = new ProgressLine(out);
  showTwice(line, out, "one", "two", PLAIN_LINE_MS);
  line.log("a row");
  assert.is(out.text, "one\ntwo\na row\n");
});

test("estimateProgress: one line over all chains, chains from workers in any order, resumed chains done but not in the rate", () => {
  const out = fakeOutput(false);
  const line = new ProgressLine(out);
  let now = 0;
  const progress = estimateProgress(line, () => now, "job");
  progress.resume(1);
  const p = (chain: number, chainStep: number): Progress => ({ chain, draw: chainStep - 1, draws: 100, loss: 1, chains: 4, chainStep, chainSteps: 100 });
  now = 2000;
  out.time = 2000;
  progress.update(p(2, 30));
  progress.update(p(1, 10)); // dropped: under PLAIN_LINE_MS since the last line
  out.time = 2000 + PLAIN_LINE_MS;
  now = 4000;
  progress.update(p(1, 50));
  // done = 100 (chain 0, resumed) + 30 + 50 = 180 of 400; since the first report (30 draws at 2 s)
  // 50 draws in 2 s = 25/s; 220 left → 8.8 s.
  assert.is(out.text.split("\n")[0], "job   32.5%  130/400 draws  – draws/s  ETA –", "the first report has no rate yet");
  assert.is(out.text.split("\n")[1], "job   45.0%  180/400 draws  25.0 draws/s  ETA 9 s");
  // With burn-in (or thinning) not every step is a draw: what is counted is steps.
  const burnin = estimateProgress(line, () => now);
  out.time += PLAIN_LINE_MS;
  burnin.update({ ...p(0, 30), chainSteps: 120 });
  assert.is(out.text.split("\n")[2], "  6.2%  30/480 steps  – steps/s  ETA –");
});

test("nextBlock: a call lasts about PROGRESS_CALL_MS, between 1 and STEPS_PER_CALL steps", () => {
  assert.is(nextBlock(64, 64 * 1000), 1, "a step of a second: one step per call");
  assert.is(nextBlock(1, 0), STEPS_PER_CALL, "too fast to time: full blocks");
  assert.is(nextBlock(10, 50), 20, `5 ms per step → ${PROGRESS_CALL_MS} ms in 20 steps`);
});

const traceKeys = ["loss", "mala", "gradientNorm", "noiseNorm", "distance", "weightNorm"] as const;

test("finer blocks of steps change no bit: 1, 7 or 64 steps per call, or sized to the clock, give the same chain", async () => {
  // Burn-in 5 and thin 3 put draws at steps 7, 10, 13, …: blocks of 7 split them every way.
  const c = reducedRankCase(5, 3, 5);
  const config = { ...c.config, sampler: { ...c.config.sampler, chains: 2, draws: 60, burnin: 5, thin: 3 } };
  const engine = await loadEngine("simd");
  const prepared = prepareEstimate(engine, config, c.inputs(engine));
  const events: Progress[] = [];
  const reference = prepared.runChain(1, undefined, undefined, { stepsPerCall: 64 });
  for (const stepsPerCall of [1, 7, undefined]) {
    const seen: Progress[] = [];
    const traces = prepared.runChain(1, (p) => seen.push(p), undefined, stepsPerCall === undefined ? {} : { stepsPerCall });
    for (const key of traceKeys) {
      assert.is(traces[key].length, 60);
      traces[key].forEach((v, i) => assert.ok(Object.is(v, reference[key][i]), `${key}[${i}] with ${stepsPerCall ?? "timed"} steps per call`));
    }
    if (stepsPerCall === 1) events.push(...seen);
  }
  // One step per call: an event after every step from the first draw (the 8th step: burnin + thin) on.
  assert.is(events.length, 5 + 60 * 3 - 8 + 1);
  assert.equal(events.slice(0, 4).map((e) => [e.chainStep, e.draw]), [[8, 0], [9, 0], [10, 0], [11, 1]]);
  const last = events[events.length - 1];
  assert.equal([last.chain, last.chainStep, last.chainSteps, last.draw, last.draws, last.chains], [1, 185, 185, 59, 60, 2]);
  assert.ok(Object.is(last.loss, reference.loss[59]));
});

test("a diverging chain fails at the same step and draw whatever the block size", async () => {
  const c = normalCrossingCase([2, 2], { chains: 1, draws: 50, epsilon: 1000, nbeta: 1000 });
  const engine = await loadEngine("simd");
  const inputs = c.inputs(engine);
  inputs.weights.set("weights", { dtype: "F32", shape: [2], data: new Float32Array([0.5, 0.5]) });
  const prepared = prepareEstimate(engine, c.config, inputs);
  const failure = (stepsPerCall: number) => {
    try {
      prepared.runChain(0, () => {}, undefined, { stepsPerCall });
    } catch (e) {
      if (e instanceof ChainDivergedError) return [e.step, e.draw, e.traces.loss.length, String(e.loss)];
      throw e;
    }
    return assert.unreachable("should diverge");
  };
  assert.equal(failure(1), failure(64));
  assert.throws(() => prepared.runChain(0, undefined, undefined, { stepsPerCall: 65 }), /stepsPerCall: expected an integer in \[1, 64\], got 65/);
});

test("no -0.0000 in the printed tables: head scores and the sweep table", () => {
  const heads = formatHeadTable([
    { layer: 0, head: 0, previousTokenScore: -0, currentTokenScore: -0, inductionScore: 1e-9, ablationDelta: -1e-7, label: "other" },
    { layer: 0, head: 1, previousTokenScore: 0.5, currentTokenScore: 0.1, inductionScore: 0.25, ablationDelta: -0.0123, label: "previous-token" },
  ]);
  assert.not.match(heads, /-0\.0+(?!\d*[1-9])/);
  assert.match(heads, /0:0\s+0\.000\s+0\.000\s+0\.000\s+\+0\.0000\s+–\s+other/);
  assert.match(heads, /-0\.0123/);
  const row = (mean: number, std: number) => ({ step: 0, restrict: "l0h0", status: "complete", "llc/mean": mean, "llc/std": std }) as unknown as SweepRow;
  const table = formatSweepTable([0, 20], ["l0h0"], new Map([[pairKey(0, "l0h0"), row(-1e-5, 0.25)], [pairKey(20, "l0h0"), { ...row(2.5, -0), step: 20 }]]));
  assert.not.match(table, /-0\.000/);
  assert.match(table, /\s0\.000 ± 0\.250/);
  assert.match(table, /2\.500 ± 0\.000/);
});

test.run();
