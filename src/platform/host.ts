// The few things the library needs from its host. Everything below the CLI and
// the web page reaches files, bytes and the clock only through this interface,
// so the same modules run in Node, Deno and browsers.

export interface Host {
  /**
   * Bytes of a file path (Node/Deno) or URL (browser). Only regular files are read:
   * a directory, device (/dev/zero), FIFO or socket is a FileError, as is a file
   * larger than MAX_INPUT_BYTES (src/limits.ts).
   */
  readBytes(path: string): Promise<Uint8Array>;
  /** Text of a regular file of at most MAX_TEXT_BYTES; otherwise a FileError. */
  readText(path: string): Promise<string>;
  /** Size of a regular file in bytes (a FileError for anything else); absent where reads cannot be partial. */
  fileSize?(path: string): Promise<number>;
  /** Bytes [start, start + length) of a regular file (fewer where it ends first). */
  readRange?(path: string, start: number, length: number): Promise<Uint8Array>;
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
 * A file operation that failed or was refused, named by the path and what was
 * attempted: in the system's words ("no space left on device") with its code
 * (ENOSPC) — Node's own messages omit the path for some calls (a failed write names
 * none) — or the engine's (a path it will not read: not a regular file, too large).
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

/** Node's fs.Stats and Deno.FileInfo alike (Deno's are booleans, Node's methods). */
export interface FileStats {
  size: number;
  isFile: boolean | (() => boolean);
  isDirectory: boolean | (() => boolean);
  isCharacterDevice?: () => boolean;
  isCharDevice?: boolean | null;
  isBlockDevice?: boolean | null | (() => boolean);
  isFifo?: boolean | null;
  isFIFO?: () => boolean;
  isSocket?: boolean | null | (() => boolean);
}

function flag(stats: FileStats, key: keyof FileStats): boolean {
  const v = stats[key];
  return typeof v === "function" ? (v as () => boolean).call(stats) : v === true;
}

/** What a file that is not regular is, in words. */
function fileKind(s: FileStats): string {
  if (flag(s, "isDirectory")) return "a directory";
  if (flag(s, "isCharacterDevice") || flag(s, "isCharDevice")) return "a character device";
  if (flag(s, "isBlockDevice")) return "a block device";
  if (flag(s, "isFifo") || flag(s, "isFIFO")) return "a FIFO (named pipe)";
  if (flag(s, "isSocket")) return "a socket";
  return "a special file";
}

/**
 * The FileError for a file that is not regular or is larger than `maxBytes`
 * (`what` names the kind of file the limit is for); undefined if it may be read.
 */
export function unreadable(path: string, stats: FileStats, maxBytes: number, what: string): FileError | undefined {
  if (!flag(stats, "isFile")) return new FileError("read", path, `${fileKind(stats)}, not a regular file (the engine reads only regular files)`);
  if (stats.size > maxBytes) return new FileError("read", path, `${stats.size} bytes; expected at most ${maxBytes} for ${what}`);
  return undefined;
}

/** An open file of a host (Node's FileHandle, Deno's FsFile). */
export interface OpenFile {
  stat(): Promise<FileStats>;
  close(): unknown;
}

/** `use(file, size)` if `file` (opened from `path`) is regular and at most `maxBytes`, else a FileError; closes it either way. */
export async function useRegularFile<F extends OpenFile, T>(path: string, file: F, maxBytes: number, what: string, use: (file: F, size: number) => Promise<T>): Promise<T> {
  try {
    const stats = await file.stat();
    const refused = unreadable(path, stats, maxBytes, what);
    if (refused) throw refused;
    return await use(file, stats.size);
  } finally {
    await file.close();
  }
}

/**
 * `length` bytes filled by `read(into, offset)` (into: the next at most 1 GiB, below
 * Node's 2 GiB per read; it returns the bytes read, 0 or null at the end), fewer if the file ends first.
 */
export async function readFully(length: number, read: (into: Uint8Array, offset: number) => Promise<number | null>): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await read(out.subarray(got, Math.min(length, got + 2 ** 30)), got);
    if (!n) break;
    got += n;
  }
  return got === length ? out : out.slice(0, got);
}
