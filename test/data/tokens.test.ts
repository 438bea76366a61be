// Token datasets: shapes, the split is a partition of the sequences, the rows are
// the token stream in order, metadata round-trips through safetensors, and the
// reader rejects bad files naming what is wrong and where.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { loadCorpus, nodeModulesReader } from "../../src/data/corpora.ts";
import { tokenizerHash, trainTokenizer } from "../../src/data/tokenizer.ts";
import {
  buildTokenDataset,
  readTokenSplit,
  splitSequences,
  TokenDatasetError,
  tokenizeDocuments,
  writeTokenSplit,
  type TokenDataset,
} from "../../src/data/tokens.ts";
import { readSafetensors, writeSafetensors, type Tensor } from "../../src/io/safetensors.ts";
import { nodeHost } from "../../src/platform/node.ts";

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
const read = nodeModulesReader(nodeHost, NODE_MODULES);

const corpus = await loadCorpus("prose", read, { maxBytes: 300_000 });
const tokenizer = trainTokenizer(corpus.documents, { vocabSize: 512 });
const N_CTX = 64;
const dataset: TokenDataset = buildTokenDataset(tokenizer, corpus, { nCtx: N_CTX });

function tokensFile(tensor: Tensor, metadata?: Record<string, string>): Uint8Array {
  return writeSafetensors({ tokens: tensor }, metadata);
}

test("documents are encoded separately and joined by the separator token", () => {
  const docs = ["The cat.\n", "A dog.\n", ""];
  const stream = tokenizeDocuments(tokenizer, docs);
  const expected = [...tokenizer.encode(docs[0]), 0, ...tokenizer.encode(docs[1]), 0];
  assert.equal([...stream], expected);
  assert.equal([...tokenizeDocuments(tokenizer, docs.slice(0, 2), [10, 10])], [...tokenizer.encode(docs[0]), 10, 10, ...tokenizer.encode(docs[1])]);
  assert.throws(() => tokenizeDocuments(tokenizer, docs, [512]), /separator\[0\] is 512/);
  // The NUL separator is unambiguous: the corpus has no NUL bytes.
  assert.not.ok(corpus.documents.some((d) => d.includes("\u0000")));
});

test("shapes: every full n_ctx window of the stream, the remainder dropped", () => {
  const stream = tokenizeDocuments(tokenizer, corpus.documents);
  const nSeq = Math.floor(stream.length / N_CTX);
  assert.is(dataset.streamTokens, stream.length);
  assert.is(dataset.droppedTokens, stream.length - nSeq * N_CTX);
  assert.ok(dataset.droppedTokens < N_CTX);
  assert.is(dataset.train.nSeq + dataset.heldout.nSeq, nSeq);
  assert.is(dataset.heldout.nSeq, Math.floor(nSeq / 10));
  for (const part of [dataset.train, dataset.heldout]) {
    assert.is(part.tokens.length, part.nSeq * N_CTX);
    assert.is(part.sequenceIndices.length, part.nSeq);
    // Each row is its window of the stream.
    for (let row = 0; row < part.nSeq; row++) {
      const s = part.sequenceIndices[row];
      const expected = stream.subarray(s * N_CTX, (s + 1) * N_CTX);
      if (part.tokens.subarray(row * N_CTX, (row + 1) * N_CTX).some((t, i) => t !== expected[i])) {
        assert.unreachable(`${part.split} row ${row} is not sequence ${s} of the stream`);
      }
    }
  }
  assert.ok(dataset.train.nSeq > 1000, `${dataset.train.nSeq} train sequences`);
});

test("the split is a partition: every 10th sequence held out, the rest train, in order", () => {
  const { train, heldout } = dataset;
  const all = [...train.sequenceIndices, ...heldout.sequenceIndices].sort((a, b) => a - b);
  assert.equal(all, Array.from({ length: train.nSeq + heldout.nSeq }, (_, i) => i));
  assert.ok(heldout.sequenceIndices.every((s) => s % 10 === 9));
  assert.ok(train.sequenceIndices.every((s) => s % 10 !== 9));
  for (const part of [train, heldout]) {
    for (let i = 1; i < part.nSeq; i++) assert.ok(part.sequenceIndices[i] > part.sequenceIndices[i - 1]);
  }
  // Other rules, edge cases.
  const stream = Int32Array.from({ length: 23 }, (_, i) => i);
  const split = splitSequences(stream, 2, 3);
  assert.equal([...split.heldout.sequenceIndices], [2, 5, 8]);
  assert.equal([...split.train.sequenceIndices], [0, 1, 3, 4, 6, 7, 9, 10]);
  assert.equal([...split.heldout.tokens], [4, 5, 10, 11, 16, 17]);
  const tiny = splitSequences(Int32Array.of(1, 2, 3), 4);
  assert.is(tiny.train.nSeq + tiny.heldout.nSeq, 0);
  assert.throws(() => splitSequences(stream, 0), /nCtx/);
  assert.throws(() => splitSequences(stream, 4, 1), /heldOutEvery/);
});

