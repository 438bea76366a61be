// Closed-form learning coefficients (real log canonical thresholds) λ and their
// multiplicities m, used as ground truth for the SGLD estimator and the demo table.
//
//   * regular models:                 λ = d/2, m = 1
//   * normal-crossing toy potentials: λ = min 1/(2 p_i), m = #argmins
//   * reduced rank regression (two-layer linear network):
//       M. Aoyagi & S. Watanabe (2005), "Stochastic complexities of reduced rank
//       regression in Bayesian estimation", Neural Networks 18(7), 924–933.
//   * deep linear networks:
//       M. Aoyagi (2024), "Consideration on the learning efficiency of multiple-
//       layered neural networks with linear units", Neural Networks 172
//       (preprint: SSRN 4404877), in the form used by Lau, Furman, Wang, Murfet &
//       Wei, "The Local Learning Coefficient" (arXiv:2308.12108), implemented as
//       `true_dln_learning_coefficient` in edmundlth/validating_lambdahat, dln.py.
//
// All inputs are small integers, so every result is an exact rational; the code
// builds an integer numerator and divides once, so results are the correctly
// rounded doubles of those rationals (no accumulated rounding).

/** A learning coefficient λ together with its multiplicity m (order of the log log n term). */
export interface LearningCoefficient {
  lambda: number;
  multiplicity: number;
}

// ---------------------------------------------------------------- validation

function describe(x: unknown): string {
  return typeof x === "number" ? String(x) : `${typeof x} ${String(x)}`;
}

function requireInteger(fn: string, name: string, x: unknown, min: number, what: string): number {
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < min) {
    throw new RangeError(`${fn}: ${name} must be ${what}, got ${describe(x)}`);
  }
  return x;
}

const positive = (fn: string, name: string, x: unknown) => requireInteger(fn, name, x, 1, "a positive integer");
const nonNegative = (fn: string, name: string, x: unknown) => requireInteger(fn, name, x, 0, "a non-negative integer");

function requireRank(fn: string, r: unknown, widths: number[], widthNames: string): number {
  const rank = nonNegative(fn, "r", r);
  const min = Math.min(...widths);
  if (rank > min) {
    throw new RangeError(`${fn}: r (true rank) must be at most min(${widthNames}) = ${min}, got ${rank}`);
  }
  return rank;
}

// ----------------------------------------------------------------- regular

/** Regular model with d parameters (positive definite Fisher information): λ = d/2, multiplicity 1. */
export function regularLambda(d: number): number {
  return nonNegative("regularLambda", "d", d) / 2;
}

// ---------------------------------------------------------- normal crossing

function checkPowers(fn: string, powers: unknown): number[] {
  if (!Array.isArray(powers) || powers.length === 0) {
    throw new RangeError(`${fn}: powers must be a non-empty array of non-negative integers`);
  }
  powers.forEach((p, i) => nonNegative(fn, `powers[${i}]`, p));
  if (!powers.some((p) => p > 0)) {
    throw new RangeError(`${fn}: powers must contain at least one positive power (all are 0: K ≡ 0 has no finite λ)`);
  }
  return powers as number[];
}

function normalCrossing(fn: string, powers: number[]): LearningCoefficient {
  // f(x; w) = x · ∏ w_i^{p_i}, so K(w) ∝ ∏ w_i^{2 p_i}: already a normal crossing.
  // With a prior positive at the origin, λ = min_i (h_i + 1)/(2 p_i) with h_i = 0,
  // over the coordinates that occur (p_i > 0); m = the number of minimisers.
  const pMax = Math.max(...checkPowers(fn, powers));
  return { lambda: 1 / (2 * pMax), multiplicity: powers.filter((p) => p === pMax).length };
}

/**
 * devinterp's normal-crossing toy f(x) = x·∏ w_i^{p_i} at w = 0:
 * λ = min over p_i > 0 of 1/(2 p_i) = 1/(2 max p_i). Zero powers are free directions.
 */
export function normalCrossingLambda(powers: number[]): number {
  return normalCrossing("normalCrossingLambda", powers).lambda;
}

/** Multiplicity of the normal-crossing toy: how many coordinates attain the maximal power. */
export function normalCrossingMultiplicity(powers: number[]): number {
  return normalCrossing("normalCrossingMultiplicity", powers).multiplicity;
}

// --------------------------------------------------- reduced rank regression

