// Multigram memorisation (Wang et al. 2024, arXiv 2410.02984, §4.2 and App. B):
// which frequent n-grams and skip n-grams a head's output is needed to predict.
//
//   multigrams   every n-gram (n = 2, 3, 4: tokens t[q−n+1..q]) and skip-bigram
//                (t[q−g−1], t[q]) with a gap of g = 1..8 tokens between the two,
//                inside one sequence; its final token is t[q]. A skip-bigram (a, b)
//                occurs once at q when any of the 8 gaps holds a (not once per gap);
//   counted      those occurring at least `min_count` times (default 5) in the data;
//   increase     for a head, the mean over a multigram's occurrences of the increase
//                of the loss on its final token when the head is ablated;
//   holds        increase ≥ `delta` nats (default 0.5: the model's probability of the
//                token falls by a factor e^0.5 ≈ 1.65 on average).
// Means are f64 sums in occurrence order (sequence, position), so fixed.
import type { TokenData } from "./ablation.ts";

export type MultigramKind = "2-gram" | "3-gram" | "4-gram" | "skip-bigram";
export const MULTIGRAM_KINDS: readonly MultigramKind[] = ["2-gram", "3-gram", "4-gram", "skip-bigram"];

export const MULTIGRAM_MIN_COUNT = 5;
export const MULTIGRAM_DELTA = 0.5;
/** Gaps g of a skip-bigram "a … b": g tokens between a and b. */
export const SKIP_GAPS = { min: 1, max: 8 } as const;
/** Per head: the multigrams and the token positions reported. */
export const MULTIGRAM_TOP = 20;
export const CONTEXT_TOKENS = 12;

/** The counted multigrams of a data set and, for each, its final-token positions (flat index s·T + q). */
export interface MultigramTable {
  kinds: MultigramKind[];
  /** Token ids of each multigram (a skip-bigram: [a, b]). */
  tokens: number[][];
  /** CSR: occurrences of multigram m are positions[offsets[m] .. offsets[m+1]). */
  offsets: Int32Array;
  positions: Int32Array;
  minCount: number;
  /** How many multigrams of each kind are counted. */
  counted: Record<MultigramKind, number>;
}

/**
 * Count the multigrams of `data` and keep those occurring ≥ minCount times, in a
 * fixed order: by kind (2-, 3-, 4-gram, skip-bigram), then by first occurrence.
 */
export function multigramTable(data: TokenData, vocab: number, minCount = MULTIGRAM_MIN_COUNT): MultigramTable {
  if (!(Number.isInteger(minCount) && minCount >= 1)) throw new RangeError(`multigrams: min_count must be an integer ≥ 1, got ${minCount}`);
  const { tokens, nSeq, seqLen: T } = data;
  // Numeric keys, exact in f64: the kind code (n, or 1 for a skip-bigram), then the ids in base `vocab`.
  if (5 * vocab ** 4 >= 2 ** 53) throw new RangeError(`multigrams: d_vocab ${vocab} too large for exact numeric multigram keys (at most ${Math.floor((2 ** 53 / 5) ** 0.25)})`);
  const lists = new Map<number, number[]>();
  const order: { key: number; kind: MultigramKind; ids: number[] }[] = [];
  const add = (key: number, position: number, kind: MultigramKind, ids: () => number[]) => {
    let list = lists.get(key);
    if (!list) {
      list = [];
      lists.set(key, list);
      order.push({ key, kind, ids: ids() });
    }
    list.push(position);
  };
  const seen = new Set<number>();
  for (let s = 0; s < nSeq; s++) {
    const base = s * T;
    for (let q = 1; q < T; q++) {
      const b = tokens[base + q];
      for (let n = 2; n <= 4 && q - n + 1 >= 0; n++) {
        let key = n;
        for (let i = q - n + 1; i <= q; i++) key = key * vocab + tokens[base + i];
        add(key, base + q, `${n}-gram` as MultigramKind, () => Array.from(tokens.subarray(base + q - n + 1, base + q + 1)));
      }
      seen.clear();
      for (let g = SKIP_GAPS.min; g <= SKIP_GAPS.max && q - g - 1 >= 0; g++) {
        const key = (1 * vocab + tokens[base + q - g - 1]) * vocab + b;
        if (seen.has(key)) continue;
        seen.add(key);
        add(key, base + q, "skip-bigram", () => [tokens[base + q - g - 1], b]);
      }
    }
  }
  const kept = order.filter((m) => lists.get(m.key)!.length >= minCount);
  kept.sort((x, y) => MULTIGRAM_KINDS.indexOf(x.kind) - MULTIGRAM_KINDS.indexOf(y.kind)); // stable: first occurrence within a kind
  const offsets = new Int32Array(kept.length + 1);
  kept.forEach((m, i) => (offsets[i + 1] = offsets[i] + lists.get(m.key)!.length));
  const positions = new Int32Array(offsets[kept.length]);
  kept.forEach((m, i) => positions.set(lists.get(m.key)!, offsets[i]));
  const counted = Object.fromEntries(MULTIGRAM_KINDS.map((k) => [k, 0])) as Record<MultigramKind, number>;
  for (const m of kept) counted[m.kind]++;
  return { kinds: kept.map((m) => m.kind), tokens: kept.map((m) => m.ids), offsets, positions, minCount, counted };
}

/** Per multigram, the mean over its occurrences of ablated − base loss on the final token. */
export function multigramIncreases(table: MultigramTable, base: Float64Array, ablated: Float64Array): Float64Array {
  const out = new Float64Array(table.kinds.length);
  for (let m = 0; m < out.length; m++) {
    let sum = 0;
    const from = table.offsets[m], to = table.offsets[m + 1];
    for (let o = from; o < to; o++) sum += ablated[table.positions[o]] - base[table.positions[o]];
    out[m] = sum / (to - from);
  }
  return out;
}

export interface HeldMultigram {
  kind: MultigramKind;
  tokens: number[];
  /** Occurrences in the data. */
  count: number;
  /** Mean loss increase on the final token (nats). */
  increase: number;
}

export interface HeadMultigrams {
  /** Multigrams this head holds (increase ≥ delta), by kind, and their total. */
  counts: Record<MultigramKind, number> & { total: number };
  /** The `top` multigrams with the largest increase (held or not), largest first. */
  top: HeldMultigram[];
}

export function headMultigrams(table: MultigramTable, increases: Float64Array, delta = MULTIGRAM_DELTA, top = MULTIGRAM_TOP): HeadMultigrams {
  if (!(delta === delta)) throw new RangeError("multigrams: delta must be a number");
  const counts = { ...Object.fromEntries(MULTIGRAM_KINDS.map((k) => [k, 0])), total: 0 } as HeadMultigrams["counts"];
  for (let m = 0; m < increases.length; m++)
    if (increases[m] >= delta) {
      counts[table.kinds[m]]++;
      counts.total++;
    }
  // Largest increase first; ties keep the table's order (sort is stable).
  const ranked = Array.from(increases.keys()).sort((a, b) => increases[b] - increases[a]).slice(0, top);
  return {
    counts,
    top: ranked.map((m) => ({ kind: table.kinds[m], tokens: table.tokens[m], count: table.offsets[m + 1] - table.offsets[m], increase: increases[m] })),
  };
}
