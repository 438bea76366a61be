// Byte-level BPE tokenizer, trained by the engine itself so the transformer
// experiments of issue 3 need no external vocabulary files.
//
// Tokens 0..255 are the raw bytes; merge i creates token 256 + i from a pair of
// existing tokens. Everything works on UTF-8 bytes, so any byte sequence (invalid
// UTF-8 included) encodes and decodes back exactly.
//
// Determinism: only integer and string operations, no regular expressions with
// Unicode property escapes (whose tables follow each engine's Unicode version) and
// no locale-dependent comparisons. Ties between equally frequent pairs go to the
// lowest (left id, right id) pair, so the same text trains the same merges in
// every host.
//
// Host-neutral: plain ECMAScript plus TextEncoder/TextDecoder.
import { parseJson } from "../io/json.ts";
import { fingerprint } from "../io/results.ts";
import type { Host } from "../platform/host.ts";

export const BYTE_TOKENS = 256;
export const DEFAULT_VOCAB_SIZE = 2048;

/**
 * How text is cut into chunks before BPE; merges never cross a chunk boundary.
 *  - "gpt2": GPT-2's pre-tokenizer, on bytes (see `chunkBoundaries`).
 *  - "none": every document (or byte string) is one chunk. Training time grows
 *    with chunk length (each merge rescans the chunks holding its pair), so this
 *    is for short texts, e.g. the textbook examples.
 */
export type PreSplit = "gpt2" | "none";

export interface TrainOptions {
  /** Total vocabulary including the 256 byte tokens (default 2048). */
  vocabSize?: number;
  preSplit?: PreSplit;
  /**
   * Stop merging once the most frequent pair occurs fewer times than this
   * (default 2): a pair seen once only memorizes one spot of the training text.
   * The trained vocabulary may then be smaller than `vocabSize`.
   */
  minPairCount?: number;
}

/** The JSON form: `{"type":"byte-bpe","version":1,"vocab_size":…,"pre_split":…,"merges":[[a,b],…]}`. */
export interface TokenizerJSON {
  type: "byte-bpe";
  version: 1;
  vocab_size: number;
  pre_split: PreSplit;
  merges: [number, number][];
}

export class TokenizerFormatError extends Error {
  override readonly name = "TokenizerFormatError";
  /** The JSON field the problem is in, e.g. "merges[12]". */
  readonly field: string;
  constructor(field: string, problem: string, source = "tokenizer JSON") {
    super(`${source}: field "${field}": ${problem}`);
    this.field = field;
  }
}

// ── pre-splitting ────────────────────────────────────────────────────────────

const LETTER = 0;
const DIGIT = 1;
const SPACE = 2;
const OTHER = 3;

// Byte classes instead of \p{L}/\p{N}/\s: ASCII letters and every byte >= 0x80
// are "letters", so a non-ASCII character (all of whose UTF-8 bytes are >= 0x80)
// is never cut inside, words in any script stay whole, and the result does not
// depend on the host's Unicode tables. The price: non-ASCII spaces, digits and
// punctuation (U+00A0, "٣", "。") group with letters.
const BYTE_CLASS = (() => {
  const classes = new Uint8Array(256).fill(OTHER);
  for (let b = 0x41; b <= 0x5a; b++) classes[b] = LETTER;
  for (let b = 0x61; b <= 0x7a; b++) classes[b] = LETTER;
  for (let b = 0x80; b <= 0xff; b++) classes[b] = LETTER;
  for (let b = 0x30; b <= 0x39; b++) classes[b] = DIGIT;
  for (const b of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) classes[b] = SPACE; // JS \s within ASCII
  return classes;
})();

const APOSTROPHE = 0x27;
const SPACE_BYTE = 0x20;

