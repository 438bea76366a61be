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
  /**
   * The canonical name of `path` (symlinks, "." and ".." resolved; for a path that does
   * not exist yet, its nearest existing ancestor's), so two names of one file compare
   * equal. Absent where files have no such name (browsers): paths are compared as given.
   */
  realPath?(path: string): Promise<string>;
  /**
   * Make `path` ready to be written before any work starts: create its missing parent
   * directories, prove the directory takes a file (a probe written and removed), and
   * remove temp files of earlier writes to `path` whose process is gone (a kill mid-write).
   * Throws a FileError naming the path. Absent where writes cannot fail (browsers' memory).
   */
  prepareOutput?(path: string): Promise<void>;
  /** Append `text` to a file (made if missing) and flush it to disk; absent: callers rewrite the whole file. */
  appendText?(path: string, text: string): Promise<void>;
}

/**
 * A file operation that failed, named by the path and what was attempted, in the
 * system's words ("no space left on device") with its code (ENOSPC): Node's own
 * messages omit the path for some calls (a failed write names none).
 */
export class FileError extends Error {
  override readonly name = "FileError";
  readonly path: string;
  readonly code?: string;
  constructor(action: string, path: string, problem: string, options: { code?: string; cause?: unknown } = {}) {
    super(`cannot ${action} ${path}: ${problem}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = path;
    if (options.code !== undefined) this.code = options.code;
  }
}