test("deterministic: the same corpus and tokenizer build the same bytes", () => {
  const again = buildTokenDataset(trainTokenizer(corpus.documents, { vocabSize: 512 }), corpus, { nCtx: N_CTX });
  assert.equal(writeTokenSplit(again, "train"), writeTokenSplit(dataset, "train"));
  assert.equal(writeTokenSplit(again, "heldout"), writeTokenSplit(dataset, "heldout"));
});

test("write/read round trip: tokens I32 [n_seq, n_ctx] and the provenance metadata", () => {
  for (const split of ["train", "heldout"] as const) {
    const bytes = writeTokenSplit(dataset, split);
    const raw = readSafetensors(bytes).tensors.get("tokens")!;
    assert.is(raw.dtype, "I32");
    assert.equal(raw.shape, [dataset[split].nSeq, N_CTX]);

    const file = readTokenSplit(bytes, { tokenizer, nCtx: N_CTX, source: `${split}.safetensors` });
    assert.equal(file.tokens, dataset[split].tokens);
    assert.is(file.nSeq, dataset[split].nSeq);
    assert.is(file.seqLen, N_CTX);
    assert.equal(file.metadata, {
      corpus: "prose",
      format: "llc-wasm/tokens/1",
      heldout_every: "10",
      n_ctx: "64",
      n_seq: String(dataset[split].nSeq),
      separator: "0",
      source_files: String(corpus.files.length),
      split,
      tokenizer_hash: tokenizerHash(tokenizer),
      vocab_size: "512",
    });
  }
});

test("reading with another tokenizer is an error naming both hashes", () => {
  const other = trainTokenizer(corpus.documents.slice(0, 3), { vocabSize: 512 });
  assert.is.not(tokenizerHash(other), tokenizerHash(tokenizer));
  const bytes = writeTokenSplit(dataset, "heldout");
  assert.throws(
    () => readTokenSplit(bytes, { tokenizer: other }),
    (e: Error) =>
      e instanceof TokenDatasetError && e.message.includes(tokenizerHash(tokenizer)) && e.message.includes(tokenizerHash(other)),
  );
});

test("a token >= vocab size (or negative) is an error naming the tensor, index and value", () => {
  const data = Int32Array.from({ length: 12 }, (_, i) => i);
  data[7] = 5000;
  const bytes = tokensFile({ dtype: "I32", shape: [3, 4], data });
  assert.throws(
    () => readTokenSplit(bytes, { vocabSize: 512, source: "bad.safetensors" }),
    (e: Error) =>
      e instanceof TokenDatasetError &&
      e.message === `bad.safetensors: tensor "tokens": token at index 7 (sequence 1, position 3) is 5000; expected in [0, 512) (the vocabulary size)`,
  );
  // The tokenizer's vocabulary size is used when a tokenizer is given.
  assert.throws(() => readTokenSplit(bytes, { tokenizer }), /index 7 .* is 5000; expected in \[0, 512\)/);
  // Without a vocabulary size any non-negative id passes; negatives never do.
  assert.is(readTokenSplit(bytes).tokens[7], 5000);
  data[7] = 7;
  data[10] = -3;
  assert.throws(() => readTokenSplit(tokensFile({ dtype: "I32", shape: [3, 4], data })), /index 10 \(sequence 2, position 2\) is -3/);
});

test("I64 tokens are accepted and checked the same way", () => {
  const values = BigInt64Array.from({ length: 6 }, (_, i) => BigInt(i * 100));
  const file = readTokenSplit(tokensFile({ dtype: "I64", shape: [2, 3], data: values }), { vocabSize: 512 });
  assert.equal([...file.tokens], [0, 100, 200, 300, 400, 500]);
  values[4] = 2n ** 40n;
  assert.throws(
    () => readTokenSplit(tokensFile({ dtype: "I64", shape: [2, 3], data: values }), { vocabSize: 512 }),
    /tensor "tokens": token at index 4 \(sequence 1, position 1\) is 1099511627776/,
  );
});

test("sequences longer than n_ctx are an error naming the length and n_ctx", () => {
  const bytes = tokensFile({ dtype: "I32", shape: [2, 8], data: new Int32Array(16) });
  assert.throws(
    () => readTokenSplit(bytes, { nCtx: 4, source: "long.safetensors" }),
    (e: Error) =>
      e instanceof TokenDatasetError &&
      e.message === `long.safetensors: tensor "tokens": sequences have length 8 (shape[1]); expected at most n_ctx = 4`,
  );
  assert.is(readTokenSplit(bytes, { nCtx: 8 }).seqLen, 8);
  assert.is(readTokenSplit(bytes, { nCtx: 16 }).seqLen, 8);
});

test("wrong dtype, rank or tensor name are errors", () => {
  assert.throws(() => readTokenSplit(tokensFile({ dtype: "F32", shape: [1, 2], data: new Float32Array(2) })), /dtype F32; expected I32 or I64/);
  assert.throws(() => readTokenSplit(tokensFile({ dtype: "I32", shape: [4], data: new Int32Array(4) })), /shape \[4\] has 1 dimensions; expected 2/);
  assert.throws(
    () => readTokenSplit(writeSafetensors({ ids: { dtype: "I32", shape: [1, 1], data: new Int32Array(1) } }), { source: "x" }),
    /x: no tensor "tokens" \(found "ids"\)/,
  );
});

test.run();