/**
 * Reduced rank regression Linear(m→h) → Linear(h→n) (no biases) at a true map of
 * rank r, after Aoyagi & Watanabe (2005), Main Theorem, with M = m (input),
 * H = h (hidden), N = n (output):
 *
 *   1. N + r ≤ M + H, M + r ≤ N + H and H + r ≤ M + N:
 *        M + H + N + r even: λ = (2(H+r)(M+N) − (M−N)² − (H+r)²)/8,     m = 1
 *        M + H + N + r odd:  λ = (2(H+r)(M+N) − (M−N)² − (H+r)² + 1)/8, m = 2
 *   2. M + H < N + r: λ = (HM − Hr + Nr)/2, m = 1
 *   3. N + H < M + r: λ = (HN − Hr + Mr)/2, m = 1
 *   4. M + N < H + r: λ = MN/2,             m = 1
 *
 * Since r ≤ min(M, H, N), at most one inequality of case 1 can fail, so the cases
 * partition the inputs, and the value is continuous across their boundaries.
 * For r = 0 this reproduces devinterp's test table (tests/slt/rrr_test.py):
 * (m,h,n) = (5,3,5) → 6.5 (case 1 odd), (5,4,5) → 8 (case 1 even),
 * (4,3,8) → 6 (case 2), (8,3,4) → 6 (case 3), (3,8,4) → 6 (case 4); devinterp
 * writes case 1 odd as (1 + 2mn + 2hn + 2mh − n² − m² − h²)/8, which is the same
 * polynomial because 2mn − m² − n² = −(m−n)².
 * Rank r > 0 reduces to rank 0: λ(M,H,N,r) = λ(M−r, H−r, N−r, 0) + r(M+N−r)/2.
 */
export function reducedRankRegressionLambda(m: number, h: number, n: number, r: number): LearningCoefficient {
  const fn = "reducedRankRegressionLambda";
  const M = positive(fn, "m (input dimension)", m);
  const H = positive(fn, "h (hidden width)", h);
  const N = positive(fn, "n (output dimension)", n);
  requireRank(fn, r, [M, H, N], "m, h, n");

  if (N + r <= M + H && M + r <= N + H && H + r <= M + N) {
    const core = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2;
    return (M + H + N + r) % 2 === 0
      ? { lambda: core / 8, multiplicity: 1 }
      : { lambda: (core + 1) / 8, multiplicity: 2 };
  }
  if (M + H < N + r) return { lambda: (H * M - H * r + N * r) / 2, multiplicity: 1 };
  if (N + H < M + r) return { lambda: (H * N - H * r + M * r) / 2, multiplicity: 1 };
  return { lambda: (M * N) / 2, multiplicity: 1 }; // M + N < H + r
}

// ------------------------------------------------------- deep linear network

/** Number of weights of a bias-free deep linear network: Σ_j H_j·H_{j+1}. */
export function deepLinearNetworkParameterCount(widths: number[]): number {
  checkWidths("deepLinearNetworkParameterCount", widths);
  let d = 0;
  for (let j = 0; j + 1 < widths.length; j++) d += widths[j] * widths[j + 1];
  return d;
}

function checkWidths(fn: string, widths: unknown): number[] {
  if (!Array.isArray(widths) || widths.length < 2) {
    throw new RangeError(
      `${fn}: widths must be an array [H_0 (input), …, H_L (output)] of at least 2 positive integers, got ` +
        (Array.isArray(widths) ? `length ${widths.length}` : describe(widths)),
    );
  }
  widths.forEach((w, j) => positive(fn, `widths[${j}]`, w));
  return widths as number[];
}

