// From the built-in corpora to what training and the refined LLC need, made once
// and cached in a run directory: a byte-level BPE tokenizer trained on the mix of
// prose and code (as the paper's model saw the Pile, code included), and token
// datasets — the mix (train / held-out), and prose and code alone (held-out
// splits) for data-refined LLCs (Wang et al. 2024, §4: code vs. prose).
import { readSafetensorsInput } from "../io/inputs.ts";
import type { Host } from "../platform/host.ts";
import { loadCorpus, nodeModulesReader, type Corpus, type ReadText } from "./corpora.ts";
import { trainTokenizer, tokenizerToJSON, tokenizerFromJSON, type ByteBpeTokenizer } from "./tokenizer.ts";
import { buildTokenDataset, writeTokenSplit, readTokenSplit, type TokenFile } from "./tokens.ts";

export interface DataSpec {
  vocab_size: number;
  /** Byte budget per corpus (the whole Brown corpus is ~6 MB, the code ~1.4 MB). */
  max_bytes_per_corpus: number;
  heldout_every: number;
}

export interface PreparedData {
  tokenizer: ByteBpeTokenizer;
  /** Paths (inside the run directory) of the token files. */
  files: { train: string; heldout: string; prose: string; code: string; tokenizer: string };
  train: TokenFile;
  heldout: TokenFile;
}

async function corpora(host: Host, source: string | ReadText, spec: DataSpec): Promise<{ prose: Corpus; code: Corpus }> {
  const read = typeof source === "string" ? nodeModulesReader(host, source) : source;
  const options = { maxBytes: spec.max_bytes_per_corpus };
  return { prose: await loadCorpus("prose", read, options), code: await loadCorpus("code", read, options) };
}

/**
 * Tokenizer and datasets in `dir` (made if missing, else read back and checked
 * against the tokenizer), for sequences of `nCtx` tokens. The corpora's files come
 * from `source`: a node_modules directory, or a reader of "package/path" files.
 */
export async function prepareData(host: Host, source: string | ReadText, dir: string, spec: DataSpec, nCtx: number): Promise<PreparedData> {
  const at = (name: string) => `${dir}/${name}`;
  const files = { tokenizer: at("tokenizer.json"), train: at("mix-train.safetensors"), heldout: at("mix-heldout.safetensors"), prose: at("prose-heldout.safetensors"), code: at("code-heldout.safetensors") };
  let tokenizer: ByteBpeTokenizer;
  if (await host.exists(files.code)) {
    tokenizer = tokenizerFromJSON(await host.readText(files.tokenizer), files.tokenizer);
  } else {
    const { prose, code } = await corpora(host, source, spec);
    tokenizer = trainTokenizer([...prose.documents, ...code.documents], { vocabSize: spec.vocab_size });
    const options = { nCtx, heldOutEvery: spec.heldout_every };
    const mix = buildTokenDataset(tokenizer, { name: "mix", documents: [...prose.documents, ...code.documents], files: [...prose.files, ...code.files] }, options);
    await host.writeText(files.tokenizer, tokenizerToJSON(tokenizer) + "\n");
    await host.writeBytes(files.train, writeTokenSplit(mix, "train"));
    await host.writeBytes(files.heldout, writeTokenSplit(mix, "heldout"));
    await host.writeBytes(files.prose, writeTokenSplit(buildTokenDataset(tokenizer, prose, options), "heldout"));
    // Written last: its presence marks the directory complete.
    await host.writeBytes(files.code, writeTokenSplit(buildTokenDataset(tokenizer, code, options), "heldout"));
  }
  const read = async (path: string) => readTokenSplit(await readSafetensorsInput(host, path, "data"), { tokenizer, nCtx, source: path });
  return { tokenizer, files, train: await read(files.train), heldout: await read(files.heldout) };
}
