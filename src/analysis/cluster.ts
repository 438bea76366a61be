// Developmental signatures (Wang et al. 2024, arXiv 2410.02984, §4 and Fig. 1):
// each head's refined-LLC curve over training, read from `llc sweep` rows, put on
// a log-step grid, normalised, and clustered by k-means and by average-linkage
// hierarchical clustering, per layer (the paper clusters each layer's heads on
// their own: its clustering figures are per layer, with a log x axis). The
// clusters are compared with the heads' behaviour labels (`llc heads --json`)
// by the adjusted Rand index, and the prose curves with the code ones.
//
// Determinism: everything that decides an assignment is f64 + − × ÷ √ in a
// fixed order (IEEE-exact on every engine), the k-means++ seeds come from an
// integer counter hash, and log(step) is our own f64 log built from those
// operations (`logF64`) rather than the host's Math.log, whose last bit may
// differ between engines and could, at a tie, move a head to another cluster.
// Host-neutral: text in, plain objects out (files through a Host).
import type { Host } from "../platform/host.ts";
import { headLabels, readHeadsJson, selectHeadsEntry } from "./results-json.ts";

export class ClusterError extends Error {
  override readonly name = "ClusterError";
}

// ── f64 log from exact operations ────────────────────────────────────────────

// ln 2 split so that e·LN2_HI is exact for |e| < 2^11 (fdlibm's e_log.c constants).
const LN2_HI = 6.93147180369123816490e-01;
const LN2_LO = 1.90821492927058770002e-10;
const SQRT2 = 1.4142135623730951;

/**
 * Natural log of a positive finite x using only + − × ÷ (each IEEE-exact, so
 * every engine gets the same bits): x = m·2^e with m in [√½, √2) by exact
 * halvings/doublings, then ln m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172, by
 * its series to s^23 (the next term is below 2^−60 of the sum). Within a few
 * ulp of the true value (test/analysis/cluster.test.ts checks 1e-15 relative).
 */
export function logF64(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new ClusterError(`log of ${x}: expected a positive finite number`);
  let m = x, e = 0;
  while (m >= 2) (m /= 2), e++;
  while (m < 1) (m *= 2), e--;
  if (m >= SQRT2) (m /= 2), e++;
  const s = (m - 1) / (m + 1), s2 = s * s;
  let poly = 2 / 23;
  for (let k = 21; k >= 1; k -= 2) poly = 2 / k + s2 * poly;
  return e * LN2_HI + (s * poly + e * LN2_LO);
}

// ── a counter-based integer RNG ──────────────────────────────────────────────

/** A 32-bit hash of (seed, a, b) (murmur3's finaliser over a mixed counter): integer ops only. */
function hash32(seed: number, a: number, b: number): number {
  let h = (seed ^ Math.imul(a + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1) from the counter (seed, a, b): a 32-bit integer over 2^32, exact. */
export function uniformAt(seed: number, a: number, b: number): number {
  return hash32(seed >>> 0, a >>> 0, b >>> 0) / 4294967296;
}

// ── curves ───────────────────────────────────────────────────────────────────

export type Normalise = "minmax" | "standardise" | "none";
export const NORMALISE: readonly Normalise[] = ["minmax", "standardise", "none"];
/** "log": resampled by linear interpolation onto a uniform grid in log(step); "checkpoints": the values as measured. */
export type Grid = "log" | "checkpoints";

/**
 * A curve put onto `count` points uniform in log(step), by linear interpolation
 * in log(step) between the measured checkpoints (steps > 0, ascending). Uniform
 * in log step so each decade of training weighs the same in the distance, as
 * the paper's log-x plots show the curves, whatever the checkpoint schedule (the
 * paper's is 5× denser after step 10k than before, per decade).
 */
export function logGridResample(steps: readonly number[], values: readonly number[], count = steps.length): number[] {
  if (steps.length !== values.length) throw new ClusterError(`resample: ${steps.length} steps but ${values.length} values`);
  if (steps.length < 2 || count < 2) throw new ClusterError("resample: expected at least 2 checkpoints with step > 0");
  const lx = steps.map(logF64);
  for (let i = 1; i < lx.length; i++) if (!(lx[i] > lx[i - 1])) throw new ClusterError(`resample: steps must be positive and ascending (${steps[i - 1]} then ${steps[i]})`);
  const lo = lx[0], hi = lx[lx.length - 1];
  const out: number[] = [];
  let i = 0;
  for (let j = 0; j < count; j++) {
    const g = j === count - 1 ? hi : lo + ((hi - lo) * j) / (count - 1);
    while (i < lx.length - 2 && g > lx[i + 1]) i++;
    const w = (g - lx[i]) / (lx[i + 1] - lx[i]);
    out.push(values[i] + w * (values[i + 1] - values[i]));
  }
  return out;
}

/**
 * Per-curve normalisation: "minmax" maps the curve onto [0, 1], "standardise"
 * subtracts its mean and divides by its standard deviation (population, ddof 0,
 * as tslearn's TimeSeriesScalerMeanVariance), "none" keeps λ̂. A constant curve
 * becomes all zeros under both scalings (it has no shape to compare).
 */
export function normaliseCurve(y: readonly number[], how: Normalise): number[] {
  if (how === "none") return [...y];
  if (how === "minmax") {
    let lo = Infinity, hi = -Infinity;
    for (const v of y) (lo = v < lo ? v : lo), (hi = v > hi ? v : hi);
    return y.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
  }
  let sum = 0;
  for (const v of y) sum += v;
  const mean = sum / y.length;
  let ss = 0;
  for (const v of y) ss += (v - mean) * (v - mean);
  const sd = Math.sqrt(ss / y.length);
  return y.map((v) => (sd > 0 ? (v - mean) / sd : 0));
}

const sqDist = (a: readonly number[], b: readonly number[]) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
};

/** Euclidean distances between rows, as a full symmetric matrix. */
export function distanceMatrix(X: readonly (readonly number[])[]): number[][] {
  const n = X.length;
  const D = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) D[i][j] = D[j][i] = Math.sqrt(sqDist(X[i], X[j]));
  return D;
}

