// selfTest() of an engine build in a bare JavaScript shell, no harness:
//   js102 test/portability/shell-selftest.js build/llc-simd.wasm      (SpiderMonkey)
//   jsc test/portability/shell-selftest.js -- build/llc-simd.wasm     (JavaScriptCore)
// Prints one JSON line: {"selfTest": "<8 hex digits>", "simd": <validates SIMD>}.
/* global scriptArgs, arguments, os, readFile, print */
const args = typeof scriptArgs !== "undefined" ? scriptArgs : arguments;
const path = args[0];
const bytes = typeof os !== "undefined" && os.file ? os.file.readFile(path, "binary") : readFile(path, "binary");
const imports = { env: { abort(_msg, _file, line, column) { throw new Error(`WebAssembly abort at ${line}:${column}`); } } };
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
const hash = instance.exports.selfTest() >>> 0;
// (module (func (result v128) (v128.const i32x4 0 0 0 0))), as src/engine.ts hostHasSimd
const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
print(JSON.stringify({ selfTest: hash.toString(16).padStart(8, "0"), simd: WebAssembly.validate(probe) }));
