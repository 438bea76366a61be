// Host for Deno, on its own file API (no node: compatibility layer). Needs
// --allow-read (and --allow-write for results). The project's tsconfig has no
// Deno types, so the few calls used here are declared below.
import type { Host } from "./host.ts";

interface DenoApi {
  readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
  readTextFile(path: string | URL): Promise<string>;
  writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  writeTextFile(path: string | URL, data: string): Promise<void>;
  rename(from: string | URL, to: string | URL): Promise<void>;
  mkdir(path: string | URL, options?: { recursive?: boolean }): Promise<void>;
  remove(path: string | URL): Promise<void>;
  stat(path: string | URL): Promise<unknown>;
  cwd(): string;
  readonly pid: number;
  readonly build: { readonly os: string };
  readonly errors: { readonly NotFound: new (...args: never[]) => Error };
}
declare const Deno: DenoApi;

const windows = () => Deno.build.os === "windows";
const isAbsolute = (path: string) => (windows() ? /^(?:[A-Za-z]:)?[\\/]/.test(path) : path.startsWith("/"));

/** `dir` + `path`, absolute (against the working directory), "." and ".." folded. */
function joinAbsolute(dir: string, path: string): string {
  const sep = windows() ? "\\" : "/";
  const full = isAbsolute(path) ? path : `${isAbsolute(dir) ? dir : `${Deno.cwd()}${sep}${dir}`}${sep}${path}`;
  const [root = ""] = /^(?:[A-Za-z]:)?[\\/]*/.exec(full) ?? [];
  const parts: string[] = [];
  for (const part of full.slice(root.length).split(windows() ? /[\\/]+/ : /\/+/)) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return root + parts.join(sep);
}

function dirname(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), windows() ? path.lastIndexOf("\\") : -1);
  return i < 0 ? "." : i === 0 ? path.slice(0, 1) : path.slice(0, i);
}

async function atomicWrite(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.mkdir(dirname(path), { recursive: true });
  try {
    await write(tmp);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

// From src/platform/ the build is ../../build/; from a bundle in build/ it sits beside it.
async function readWasm(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  for (const url of candidates) {
    try {
      return await Deno.readFile(url);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new Error(`engine build not found (looked for ${candidates.map((u) => u.href).join(", ")}); run "npm run build"`);
}

export const denoHost: Host = {
  readBytes: (path) => Deno.readFile(path),
  readText: (path) => Deno.readTextFile(path),
  writeText: (path, text) => atomicWrite(path, (tmp) => Deno.writeTextFile(tmp, text)),
  writeBytes: (path, bytes) => atomicWrite(path, (tmp) => Deno.writeFile(tmp, bytes)),
  async exists(path) {
    try {
      await Deno.stat(path);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  },
  resolve: (base, path) => joinAbsolute(dirname(base), path),
  wasmBytes: (variant) => readWasm(`llc-${variant}.wasm`),
  now: () => performance.now(),
  cores: () => (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1,
};
