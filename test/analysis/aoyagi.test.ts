import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  deepLinearNetworkLambda,
  deepLinearNetworkParameterCount,
  normalCrossingLambda,
  normalCrossingMultiplicity,
  reducedRankRegressionLambda,
  regularLambda,
} from "../../src/analysis/aoyagi.ts";
import { mulberry32 } from "../helpers.ts";

// Every expected value is an exact rational: compare to 1e-12 (relative above 1).
function close(actual: number, expected: number, msg = ""): void {
  const tol = 1e-12 * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol, `${msg} expected ${expected}, got ${actual}`);
}

// Deterministic uniform [0, 1), so the property sweeps reproduce.
const rng = mulberry32;
const randInt = (u: () => number, lo: number, hi: number) => lo + Math.floor(u() * (hi - lo + 1));

function* triples(max: number): Generator<[number, number, number, number]> {
  for (let m = 1; m <= max; m++)
    for (let h = 1; h <= max; h++)
      for (let n = 1; n <= max; n++) for (let r = 0; r <= Math.min(m, h, n); r++) yield [m, h, n, r];
}

/** dln.py's true_dln_learning_coefficient, term by term in floating point, with its
 *  subset search done by brute force over ALL subsets (not only sorted prefixes):
 *  also returns how many distinct value-multisets satisfy the three conditions. */
function referenceDln(widths: number[], r: number): { lambda: number; multiplicity: number; solutions: number } {
  const Ms = widths.map((w) => w - r);
  const found = new Map<string, number[]>();
  for (let mask = 1; mask < 1 << Ms.length; mask++) {
    const sub = Ms.filter((_, i) => mask & (1 << i));
    const comp = Ms.filter((_, i) => !(mask & (1 << i)));
    const ell = sub.length - 1;
    const sum = sub.reduce((s, x) => s + x, 0);
    const max = Math.max(...sub);
    const min = comp.length ? Math.min(...comp) : Infinity;
    if (comp.length && !(max < min)) continue;
    if (!(sum >= ell * max)) continue;
    if (comp.length && !(sum < ell * min)) continue;
    const sortedSub = [...sub].sort((x, y) => x - y);
    found.set(sortedSub.join(","), sortedSub);
  }
  const [sub] = [...found.values()];
  const ell = sub.length - 1;
  const S = sub.reduce((s, x) => s + x, 0);
  const Mbar = Math.ceil(S / ell);
  const a = S - (Mbar - 1) * ell;
  let term4 = 0;
  for (let i = 0; i <= ell; i++) for (let j = i + 1; j <= ell; j++) term4 += sub[i] * sub[j];
  const lambda =
    (-r * r + r * (widths[0] + widths[widths.length - 1])) / 2 +
    (a * (ell - a)) / (4 * ell) -
    ((ell * (ell - 1)) / 4) * (S / ell) ** 2 +
    term4 / 2;
  return { lambda, multiplicity: a * (ell - a) + 1, solutions: found.size };
}

function throwsRange(fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RangeError, `${what}: wrong error type`);
    assert.match((e as Error).message, pattern, `${what}: message`);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

// ------------------------------------------------------------------ regular

test("regularLambda: d/2", () => {
  close(regularLambda(0), 0);
  close(regularLambda(1), 0.5);
  close(regularLambda(7), 3.5);
  close(regularLambda(1000), 500);
});

// ---------------------------------------------------------- normal crossing

test("normalCrossing: λ = min 1/(2p_i) over p_i > 0, multiplicity = #argmins", () => {
  const cases: [number[], number, number][] = [
    [[1], 0.5, 1],
    [[1, 1], 0.5, 2],
    [[1, 2], 0.25, 1],
    [[2, 2], 0.25, 2],
    [[0, 1], 0.5, 1],
    [[3, 0, 3, 1], 1 / 6, 2],
    [[1, 1, 1], 0.5, 3],
    [[4], 0.125, 1],
  ];
  for (const [powers, lambda, mult] of cases) {
    close(normalCrossingLambda(powers), lambda, `powers [${powers}]`);
    assert.is(normalCrossingMultiplicity(powers), mult, `multiplicity of [${powers}]`);
  }
  // all powers 1: K = ∏ w_i², λ = 1/2 like a regular 1-parameter model.
  close(normalCrossingLambda([1]), regularLambda(1));
});

// --------------------------------------------------- reduced rank regression

