// The WASI command's contact with its host: files in preopened directories,
// stdout/stderr, the clock, exit codes. Only wasi_snapshot_preview1 functions.
//
// Paths name files inside the sandbox as the guest sees them: the runtime's
// preopens (`wasmtime run --dir DIR`, node:wasi `preopens: {"/case": DIR}`) are
// matched against a path's leading components (the longest match wins), and the
// rest is opened relative to that directory.

import {
  fd_write, fd_read, fd_close, fd_prestat_get, fd_prestat_dir_name, fd_filestat_get, path_open, proc_exit, clock_time_get,
  prestat, filestat,
} from "bindings/wasi_snapshot_preview1";
import { CharSink } from "./numbers";

const iov = memory.data(32, 16);

/** Write all `len` bytes at `ptr` to `fd`. */
export function writeAll(fd: u32, ptr: usize, len: usize): void {
  while (len > 0) {
    store<usize>(iov, ptr);
    store<usize>(iov, len, sizeof<usize>());
    const err = fd_write(fd, iov, 1, iov + 16);
    if (err != 0) return; // nowhere left to report it
    const n = load<usize>(iov + 16);
    if (n == 0) return;
    ptr += n;
    len -= n;
  }
}

/** UTF-8 bytes of UTF-16 text (lone surrogates become U+FFFD, as TextEncoder does). */
export function encodeUtf8(src: usize, units: i32, out: ByteSink): void {
  for (let i = 0; i < units; i++) {
    let c = <i32>load<u16>(src + (<usize>i << 1));
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const d = <i32>load<u16>(src + (<usize>(i + 1) << 1));
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) {
      out.push(0xc0 | (c >> 6));
      out.push(0x80 | (c & 63));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12));
      out.push(0x80 | ((c >> 6) & 63));
      out.push(0x80 | (c & 63));
    } else {
      out.push(0xf0 | (c >> 18));
      out.push(0x80 | ((c >> 12) & 63));
      out.push(0x80 | ((c >> 6) & 63));
      out.push(0x80 | (c & 63));
    }
  }
}

export class ByteSink {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
  push(b: i32): void {
    if (this.len == this.cap) {
      const cap = max(256, this.cap * 2);
      const next = heap.alloc(<usize>cap);
      if (this.len) memory.copy(next, this.ptr, <usize>this.len);
      this.ptr = next;
      this.cap = cap;
    }
    store<u8>(this.ptr + <usize>this.len, <u8>b);
    this.len++;
  }
}

const errBytes = new ByteSink();

export function writeText(fd: u32, s: string): void {
  errBytes.len = 0;
  encodeUtf8(changetype<usize>(s), s.length, errBytes);
  writeAll(fd, errBytes.ptr, errBytes.len);
}

/** Stdout through a buffer, flushed every 64 Ki characters. */
export class Output {
  chars: CharSink = new CharSink();
  bytes: ByteSink = new ByteSink();
  maybeFlush(): void {
    if (this.chars.len >= 65536) this.flush();
  }
  flush(): void {
    this.bytes.len = 0;
    encodeUtf8(this.chars.ptr, this.chars.len, this.bytes);
    writeAll(1, this.bytes.ptr, this.bytes.len);
    this.chars.len = 0;
  }
}

export function exit(code: u32): void {
  proc_exit(code);
}

/** Monotonic clock in milliseconds (0 if the host has none). */
export function nowMs(): f64 {
  const err = clock_time_get(1, 1000, iov + 24);
  if (err != 0) return 0;
  return <f64>load<u64>(iov + 24) / 1e6;
}

// ─────────────────────────────── text decoding ───────────────────────────────

let decodeFailed = false;

/**
 * UTF-8 → UTF-16 as the WHATWG decoder does it: with `fatal`, null on the first
 * invalid sequence (TextDecoder {fatal: true}); otherwise each maximal invalid
 * subpart becomes U+FFFD (Node's readFile(path, "utf8")).
 */
