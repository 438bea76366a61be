// Byte-level BPE: the classic worked example, agreement with a naive
// full-recount trainer and with GPT-2's pre-tokenizer regex, exact round trips
// for text and arbitrary bytes, determinism (pinned hash), compression on the
// prose corpus, and the JSON format's validation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  BYTE_TOKENS,
  ByteBpeTokenizer,
  chunkBoundaries,
  loadTokenizer,
  saveTokenizer,
  tokenizerFromJSON,
  TokenizerFormatError,
  tokenizerHash,
  tokenizerToJSON,
  tokenizerToObject,
  trainTokenizer,
  type PreSplit,
} from "../../src/data/tokenizer.ts";
import { loadCorpus, nodeModulesReader, type Corpus } from "../../src/data/corpora.ts";
import { nodeHost } from "../../src/platform/node.ts";
import { mulberry32 } from "../helpers.ts";

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
const read = nodeModulesReader(nodeHost, NODE_MODULES);
const utf8 = (s: string) => new TextEncoder().encode(s);

let proseCache: Corpus | undefined;
let codeCache: Corpus | undefined;
const prose = async () => (proseCache ??= await loadCorpus("prose", read));
const code = async () => (codeCache ??= await loadCorpus("code", read));

// Trained once on the whole prose corpus and shared by the tests below.
let prose2048: { tokenizer: ByteBpeTokenizer; trainMs: number } | undefined;
async function proseTokenizer() {
  if (!prose2048) {
    const corpus = await prose();
    const start = performance.now();
    const tokenizer = trainTokenizer(corpus.documents, { vocabSize: 2048 });
    prose2048 = { tokenizer, trainMs: performance.now() - start };
  }
  return prose2048;
}

function seededBytes(seed: number, length: number): Uint8Array {
  const u = mulberry32(seed);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(u() * 256);
  return bytes;
}

function seededText(seed: number, alphabet: string, length: number): string {
  const u = mulberry32(seed);
  const chars = [...alphabet];
  let s = "";
  for (let i = 0; i < length; i++) s += chars[Math.floor(u() * chars.length)];
  return s;
}

// ── reference implementations, slow and obvious ─────────────────────────────

/** BPE as usually described: recount every pair of every word before each merge. */
function naiveTrain(texts: string[], vocabSize: number, preSplit: PreSplit, minPairCount: number) {
  const table = new Map<string, number>();
  for (const text of texts) {
    const bytes = utf8(text);
    const ends = bytes.length === 0 ? [] : preSplit === "gpt2" ? chunkBoundaries(bytes) : [bytes.length];
    let start = 0;
    for (const end of ends) {
      const key = Array.from(bytes.subarray(start, end)).join(",");
      table.set(key, (table.get(key) ?? 0) + 1);
      start = end;
    }
  }
  const words = [...table].map(([key, count]) => ({ symbols: key.split(",").map(Number), count }));
  const merges: [number, number][] = [];
  while (BYTE_TOKENS + merges.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]},${symbols[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + count);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 0;
    for (const [key, count] of counts) {
      const [a, b] = key.split(",").map(Number);
      if (count > bestCount || (count === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = count;
      }
    }
    if (!best || bestCount < minPairCount) break;
    const id = BYTE_TOKENS + merges.length;
    merges.push(best);
    for (const word of words) {
      const out: number[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (i + 1 < word.symbols.length && word.symbols[i] === best[0] && word.symbols[i + 1] === best[1]) {
          out.push(id);
          i++;
        } else out.push(word.symbols[i]);
      }
      word.symbols = out;
    }
  }
  return { merges, words };
}

// GPT-2's pattern with its classes replaced by the tokenizer's documented byte
// classes (ASCII whitespace; letters = ASCII letters and all non-ASCII), and a
// contraction only when no letter follows. On strings, so it checks the byte code
// independently.
const L = "A-Za-z\\u0080-\\u{10FFFF}";
const W = " \\t\\n\\v\\f\\r";
const GPT2_LIKE = new RegExp(
  `'(?:s|t|re|ve|m|ll|d)(?![${L}])| ?[${L}]+| ?[0-9]+| ?[^${W}${L}0-9]+|[${W}]+(?![^${W}])|[${W}]+`,
  "gu",
);