/** Cluster ids renumbered 0, 1, … in order of first appearance, so equal partitions print equally. */
export function canonicalLabels(assign: readonly number[]): number[] {
  const map = new Map<number, number>();
  return assign.map((c) => {
    if (!map.has(c)) map.set(c, map.size);
    return map.get(c)!;
  });
}

// ── k-means ──────────────────────────────────────────────────────────────────

export interface KMeansOptions {
  /** Independent k-means++ starts; the lowest inertia wins (the first on a tie). Default 10. */
  restarts?: number;
  seed?: number;
  /** Lloyd iterations per start (each stops once no assignment changes). Default 300. */
  maxIter?: number;
}

export interface KMeansResult {
  /** Cluster of each row, canonical (numbered by first appearance). */
  assign: number[];
  /** Sum over rows of the squared distance to their centroid. */
  inertia: number;
  centroids: number[][];
}

function assignRows(X: readonly (readonly number[])[], C: readonly (readonly number[])[]): { assign: number[]; d2: number[] } {
  const assign: number[] = [], d2: number[] = [];
  for (const x of X) {
    let best = 0, bestD = sqDist(x, C[0]);
    for (let c = 1; c < C.length; c++) {
      const d = sqDist(x, C[c]);
      if (d < bestD) (best = c), (bestD = d);
    }
    assign.push(best), d2.push(bestD);
  }
  return { assign, d2 };
}

/** k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with probability ∝ D². */
function kmeansPlusPlus(X: readonly (readonly number[])[], k: number, seed: number, start: number): number[][] {
  const n = X.length;
  let draw = 0;
  const C: number[][] = [[...X[Math.min(n - 1, Math.floor(uniformAt(seed, start, draw++) * n))]]];
  const d2 = X.map((x) => sqDist(x, C[0]));
  while (C.length < k) {
    let total = 0;
    for (const v of d2) total += v;
    let pick = -1;
    if (total > 0) {
      const target = uniformAt(seed, start, draw++) * total;
      let acc = 0;
      for (let i = 0; i < n && pick < 0; i++) if (d2[i] > 0 && (acc += d2[i]) > target) pick = i;
      if (pick < 0) for (let i = n - 1; i >= 0 && pick < 0; i--) if (d2[i] > 0) pick = i; // rounding at the end of the sum
    }
    if (pick < 0) pick = C.length % n; // every row sits on a centre already: duplicates, any row will do
    C.push([...X[pick]]);
    for (let i = 0; i < n; i++) {
      const d = sqDist(X[i], C[C.length - 1]);
      if (d < d2[i]) d2[i] = d;
    }
  }
  return C;
}

/** Lloyd's k-means from several seeded k-means++ starts; Euclidean, f64, fixed order. */
export function kmeans(X: readonly (readonly number[])[], k: number, options: KMeansOptions = {}): KMeansResult {
  const n = X.length;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new ClusterError(`k-means: k must be an integer in 1..${n} (the number of curves), got ${k}`);
  const restarts = options.restarts ?? 10, seed = options.seed ?? 0, maxIter = options.maxIter ?? 300;
  const d = X[0].length;
  let best: KMeansResult | undefined;
  for (let start = 0; start < restarts; start++) {
    let C = kmeansPlusPlus(X, k, seed, start);
    let { assign, d2 } = assignRows(X, C);
    for (let iter = 0; iter < maxIter; iter++) {
      // New centroids: the mean of each cluster's rows, summed in row order.
      const sums = Array.from({ length: k }, () => new Array<number>(d).fill(0));
      const counts = new Array<number>(k).fill(0);
      for (let i = 0; i < n; i++) {
        counts[assign[i]]++;
        for (let t = 0; t < d; t++) sums[assign[i]][t] += X[i][t];
      }
      C = sums.map((s, c) => (counts[c] > 0 ? s.map((v) => v / counts[c]) : C[c]));
      // An emptied cluster takes the row farthest from its centroid (the first such row).
      for (let c = 0; c < k; c++) {
        if (counts[c] > 0) continue;
        let far = 0;
        for (let i = 1; i < n; i++) if (d2[i] > d2[far]) far = i;
        C[c] = [...X[far]];
        d2[far] = 0;
      }
      const next = assignRows(X, C);
      const changed = next.assign.some((c, i) => c !== assign[i]);
      (assign = next.assign), (d2 = next.d2);
      if (!changed) break;
    }
    let inertia = 0;
    for (const v of d2) inertia += v;
    if (best === undefined || inertia < best.inertia) best = { assign, inertia, centroids: C };
  }
  // Canonical numbering, centroids reordered to match.
  const canon = canonicalLabels(best!.assign);
  const centroids: number[][] = new Array(k);
  best!.assign.forEach((c, i) => (centroids[canon[i]] = best!.centroids[c]));
  return { assign: canon, inertia: best!.inertia, centroids: centroids.map((c, i) => c ?? best!.centroids[i]) };
}

