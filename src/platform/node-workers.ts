/// <reference types="node" />
// Workers for Node: node:worker_threads (Node 20 has no global Worker), adapted
// to parallel.ts's WorkerLike. Each worker first runs a tiny bootstrap that gives
// it the web worker scope (postMessage, onmessage) over parentPort, then imports
// the host-neutral entry, so worker.ts is the same file in every runtime.
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SpawnWorker, WorkerLike } from "../parallel.ts";

// A data: URL module rather than `eval: true`, because Node 20 runs no --import
// preloads (the TypeScript loader of the tests and benches) before eval'd code.
const BOOTSTRAP = new URL(
  "data:text/javascript," +
    encodeURIComponent(`import { parentPort, workerData } from "node:worker_threads";
globalThis.postMessage = (message) => parentPort.postMessage(message);
parentPort.on("message", (data) => globalThis.onmessage?.({ data }));
await import(workerData.entry);`),
);

// Bundled into build/cli.js the entry is build/worker.js beside it; from src/platform/ it is src/worker.ts.
const entryCandidates = () => [new URL("./worker.js", import.meta.url), new URL("../worker.ts", import.meta.url)];

export function defaultWorkerUrl(): URL {
  const candidates = entryCandidates();
  const found = candidates.find((url) => existsSync(fileURLToPath(url)));
  if (!found) throw new Error(`worker entry not found (looked for ${candidates.map((u) => fileURLToPath(u)).join(", ")}); run "npm run build"`);
  return found;
}

/** Module-loading flags of this process (--import, --loader, --require, --conditions), which a .ts entry needs. */
export function loaderExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const withValue = new Set(["--import", "--loader", "--experimental-loader", "--require", "-r", "--conditions", "-C"]);
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].split("=", 1)[0];
    if (!withValue.has(name)) continue;
    kept.push(argv[i]);
    if (!argv[i].includes("=") && i + 1 < argv.length) kept.push(argv[++i]);
  }
  return kept;
}

/**
 * A spawner for parallel.ts; the entry is looked up when the first worker starts.
 * A .ts entry gets this process's loader flags (explicitly: the TypeScript loader
 * of the tests and benches); the bundle gets none, so it starts without them.
 */
export function nodeWorkers(url?: URL): SpawnWorker {
  let entry = url;
  return () => {
    const href = (entry ??= defaultWorkerUrl()).href;
    const execArgv = href.endsWith(".ts") ? loaderExecArgv() : [];
    const worker = new Worker(BOOTSTRAP, { workerData: { entry: href }, execArgv });
    let terminated = false;
    const like: WorkerLike = {
      onmessage: null,
      onerror: null,
      postMessage: (message) => worker.postMessage(message),
      terminate() {
        terminated = true;
        void worker.terminate();
      },
    };
    worker.on("message", (data) => like.onmessage?.(data));
    worker.on("error", (error) => like.onerror?.(error));
    worker.on("messageerror", (error) => like.onerror?.(error));
    worker.on("exit", (code) => terminated || like.onerror?.(new Error(`worker ${href} exited with code ${code}`)));
    return like;
  };
}