function chunksByRegex(text: string): string[] {
  return text.match(GPT2_LIKE) ?? [];
}

function chunksByTokenizer(text: string): string[] {
  const bytes = utf8(text);
  const decoder = new TextDecoder();
  let start = 0;
  return chunkBoundaries(bytes).map((end) => decoder.decode(bytes.subarray((start), (start = end))));
}

// ── the classic example ─────────────────────────────────────────────────────

test("the classic example: aaabdaaabac merges aa, then ab, then (aa)(ab), then stops", () => {
  // Wikipedia's BPE example: aa → Z, ab → Y, ZY → X, leaving XdXac, where every
  // pair occurs once. "ab" wins its tie with "Za" (both 2) as (97, 98) < (256, 97).
  const t = trainTokenizer("aaabdaaabac", { vocabSize: 300 });
  assert.equal(tokenizerToObject(t).merges, [[97, 97], [97, 98], [256, 257]]);
  assert.is(t.vocabSize, 259);
  assert.equal([...t.encode("aaabdaaabac")], [258, 100, 258, 97, 99]);
  assert.is(t.decode([258]), "aaab");
  // With minPairCount 1 merging continues until the word is one token.
  const all = trainTokenizer("aaabdaaabac", { vocabSize: 300, minPairCount: 1 });
  assert.equal([...all.encode("aaabdaaabac")], [all.vocabSize - 1]);
});

test("vocabSize 256 trains no merges and encodes bytes as themselves", () => {
  const t = trainTokenizer("hello hello hello", { vocabSize: 256 });
  assert.is(t.merges.length, 0);
  assert.equal([...t.encode("hé")], [0x68, 0xc3, 0xa9]);
});

test("bad training options are errors naming the option", () => {
  assert.throws(() => trainTokenizer("x", { vocabSize: 255 }), /vocabSize/);
  assert.throws(() => trainTokenizer("x", { vocabSize: 2048.5 }), /vocabSize/);
  assert.throws(() => trainTokenizer("x", { minPairCount: 0 }), /minPairCount/);
  assert.throws(() => trainTokenizer("x", { preSplit: "words" as PreSplit }), /preSplit/);
});

// ── training agrees with the naive algorithm ────────────────────────────────

test("incremental training equals naive full-recount BPE (merges and final segmentation)", async () => {
  const proseSample = (await prose()).text.slice(0, 20_000);
  const cases: { texts: string[]; vocab: number; preSplit: PreSplit; min: number }[] = [
    // Tiny alphabets: long runs ("aaaa") and overlapping pairs exercise the site updates.
    { texts: [seededText(1, "ab", 400)], vocab: 320, preSplit: "none", min: 1 },
    { texts: [seededText(2, "aab ", 2000), seededText(3, "ba a", 500)], vocab: 400, preSplit: "gpt2", min: 2 },
    { texts: [seededText(4, "aaaaab", 3000)], vocab: 300, preSplit: "none", min: 2 },
    { texts: [seededText(5, "xy z\n\n", 3000)], vocab: 330, preSplit: "gpt2", min: 1 },
    { texts: [proseSample], vocab: 600, preSplit: "gpt2", min: 2 },
    { texts: [proseSample.slice(0, 4000)], vocab: 500, preSplit: "none", min: 2 },
  ];
  for (const [n, c] of cases.entries()) {
    const fast = trainTokenizer(c.texts, { vocabSize: c.vocab, preSplit: c.preSplit, minPairCount: c.min });
    const slow = naiveTrain(c.texts, c.vocab, c.preSplit, c.min);
    assert.equal(tokenizerToObject(fast).merges, slow.merges, `case ${n}: merges`);
    // Encoding a training word must reproduce the segmentation training arrived at.
    for (const word of slow.words.slice(0, 3000)) {
      const bytes = Uint8Array.from(fast.decodeBytes(word.symbols));
      assert.equal([...fast.encodeBytes(bytes)], word.symbols, `case ${n}: encode of a training word`);
    }
  }
});