/** Length of an English contraction ('s 't 'm 'd 're 've 'll) starting at `i`, or 0. */
function contractionLength(bytes: Uint8Array, i: number): number {
  const n = bytes.length;
  if (bytes[i] !== APOSTROPHE || i + 1 >= n) return 0;
  const c1 = bytes[i + 1];
  let length = 0;
  if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) length = 2; // s t m d
  else if (i + 2 < n) {
    const c2 = bytes[i + 2];
    if ((c1 === 0x72 && c2 === 0x65) || (c1 === 0x76 && c2 === 0x65) || (c1 === 0x6c && c2 === 0x6c)) length = 3; // re ve ll
  }
  // Unlike GPT-2 ("'sun" → "'s" "un"), only a whole suffix counts as a contraction.
  if (length > 0 && i + length < n && BYTE_CLASS[bytes[i + length]] === LETTER) return 0;
  return length;
}

/**
 * End offsets of the chunks of `bytes` under GPT-2's pre-tokenizer rules
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * re-implemented on bytes with the byte classes above: a contraction; else an
 * optional single space plus a run of letters, of digits, or of other bytes;
 * else a run of whitespace, leaving its last character to the next chunk when
 * that is a space followed by a non-space (so " word" keeps its space). The
 * chunks partition the input exactly.
 */
export function chunkBoundaries(bytes: Uint8Array): number[] {
  const n = bytes.length;
  const ends: number[] = [];
  let i = 0;
  while (i < n) {
    const contraction = contractionLength(bytes, i);
    if (contraction > 0) {
      i += contraction;
      ends.push(i);
      continue;
    }
    let start = i;
    if (bytes[i] === SPACE_BYTE && i + 1 < n && BYTE_CLASS[bytes[i + 1]] !== SPACE) start = i + 1;
    const cls = BYTE_CLASS[bytes[start]];
    if (cls !== SPACE) {
      let j = start + 1;
      while (j < n && BYTE_CLASS[bytes[j]] === cls) j++;
      i = j;
      ends.push(i);
      continue;
    }
    let j = i + 1;
    while (j < n && BYTE_CLASS[bytes[j]] === SPACE) j++;
    if (j === n) {
      i = n;
    } else if (j - i >= 2) {
      // Keep the last whitespace character back: a space joins the following run
      // on the next iteration, any other whitespace becomes its own chunk there.
      i = j - 1;
    } else {
      i = j; // a lone non-space whitespace character before a non-space
    }
    ends.push(i);
  }
  return ends;
}

function chunkEnds(bytes: Uint8Array, preSplit: PreSplit): number[] {
  if (bytes.length === 0) return [];
  return preSplit === "gpt2" ? chunkBoundaries(bytes) : [bytes.length];
}

// ── small integer helpers ────────────────────────────────────────────────────

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text like any other and must survive the round trip.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Latin-1 view of bytes, one char per byte: a compact Map key for a chunk. */
function bytesKey(bytes: Uint8Array, start: number, end: number): string {
  let key = "";
  for (let i = start; i < end; i += 8192) {
    key += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 8192)) as unknown as number[]);
  }
  return key;
}

/** Binary heap of numbers, smallest first. */
class MinHeap {
  private items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): number {
    return this.items[0];
  }
  push(value: number): void {
    const items = this.items;
    let i = items.length;
    items.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent] <= value) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = value;
  }
  pop(): number {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    const n = items.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && items[child + 1] < items[child]) child++;
        if (items[child] >= last) break;
        items[i] = items[child];
        i = child;
      }
      items[i] = last;
    }
    return top;
  }
  clear(): void {
    this.items.length = 0;
  }
}

// ── the tokenizer ────────────────────────────────────────────────────────────

// Keeps pair keys (left * vocab + right) below 2^32 and heap keys exact in float64.
const MAX_VOCAB_SIZE = 1 << 16;
const CACHE_MAX_CHUNK = 64;
const CACHE_MAX_ENTRIES = 1 << 17;

export class ByteBpeTokenizer {
  readonly vocabSize: number;
  readonly preSplit: PreSplit;
  readonly merges: readonly (readonly [number, number])[];
  /** pair key (left * vocabSize + right) → merge rank. */
  private readonly ranks = new Map<number, number>();
  private readonly tokenBytes: Uint8Array[] = [];
  // Encoding a corpus meets the same words over and over; results are pure
  // functions of the chunk, so caching changes speed only.
  private readonly cache = new Map<string, Int32Array>();
  private readonly heap = new MinHeap();