// ── silhouette ───────────────────────────────────────────────────────────────

/**
 * Mean silhouette (Rousseeuw 1987) from a distance matrix: for row i, a = mean
 * distance to the other rows of its cluster, b = the smallest mean distance to
 * another cluster's rows, s = (b − a)/max(a, b); s = 0 for a row alone in its
 * cluster (sklearn's convention) and where a = b = 0.
 */
export function silhouette(D: readonly (readonly number[])[], assign: readonly number[]): number {
  const n = assign.length;
  const k = Math.max(...assign) + 1;
  if (k < 2 || k > n - 1) throw new ClusterError(`silhouette: needs 2 ≤ clusters ≤ n − 1 (${k} clusters of ${n} rows)`);
  const sizes = new Array<number>(k).fill(0);
  for (const c of assign) sizes[c]++;
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (sizes[assign[i]] === 1) continue;
    const sums = new Array<number>(k).fill(0);
    for (let j = 0; j < n; j++) if (j !== i) sums[assign[j]] += D[i][j];
    const a = sums[assign[i]] / (sizes[assign[i]] - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== assign[i] && sizes[c] > 0) b = Math.min(b, sums[c] / sizes[c]);
    const m = a > b ? a : b;
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / n;
}

// ── hierarchical clustering, average linkage ─────────────────────────────────

/** One merge, as scipy's linkage matrix row: clusters a < b (ids ≥ n are earlier merges, n + index), their distance, the new size. */
export interface Merge {
  a: number;
  b: number;
  distance: number;
  size: number;
}

/**
 * Agglomerative clustering with average linkage (UPGMA): repeatedly merge the
 * two clusters with the smallest mean pairwise distance, updated by the
 * Lance–Williams rule d(a∪b, c) = (|a|·d(a, c) + |b|·d(b, c)) / (|a| + |b|).
 * A tie merges the pair that comes first in row order (a merged cluster takes
 * the row of its lower member). Returns the n − 1 merges, as scipy.cluster.hierarchy.linkage.
 */
export function averageLinkage(D: readonly (readonly number[])[]): Merge[] {
  const n = D.length;
  const d = D.map((row) => [...row]);
  const alive = Array.from({ length: n }, (_, i) => i);
  const id = Array.from({ length: n }, (_, i) => i); // slot → cluster id
  const size = new Array<number>(n).fill(1);
  const merges: Merge[] = [];
  while (alive.length > 1) {
    // The closest pair; on a tie the first in slot order (a merged cluster keeps the lower slot).
    let bi = -1, bj = -1, best = Infinity;
    for (let x = 0; x < alive.length; x++)
      for (let y = x + 1; y < alive.length; y++)
        if (bi < 0 || d[alive[x]][alive[y]] < best) (bi = alive[x]), (bj = alive[y]), (best = d[bi][bj]);
    const si = size[bi], sj = size[bj];
    for (const c of alive) {
      if (c === bi || c === bj) continue;
      d[bi][c] = d[c][bi] = (si * d[bi][c] + sj * d[bj][c]) / (si + sj);
    }
    merges.push({ a: Math.min(id[bi], id[bj]), b: Math.max(id[bi], id[bj]), distance: best, size: si + sj });
    id[bi] = n + merges.length - 1;
    size[bi] = si + sj;
    alive.splice(alive.indexOf(bj), 1);
  }
  return merges;
}

/** The partition into k clusters left after the first n − k merges (canonical ids). */
export function cutTree(merges: readonly Merge[], n: number, k: number): number[] {
  if (!Number.isInteger(k) || k < 1 || k > n) throw new ClusterError(`hierarchical: k must be an integer in 1..${n}, got ${k}`);
  const parent = Array.from({ length: 2 * n - 1 }, (_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x])));
  for (let m = 0; m < n - k; m++) parent[find(merges[m].a)] = parent[find(merges[m].b)] = n + m;
  return canonicalLabels(Array.from({ length: n }, (_, i) => find(i)));
}

// ── adjusted Rand index ──────────────────────────────────────────────────────

/**
 * Adjusted Rand index (Hubert & Arabie 1985) between two partitions of the same
 * items, from their contingency table: (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E),
 * E = Σ C(a_i,2)·Σ C(b_j,2) / C(n,2). 1 for identical partitions (and, as in
 * sklearn, when both put everything in one cluster or every item alone).
 */