// ── pre-splitting ───────────────────────────────────────────────────────────

test("chunking equals the GPT-2 regex with the documented byte classes", async () => {
  const samples = [
    "Hello world! It's 2024, isn't it?  Yes...\n\n  Indented\tline\r\nend   ",
    "'sun 's 'tis o'clock they're we've I'm you'll he'd ''' '",
    "café naïve — 東京タワー 😀👍🏽 x=1+2; f(a,b) => {a * 3.14}",
    "   \n\t \n", " ", "\n", "a", "",
    (await prose()).text.slice(0, 200_000),
    (await code()).text,
  ];
  for (const text of samples) {
    assert.equal(chunksByTokenizer(text), chunksByRegex(text), JSON.stringify(text.slice(0, 40)));
  }
});

test("chunks keep a leading space with the word and never split a UTF-8 character", () => {
  assert.equal(chunksByTokenizer("The cat's  hat\n"), ["The", " cat", "'s", " ", " hat", "\n"]);
  assert.equal(chunksByTokenizer("日本語 text"), ["日本語", " text"]);
  // Invalid UTF-8 still partitions exactly.
  const bytes = seededBytes(9, 5000);
  const ends = chunkBoundaries(bytes);
  assert.is(ends[ends.length - 1], bytes.length);
  for (let i = 1; i < ends.length; i++) assert.ok(ends[i] > ends[i - 1]);
});

// ── round trips ─────────────────────────────────────────────────────────────

test("round trip: prose and code corpora, through the prose tokenizer", async () => {
  const { tokenizer } = await proseTokenizer();
  for (const corpus of [await prose(), await code()]) {
    for (const document of corpus.documents) {
      const ids = tokenizer.encode(document);
      if (tokenizer.decode(ids) !== document) assert.unreachable(`${corpus.name}: a document does not round-trip`);
    }
  }
});

test("round trip: emoji, CJK, combining marks, BOM, NUL, CRLF, empty", async () => {
  const { tokenizer } = await proseTokenizer();
  const texts = [
    "", "\u0000", "\uFEFFstarts with a BOM", "line\r\nline\r\n", "👩‍👩‍👧‍👦 family, 🇯🇵 flag, 👍🏽",
    "中文分词很难。日本語の文章です。한국어 문장입니다.", "e\u0301 vs é; Ångström; ﬁ ligature", "tab\tand\u00a0nbsp",
    seededText(11, "aé東😀 \n.'", 3000),
  ];
  for (const text of texts) assert.is(tokenizer.decode(tokenizer.encode(text)), text, JSON.stringify(text.slice(0, 30)));
  // Lone surrogates are not UTF-8; like TextEncoder, encoding writes U+FFFD.
  assert.is(tokenizer.decode(tokenizer.encode("a\uD800b")), "a\uFFFDb");
});

test("round trip: arbitrary bytes, including invalid UTF-8, for both pre-split modes", async () => {
  const { tokenizer } = await proseTokenizer();
  const noneMode = trainTokenizer([seededText(12, "abc", 2000)], { vocabSize: 300, preSplit: "none" });
  for (const t of [tokenizer, noneMode]) {
    for (let seed = 0; seed < 30; seed++) {
      const bytes = seededBytes(100 + seed, 1 + seed * 97);
      const ids = t.encodeBytes(bytes);
      assert.equal(t.decodeBytes(ids), bytes, `seed ${seed}`);
    }
    const invalid = Uint8Array.of(0xff, 0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x80);
    assert.equal(t.decodeBytes(t.encodeBytes(invalid)), invalid);
  }
});

test("decode rejects ids outside the vocabulary, naming the index", async () => {
  const { tokenizer } = await proseTokenizer();
  assert.throws(() => tokenizer.decode([65, 2048]), /token id 2048 at index 1 .*\[0, 2048\)/);
  assert.throws(() => tokenizer.decodeBytes([-1]), /token id -1 at index 0/);
  assert.throws(() => tokenizer.decodeBytes([1.5]), /token id 1.5/);
});

