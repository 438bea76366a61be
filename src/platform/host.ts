// The few things the library needs from its host. Everything below the CLI and
// the web page reaches files, bytes and the clock only through this interface,
// so the same modules run in Node, Deno and browsers.

export interface Host {
  /** Bytes of a file path (Node/Deno) or URL (browser). */
  readBytes(path: string): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
  /** Write atomically (missing parent directories are made): a reader never sees half a file, and a kill loses at most the last write. */
  writeText(path: string, text: string): Promise<void>;
  writeBytes(path: string, bytes: Uint8Array): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Resolve `path` against the directory of `base` (a file path or URL). */
  resolve(base: string, path: string): string;
  /** Bytes of the engine's .wasm build. */
  wasmBytes(variant: "simd" | "scalar"): Promise<Uint8Array<ArrayBuffer>>;
  now(): number;
  /** Logical cores available (the default number of workers); absent where unknown. */
  cores?(): number;
}
