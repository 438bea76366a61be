// Workers for Deno and browsers: module Workers (Deno supports no other kind),
// adapted to parallel.ts's WorkerLike. Host-neutral (web platform names only).
import type { SpawnWorker, WorkerLike } from "../parallel.ts";

/**
 * The worker entry beside this module: src/worker.ts when running from source
 * (Deno runs TypeScript), build/worker.js when bundled into build/index.js or cli.js.
 */
export function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith(".ts") ? new URL("../worker.ts", import.meta.url) : new URL("./worker.js", import.meta.url);
}

export function webWorkers(url: URL | string = defaultWorkerUrl()): SpawnWorker {
  return () => {
    const worker = new Worker(url, { type: "module" });
    const like: WorkerLike = {
      onmessage: null,
      onerror: null,
      postMessage: (message) => worker.postMessage(message),
      terminate: () => worker.terminate(),
    };
    worker.onmessage = (event) => like.onmessage?.(event.data);
    worker.onerror = (event) => {
      event.preventDefault(); // handled here; not also an uncaught error of the page or process
      like.onerror?.(new Error(`worker ${String(url)}: ${event.message || "failed to load"}`));
    };
    worker.onmessageerror = () => like.onerror?.(new Error(`worker ${String(url)}: a message could not be deserialized`));
    return like;
  };
}
