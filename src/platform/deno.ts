// Host for Deno, on its own file API (no node: compatibility layer). Needs
// --allow-read (and --allow-write for results). The project's tsconfig has no
// Deno types, so the few calls used here are declared below.
import { readFully, unreadable, useRegularFile, type Host } from "./host.ts";
import { MAX_INPUT_BYTES, MAX_TEXT_BYTES } from "../limits.ts";

interface DenoFileInfo {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  isCharDevice?: boolean | null;
  isBlockDevice?: boolean | null;
  isFifo?: boolean | null;
  isSocket?: boolean | null;
}

interface DenoFile {
  stat(): Promise<DenoFileInfo>;
  seek(offset: number, whence: number): Promise<number>;
  read(into: Uint8Array): Promise<number | null>;
  close(): void;
}

interface DenoApi {
  open(path: string | URL, options: { read: true }): Promise<DenoFile>;
  readonly SeekMode: { readonly Start: number };
  readFile(path: string | URL): Promise<Uint8Array<ArrayBuffer>>;
  writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  writeTextFile(path: string | URL, data: string): Promise<void>;
  rename(from: string | URL, to: string | URL): Promise<void>;
  mkdir(path: string | URL, options?: { recursive?: boolean }): Promise<void>;
  remove(path: string | URL): Promise<void>;
  stat(path: string | URL): Promise<DenoFileInfo>;
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

/**
 * `use` on an open regular file of at most `maxBytes`; anything else is a FileError.
 * Checked by path before opening (Deno has no O_NONBLOCK: opening a FIFO would wait
 * for a writer forever) and again on the open file.
 */
async function withRegularFile<T>(path: string, maxBytes: number, what: string, use: (file: DenoFile, size: number) => Promise<T>): Promise<T> {
  const before = unreadable(path, await Deno.stat(path), maxBytes, what);
  if (before) throw before;
  return useRegularFile(path, await Deno.open(path, { read: true }), maxBytes, what, use);
}

/** Bytes [start, start + length) of `file`, fewer if it ends first. */
async function readSpan(file: DenoFile, start: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
  await file.seek(start, Deno.SeekMode.Start);
  return readFully(length, (into) => file.read(into));
}

const INPUT = "an input file (twice a wasm32 memory)";

export const denoHost: Host = {
  readBytes: (path) => withRegularFile(path, MAX_INPUT_BYTES, INPUT, (file, size) => readSpan(file, 0, size)),
  readText: (path) => withRegularFile(path, MAX_TEXT_BYTES, "a text file", async (file, size) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(await readSpan(file, 0, size))),
  fileSize: (path) => withRegularFile(path, Infinity, INPUT, async (_file, size) => size),
  readRange: (path, start, length) => withRegularFile(path, Infinity, INPUT, (file, size) => readSpan(file, start, Math.max(0, Math.min(length, size - start)))),
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
