// Deno side of test/portability.test.ts: the library bundle, the Deno host
// (src/platform/deno.ts, run as TypeScript by Deno itself) and the shared
// harness. Usage: deno run --allow-read=ROOT,DIR --allow-write=DIR deno-main.js DIR
// Prints one JSON line.
import * as lib from "../../build/index.js";
import { denoHost } from "../../src/platform/deno.ts";
import { runPortability } from "./harness.js";

const report = await runPortability(lib, denoHost, Deno.args[0]);
console.log(JSON.stringify({ runtime: `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`, ...report }));