export function decodeUtf8(ptr: usize, len: i32, fatal: bool): string | null {
  const out = new CharSink();
  let needed = 0, seen = 0, cp = 0, lower = 0x80, upper = 0xbf;
  decodeFailed = false;
  let i = 0;
  while (i < len) {
    const b = <i32>load<u8>(ptr + <usize>i);
    if (needed == 0) {
      i++;
      if (b <= 0x7f) out.push(b);
      else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0) lower = 0xa0;
        if (b == 0xed) upper = 0x9f;
        needed = 2;
        cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0) lower = 0x90;
        if (b == 0xf4) upper = 0x8f;
        needed = 3;
        cp = b & 7;
      } else {
        if (fatal) return null;
        out.push(0xfffd);
      }
      continue;
    }
    if (b < lower || b > upper) {
      needed = seen = cp = 0;
      lower = 0x80;
      upper = 0xbf;
      if (fatal) return null;
      out.push(0xfffd);
      continue; // the byte is processed again as a fresh start
    }
    i++;
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    seen++;
    if (seen == needed) {
      if (cp >= 0x10000) {
        out.push(0xd800 + ((cp - 0x10000) >> 10));
        out.push(0xdc00 + ((cp - 0x10000) & 0x3ff));
      } else out.push(cp);
      needed = seen = cp = 0;
    }
  }
  if (needed != 0) {
    if (fatal) return null;
    out.push(0xfffd);
  }
  return out.toString();
}

// ─────────────────────────────── files ───────────────────────────────

class Preopen {
  fd: u32;
  name: string; // normalized: "/case", "" for "." (relative root), "/" for the root
  absolute: bool;
  constructor(fd: u32, name: string, absolute: bool) {
    this.fd = fd;
    this.name = name;
    this.absolute = absolute;
  }
}

let preopens: Preopen[] | null = null;

/** Normalize a slash-separated path: drop "." and empty components, resolve ".." where possible. */
export function normalizePath(path: string): string {
  const absolute = path.length > 0 && path.charCodeAt(0) == 47;
  const parts = path.split("/");
  const kept: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.length == 0 || p == ".") continue;
    if (p == "..") {
      if (kept.length > 0 && kept[kept.length - 1] != "..") {
        kept.pop();
        continue;
      }
      if (absolute) continue; // "/.." is "/"
    }
    kept.push(p);
  }
  const joined = kept.join("/");
  return absolute ? "/" + joined : joined;
}

/** Resolve `path` against the directory of `base` (src/platform/node.ts resolve, without a cwd). */
export function resolveAgainst(base: string, path: string): string {
  if (path.length > 0 && path.charCodeAt(0) == 47) return normalizePath(path);
  const slash = base.lastIndexOf("/");
  const dir = slash < 0 ? "" : slash == 0 ? "/" : base.substring(0, slash);
  return normalizePath(dir.length == 0 ? path : dir + "/" + path);
}

function loadPreopens(): Preopen[] {
  if (preopens != null) return changetype<Preopen[]>(preopens);
  const list: Preopen[] = [];
  const buf = memory.data(16, 8);
  for (let fd: u32 = 3; fd < 1024; fd++) {
    if (fd_prestat_get(fd, changetype<prestat>(buf)) != 0) break;
    if (load<u8>(buf) != 0) continue; // not a directory
    const len = load<u32>(buf, 4);
    const name = heap.alloc(max<usize>(len, 1));
    if (fd_prestat_dir_name(fd, name, len) != 0) continue;
    const raw = decodeUtf8(name, <i32>len, false);
    const text = raw == null ? "" : changetype<string>(raw);
    const absolute = text.length > 0 && text.charCodeAt(0) == 47;
    list.push(new Preopen(fd, normalizePath(text), absolute));
  }
  preopens = list;
  return list;
}

export function preopenNames(): string {
  const list = loadPreopens();
  if (list.length == 0) return "none";
  const names: string[] = [];
  for (let i = 0; i < list.length; i++) names.push(list[i].name.length ? list[i].name : ".");
  return names.join(", ");
}

/** Set when readFile returns null. */
export let fileError: string = "";

function errnoText(err: i32): string {
  if (err == 44) return "ENOENT: no such file or directory";
  if (err == 31) return "EISDIR: illegal operation on a directory";
  if (err == 2) return "EACCES: permission denied";
  if (err == 76) return "ENOTCAPABLE: not permitted in the WASI sandbox";
  if (err == 54) return "ENOTDIR: not a directory";
  if (err == 63) return "EPERM: operation not permitted";
  if (err == 32) return "ELOOP: too many symbolic links";
  if (err == 48) return "ENOMEM: not enough memory";
  return "WASI errno " + err.toString();
}