// ── the prose tokenizer: speed, compression, determinism ────────────────────

test("vocab 2048 on the prose corpus: fast, deterministic, compresses > 3x", async () => {
  const corpus = await prose();
  const { tokenizer, trainMs } = await proseTokenizer();
  assert.is(tokenizer.vocabSize, 2048);

  let tokens = 0;
  const start = performance.now();
  for (const document of corpus.documents) tokens += tokenizer.encode(document).length;
  const encodeMs = performance.now() - start;
  const ratio = corpus.bytes / tokens;
  console.log(
    `  prose: ${corpus.bytes} bytes, vocab 2048 trained in ${trainMs.toFixed(0)} ms, ` +
      `${tokens} tokens (${ratio.toFixed(3)} bytes/token), encoded in ${encodeMs.toFixed(0)} ms, hash ${tokenizerHash(tokenizer)}`,
  );
  // The brief asks for "well under a minute"; Node takes ~1.3 s here, so 30 s
  // only fails on a real regression (e.g. a full recount per merge).
  assert.ok(trainMs < 30_000, `training took ${trainMs} ms`);
  // Measured 3.11 bytes/token. A byte-level BPE of 2k tokens on English typically
  // reaches ~3 (GPT-2's 50k vocabulary ~4.3); anything near 2 would mean the
  // merges or the pre-split went wrong. The count is deterministic, so the bound
  // can sit close.
  assert.ok(ratio > 3, `compression ${ratio} bytes/token`);

  // Same input, same merges and hash, in a second run and (through the pinned
  // value) in every JS engine: training uses integer arithmetic only.
  const again = trainTokenizer(corpus.documents, { vocabSize: 2048 });
  assert.is(tokenizerToJSON(again), tokenizerToJSON(tokenizer));
  assert.is(tokenizerHash(again), tokenizerHash(tokenizer));
  assert.is(tokenizerHash(tokenizer), "03e0a9e5");
  // The first merges are English's most frequent pairs, leading space attached.
  const first = tokenizer.merges.slice(0, 5).map(([a, b]) => tokenizer.decode([a, b]));
  assert.equal(first, [" t", "he", " a", "in", " the"]);
});

test("training on a string, on [string] and on its UTF-8 bytes gives the same tokenizer", () => {
  const text = seededText(21, "the cat sat on a mat. ", 5000);
  const a = tokenizerToJSON(trainTokenizer(text, { vocabSize: 300 }));
  assert.is(tokenizerToJSON(trainTokenizer([text], { vocabSize: 300 })), a);
  assert.is(tokenizerToJSON(trainTokenizer(utf8(text), { vocabSize: 300 })), a);
});

// ── JSON ────────────────────────────────────────────────────────────────────

test("save/load round trip keeps merges, encodings and hash", async () => {
  const { tokenizer } = await proseTokenizer();
  const json = tokenizerToJSON(tokenizer);
  const parsed = JSON.parse(json);
  assert.equal(Object.keys(parsed), ["type", "version", "vocab_size", "pre_split", "merges"]);
  assert.is(parsed.type, "byte-bpe");
  assert.is(parsed.version, 1);
  assert.is(parsed.vocab_size, 2048);
  assert.is(parsed.merges.length, 2048 - 256);
  const loaded = tokenizerFromJSON(json);
  assert.is(tokenizerToJSON(loaded), json);
  assert.is(tokenizerHash(loaded), tokenizerHash(tokenizer));
  const sample = (await prose()).documents[7];
  assert.equal(loaded.encode(sample), tokenizer.encode(sample));
  // Pretty-printed JSON and the parsed object load the same; "pre_split" defaults to "gpt2".
  assert.is(tokenizerHash(tokenizerFromJSON(JSON.stringify(parsed, null, 2))), tokenizerHash(tokenizer));
  const { pre_split: _, ...withoutPreSplit } = parsed;
  assert.is(tokenizerHash(tokenizerFromJSON(withoutPreSplit)), tokenizerHash(tokenizer));
  // A different pre-split is a different tokenizer.
  assert.is.not(tokenizerHash(tokenizerFromJSON({ ...parsed, pre_split: "none" })), tokenizerHash(tokenizer));
});