test("RRR: devinterp's test table (r = 0), with case and multiplicity", () => {
  const table: [number, number, number, number, number][] = [
    [5, 3, 5, 6.5, 2], // case 1, odd
    [5, 4, 5, 8.0, 1], // case 1, even
    [4, 3, 8, 6, 1], // case 2: m + h < n
    [8, 3, 4, 6, 1], // case 3: n + h < m
    [3, 8, 4, 6, 1], // case 4: m + n < h
  ];
  for (const [m, h, n, lambda, mult] of table) {
    const got = reducedRankRegressionLambda(m, h, n, 0);
    close(got.lambda, lambda, `(m,h,n)=(${m},${h},${n})`);
    assert.is(got.multiplicity, mult, `multiplicity (${m},${h},${n})`);
  }
});

test("RRR: matches devinterp's r = 0 formulas (their case order) on all m,h,n ≤ 10", () => {
  for (let m = 1; m <= 10; m++)
    for (let h = 1; h <= 10; h++)
      for (let n = 1; n <= 10; n++) {
        let expected: number;
        if (m + h < n) expected = (m * h) / 2;
        else if (n + h < m) expected = (h * n) / 2;
        else if (m + n < h) expected = (m * n) / 2;
        else if ((m + h + n) % 2 === 0) expected = (2 * m * n + 2 * h * n + 2 * m * h - n * n - m * m - h * h) / 8;
        else expected = (1 + 2 * m * n + 2 * h * n + 2 * m * h - n * n - m * m - h * h) / 8;
        close(reducedRankRegressionLambda(m, h, n, 0).lambda, expected, `(${m},${h},${n})`);
      }
});

test("RRR: rank r reduces to rank 0 on (m−r, h−r, n−r) plus r(m+n−r)/2", () => {
  for (const [m, h, n, r] of triples(9)) {
    if (r === 0 || r === Math.min(m, h, n)) continue;
    const full = reducedRankRegressionLambda(m, h, n, r);
    const reduced = reducedRankRegressionLambda(m - r, h - r, n - r, 0);
    close(full.lambda, reduced.lambda + (r * (m + n - r)) / 2, `(${m},${h},${n},${r})`);
    assert.is(full.multiplicity, reduced.multiplicity);
  }
});

test("RRR: r(m+n−r)/2 ≤ λ ≤ min(h(m+n), mn)/2, and r = h gives the regular value", () => {
  for (const [m, h, n, r] of triples(9)) {
    const { lambda } = reducedRankRegressionLambda(m, h, n, r);
    assert.ok(lambda <= (h * (m + n)) / 2 + 1e-12, `λ ≤ d/2 at (${m},${h},${n},${r})`);
    assert.ok(lambda <= (m * n) / 2 + 1e-12, `λ ≤ mn/2 at (${m},${h},${n},${r})`);
    assert.ok(lambda >= (r * (m + n - r)) / 2 - 1e-12, `λ ≥ dim(rank-r)/2 at (${m},${h},${n},${r})`);
    // h = r: the truth has full rank h, the map (A, B) ↦ AB is a submersion onto
    // the rank-h matrices modulo GL(h): λ = (h(m+n) − h²)/2.
    if (r === h) close(lambda, (h * (m + n) - h * h) / 2, `r = h at (${m},${h},${n})`);
  }
});

// ------------------------------------------------------- deep linear network

test("DLN, two layers: equals RRR on devinterp's table", () => {
  for (const [m, h, n] of [[5, 3, 5], [5, 4, 5], [4, 3, 8], [8, 3, 4], [3, 8, 4]]) {
    const dln = deepLinearNetworkLambda([m, h, n], 0);
    const rrr = reducedRankRegressionLambda(m, h, n, 0);
    close(dln.lambda, rrr.lambda, `(${m},${h},${n})`);
    assert.is(dln.multiplicity, rrr.multiplicity);
  }
});

test("DLN, two layers: equals RRR for all m,h,n ≤ 8 and every r ≤ min", () => {
  let count = 0;
  for (const [m, h, n, r] of triples(8)) {
    const dln = deepLinearNetworkLambda([m, h, n], r);
    const rrr = reducedRankRegressionLambda(m, h, n, r);
    close(dln.lambda, rrr.lambda, `λ at (${m},${h},${n},${r})`);
    assert.is(dln.multiplicity, rrr.multiplicity, `multiplicity at (${m},${h},${n},${r})`);
    count++;
  }
  assert.is(count, 1808); // Σ_{m,h,n ≤ 8} (min(m,h,n) + 1) = 8³ + (1³ + … + 8³)
});

