// Token datasets: a corpus cut into fixed-length sequences of token ids, split
// into train and held-out parts, stored as safetensors (tensor "tokens", I32
// [n_seq, n_ctx]) with the provenance in "__metadata__".
//
// Construction, fixed so a dataset is reproducible from its metadata:
//  - Each document is encoded on its own (no BPE chunk spans two documents),
//    and the documents are concatenated in corpus order with a separator between
//    consecutive ones: by default the single token 0 (the NUL byte), which occurs
//    in neither built-in corpus, so it marks document boundaries unambiguously
//    like GPT-2's <|endoftext|> without adding a special token to the vocabulary.
//  - The stream is cut into n_seq = floor(length / n_ctx) sequences; the
//    remainder (< n_ctx tokens) is dropped.
//  - Sequence s goes to held-out when s % heldOutEvery == heldOutEvery - 1,
//    to train otherwise. Interleaving rather than "the last 10%" matters here:
//    the Brown corpus is ordered by genre, so a tail split would hold out humor
//    and romance only.
//
// Host-neutral: plain ECMAScript and the safetensors module.
import { readSafetensors, writeSafetensors, type Tensor } from "../io/safetensors.ts";
import { type ByteBpeTokenizer, tokenizerHash } from "./tokenizer.ts";

export const TOKENS_TENSOR = "tokens";
export const DATASET_FORMAT = "llc-wasm/tokens/1";
export const DEFAULT_HELD_OUT_EVERY = 10;
export const DEFAULT_SEPARATOR: readonly number[] = [0];

export type SplitName = "train" | "heldout";

export interface TokenDatasetOptions {
  /** Sequence length (tokens per row). */
  nCtx: number;
  /** Every k-th sequence is held out (default 10, i.e. 10%). */
  heldOutEvery?: number;
  /** Token ids placed between consecutive documents (default [0], the NUL byte). */
  separator?: readonly number[];
}

export interface TokenSplit {
  split: SplitName;
  /** Row-major [nSeq, nCtx]. */
  tokens: Int32Array;
  nSeq: number;
  /** Index of each row among all sequences of the stream, ascending. */
  sequenceIndices: Int32Array;
}

export interface TokenDataset {
  corpus: string;
  sourceFiles: number;
  tokenizerHash: string;
  vocabSize: number;
  nCtx: number;
  heldOutEvery: number;
  separator: number[];
  /** Tokens in the concatenated stream, and how many of them the cut dropped. */
  streamTokens: number;
  droppedTokens: number;
  train: TokenSplit;
  heldout: TokenSplit;
}

/** What a dataset is built from: loadCorpus's result fits. */
export interface CorpusDocuments {
  name: string;
  documents: readonly string[];
  files: readonly string[];
}

export class TokenDatasetError extends Error {
  override readonly name = "TokenDatasetError";
}

/** Encodes each document and joins them with `separator` between consecutive ones. */
export function tokenizeDocuments(
  tokenizer: ByteBpeTokenizer,
  documents: readonly string[],
  separator: readonly number[] = DEFAULT_SEPARATOR,
): Int32Array {
  checkIds(separator, tokenizer.vocabSize, "separator");
  const parts = documents.map((d) => tokenizer.encode(d));
  const total = parts.reduce((n, p) => n + p.length, 0) + Math.max(0, parts.length - 1) * separator.length;
  const stream = new Int32Array(total);
  let offset = 0;
  parts.forEach((part, i) => {
    if (i > 0) {
      stream.set(separator, offset);
      offset += separator.length;
    }
    stream.set(part, offset);
    offset += part.length;
  });
  return stream;
}

/** Cuts a stream into nCtx-long sequences and splits them (see the file comment). */
export function splitSequences(
  stream: Int32Array,
  nCtx: number,
  heldOutEvery = DEFAULT_HELD_OUT_EVERY,
): { train: TokenSplit; heldout: TokenSplit } {
  if (!Number.isInteger(nCtx) || nCtx < 1) throw new RangeError(`nCtx must be a positive integer, found ${nCtx}`);
  if (!Number.isInteger(heldOutEvery) || heldOutEvery < 2) {
    throw new RangeError(`heldOutEvery must be an integer >= 2, found ${heldOutEvery}`);
  }
  const nSeq = Math.floor(stream.length / nCtx);
  const nHeldOut = Math.floor(nSeq / heldOutEvery);
  const build = (split: SplitName, count: number, keep: (s: number) => boolean): TokenSplit => {
    const tokens = new Int32Array(count * nCtx);
    const sequenceIndices = new Int32Array(count);
    let row = 0;
    for (let s = 0; s < nSeq; s++) {
      if (!keep(s)) continue;
      tokens.set(stream.subarray(s * nCtx, (s + 1) * nCtx), row * nCtx);
      sequenceIndices[row++] = s;
    }
    return { split, tokens, nSeq: count, sequenceIndices };
  };
  const isHeldOut = (s: number) => s % heldOutEvery === heldOutEvery - 1;
  return {
    train: build("train", nSeq - nHeldOut, (s) => !isHeldOut(s)),
    heldout: build("heldout", nHeldOut, isHeldOut),
  };
}

