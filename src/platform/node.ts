/// <reference types="node" />
// Host for Node (and Deno, whose node: compatibility layer covers these calls).
import { readFile, writeFile, rename, access, mkdir } from "node:fs/promises";
import { dirname, resolve as resolvePath, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import type { Host } from "./host.ts";

// From src/platform/ the build is ../../build/; from a bundle in build/ it sits beside it.
const wasmCandidates = (name: string) => [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];

async function firstExisting(urls: URL[]): Promise<URL> {
  for (const url of urls) {
    try {
      await access(fileURLToPath(url));
      return url;
    } catch {}
  }
  throw new Error(`engine build not found (looked for ${urls.map((u) => fileURLToPath(u)).join(", ")}); run "npm run build"`);
}

export const nodeHost: Host = {
  readBytes: async (path) => new Uint8Array(await readFile(path)),
  readText: (path) => readFile(path, "utf8"),
  async writeText(path, text) {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    await rename(tmp, path);
  },
  async writeBytes(path, bytes) {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  },
  exists: (path) => access(path).then(() => true, () => false),
  resolve: (base, path) => (isAbsolute(path) ? path : resolvePath(dirname(base), path)),
  wasmBytes: async (variant) => new Uint8Array(await readFile(await firstExisting(wasmCandidates(`llc-${variant}.wasm`)))),
  now: () => performance.now(),
  cores: () => availableParallelism(),
};