export function adjustedRandIndex(x: readonly (string | number)[], y: readonly (string | number)[]): number {
  if (x.length !== y.length) throw new ClusterError(`adjusted Rand index: partitions of ${x.length} and ${y.length} items`);
  const n = x.length;
  const pair = (m: number) => (m * (m - 1)) / 2;
  const cells = new Map<string, number>(), rows = new Map<string, number>(), cols = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const a = JSON.stringify(x[i]), b = JSON.stringify(y[i]);
    cells.set(a + "\u0000" + b, (cells.get(a + "\u0000" + b) ?? 0) + 1);
    rows.set(a, (rows.get(a) ?? 0) + 1);
    cols.set(b, (cols.get(b) ?? 0) + 1);
  }
  let index = 0, sa = 0, sb = 0;
  for (const v of cells.values()) index += pair(v);
  for (const v of rows.values()) sa += pair(v);
  for (const v of cols.values()) sb += pair(v);
  const expected = n < 2 ? 0 : (sa * sb) / pair(n);
  const max = (sa + sb) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

// ── sweep rows → curves ──────────────────────────────────────────────────────

/** What the analysis reads of an `llc sweep` row (other keys are ignored). */
export interface CurveRow {
  step: number;
  restrict: string;
  data?: string;
  "llc/mean": number;
  "llc/std"?: number | null;
  status?: string;
}

const HEAD = /^l(\d+)h(\d+)$/;

/**
 * The rows of a sweep JSONL file. Each line must be an object with a numeric
 * `step`, a string `restrict` and a `llc/mean` (number or null); a torn last line
 * (a sweep killed mid-append) is dropped and reported in `warnings`.
 */
export function parseSweepRows(text: string, source: string): { rows: CurveRow[]; warnings: string[] } {
  const lines = text.split("\n");
  const endsClean = text.endsWith("\n") || text === "";
  if (endsClean) lines.pop();
  const rows: CurveRow[] = [], warnings: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      if (i === lines.length - 1 && !endsClean) {
        warnings.push(`${source}:${i + 1}: a torn last line (an interrupted sweep) was ignored`);
        break;
      }
      throw new ClusterError(`${source}:${i + 1}: not a JSON line; expected the rows of llc sweep`);
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) throw new ClusterError(`${source}:${i + 1}: expected a JSON object (a row of llc sweep)`);
    if (typeof row.step !== "number" || !Number.isSafeInteger(row.step) || row.step < 0) throw new ClusterError(`${source}:${i + 1}: "step" must be an integer ≥ 0, got ${JSON.stringify(row.step)}`);
    if (typeof row.restrict !== "string") throw new ClusterError(`${source}:${i + 1}: "restrict" must be a selector string such as "l0h3", got ${JSON.stringify(row.restrict)}`);
    const mean = row["llc/mean"];
    if (!(typeof mean === "number" || mean === null)) throw new ClusterError(`${source}:${i + 1}: "llc/mean" must be a number, got ${JSON.stringify(mean)}`);
    if (row.data !== undefined && typeof row.data !== "string") throw new ClusterError(`${source}:${i + 1}: "data" must be a string, got ${JSON.stringify(row.data)}`);
    rows.push(row as unknown as CurveRow);
  }
  return { rows, warnings };
}

export interface HeadCurves {
  /** The data set the rows name (their common `data`), or undefined when the rows do not say. */
  data: string | undefined;
  /** Steps > 0 at which every head has a usable estimate, ascending. */
  steps: number[];
  /** Heads "l{l}h{h}", layer-major then head order. */
  heads: string[];
  /** curves[h][s]: λ̂ of heads[h] at steps[s]. */
  curves: number[][];
  /** Steps present in the rows but left out, with why. */
  dropped: { step: number; reason: string }[];
}

export const headName = (layer: number, head: number) => `l${layer}h${head}`;
export const layerOf = (name: string) => Number(HEAD.exec(name)![1]);

/**
 * Per-head λ̂ curves from sweep rows: rows whose `restrict` is a head selector
 * (l{l}h{h}; others such as "l1" are ignored), the first row of a (step, head)
 * pair kept as `llc sweep` keeps it. A step is used only where every head has a
 * finite λ̂ not marked "error"; step 0 is left out, because a log axis has no
 * place for it (the paper's curves start at step 100).
 */
