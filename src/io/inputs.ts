// Reading the files a config names. Through the Host, so host-neutral: a file that
// is not regular (a directory, /dev/zero, a FIFO) is refused by the host before a
// byte is read, and a safetensors file's size is checked against its own header
// (read first: the 8-byte length and N bytes of JSON) before the rest is read, so
// a file of the wrong size costs no more than its header. Errors name the config
// field as well as the path.
import type { Host } from "../platform/host.ts";
import { FileError } from "../platform/host.ts";
import { InputError } from "../estimator.ts";
import { checkSafetensorsHead, MAX_HEADER_BYTES } from "./safetensors.ts";

/**
 * `read()`, with a FileError (not a regular file, too large) or a system error (a
 * missing file: ENOENT, EACCES, …) named by config field `field`.
 */
export async function asInput<T>(field: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const systemError = error instanceof Error && typeof (error as { code?: unknown }).code === "string" && !(error instanceof InputError);
    if (error instanceof FileError || systemError) throw new InputError(field, (error as Error).message);
    throw error;
  }
}

/**
 * The bytes of safetensors file `path` (config field `field`), its size checked
 * against its header first where the host can read part of a file. Throws
 * InputError (not a regular file, too large) or SafetensorsError (size and header disagree).
 */
export function readSafetensorsInput(host: Host, path: string, field: string, source = path): Promise<Uint8Array> {
  return asInput(field, async () => {
    if (host.fileSize && host.readRange) {
      const size = await host.fileSize(path);
      if (size >= 8) {
        const prefix = await host.readRange(path, 0, 8);
        const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
        // A prefix too large or past the end is reported from the prefix alone.
        let head = prefix;
        if (declared <= BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
          head = new Uint8Array(8 + Number(declared));
          head.set(prefix);
          head.set(await host.readRange(path, 8, Number(declared)), 8);
        }
        checkSafetensorsHead(head, size, source);
      }
    }
    return host.readBytes(path);
  });
}