  /** Usually made by `trainTokenizer` or `tokenizerFromJSON` (which reports bad merges by JSON field). */
  constructor(merges: readonly (readonly [number, number])[], preSplit: PreSplit) {
    this.vocabSize = BYTE_TOKENS + merges.length;
    this.preSplit = preSplit;
    this.merges = merges.map(([a, b]) => [a, b] as const);
    for (let b = 0; b < BYTE_TOKENS; b++) this.tokenBytes.push(Uint8Array.of(b));
    merges.forEach(([a, b], rank) => {
      const limit = BYTE_TOKENS + rank;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= limit || b >= limit) {
        throw new RangeError(`merge ${rank} is [${a}, ${b}]; expected token ids in [0, ${limit}) (bytes and earlier merges)`);
      }
      const key = a * this.vocabSize + b;
      if (this.ranks.has(key)) throw new RangeError(`merge ${rank} repeats the pair [${a}, ${b}] of merge ${this.ranks.get(key)}`);
      this.ranks.set(key, rank);
      const left = this.tokenBytes[a];
      const right = this.tokenBytes[b];
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left);
      joined.set(right, left.length);
      this.tokenBytes.push(joined);
    });
  }

  /** UTF-8 text → token ids. Lone surrogates become U+FFFD, as TextEncoder does. */
  encode(text: string): Int32Array {
    return this.encodeBytes(encoder.encode(text));
  }

  encodeBytes(bytes: Uint8Array): Int32Array {
    const out = new Int32Array(bytes.length); // never more tokens than bytes
    let length = 0;
    let start = 0;
    for (const end of chunkEnds(bytes, this.preSplit)) {
      const ids = this.encodeChunk(bytes, start, end);
      out.set(ids, length);
      length += ids.length;
      start = end;
    }
    return out.slice(0, length);
  }

  /** Token ids → text; invalid UTF-8 (possible only from `encodeBytes` input) decodes to U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return decoder.decode(this.decodeBytes(ids));
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.bytesOf(ids[i], i).length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokenBytes[ids[i]];
      out.set(bytes, offset);
      offset += bytes.length;
    }
    return out;
  }

  /** The bytes token `id` stands for. */
  bytesOf(id: number, index?: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      const where = index === undefined ? "" : ` at index ${index}`;
      throw new RangeError(`token id ${id}${where} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    return this.tokenBytes[id];
  }

  private encodeChunk(bytes: Uint8Array, start: number, end: number): Int32Array {
    const length = end - start;
    const cacheable = length <= CACHE_MAX_CHUNK;
    let key = "";
    if (cacheable) {
      key = bytesKey(bytes, start, end);
      const hit = this.cache.get(key);
      if (hit) return hit;
    }
    const ids = this.mergeChunk(bytes.subarray(start, end));
    if (cacheable) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(key, ids);
    }
    return ids;
  }

  /**
   * Applies the merges in rank order: repeatedly the lowest-ranked adjacent pair,
   * leftmost occurrence first. That equals running merge 0, 1, 2, … over the
   * chunk as training did, because a pair that ranks below merge r cannot contain
   * r's new token, so merging r never creates a lower-ranked pair. A heap over
   * (rank, position) and a linked list keep this O(n log n) for long chunks.
   */
  private mergeChunk(chunk: Uint8Array): Int32Array {
    const n = chunk.length;
    const symbols = Int32Array.from(chunk);
    if (n < 2 || this.merges.length === 0) return symbols;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const V = this.vocabSize;
    const POSITIONS = 4294967296; // heap key = rank * 2^32 + position: rank first, then leftmost
    const heap = this.heap;
    heap.clear();
    const consider = (i: number): void => {
      const j = next[i];
      if (i < 0 || j < 0) return;
      const rank = this.ranks.get(symbols[i] * V + symbols[j]);
      if (rank !== undefined) heap.push(rank * POSITIONS + i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    let count = n;
    while (heap.size > 0) {
      const top = heap.pop();
      const rank = Math.floor(top / POSITIONS);
      const i = top - rank * POSITIONS;
      const j = next[i];
      // Stale entries (a side already merged away) no longer name this pair.
      if (symbols[i] < 0 || j < 0 || this.ranks.get(symbols[i] * V + symbols[j]) !== rank) continue;
      symbols[i] = BYTE_TOKENS + rank;
      symbols[j] = -1;
      const after = next[j];
      next[i] = after;
      if (after >= 0) prev[after] = i;
      count--;
      consider(prev[i]);
      consider(i);
    }
    const out = new Int32Array(count);
    for (let i = 0, k = 0; i >= 0; i = next[i]) out[k++] = symbols[i];
    return out;
  }
}

// ── training ─────────────────────────────────────────────────────────────────

/**
 * Trains byte-level BPE: count the distinct chunks of the corpus, then
 * repeatedly merge the most frequent adjacent pair (ties: lowest left id, then
 * lowest right id). Pair counts are updated incrementally around each merge
 * site in the words that contain the pair, and a lazy max-heap finds the next
 * pair, so a merge costs time in proportion to its occurrences, not the corpus.
 */
export function trainTokenizer(corpus: string | readonly string[] | Uint8Array, options: TrainOptions = {}): ByteBpeTokenizer {
  const vocabSize = options.vocabSize ?? DEFAULT_VOCAB_SIZE;
  const preSplit = options.preSplit ?? "gpt2";
  const minPairCount = options.minPairCount ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < BYTE_TOKENS || vocabSize > MAX_VOCAB_SIZE) {
    throw new RangeError(`vocabSize must be an integer in [${BYTE_TOKENS}, ${MAX_VOCAB_SIZE}], found ${vocabSize}`);
  }
  if (preSplit !== "gpt2" && preSplit !== "none") throw new RangeError(`preSplit must be "gpt2" or "none", found ${String(preSplit)}`);
  if (!Number.isInteger(minPairCount) || minPairCount < 1) throw new RangeError(`minPairCount must be an integer >= 1, found ${minPairCount}`);

  // 1. Word-frequency table: distinct chunks and how often each occurs.
  const frequency = new Map<string, number>();
  const documents = typeof corpus === "string" || corpus instanceof Uint8Array ? [corpus] : corpus;
  for (const document of documents) {
    const bytes = typeof document === "string" ? encoder.encode(document) : document;
    let start = 0;
    for (const end of chunkEnds(bytes, preSplit)) {
      const key = bytesKey(bytes, start, end);
      frequency.set(key, (frequency.get(key) ?? 0) + 1);
      start = end;
    }
  }
  const wordCount = frequency.size;
  const words: Int32Array[] = [];
  const lengths = new Int32Array(wordCount);
  const counts = new Float64Array(wordCount); // counts beyond 2^31 stay exact
  {
    let w = 0;
    for (const [key, count] of frequency) {
      const symbols = new Int32Array(key.length);
      for (let i = 0; i < key.length; i++) symbols[i] = key.charCodeAt(i);
      words.push(symbols);
      lengths[w] = key.length;
      counts[w] = count;
      w++;
    }
  }
  frequency.clear();

  // 2. Pair counts, and for each pair the words that (may) contain it. The lists
  //    can hold duplicates and words that lost the pair; merging checks.
  const V = vocabSize;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addPair = (key: number, delta: number): void => {
    const updated = (pairCounts.get(key) ?? 0) + delta;
    if (updated === 0) pairCounts.delete(key);
    else pairCounts.set(key, updated);
  };
  const noteWord = (key: number, w: number): void => {
    const list = pairWords.get(key);
    if (list) {
      if (list[list.length - 1] !== w) list.push(w);
    } else pairWords.set(key, [w]);
  };
  for (let w = 0; w < wordCount; w++) {
    const symbols = words[w];
    for (let i = 0; i + 1 < lengths[w]; i++) {
      const key = symbols[i] * V + symbols[i + 1];
      addPair(key, counts[w]);
      noteWord(key, w);
    }
  }

  // 3. Max-heap on (count, then lowest pair key), as one number per entry in a
  //    min-heap: -count * KEYS + key. Exact while count * V^2 < 2^53; larger
  //    corpora fall back to a two-part comparison below.
  const KEYS = V * V;
  const exactLimit = Math.floor(Number.MAX_SAFE_INTEGER / KEYS);
  const heap = new PairHeap(KEYS, exactLimit);
  for (const [key, count] of pairCounts) heap.push(count, key);

  const merges: [number, number][] = [];
  const seenInMerge = new Int32Array(wordCount).fill(-1);
  const touched = new Set<number>();
  const target = vocabSize - BYTE_TOKENS;
  while (merges.length < target) {
    // Counts only fall for pairs that exist already (only pairs with the new
    // token grow, and those are pushed afresh), so a stale entry overstates its
    // pair: re-push it at its current count and look again.
    let best = -1;
    let bestCount = 0;
    while (heap.size > 0) {
      const { count, key } = heap.pop();
      const current = pairCounts.get(key) ?? 0;
      if (current === count) {
        best = key;
        bestCount = count;
        break;
      }
      if (current > 0) heap.push(current, key);
    }
    if (best < 0 || bestCount < minPairCount) break;

    const a = Math.floor(best / V);
    const b = best - a * V;
    const merged = BYTE_TOKENS + merges.length;
    merges.push([a, b]);
    const containing = pairWords.get(best) ?? [];
    pairWords.delete(best);
    touched.clear();
    for (const w of containing) {
      if (seenInMerge[w] === merged) continue;
      seenInMerge[w] = merged;
      const symbols = words[w];
      const length = lengths[w];
      const count = counts[w];
      // Merge left to right in place; `out` trails `i`. Each site's pair changes
      // are applied to the sequence as it stands, so overlapping runs ("aaaa")
      // come out exact.
      let out = 0;
      let i = 0;
      while (i < length) {
        if (i + 1 < length && symbols[i] === a && symbols[i + 1] === b) {
          addPair(best, -count);
          if (out > 0) {
            const left = symbols[out - 1];
            addPair(left * V + a, -count);
            const key = left * V + merged;
            addPair(key, count);
            noteWord(key, w);
            touched.add(key);
          }
          if (i + 2 < length) {
            const right = symbols[i + 2];
            addPair(b * V + right, -count);
            const key = merged * V + right;
            addPair(key, count);
            noteWord(key, w);
            touched.add(key);
          }
          symbols[out++] = merged;
          i += 2;
        } else {
          symbols[out++] = symbols[i++];
        }
      }
      lengths[w] = out;
    }
    // A pair like (merged, a) may have been added then removed by the next site.
    for (const key of touched) {
      const count = pairCounts.get(key);
      if (count !== undefined) heap.push(count, key);
    }
  }
  return new ByteBpeTokenizer(merges, preSplit);
}

/** Max-heap on count with ties to the smallest key; see trainTokenizer. */
class PairHeap {
  private readonly packed = new MinHeap();
  private readonly large: { count: number; key: number }[] = [];
  private readonly keys: number;
  private readonly exactLimit: number;
  constructor(keys: number, exactLimit: number) {
    this.keys = keys;
    this.exactLimit = exactLimit;
  }
  get size(): number {
    return this.packed.size + this.large.length;
  }
  push(count: number, key: number): void {
    if (count <= this.exactLimit) this.packed.push(-count * this.keys + key);
    else this.large.push({ count, key }); // rare (counts near 2^53 / V^2): a linear scan is fine
  }
  pop(): { count: number; key: number } {
    if (this.large.length > 0) {
      let best = 0;
      for (let i = 1; i < this.large.length; i++) {
        const e = this.large[i];
        const b = this.large[best];
        if (e.count > b.count || (e.count === b.count && e.key < b.key)) best = i;
      }
      return this.large.splice(best, 1)[0];
    }
    const top = this.packed.pop();
    const count = -Math.floor(top / this.keys);
    return { count, key: top + count * this.keys };
  }
}

// ── JSON ─────────────────────────────────────────────────────────────────────

export function tokenizerToObject(t: ByteBpeTokenizer): TokenizerJSON {
  return {
    type: "byte-bpe",
    version: 1,
    vocab_size: t.vocabSize,
    pre_split: t.preSplit,
    merges: t.merges.map(([a, b]) => [a, b]),
  };
}

/** Canonical JSON: fixed key order, no whitespace. Equal tokenizers give equal strings. */
export function tokenizerToJSON(t: ByteBpeTokenizer): string {
  const o = tokenizerToObject(t);
  const merges = o.merges.map(([a, b]) => `[${a},${b}]`).join(",");
  return `{"type":"byte-bpe","version":1,"vocab_size":${o.vocab_size},"pre_split":${JSON.stringify(o.pre_split)},"merges":[${merges}]}`;
}

/** FNV-1a fingerprint of the canonical JSON; names the tokenizer in dataset metadata. */
export function tokenizerHash(t: ByteBpeTokenizer): string {
  return fingerprint(encoder.encode(tokenizerToJSON(t)));
}

const KNOWN_FIELDS = ["type", "version", "vocab_size", "pre_split", "merges"];

/**
 * Parses and validates a saved tokenizer (JSON text or the parsed object).
 * "pre_split" may be omitted and then means "gpt2", the training default.
 * Errors are TokenizerFormatError naming the offending field.
 */
export function tokenizerFromJSON(input: string | unknown, source?: string): ByteBpeTokenizer {
  const fail = (field: string, problem: string) => new TokenizerFormatError(field, problem, source);
  let value: unknown = input;
  if (typeof input === "string") {
    value = parseJson(input, (detail) => fail("(root)", `not valid JSON (${detail})`));
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail("(root)", `expected an object, found ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN_FIELDS.includes(key)) throw fail(key, `unknown field; expected only ${KNOWN_FIELDS.join(", ")}`);
  }
  if (o.type !== "byte-bpe") throw fail("type", `expected "byte-bpe", found ${describe(o.type)}`);
  if (o.version !== 1) throw fail("version", `expected 1, found ${describe(o.version)}`);
  const preSplit = o.pre_split ?? "gpt2";
  if (preSplit !== "gpt2" && preSplit !== "none") {
    throw fail("pre_split", `expected "gpt2" or "none", found ${describe(o.pre_split)}`);
  }
  if (!Array.isArray(o.merges)) throw fail("merges", `expected an array of [left, right] pairs, found ${describe(o.merges)}`);
  if (typeof o.vocab_size !== "number" || !Number.isInteger(o.vocab_size) || o.vocab_size < BYTE_TOKENS || o.vocab_size > MAX_VOCAB_SIZE) {
    throw fail("vocab_size", `expected an integer in [${BYTE_TOKENS}, ${MAX_VOCAB_SIZE}], found ${describe(o.vocab_size)}`);
  }
  if (o.vocab_size !== BYTE_TOKENS + o.merges.length) {
    throw fail(
      "vocab_size",
      `is ${o.vocab_size} but 256 byte tokens + ${o.merges.length} merges make ${BYTE_TOKENS + o.merges.length}`,
    );
  }
  const merges: [number, number][] = [];
  const firstIndex = new Map<string, number>();
  o.merges.forEach((m: unknown, i: number) => {
    const field = `merges[${i}]`;
    if (!Array.isArray(m) || m.length !== 2) throw fail(field, `expected [left, right], found ${describe(m)}`);
    const limit = BYTE_TOKENS + i; // a merge may only use bytes and earlier merges
    m.forEach((id: unknown, side: number) => {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= limit) {
        throw fail(`${field}[${side}]`, `expected a token id in [0, ${limit}) (bytes and earlier merges), found ${describe(id)}`);
      }
    });
    const pair = `${m[0]},${m[1]}`;
    const earlier = firstIndex.get(pair);
    if (earlier !== undefined) throw fail(field, `repeats the pair [${pair}] of merges[${earlier}]`);
    firstIndex.set(pair, i);
    merges.push([m[0], m[1]]);
  });
  return new ByteBpeTokenizer(merges, preSplit);
}

/** Writes the canonical JSON (what `tokenizerHash` fingerprints) to `path`. */
export async function saveTokenizer(host: Host, path: string, t: ByteBpeTokenizer): Promise<void> {
  await host.writeText(path, `${tokenizerToJSON(t)}\n`);
}

/** Reads and validates a tokenizer file; errors name the file and the field. */
export async function loadTokenizer(host: Host, path: string): Promise<ByteBpeTokenizer> {
  return tokenizerFromJSON(await host.readText(path), path);
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (missing)";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
