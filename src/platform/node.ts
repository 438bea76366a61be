/// <reference types="node" />
// Host for Node (and Deno, whose node: compatibility layer covers these calls).
import { readFile, writeFile, rename, access, mkdir, open, type FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname, resolve as resolvePath, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { readFully, useRegularFile, type Host } from "./host.ts";
import { MAX_INPUT_BYTES, MAX_TEXT_BYTES } from "../limits.ts";

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

/**
 * `use` on an open regular file of at most `maxBytes`; anything else is a FileError.
 * Opened non-blocking, checked on the open descriptor: opening a FIFO to read waits
 * for a writer forever otherwise, and /dev/zero would be read until memory runs out.
 */
function withRegularFile<T>(path: string, maxBytes: number, what: string, use: (file: FileHandle, size: number) => Promise<T>): Promise<T> {
  return open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).then((file) => useRegularFile(path, file, maxBytes, what, use));
}

/** Bytes [start, start + length) of `file`, fewer if it ends first. */
function readSpan(file: FileHandle, start: number, length: number): Promise<Uint8Array> {
  return readFully(length, async (into, offset) => (await file.read(into, 0, into.length, start + offset)).bytesRead);
}

const INPUT = "an input file (twice a wasm32 memory)";

export const nodeHost: Host = {
  readBytes: (path) => withRegularFile(path, MAX_INPUT_BYTES, INPUT, (file, size) => readSpan(file, 0, size)),
  readText: (path) =>
    withRegularFile(path, MAX_TEXT_BYTES, "a text file", async (file, size) => {
      const bytes = await readSpan(file, 0, size);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
    }),
  fileSize: (path) => withRegularFile(path, Infinity, INPUT, async (_file, size) => size),
  readRange: (path, start, length) => withRegularFile(path, Infinity, INPUT, (file, size) => readSpan(file, start, Math.max(0, Math.min(length, size - start)))),
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