export class FileBytes {
  ptr: usize;
  len: i32;
  constructor(ptr: usize, len: i32) {
    this.ptr = ptr;
    this.len = len;
  }
}

/** What a WASI filetype that is not a regular file is, in the JS hosts' words. */
function fileKindText(kind: u8): string {
  if (kind == 3) return "a directory";
  if (kind == 2) return "a character device";
  if (kind == 1) return "a block device";
  if (kind == 5 || kind == 6) return "a socket";
  return "a special file";
}

/** The whole file at a (normalized) guest path, or null with fileError set. */
export function readFile(path: string): FileBytes | null {
  const list = loadPreopens();
  const absolute = path.length > 0 && path.charCodeAt(0) == 47;
  let best: Preopen | null = null;
  let rest = "";
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    if (p.absolute != absolute) continue;
    let remainder: string | null = null;
    if (p.name == "/" ) remainder = path.substring(1);
    else if (p.name.length == 0) remainder = path;
    else if (path == p.name) remainder = "";
    else if (path.startsWith(p.name + "/")) remainder = path.substring(p.name.length + 1);
    if (remainder == null) continue;
    if (best == null || p.name.length > changetype<Preopen>(best).name.length) {
      best = p;
      rest = changetype<string>(remainder);
    }
  }
  if (best == null) {
    fileError = "cannot open '" + path + "': no preopened directory contains it (preopened: " + preopenNames() +
      "); give the runtime the file's directory (wasmtime run --dir DIR, node:wasi preopens)";
    return null;
  }
  if (rest.length == 0) rest = ".";
  const encoded = String.UTF8.encode(rest);
  const out = memory.data(8, 8);
  // LOOKUP_SYMLINK_FOLLOW; rights FD_READ | FD_SEEK | FD_FILESTAT_GET; fdflags NONBLOCK, so that
  // opening a FIFO does not wait for a writer (the file type is checked below, before any read).
  const err = path_open(changetype<Preopen>(best).fd, 1, changetype<usize>(encoded), <usize>encoded.byteLength, 0, 0x2 | 0x4 | 0x200000, 0, 0x4, out);
  if (err != 0) {
    fileError = errnoText(err) + ", open '" + path + "'";
    return null;
  }
  const fd = load<u32>(out);
  const stat = heap.alloc(64);
  let size: u64 = 0;
  // Regular files only, as the JS hosts (src/platform/host.ts useRegularFile): /dev/zero or a
  // FIFO would be read forever. filestat: filetype u8 at byte 16, size u64 at byte 32.
  const statErr = fd_filestat_get(fd, changetype<filestat>(stat));
  if (statErr != 0) {
    fd_close(fd);
    fileError = errnoText(statErr) + ", stat '" + path + "'";
    return null;
  }
  const kind = load<u8>(stat, 16);
  if (kind != 4) {
    fd_close(fd);
    fileError = "cannot read " + path + ": " + fileKindText(kind) + ", not a regular file (the engine reads only regular files)";
    return null;
  }
  size = load<u64>(stat, 32);
  if (size > 0x7fff0000) {
    fd_close(fd);
    fileError = "'" + path + "' is " + size.toString() + " bytes; the WASI build reads files of at most 2 GiB";
    return null;
  }
  let cap = <i32>size + 1;
  let data = heap.alloc(<usize>cap);
  let len = 0;
  for (;;) {
    if (len == cap) {
      const next = heap.alloc(<usize>cap * 2);
      memory.copy(next, data, <usize>len);
      data = next;
      cap *= 2;
    }
    store<usize>(iov, data + <usize>len);
    store<usize>(iov, <usize>(cap - len), sizeof<usize>());
    const e = fd_read(fd, iov, 1, iov + 16);
    if (e != 0) {
      fd_close(fd);
      fileError = errnoText(e) + ", read '" + path + "'";
      return null;
    }
    const n = <i32>load<usize>(iov + 16);
    if (n == 0) break;
    len += n;
  }
  fd_close(fd);
  return new FileBytes(data, len);
}