export function buildTokenDataset(
  tokenizer: ByteBpeTokenizer,
  corpus: CorpusDocuments,
  options: TokenDatasetOptions,
): TokenDataset {
  const heldOutEvery = options.heldOutEvery ?? DEFAULT_HELD_OUT_EVERY;
  const separator = [...(options.separator ?? DEFAULT_SEPARATOR)];
  const stream = tokenizeDocuments(tokenizer, corpus.documents, separator);
  const { train, heldout } = splitSequences(stream, options.nCtx, heldOutEvery);
  return {
    corpus: corpus.name,
    sourceFiles: corpus.files.length,
    tokenizerHash: tokenizerHash(tokenizer),
    vocabSize: tokenizer.vocabSize,
    nCtx: options.nCtx,
    heldOutEvery,
    separator,
    streamTokens: stream.length,
    droppedTokens: stream.length % options.nCtx,
    train,
    heldout,
  };
}

/** Metadata written with each split; every value a string, as safetensors requires. */
export function datasetMetadata(dataset: TokenDataset, split: SplitName): Record<string, string> {
  return {
    format: DATASET_FORMAT,
    corpus: dataset.corpus,
    source_files: String(dataset.sourceFiles),
    tokenizer_hash: dataset.tokenizerHash,
    vocab_size: String(dataset.vocabSize),
    n_ctx: String(dataset.nCtx),
    split,
    heldout_every: String(dataset.heldOutEvery),
    separator: dataset.separator.join(","),
    n_seq: String(dataset[split].nSeq),
  };
}

/** One split as safetensors bytes: tensor "tokens" I32 [n_seq, n_ctx] plus metadata. */
export function writeTokenSplit(dataset: TokenDataset, split: SplitName): Uint8Array {
  const part = dataset[split];
  const tensor: Tensor = { dtype: "I32", shape: [part.nSeq, dataset.nCtx], data: part.tokens };
  return writeSafetensors({ [TOKENS_TENSOR]: tensor }, datasetMetadata(dataset, split));
}

export interface ReadTokensOptions {
  /** Names the file in errors. */
  source?: string;
  /** Every token must be below this; taken from `tokenizer` when that is given. */
  vocabSize?: number;
  /** Checks vocabulary size and that the file's tokenizer_hash (if any) is this tokenizer's. */
  tokenizer?: ByteBpeTokenizer;
  /** Sequences may be at most this long. */
  nCtx?: number;
}

export interface TokenFile {
  /** Row-major [nSeq, seqLen], converted to int32 if stored as I64. */
  tokens: Int32Array;
  nSeq: number;
  seqLen: number;
  metadata: Record<string, string>;
}

/** Reads and validates a token file (any safetensors file with a "tokens" tensor). */
export function readTokenSplit(bytes: Uint8Array, options: ReadTokensOptions = {}): TokenFile {
  const source = options.source ?? "<token file>";
  const fail = (problem: string) => new TokenDatasetError(`${source}: tensor "${TOKENS_TENSOR}": ${problem}`);
  const file = readSafetensors(bytes, source);
  const tensor = file.tensors.get(TOKENS_TENSOR);
  if (!tensor) {
    const names = [...file.tensors.keys()];
    throw new TokenDatasetError(`${source}: no tensor "${TOKENS_TENSOR}" (found ${names.length ? names.map((n) => JSON.stringify(n)).join(", ") : "none"})`);
  }
  if (tensor.dtype !== "I32" && tensor.dtype !== "I64") throw fail(`dtype ${tensor.dtype}; expected I32 or I64 token ids`);
  if (tensor.shape.length !== 2) throw fail(`shape [${tensor.shape.join(", ")}] has ${tensor.shape.length} dimensions; expected 2, [n_seq, n_ctx]`);
  const [nSeq, seqLen] = tensor.shape;
  if (options.nCtx !== undefined && seqLen > options.nCtx) {
    throw fail(`sequences have length ${seqLen} (shape[1]); expected at most n_ctx = ${options.nCtx}`);
  }

  const vocabSize = options.tokenizer?.vocabSize ?? options.vocabSize;
  const limit = vocabSize ?? 2 ** 31; // int32 range at least
  const tokens = new Int32Array(nSeq * seqLen);
  const data = tensor.data as Int32Array | BigInt64Array;
  for (let i = 0; i < tokens.length; i++) {
    const value = data[i];
    const id = typeof value === "bigint" ? Number(value) : value;
    if (id < 0 || id >= limit) {
      const row = Math.floor(i / seqLen);
      const expected = vocabSize === undefined ? "a non-negative int32" : `in [0, ${vocabSize}) (the vocabulary size)`;
      throw fail(`token at index ${i} (sequence ${row}, position ${i - row * seqLen}) is ${String(value)}; expected ${expected}`);
    }
    tokens[i] = id;
  }

  const metadata = file.metadata;
  if (options.tokenizer && metadata.tokenizer_hash !== undefined) {
    const expected = tokenizerHash(options.tokenizer);
    if (metadata.tokenizer_hash !== expected) {
      throw new TokenDatasetError(
        `${source}: metadata tokenizer_hash is ${metadata.tokenizer_hash} but the given tokenizer's hash is ${expected}; ` +
          `the tokens were made with a different tokenizer`,
      );
    }
  }
  return { tokens, nSeq, seqLen, metadata };
}

function checkIds(ids: readonly number[], vocabSize: number, what: string): void {
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`${what}[${i}] is ${id}; expected a token id in [0, ${vocabSize})`);
    }
  });
}
