// Browser side of test/portability.test.ts: the library bundle as a module, the
// browser host (src/platform/browser.ts, served as JavaScript by the test's
// server) fetching build/llc-*.wasm, and the shared harness. Job files live in
// the host's memory under ./job/.
import * as lib from "../../build/index.js";
import { BrowserHost } from "../../src/platform/browser.ts";
import { runPortability } from "./harness.js";

const host = new BrowserHost({ wasmBase: new URL("../../build/", import.meta.url) });
window.portability = runPortability(lib, host, "job").then(
  (report) => ({ runtime: navigator.userAgent, ...report, written: [...host.files.keys()] }),
  (error) => ({ error: String(error?.stack ?? error) }),
);
window.portability.then((r) => (document.getElementById("out").textContent = JSON.stringify(r, null, 1).slice(0, 2000)));
