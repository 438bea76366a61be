// Deno side of bench/workers.bench.ts: the library bundle, the Deno host
// (src/platform/deno.ts, run as TypeScript by Deno itself), module Workers on
// build/worker.js (the bundle's default spawner) and the shared harness.
// Usage: deno run --allow-read=ROOT,DIR --allow-write=DIR deno-main.js DIR/case.json
// Prints one JSON line: a WorkersReport, or {"error": "..."}.
import * as lib from "../../build/index.js";
import { denoHost } from "../../src/platform/deno.ts";
import { runWorkersBench } from "./harness.ts";

const runtime = `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`;
try {
  console.log(JSON.stringify(await runWorkersBench(lib, denoHost, Deno.args[0], lib.webWorkers(), runtime)));
} catch (error) {
  console.log(JSON.stringify({ runtime, error: String(error?.stack ?? error) }));
}