export function headCurves(rows: readonly CurveRow[], source: string): HeadCurves {
  const dataNames = new Set(rows.map((r) => r.data).filter((d) => d !== undefined));
  if (dataNames.size > 1) throw new ClusterError(`${source}: rows of several data sets (${[...dataNames].map((d) => JSON.stringify(d)).join(", ")}); give one sweep file per data set`);
  const cell = new Map<string, CurveRow>();
  const heads = new Set<string>();
  const allSteps = new Set<number>();
  for (const r of rows) {
    if (!HEAD.test(r.restrict)) continue;
    heads.add(r.restrict);
    allSteps.add(r.step);
    const key = `${r.step} ${r.restrict}`;
    if (!cell.has(key)) cell.set(key, r);
  }
  if (heads.size === 0) throw new ClusterError(`${source}: no rows of single heads (restrict "l0h0", "l1h3", …); make them with llc sweep --heads`);
  const order = [...heads].sort((a, b) => {
    const [, la, ha] = HEAD.exec(a)!.map(Number), [, lb, hb] = HEAD.exec(b)!.map(Number);
    return la - lb || ha - hb;
  });
  const steps: number[] = [], dropped: { step: number; reason: string }[] = [];
  for (const step of [...allSteps].sort((a, b) => a - b)) {
    if (step === 0) {
      dropped.push({ step, reason: "step 0 has no place on a log-step axis" });
      continue;
    }
    const bad = order.find((h) => {
      const r = cell.get(`${step} ${h}`);
      return r === undefined || r.status === "error" || typeof r["llc/mean"] !== "number" || !Number.isFinite(r["llc/mean"]);
    });
    if (bad === undefined) steps.push(step);
    else {
      const r = cell.get(`${step} ${bad}`);
      dropped.push({ step, reason: r === undefined ? `no row for ${bad}` : `${bad} has no finite estimate (status ${JSON.stringify(r.status ?? null)})` });
    }
  }
  if (steps.length < 2)
    throw new ClusterError(`${source}: ${steps.length} checkpoint(s) with step > 0 where every head has an estimate; a curve needs at least 2` + (dropped.length ? ` (left out: ${dropped.map((d) => `${d.step}: ${d.reason}`).join("; ")})` : ""));
  const curves = order.map((h) => steps.map((s) => cell.get(`${s} ${h}`)!["llc/mean"]));
  return { data: dataNames.size ? [...dataNames][0] : undefined, steps, heads: order, curves, dropped };
}

// ── clustering heads ─────────────────────────────────────────────────────────

export interface ClusterOptions {
  /** Clusters per layer; undefined: chosen per layer by the mean silhouette over k = 2..min(8, n − 1). */
  k?: number;
  normalise?: Normalise;
  grid?: Grid;
  restarts?: number;
  seed?: number;
  /** Cluster all heads together instead of each layer on its own. */
  pooled?: boolean;
}

export interface LayerClustering {
  /** The layer, or "all" when pooled. */
  layer: number | "all";
  heads: string[];
  /** Clusters found: the k given or chosen, or fewer where fewer curves are distinct. */
  k: number;
  /** Mean silhouette of the k-means partition (null where undefined: k < 2 or k = n). */
  silhouette: number | null;
  /** Mean silhouette for each k tried, when k was chosen. */
  silhouettes?: Record<string, number>;
  inertia: number;
  kmeans: number[];
  hierarchical: number[];
  merges: Merge[];
}

export interface Clustering {
  normalise: Normalise;
  grid: Grid;
  /** The curves clustered (after resampling and normalisation), per head. */
  features: Record<string, number[]>;
  layers: LayerClustering[];
  /** Global cluster ids (a layer's clusters numbered after the previous layer's), per head. */
  clusters: Record<string, number>;
  hierarchical: Record<string, number>;
}

export const DEFAULT_NORMALISE: Normalise = "standardise";
const K_MAX = 8;

function clusterGroup(layer: number | "all", heads: string[], X: number[][], options: ClusterOptions): LayerClustering {
  const n = X.length;
  const km = { restarts: options.restarts ?? 10, seed: options.seed ?? 0 };
  const D = distanceMatrix(X);
  let k = options.k;
  let silhouettes: Record<string, number> | undefined;
  const tried = new Map<number, KMeansResult>();
  if (k !== undefined && (!Number.isInteger(k) || k < 1 || k > n))
    throw new ClusterError(`k: expected an integer in 1..${n} (layer ${layer} has ${n} heads), got ${k}`);
  // A k-means run can return fewer than k clusters when fewer than k curves are distinct
  // (k-means++ has nowhere new to put a centre): such a k is not a partition of the data.
  const clustersIn = (assign: readonly number[]) => Math.max(...assign) + 1;
  if (k === undefined) {
    k = 1; // also where no k in 2..n − 1 has a silhouette (a layer of ≤ 2 heads, or all curves alike)
    if (n >= 3) {
      silhouettes = {};
      let bestS = -Infinity;
      for (let c = 2; c <= Math.min(K_MAX, n - 1); c++) {
        const r = kmeans(X, c, km);
        if (clustersIn(r.assign) !== c) continue;
        tried.set(c, r);
        const s = silhouette(D, r.assign);
        silhouettes[c] = s;
        if (s > bestS) (bestS = s), (k = c); // the smallest k on a tie
      }
    }
  }
  const result = tried.get(k) ?? kmeans(X, k, km);
  const found = clustersIn(result.assign);
  const merges = averageLinkage(D);
  const sil = found >= 2 && found <= n - 1 ? silhouette(D, result.assign) : null;
  return { layer, heads, k: found, silhouette: sil, ...(silhouettes ? { silhouettes } : {}), inertia: result.inertia, kmeans: result.assign, hierarchical: cutTree(merges, n, found), merges };
}

/** The curves as the distance sees them: on the log grid (or as measured), then normalised. */
export function curveFeatures(curves: HeadCurves, normalise: Normalise, grid: Grid): number[][] {
  return curves.curves.map((y) => normaliseCurve(grid === "log" ? logGridResample(curves.steps, y) : y, normalise));
}

