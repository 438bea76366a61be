// Multigram counting and per-head memorisation (src/analysis/multigrams.ts) against
// a brute-force count with string keys, and hand-made cases.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mulberry32 } from "../helpers.ts";
import { multigramTable, multigramIncreases, headMultigrams } from "../../src/analysis/multigrams.ts";

/** Every multigram occurrence by scanning each final position's windows (string keys), then the ≥ minCount ones. */
function bruteForce(tokens: Int32Array, nSeq: number, T: number, minCount: number): Map<string, number[]> {
  const all = new Map<string, number[]>();
  const push = (key: string, at: number) => all.set(key, [...(all.get(key) ?? []), at]);
  for (let s = 0; s < nSeq; s++)
    for (let q = 1; q < T; q++) {
      const t = (p: number) => tokens[s * T + p];
      for (let n = 2; n <= 4; n++) if (q - n + 1 >= 0) push(`${n}-gram ${Array.from({ length: n }, (_, i) => t(q - n + 1 + i)).join(",")}`, s * T + q);
      const firsts = new Set<number>();
      for (let g = 1; g <= 8; g++) if (q - g - 1 >= 0) firsts.add(t(q - g - 1));
      for (const a of firsts) push(`skip-bigram ${a},${t(q)}`, s * T + q);
    }
  return new Map([...all].filter(([, at]) => at.length >= minCount));
}

test("multigramTable = a brute-force count (n-grams, skip-bigrams with gaps 1–8 once per final token), never across sequences", () => {
  const u = mulberry32(1);
  const nSeq = 7, T = 24, vocab = 6; // a small vocabulary: many repeats
  const tokens = Int32Array.from({ length: nSeq * T }, () => Math.floor(u() * vocab));
  for (const minCount of [1, 5, 20]) {
    const table = multigramTable({ tokens, nSeq, seqLen: T }, vocab, minCount);
    const got = new Map(table.kinds.map((kind, m) => [`${kind} ${table.tokens[m].join(",")}`, Array.from(table.positions.subarray(table.offsets[m], table.offsets[m + 1]))]));
    const expected = bruteForce(tokens, nSeq, T, minCount);
    assert.is(got.size, expected.size, `minCount ${minCount}: ${got.size} multigrams vs ${expected.size}`);
    for (const [key, at] of expected) assert.equal(got.get(key), at, `${key}`);
    const kinds = table.kinds.map((k) => ["2-gram", "3-gram", "4-gram", "skip-bigram"].indexOf(k));
    assert.ok(kinds.every((k, i) => i === 0 || kinds[i - 1] <= k), "grouped by kind");
    assert.is(Object.values(table.counted).reduce((a, b) => a + b, 0), table.kinds.length);
  }
  assert.throws(() => multigramTable({ tokens, nSeq, seqLen: T }, vocab, 0), /min_count must be an integer ≥ 1/);
});

test("hand-made: a skip-bigram is counted once per final token; increases are means over occurrences; held ≥ delta", () => {
  // One sequence 5 5 7 9 5 5 7: the skip-bigram (5, 7) ends at positions 2 and 6, once each
  // although 5 stands at both gaps 1 and 2 before each 7.
  const tokens = Int32Array.from([5, 5, 7, 9, 5, 5, 7]);
  const table = multigramTable({ tokens, nSeq: 1, seqLen: 7 }, 10, 2);
  const find = (kind: string, ids: number[]) => table.kinds.findIndex((k, m) => k === kind && table.tokens[m].join() === ids.join());
  const skip = find("skip-bigram", [5, 7]);
  assert.equal(Array.from(table.positions.subarray(table.offsets[skip], table.offsets[skip + 1])), [2, 6]);
  const trigram = find("3-gram", [5, 5, 7]);
  assert.equal(Array.from(table.positions.subarray(table.offsets[trigram], table.offsets[trigram + 1])), [2, 6]);
  assert.is(find("4-gram", [9, 5, 5, 7]), -1, "occurs once: below min_count 2");
  const base = new Float64Array(7);
  const ablated = Float64Array.from([NaN, 0, 0.25, 0, 0, 0, 1.75]);
  const increases = multigramIncreases(table, base, ablated);
  assert.is(increases[skip], 1); // (0.25 + 1.75) / 2
  const held = headMultigrams(table, increases, 1, 2);
  // (5,7) 2-gram? It ends at 2 and 6 as well ((5,7) adjacent): also 1. (5,5) ends at 1 and 5: 0.
  assert.is(held.counts.total, table.kinds.filter((_, m) => increases[m] >= 1).length);
  assert.ok(held.counts.total >= 3 && held.counts["skip-bigram"] >= 1 && held.counts["3-gram"] === 1);
  assert.is(held.top.length, 2);
  assert.is(held.top[0].increase, 1);
  assert.is(held.top[0].count, 2);
});

test.run();