test("DLN, one layer [m, n]: regular, λ = mn/2 for every rank", () => {
  for (let m = 1; m <= 8; m++)
    for (let n = 1; n <= 8; n++)
      for (let r = 0; r <= Math.min(m, n); r++) {
        const got = deepLinearNetworkLambda([m, n], r);
        close(got.lambda, regularLambda(m * n), `[${m},${n}], r=${r}`);
        assert.is(got.multiplicity, 1);
      }
});

test("DLN: hand-computed cases with ≥ 3 layers and r > 0", () => {
  // (A) widths [3, 4, 5, 2], r = 1.  M = [2, 3, 4, 1], sorted 1, 2, 3, 4.
  //   Σ = {1}:       (c) 1 < 0·2 fails.
  //   Σ = {1,2}:     (a) 2 < 3 ok, (b) 3 ≥ 1·2 ok, (c) 3 < 1·3 fails.
  //   Σ = {1,2,3}:   (a) 3 < 4 ok, (b) 6 ≥ 2·3 ok, (c) 6 < 2·4 ok.  → ℓ = 2, S = 6.
  //   M̄ = ⌈6/2⌉ = 3, a = 6 − 2·2 = 2, a(ℓ−a) = 0.
  //   λ = (−1 + 1·(3+2))/2 + 0 − (2·1/4)·3² + ½(1·2 + 1·3 + 2·3)
  //     = 2 − 4.5 + 5.5 = 3,  m = 1.   (d/2 = (12 + 20 + 10)/2 = 21)
  let got = deepLinearNetworkLambda([3, 4, 5, 2], 1);
  close(got.lambda, 3, "[3,4,5,2] r=1");
  assert.is(got.multiplicity, 1);

  // (B) widths [4, 3, 3, 3, 4], r = 2.  M = [2, 1, 1, 1, 2], sorted 1, 1, 1, 2, 2.
  //   Σ = {1}, {1,1}: (a) fails (tie with the complement).
  //   Σ = {1,1,1}:    (a) 1 < 2 ok, (b) 3 ≥ 2·1 ok, (c) 3 < 2·2 ok.  → ℓ = 2, S = 3.
  //   M̄ = ⌈3/2⌉ = 2, a = 3 − 1·2 = 1, a(ℓ−a) = 1.
  //   λ = (−4 + 2·(4+4))/2 + 1/8 − (2·1/4)·(3/2)² + ½(1+1+1)
  //     = 6 + 0.125 − 1.125 + 1.5 = 6.5,  m = 2.
  got = deepLinearNetworkLambda([4, 3, 3, 3, 4], 2);
  close(got.lambda, 6.5, "[4,3,3,3,4] r=2");
  assert.is(got.multiplicity, 2);

  // (C) widths [3, 3, 3, 3], r = 1.  M = [2, 2, 2, 2]: every proper prefix splits
  //   a tie, so Σ = everything (only (b): 8 ≥ 3·2).  ℓ = 3, S = 8.
  //   M̄ = ⌈8/3⌉ = 3, a = 8 − 2·3 = 2, a(ℓ−a) = 2.
  //   λ = (−1 + 1·6)/2 + 2/12 − (3·2/4)·(8/3)² + ½·6·(2·2)
  //     = 5/2 + 1/6 − 32/3 + 12 = 4,  m = 3.
  got = deepLinearNetworkLambda([3, 3, 3, 3], 1);
  close(got.lambda, 4, "[3,3,3,3] r=1");
  assert.is(got.multiplicity, 3);
});

test("DLN: bottleneck of width r gives λ = r(H_0 + H_L − r)/2", () => {
  close(deepLinearNetworkLambda([3, 2, 4], 2).lambda, 5); // = RRR(3,2,4,2), case 2
  close(deepLinearNetworkLambda([6, 2, 7, 5], 2).lambda, (2 * (6 + 5 - 2)) / 2);
  close(deepLinearNetworkLambda([5, 5, 1, 5, 5], 1).lambda, 9 / 2);
  for (const widths of [[4, 1, 3], [2, 9, 3, 2, 8], [7, 3, 3, 3, 7]]) {
    const r = Math.min(...widths);
    const got = deepLinearNetworkLambda(widths, r);
    close(got.lambda, (r * (widths[0] + widths[widths.length - 1] - r)) / 2, `[${widths}] r=${r}`);
    assert.is(got.multiplicity, 1);
  }
});