/** k-means and average-linkage clusters of the heads' curves, per layer (or pooled). */
export function clusterCurves(curves: HeadCurves, options: ClusterOptions = {}): Clustering {
  const normalise = options.normalise ?? DEFAULT_NORMALISE, grid = options.grid ?? "log";
  if (!NORMALISE.includes(normalise)) throw new ClusterError(`normalise: expected ${NORMALISE.join(", ")}, got ${JSON.stringify(normalise)}`);
  if (grid !== "log" && grid !== "checkpoints") throw new ClusterError(`grid: expected log or checkpoints, got ${JSON.stringify(grid)}`);
  const X = curveFeatures(curves, normalise, grid);
  const groups = new Map<number | "all", number[]>();
  curves.heads.forEach((h, i) => {
    const key = options.pooled ? "all" : layerOf(h);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const layers: LayerClustering[] = [];
  const clusters: Record<string, number> = {}, hierarchical: Record<string, number> = {};
  let offset = 0;
  for (const [layer, idx] of groups) {
    const c = clusterGroup(layer, idx.map((i) => curves.heads[i]), idx.map((i) => X[i]), options);
    c.heads.forEach((h, i) => ((clusters[h] = offset + c.kmeans[i]), (hierarchical[h] = offset + c.hierarchical[i])));
    offset += c.k;
    layers.push(c);
  }
  const features: Record<string, number[]> = {};
  curves.heads.forEach((h, i) => (features[h] = X[i]));
  return { normalise, grid, features, layers, clusters, hierarchical };
}

// ── prose vs code ────────────────────────────────────────────────────────────

export interface CodeComparison {
  /** Steps where both sweeps have every head. */
  steps: number[];
  /** drLLC(code) / wrLLC(prose) per head and step; null where the prose λ̂ is ≤ 0 (no meaningful ratio). */
  ratio: Record<string, (number | null)[]>;
  /** The code curves clustered with the same settings as the prose ones (normalisation, grid, seed; k if given, else by silhouette). */
  clusters: Record<string, number>;
  /** k of the code clustering, per layer ("all" when pooled). */
  k: Record<string, number>;
  /** ARI between the prose and the code k-means partitions. */
  ari: number;
  /**
   * Prose clusters whose heads fall into more than one code cluster: "split apart on code".
   * Each lists its heads grouped by code cluster.
   */
  splits: { cluster: number; groups: string[][] }[];
  /** Per head: whether its prose cluster splits apart on code. */
  split: Record<string, boolean>;
  /**
   * Per head: how much its curve's shape changes on code, the root mean square of
   * (normalised code curve − normalised prose curve) over the grid (standardised
   * curves: 0 same shape, √2 uncorrelated, 2 mirror images).
   */
  shapeChange: Record<string, number>;
}

/** Curves restricted to the given heads and steps (both must be present). */
function restrictCurves(c: HeadCurves, heads: string[], steps: number[]): HeadCurves {
  const si = steps.map((s) => c.steps.indexOf(s)), hi = heads.map((h) => c.heads.indexOf(h));
  return { ...c, heads, steps, curves: hi.map((h) => si.map((s) => c.curves[h][s])) };
}

/**
 * The prose/code comparison (Wang et al. 2024 §5, data-refined LLCs): per head
 * the ratio drLLC(code)/wrLLC(prose) at each common checkpoint, and which heads
 * split apart on code — a prose cluster splits when the same clustering
 * (normalisation, grid, seed, and k if given, else k by silhouette on the code
 * curves) applied to the code curves puts its heads into two or more clusters.
 */
export function compareCode(prose: HeadCurves, code: HeadCurves, clustering: Clustering, options: ClusterOptions = {}): CodeComparison {
  const missing = prose.heads.filter((h) => !code.heads.includes(h));
  if (missing.length) throw new ClusterError(`code sweep: no rows for ${missing.join(", ")} (the prose sweep has them); run llc sweep --data code for the same heads`);
  const steps = prose.steps.filter((s) => code.steps.includes(s));
  if (steps.length < 2) throw new ClusterError(`code sweep: ${steps.length} checkpoint(s) in common with the prose sweep (prose ${prose.steps.join(",")}; code ${code.steps.join(",")}); need at least 2`);
  const p = restrictCurves(prose, prose.heads, steps), c = restrictCurves(code, prose.heads, steps);
  const ratio: Record<string, (number | null)[]> = {};
  p.heads.forEach((h, i) => (ratio[h] = steps.map((_, s) => (p.curves[i][s] > 0 ? c.curves[i][s] / p.curves[i][s] : null))));
  // The code curves, clustered layer by layer as the prose ones were (k given, or chosen by silhouette on the code curves).
  const X = curveFeatures(c, clustering.normalise, clustering.grid);
  const P = curveFeatures(p, clustering.normalise, clustering.grid);
  const shapeChange: Record<string, number> = {};
  p.heads.forEach((h, i) => (shapeChange[h] = Math.sqrt(sqDist(P[i], X[i]) / X[i].length)));
  const clusters: Record<string, number> = {};
  const k: Record<string, number> = {};
  let offset = 0;
  for (const layer of clustering.layers) {
    const idx = layer.heads.map((h) => c.heads.indexOf(h));
    const g = clusterGroup(layer.layer, layer.heads, idx.map((i) => X[i]), options);
    layer.heads.forEach((h, i) => (clusters[h] = offset + g.kmeans[i]));
    k[String(layer.layer)] = g.k;
    offset += g.k;
  }
  const heads = p.heads;
  const ari = adjustedRandIndex(heads.map((h) => clustering.clusters[h]), heads.map((h) => clusters[h]));
  const splits: { cluster: number; groups: string[][] }[] = [];
  const split: Record<string, boolean> = {};
  for (const cluster of [...new Set(heads.map((h) => clustering.clusters[h]))].sort((a, b) => a - b)) {
    const members = heads.filter((h) => clustering.clusters[h] === cluster);
    const byCode = new Map<number, string[]>();
    for (const h of members) byCode.set(clusters[h], [...(byCode.get(clusters[h]) ?? []), h]);
    for (const h of members) split[h] = byCode.size > 1;
    if (byCode.size > 1) splits.push({ cluster, groups: [...byCode.values()] });
  }
  return { steps, ratio, clusters, k, ari, splits, split, shapeChange };
}

// ── the whole analysis, its table and JSON ───────────────────────────────────

export interface SignatureAnalysis {
  source: { prose: HeadCurves; code?: HeadCurves };
  clustering: Clustering;
  /** Behaviour label per head (from `llc heads --json`), where given. */
  labels: Record<string, string>;
  /** ARI between the k-means clusters and the labels, over the labelled heads; null without labels. */
  ari: number | null;
  ariHierarchical: number | null;
  /** ARI(k-means, labels) within each layer ("all" when pooled), over its labelled heads. */
  layerAri: Record<string, number | null>;
  code?: CodeComparison;
}

/** Cluster a sweep's head curves, compare with behaviour labels and, given a code sweep, with its curves. */
export function analyseSignatures(prose: HeadCurves, options: ClusterOptions & { labels?: Record<string, string>; code?: HeadCurves } = {}): SignatureAnalysis {
  const clustering = clusterCurves(prose, options);
  const labels: Record<string, string> = {};
  for (const h of prose.heads) if (options.labels?.[h] !== undefined) labels[h] = options.labels[h];
  const ariOf = (by: Record<string, number>, heads: readonly string[]) => {
    const labelled = heads.filter((h) => h in labels);
    return labelled.length ? adjustedRandIndex(labelled.map((h) => by[h]), labelled.map((h) => labels[h])) : null;
  };
  const layerAri: Record<string, number | null> = {};
  for (const l of clustering.layers) layerAri[String(l.layer)] = ariOf(clustering.clusters, l.heads);
  const code = options.code ? compareCode(prose, options.code, clustering, options) : undefined;
  return {
    source: { prose, code: options.code }, clustering, labels,
    ari: ariOf(clustering.clusters, prose.heads), ariHierarchical: ariOf(clustering.hierarchical, prose.heads), layerAri, ...(code ? { code } : {}),
  };
}

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));