test("saveTokenizer/loadTokenizer through the Host; file errors name the path", async () => {
  const dir = await mkdtemp(join(tmpdir(), "llc-tokenizer-"));
  try {
    const { tokenizer } = await proseTokenizer();
    const path = join(dir, "tokenizer.json");
    await saveTokenizer(nodeHost, path, tokenizer);
    assert.is(tokenizerHash(await loadTokenizer(nodeHost, path)), tokenizerHash(tokenizer));
    const bad = join(dir, "bad.json");
    await writeFile(bad, `{"type":"byte-bpe","version":1,"vocab_size":257,"merges":[[97]]}`);
    await loadTokenizer(nodeHost, bad).then(
      () => assert.unreachable("loaded a bad file"),
      (e) => assert.is(e.message, `${bad}: field "merges[0]": expected [left, right], found [97]`),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the constructor checks merges too", () => {
  assert.is(new ByteBpeTokenizer([[97, 98], [256, 99]], "gpt2").decode([257]), "abc");
  assert.throws(() => new ByteBpeTokenizer([[97, 256]], "gpt2"), /merge 0 is \[97, 256\]/);
  assert.throws(() => new ByteBpeTokenizer([[97, 98], [97, 98]], "gpt2"), /merge 1 repeats the pair \[97, 98\] of merge 0/);
});

test("malformed tokenizer JSON: errors name the field", () => {
  const good = { type: "byte-bpe", version: 1, vocab_size: 258, pre_split: "gpt2", merges: [[97, 97], [256, 98]] };
  tokenizerFromJSON(good);
  const cases: [unknown, string, RegExp][] = [
    ["{not json", "(root)", /not valid JSON/],
    [`{"merges": ${"[".repeat(5000)}${"]".repeat(5000)}}`, "(root)", /not valid JSON \(JSON nested more than 512 levels deep at line 1, column 523/],
    [[1, 2], "(root)", /expected an object/],
    [{ ...good, type: "bpe" }, "type", /"byte-bpe"/],
    [{ ...good, version: 2 }, "version", /expected 1, found 2/],
    [{ ...good, vocab_size: "258" }, "vocab_size", /integer/],
    [{ ...good, vocab_size: 300 }, "vocab_size", /256 byte tokens \+ 2 merges make 258/],
    [{ ...good, pre_split: "words" }, "pre_split", /"gpt2" or "none"/],
    [{ ...good, merges: {} }, "merges", /array/],
    [{ ...good, merges: [[97, 97], [256]] }, "merges[1]", /\[left, right\]/],
    [{ ...good, merges: [[97, 97], [257, 98]] }, "merges[1][0]", /\[0, 257\)/],
    [{ ...good, merges: [[97, -1], [256, 98]] }, "merges[0][1]", /found -1/],
    [{ ...good, merges: [[97, 97.5], [256, 98]] }, "merges[0][1]", /found 97.5/],
    [{ ...good, merges: [[97, 97], [97, 97]] }, "merges[1]", /repeats the pair \[97,97\] of merges\[0\]/],
    [{ ...good, vocab: 258 }, "vocab", /unknown field/],
    [(({ type: _t, ...rest }) => rest)(good), "type", /missing/],
  ];
  for (const [input, field, message] of cases) {
    try {
      tokenizerFromJSON(typeof input === "string" ? input : JSON.stringify(input));
      assert.unreachable(`accepted bad field ${field}`);
    } catch (e) {
      assert.instance(e, TokenizerFormatError, field);
      assert.is((e as TokenizerFormatError).field, field);
      assert.ok((e as Error).message.includes(`"${field}"`), (e as Error).message);
      assert.match((e as Error).message, message);
    }
  }
});

test.run();