test("DLN: seeded sweep — λ ≤ d/2, λ ≥ r(H_0+H_L−r)/2, reversal symmetry, unique subset, dln.py term by term", () => {
  const u = rng(20240521);
  for (let trial = 0; trial < 3000; trial++) {
    const layers = randInt(u, 2, 5);
    const widths = Array.from({ length: layers + 1 }, () => randInt(u, 1, 10));
    const r = randInt(u, 0, Math.min(...widths));
    const got = deepLinearNetworkLambda(widths, r);
    const tag = `[${widths}] r=${r}`;
    const d = deepLinearNetworkParameterCount(widths);

    assert.ok(got.lambda <= d / 2 + 1e-12, `${tag}: λ=${got.lambda} > d/2=${d / 2}`);
    assert.ok(got.lambda >= (r * (widths[0] + widths[layers] - r)) / 2 - 1e-12, `${tag}: λ below rank-r floor`);
    // λ = integer/(4ℓ) with ℓ ≤ L ≤ 5, so 4·lcm(1..5)·λ = 240λ is an integer.
    assert.ok(Number.isInteger(got.lambda * 240), `${tag}: 240λ = ${got.lambda * 240} not an integer`);
    // m = a(ℓ−a) + 1 with 1 ≤ a ≤ ℓ ≤ L: at most 1 + ⌊L²/4⌋ (and never above d).
    assert.ok(Number.isInteger(got.multiplicity) && got.multiplicity >= 1, tag);
    assert.ok(got.multiplicity <= 1 + Math.floor((layers * layers) / 4) && got.multiplicity <= d, tag);

    const reversed = deepLinearNetworkLambda([...widths].reverse(), r);
    close(reversed.lambda, got.lambda, `${tag} reversed`);
    assert.is(reversed.multiplicity, got.multiplicity);

    const ref = referenceDln(widths, r);
    assert.is(ref.solutions, 1, `${tag}: admissible subsets by value`);
    close(got.lambda, ref.lambda, `${tag} vs dln.py`);
    assert.is(got.multiplicity, ref.multiplicity, `${tag} multiplicity vs dln.py`);
  }
});

test("DLN: parameter count", () => {
  assert.is(deepLinearNetworkParameterCount([3, 4, 5, 2]), 42);
  assert.is(deepLinearNetworkParameterCount([7, 7]), 49);
});

// --------------------------------------------------------------- validation

test("validation: RangeError naming the argument and what was expected", () => {
  throwsRange(() => regularLambda(-1), /regularLambda: d must be a non-negative integer, got -1/, "d < 0");
  throwsRange(() => regularLambda(2.5), /d must be a non-negative integer/, "d fractional");

  throwsRange(() => normalCrossingLambda([]), /powers must be a non-empty array/, "no powers");
  throwsRange(() => normalCrossingLambda([0, 0]), /at least one positive power/, "all zero");
  throwsRange(() => normalCrossingMultiplicity([0, 0]), /normalCrossingMultiplicity: powers/, "all zero (mult)");
  throwsRange(() => normalCrossingLambda([1, -2]), /powers\[1\] must be a non-negative integer, got -2/, "negative");
  throwsRange(() => normalCrossingLambda([1.5]), /powers\[0\] must be a non-negative integer/, "fractional");

  throwsRange(() => reducedRankRegressionLambda(0, 3, 5, 0), /m \(input dimension\) must be a positive integer, got 0/, "m=0");
  throwsRange(() => reducedRankRegressionLambda(5, 2.5, 5, 0), /h \(hidden width\) must be a positive integer/, "h");
  throwsRange(() => reducedRankRegressionLambda(5, 3, NaN, 0), /n \(output dimension\) must be a positive integer, got NaN/, "n");
  throwsRange(() => reducedRankRegressionLambda(5, 3, 5, -1), /r must be a non-negative integer, got -1/, "r<0");
  throwsRange(() => reducedRankRegressionLambda(5, 3, 5, 4), /r \(true rank\) must be at most min\(m, h, n\) = 3, got 4/, "r>min");

  throwsRange(() => deepLinearNetworkLambda([5], 0), /widths must be an array .* at least 2 positive integers, got length 1/, "1 width");
  throwsRange(() => deepLinearNetworkLambda([5, 0, 3], 0), /widths\[1\] must be a positive integer, got 0/, "zero width");
  throwsRange(() => deepLinearNetworkLambda([5, 2, 3], 3), /r \(true rank\) must be at most min\(widths\) = 2, got 3/, "r>min");
  throwsRange(() => deepLinearNetworkLambda([5, 2, 3], 0.5), /r must be a non-negative integer/, "r fractional");
  throwsRange(() => deepLinearNetworkParameterCount([4]), /deepLinearNetworkParameterCount: widths/, "count");
});

test.run();