/**
 * Deep linear network x ↦ W_L ⋯ W_1 x with widths [H_0 (input), H_1, …, H_L (output)]
 * (L layers, no biases) at a true product of rank r ≤ min_j H_j, after Aoyagi (2024).
 *
 * With M_j = H_j − r (j = 0..L), let Σ be the set of the ℓ+1 smallest M_j such that
 *   (a) max_{j∈Σ} M_j < min_{k∉Σ} M_k,
 *   (b) Σ_{j∈Σ} M_j ≥ ℓ · max_{j∈Σ} M_j,
 *   (c) Σ_{j∈Σ} M_j < ℓ · min_{k∉Σ} M_k        ((a), (c) vacuous if Σ is everything).
 * With S = Σ_{j∈Σ} M_j, M̄ = ⌈S/ℓ⌉ and a = S − (M̄ − 1)ℓ ∈ {1, …, ℓ}:
 *   λ = (−r² + r(H_0 + H_L))/2 + a(ℓ − a)/(4ℓ) − ℓ(ℓ − 1)/4 · (S/ℓ)² + ½ Σ_{i<j∈Σ} M_i M_j
 *   m = a(ℓ − a) + 1.
 *
 * Existence, uniqueness and ℓ ≥ 1 (why the ℓ = 0 division never happens): sort the
 * M's ascending, M_(0) ≤ … ≤ M_(L), let S_k = M_(0) + … + M_(k) and
 * g(k) = S_k − k·M_(k). Then g(k+1) − g(k) = −k(M_(k+1) − M_(k)) ≤ 0, so g is
 * non-increasing, and for the prefix of size k+1: (b) ⇔ g(k) ≥ 0, and
 * (c) ⇔ S_{k+1} < (k+1)M_(k+1) ⇔ g(k+1) < 0. Hence the only admissible prefix is
 * k* = max{k : g(k) ≥ 0}, and (a) then holds too (a tie M_(k) = M_(k+1) would
 * give g(k+1) = g(k) ≥ 0). A one-element Σ (ℓ = 0) would need S < 0 in (c), so it
 * is never chosen; g(1) = M_(0) ≥ 0 gives ℓ ≥ 1. Ties between equal M's are thus
 * harmless: a prefix that splits a tie fails (a), and λ depends only on the values
 * in Σ, not on which of equal-valued layers were picked.
 *
 * Special cases (all checked by the tests):
 *   * L = 1 (one layer [m, n], a regular model): Σ = {0, 1}, ℓ = 1, a = 1, so
 *     λ = r(m+n−r)/2 + (m−r)(n−r)/2 = mn/2 for every r, m = 1.
 *   * L = 2 reproduces reducedRankRegressionLambda(H_0, H_1, H_2, r) exactly:
 *     with sorted values x ≤ y ≤ z of M, Σ = all three iff x + y ≥ z (case 1: the
 *     formula reduces to (2(xy+yz+zx) − x² − y² − z² + [S odd])/8, m = 1 + [S odd]),
 *     otherwise Σ = {x, y} and λ − r(H_0+H_2−r)/2 = xy/2 (cases 2–4).
 *   * A bottleneck of width r (min M = 0): (b) forces the other members of Σ to be
 *     equal, which makes the last three terms cancel, so λ = r(H_0 + H_L − r)/2,
 *     half the dimension of the manifold of rank-r H_L×H_0 matrices, m = 1.
 */
export function deepLinearNetworkLambda(widths: number[], r: number): LearningCoefficient {
  const fn = "deepLinearNetworkLambda";
  checkWidths(fn, widths);
  const rank = requireRank(fn, r, widths, "widths");
  const L = widths.length - 1;

  const sorted = widths.map((w) => w - rank).sort((x, y) => x - y);
  // Literal search over prefixes of the sorted M's, smallest first (as in dln.py).
  let ell = -1;
  for (let size = 1; size <= L + 1 && ell < 0; size++) {
    const l = size - 1;
    const max = sorted[size - 1];
    const sum = sorted.slice(0, size).reduce((s, x) => s + x, 0);
    const rest = size <= L ? sorted[size] : Infinity; // min of the complement
    if (max < rest && sum >= l * max && (size > L || sum < l * rest)) ell = l;
  }
  if (ell < 1) throw new Error(`${fn}: internal error, no admissible subset for widths [${widths}], r = ${rank}`);

  const sigma = sorted.slice(0, ell + 1);
  const S = sigma.reduce((s, x) => s + x, 0);
  const Mbar = Math.ceil(S / ell);
  const a = S - (Mbar - 1) * ell;
  let pairs = 0; // Σ_{i<j∈Σ} M_i M_j
  for (let i = 0; i < sigma.length; i++) for (let j = i + 1; j < sigma.length; j++) pairs += sigma[i] * sigma[j];

  // λ·4ℓ = 2ℓ·r(H_0 + H_L − r) + a(ℓ − a) − (ℓ − 1)S² + 2ℓ·pairs  (an integer)
  const numerator = 2 * ell * rank * (widths[0] + widths[L] - rank) + a * (ell - a) - (ell - 1) * S * S + 2 * ell * pairs;
  return { lambda: numerator / (4 * ell), multiplicity: a * (ell - a) + 1 };
}
