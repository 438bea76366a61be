// Browser side of bench/workers.bench.ts: the library bundle, its BrowserHost
// (fetching the case from /case/ and the engine from /build/), module Workers
// on /build/worker.js (the bundle's default spawner) and the shared harness
// (served by the bench as JavaScript, types stripped).
import * as lib from "../../build/index.js";
import { runWorkersBench } from "./harness.ts";

const host = new lib.BrowserHost({ base: new URL("/case/", location.href), wasmBase: new URL("/build/", location.href) });
const chrome = /(?:Headless)?Chrome\/[\d.]+/.exec(navigator.userAgent)?.[0] ?? navigator.userAgent;
const runtime = `chromium ${chrome}${crossOriginIsolated ? "" : " (not cross-origin isolated)"}`;
window.workersBench = runWorkersBench(lib, host, "case.json", lib.webWorkers(new URL("/build/worker.js", location.href)), runtime).catch(
  (error) => ({ runtime, error: String(error?.stack ?? error) }),
);
window.workersBench.then((r) => (document.getElementById("out").textContent = JSON.stringify(r, null, 1)));
