// The portability estimates (harness.js, both builds) in a bare JavaScript shell:
//   js102 -m test/portability/shell-estimate.mjs      (SpiderMonkey)
//   jsc -m test/portability/shell-estimate.mjs        (JavaScriptCore)
// Prints one JSON line: {variant: {selfTest, results: {case: result JSON text}}}.
/* global os, readFile, print */
import "./shell-text.mjs";
import * as lib from "../../build/index.js";
import { runEstimates } from "./harness.js";

const read = (path) => (typeof os !== "undefined" && os.file ? os.file.readFile(path, "binary") : new Uint8Array(readFile(path, "binary")));
// Shells have no URL class; import.meta.url is a file: URL or a plain path.
const here = decodeURIComponent(import.meta.url.replace(/^file:\/\//, "")).replace(/[^/]*$/, "");
const wasmPath = (variant) => `${here}../../build/llc-${variant}.wasm`;
runEstimates(lib, async (variant) => read(wasmPath(variant))).then(
  (estimates) => print(JSON.stringify(estimates)),
  (error) => print(JSON.stringify({ error: String(error?.stack ?? error) })),
);