/** The head × (cluster, hierarchical cluster, label, …) table, with a header saying how it was made. */
export function formatSignatureTable(a: SignatureAnalysis): string {
  const { prose } = a.source, c = a.clustering;
  const lines: string[] = [];
  lines.push(`refined-LLC curves of ${prose.heads.length} heads at ${prose.steps.length} checkpoints (steps ${prose.steps[0]}–${prose.steps[prose.steps.length - 1]}), data ${JSON.stringify(prose.data ?? "?")}; ` +
    `${c.grid === "log" ? "resampled uniform in log(step)" : "at the checkpoints"}, normalised ${c.normalise}`);
  for (const l of c.layers)
    lines.push(`${l.layer === "all" ? "all heads" : `layer ${l.layer}`}: k = ${l.k}${!l.silhouettes ? "" : Object.keys(l.silhouettes).length === 0 ? " (no k ≥ 2 splits these curves)" : " (by silhouette: " + Object.entries(l.silhouettes).map(([k, s]) => `${k}: ${s.toFixed(3)}`).join(", ") + ")"}, silhouette ${fmt(l.silhouette)}, ARI(k-means, labels) ${fmt(a.layerAri[String(l.layer)])}` +
      (a.code ? `; on code k = ${a.code.k[String(l.layer)]}` : ""));
  if (prose.dropped.length) lines.push(`left out: ${prose.dropped.map((d) => `step ${d.step} (${d.reason})`).join("; ")}`);
  lines.push(`all heads: ARI(k-means, labels) ${fmt(a.ari)}; ARI(hierarchical, labels) ${fmt(a.ariHierarchical)}` + (a.code ? `; ARI(prose clusters, code clusters) ${fmt(a.code.ari)}` : ""));
  lines.push("");
  const last = prose.steps.length - 1;
  const header = ["head", "k-means", "hierarchical", "label", `λ̂ at ${prose.steps[last]}`];
  if (a.code) header.push("code/prose", "shape change", "code cluster", "split on code");
  const body = prose.heads.map((h, i) => {
    const row = [h.replace(HEAD, "$1:$2"), String(c.clusters[h]), String(c.hierarchical[h]), a.labels[h] ?? "–", fmt(prose.curves[i][last])];
    if (a.code) {
      const r = a.code.ratio[h];
      row.push(fmt(r[r.length - 1]), fmt(a.code.shapeChange[h]), String(a.code.clusters[h]), a.code.split[h] ? "yes" : "no");
    }
    return row;
  });
  const widths = header.map((t, col) => Math.max(t.length, ...body.map((r) => r[col].length)));
  const line = (r: string[]) => r.map((t, col) => (col === 0 || col === 3 ? t.padEnd(widths[col]) : t.padStart(widths[col]))).join("  ").trimEnd();
  lines.push(line(header), line(widths.map((w) => "─".repeat(w))), ...body.map(line));
  if (a.code) {
    lines.push("");
    if (a.code.splits.length === 0) lines.push("no prose cluster splits apart on code");
    for (const s of a.code.splits) lines.push(`prose cluster ${s.cluster} splits apart on code: ${s.groups.map((g) => g.join(" ")).join(" | ")}`);
  }
  return lines.join("\n") + "\n";
}

