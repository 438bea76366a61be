// llc-wasi.wasm: the `llc estimate` command as a standalone WASI command
// (wasi_snapshot_preview1 imports only). It reads the config and the two
// safetensors files from preopened directories, runs the chains with the
// module's own step loop (assembly/chain.ts) and prints the result JSON on
// stdout, with the keys and numbers of the JavaScript CLI.
//
//   wasmtime run --dir DIR build/llc-wasi.wasm estimate --config DIR/case.json
//
// The polynomial and MLP models; the transformer answers with an error.

import { readFile, fileError, resolveAgainst, normalizePath, decodeUtf8, writeText, nowMs, FileBytes } from "./io";
import { parseJson, jsonErrorOffset, jsonErrorProblem, lineColumn, quoteJson, JValue } from "./json";
import { parseConfig, configError, setConfigSource } from "./config";
import { readSafetensors } from "./safetensors";
import { runEstimate } from "./estimate";
import { fail } from "./errors";

const USAGE = `usage:
  llc-wasi.wasm estimate --config FILE [--quiet]   FILE and the files it names must lie in preopened directories
                                                   (wasmtime run --dir DIR …; node:wasi preopens); result JSON on stdout
  llc-wasi.wasm help`;

function usageError(message: string): void {
  fail("UsageError", message + "\n" + USAGE);
}

/** The file at `path`; `field` (weights, data) names the config field it came from in the error, as src/job.ts does. */
function read(path: string, field: string = ""): FileBytes {
  const bytes = readFile(path);
  if (bytes == null) fail(field.length ? "InputError" : "", field.length ? field + ": " + fileError : fileError);
  return changetype<FileBytes>(bytes);
}

function estimateCommand(args: string[]): void {
  const started = nowMs();
  let config: string | null = null;
  let quiet = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let name: string | null = null;
    let inline: string | null = null;
    if (arg.startsWith("--")) {
      const body = arg.substring(2);
      const eq = body.indexOf("=");
      name = eq < 0 ? body : body.substring(0, eq);
      if (eq >= 0) inline = body.substring(eq + 1);
    }
    if (name == "quiet") {
      quiet = true;
      continue;
    }
    if (name != "config") usageError("unknown argument " + quoteJson(arg));
    if (inline == null) {
      if (i + 1 >= args.length) usageError("--config: expected a value");
      inline = args[++i];
    }
    config = inline;
  }
  if (config == null) usageError("estimate: --config FILE is required");
  const configPath = changetype<string>(config);

  const configBytes = read(normalizePath(configPath));
  let text = changetype<string>(decodeUtf8(configBytes.ptr, configBytes.len, false));
  if (text.length > 0 && text.charCodeAt(0) == 0xfeff) text = text.substring(1);
  setConfigSource(configPath);
  const raw = parseJson(text);
  if (raw == null) configError("", "invalid JSON at " + lineColumn(text, jsonErrorOffset) + ": " + jsonErrorProblem);
  const c = parseConfig(changetype<JValue>(raw), configPath);

  const weightBytes = read(resolveAgainst(configPath, c.weights), "weights");
  const dataBytes = read(resolveAgainst(configPath, c.data), "data");
  const weights = readSafetensors(weightBytes, c.weights);
  const data = readSafetensors(dataBytes, c.data);
  runEstimate(c, weights, data, weightBytes, dataBytes, quiet, started);
}

function main(): void {
  const argv = process.argv;
  const command = argv.length > 1 ? argv[1] : "";
  const rest = argv.length > 2 ? argv.slice(2) : new Array<string>(0);
  if (command == "estimate") estimateCommand(rest);
  else if (command == "help" || command == "--help" || argv.length < 2) writeText(1, USAGE + "\n");
  else usageError("unknown command " + quoteJson(command));
}

main();