/** The JSON `llc cluster --json` writes: clusters, labels and ARI first, then the details to redraw the figures. */
export function signatureJson(a: SignatureAnalysis): Record<string, unknown> {
  const { prose, code } = a.source, c = a.clustering;
  const curves = (hc: HeadCurves) => Object.fromEntries(hc.heads.map((h, i) => [h, hc.curves[i]]));
  return {
    clusters: c.clusters,
    labels: a.labels,
    ari: a.ari,
    hierarchical: c.hierarchical,
    ari_hierarchical: a.ariHierarchical,
    ari_by_layer: a.layerAri,
    normalise: c.normalise,
    grid: c.grid,
    layers: c.layers.map((l) => ({ layer: l.layer, heads: l.heads, k: l.k, silhouette: l.silhouette, ...(l.silhouettes ? { silhouettes: l.silhouettes } : {}), inertia: l.inertia, merges: l.merges })),
    data: prose.data ?? null,
    steps: prose.steps,
    curves: curves(prose),
    dropped: prose.dropped,
    ...(a.code && code
      ? { code: { data: code.data ?? null, steps: a.code.steps, curves: Object.fromEntries(prose.heads.map((h) => [h, a.code!.steps.map((s) => code.curves[code.heads.indexOf(h)][code.steps.indexOf(s)])])), ratio: a.code.ratio, clusters: a.code.clusters, ari: a.code.ari, k: a.code.k, splits: a.code.splits, split: a.code.split, shape_change: a.code.shapeChange } }
      : {}),
  };
}

// ── from files ───────────────────────────────────────────────────────────────

export interface SignatureFiles extends ClusterOptions {
  /** JSONL rows of `llc sweep` (the wrLLC curves; prose or any data set). */
  sweep: string;
  /** JSONL rows of `llc sweep --data code` (the drLLC curves), for the prose/code comparison. */
  sweepCode?: string;
  /** `llc heads --json` output, for the behaviour labels. */
  heads?: string;
  /** The heads file's checkpoint to label from (default its last step). */
  headsStep?: number;
}

/**
 * `llc cluster` as a library call: read the sweep file(s) and the heads JSON
 * through a Host and run analyseSignatures. Labels come from the heads entry at
 * `headsStep` (default the last), preferring the sweep's data set, then "prose".
 */
export async function analyseSignatureFiles(host: Host, files: SignatureFiles): Promise<{ analysis: SignatureAnalysis; warnings: string[] }> {
  const load = async (path: string, what: string) => {
    if (!(await host.exists(path))) throw new ClusterError(`${what}: ${path} does not exist (expected the JSONL rows of llc sweep)`);
    return parseSweepRows(await host.readText(path), path);
  };
  const prose = await load(files.sweep, "sweep");
  const warnings = [...prose.warnings];
  const curves = headCurves(prose.rows, files.sweep);
  let code: HeadCurves | undefined;
  if (files.sweepCode !== undefined) {
    const c = await load(files.sweepCode, "sweep-code");
    warnings.push(...c.warnings);
    code = headCurves(c.rows, files.sweepCode);
  }
  let labels: Record<string, string> | undefined;
  if (files.heads !== undefined) {
    if (!(await host.exists(files.heads))) throw new ClusterError(`heads: ${files.heads} does not exist (expected the JSON of llc heads --json)`);
    const entries = readHeadsJson(await host.readText(files.heads), files.heads);
    labels = headLabels(selectHeadsEntry(entries, files.heads, { step: files.headsStep, prefer: [curves.data, "prose", "mix"] }));
    const unlabelled = curves.heads.filter((h) => labels![h] === undefined);
    if (unlabelled.length) warnings.push(`${files.heads}: no label for ${unlabelled.join(", ")}; the ARI counts the labelled heads only`);
  }
  return { analysis: analyseSignatures(curves, { ...files, labels, code }), warnings };
}
