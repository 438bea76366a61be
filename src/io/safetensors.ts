// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors).
//
// File layout, all of it fixed by the format:
//   bytes [0, 8)        N, the header length, as a little-endian u64
//   bytes [8, 8 + N)    the header: UTF-8 JSON object
//                         { "<tensor name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] },
//                           "__metadata__": { "<key>": "<string value>" } }   (metadata optional)
//   bytes [8 + N, EOF)  the data buffer; data_offsets are relative to its start
// Tensor data is little-endian and row-major ("C" order), per the format spec.
//
// The checks below mirror what the reference Rust implementation
// (safetensors/src/tensor.rs, `SafeTensors::read_metadata` and `Metadata::validate`)
// enforces, so a file this module accepts is one the Python/Rust library accepts and
// vice versa, for the dtypes supported here. Each rejection names the file, the tensor
// and what was expected vs found, because "InvalidOffset" alone does not tell anyone
// which of 300 tensors in a checkpoint is broken.
//
// Host-neutral on purpose: only Uint8Array, DataView, TextEncoder and TextDecoder,
// so the same code runs in Node, Deno and browsers.

import { parseJson } from "./json.ts";

export type DType = "F32" | "F64" | "I32" | "I64" | "U16" | "U8";

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  /** Ordered by position in the data buffer (the order the reference reports `tensor_names`). */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
  /** The file (or "writeSafetensors" / "tensorToFloat64") the problem was found in. */
  readonly source?: string;
  /** The tensor the problem concerns, when there is one. */
  readonly tensor?: string;

  constructor(message: string, details: { source?: string; tensor?: string } = {}) {
    super(message);
    if (details.source !== undefined) this.source = details.source;
    if (details.tensor !== undefined) this.tensor = details.tensor;
  }
}

interface DTypeInfo {
  size: number;
  /** Object.prototype.toString tag of the matching typed array; tags work across realms, instanceof does not. */
  tag: string;
  make(buffer: ArrayBuffer, count: number): TensorData;
}

const DTYPES: Record<DType, DTypeInfo> = {
  F32: { size: 4, tag: "Float32Array", make: (b, n) => new Float32Array(b, 0, n) },
  F64: { size: 8, tag: "Float64Array", make: (b, n) => new Float64Array(b, 0, n) },
  I32: { size: 4, tag: "Int32Array", make: (b, n) => new Int32Array(b, 0, n) },
  I64: { size: 8, tag: "BigInt64Array", make: (b, n) => new BigInt64Array(b, 0, n) },
  U16: { size: 2, tag: "Uint16Array", make: (b, n) => new Uint16Array(b, 0, n) },
  U8: { size: 1, tag: "Uint8Array", make: (b, n) => new Uint8Array(b, 0, n) },
};

const SUPPORTED = Object.keys(DTYPES).join(", ");

// Valid in the format (the reference's `Dtype` enum) but not decoded here; named
// separately so the error says "not supported by this reader" rather than "not a dtype".
const OTHER_FORMAT_DTYPES = new Set([
  "BOOL", "I8", "U32", "U64", "I16", "F16", "BF16", "F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
]);

/** The reference rejects headers above 100 MB (MAX_HEADER_SIZE = 100_000_000) as a guard against hostile length prefixes. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = "__metadata__";
const DEFAULT_SOURCE = "<safetensors bytes>";

// Typed arrays use the host's byte order, the format mandates little-endian; every
// mainstream host is little-endian, but swapping keeps big-endian ones correct.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function tagOf(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Short JSON-ish rendering of a found value for messages; headers can be megabytes. */
function preview(value: unknown): string {
  let text: string;
  if (value === undefined) text = "undefined";
  else if (typeof value === "bigint") text = `${value}n`;
  else if (typeof value === "number" && !Number.isFinite(value)) text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const quote = (name: string): string => JSON.stringify(name);

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Element count of a shape, or undefined when it exceeds 2^53 - 1 (the reference
 * fails such shapes with ValidationOverflow; here no file could hold them anyway).
 */
function elementCount(shape: readonly number[]): number | undefined {
  if (shape.includes(0)) return 0;
  let count = 1;
  for (const dim of shape) {
    count *= dim;
    if (!Number.isSafeInteger(count)) return undefined;
  }
  return count;
}

// The reference sorts names with Rust's String ordering, which is byte-wise UTF-8,
// i.e. code point order. JS `<` compares UTF-16 code units, which disagrees for
// characters above U+FFFF vs U+E000..U+FFFF, so compare code points explicitly.
function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

// A lone surrogate cannot be encoded as UTF-8; JSON.stringify would write it as a
// "\ud800" escape, which serde_json (and so the reference reader) rejects.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

export function readSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  const fail = failIn(source ?? DEFAULT_SOURCE);
  if (tagOf(bytes) !== "Uint8Array") throw fail(`expected the file contents as a Uint8Array, found ${tagOf(bytes)}`);
  const { ordered, metadata, dataStart } = readLayout(bytes, bytes.length, fail);

  const tensors = new Map<string, Tensor>();
  for (const entry of ordered) {
    const info = DTYPES[entry.dtype];
    // Copy rather than view: data_offsets need not be multiples of the element size
    // (only writers align, readers may not assume it), and typed array views require
    // alignment. A copy also detaches the result from the caller's file buffer.
    // Uint8Array's own slice copies; a Node Buffer's slice would return a view into a pooled buffer.
    const copy = Uint8Array.prototype.slice.call(bytes, dataStart + entry.begin, dataStart + entry.end);
    if (!HOST_LITTLE_ENDIAN) swapBytes(copy, info.size);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data: info.make(copy.buffer, entry.count) });
  }
  return { tensors, metadata };
}

type Fail = (problem: string, tensor?: string) => SafetensorsError;

/** The errors of file `where`, naming the tensor when there is one. */
function failIn(where: string): Fail {
  return (problem, tensor) =>
    new SafetensorsError(`${where}: ${tensor === undefined ? "" : `tensor ${quote(tensor)}: `}${problem}`, { source: where, tensor });
}

/**
 * The header of a file of `fileLength` bytes, validated against that length:
 * `bytes` holds at least the length prefix and the header (the whole file when
 * reading it; just 8 + N bytes when checking a file's size before reading it).
 */
function readLayout(bytes: Uint8Array, fileLength: number, fail: Fail): { ordered: Entry[]; metadata: Record<string, string>; dataStart: number } {
  if (fileLength < 8) {
    throw fail(`file is ${fileLength} bytes long; expected at least 8 bytes for the u64 header length prefix`);
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  // Checked before the bounds check, as the reference does (HeaderTooLarge), so a
  // corrupt prefix reads as "absurd length" rather than "truncated file".
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length prefix is ${declared} bytes; expected at most ${MAX_HEADER_BYTES} (the format's 100 MB limit)`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > fileLength) {
    throw fail(
      `header length prefix is ${headerLength} bytes but only ${fileLength - 8} bytes follow the prefix (file is ${fileLength} bytes)`,
    );
  }

  let headerBytes = bytes.subarray(8, 8 + headerLength);
  // Browsers' TextDecoder refuses views of a SharedArrayBuffer.
  if (tagOf(headerBytes.buffer) === "SharedArrayBuffer") headerBytes = headerBytes.slice();
  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF in the text, so JSON.parse rejects it the way
    // serde_json does in the reference, instead of TextDecoder silently dropping it.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw fail(`header (bytes 8..${8 + headerLength}) is not valid UTF-8; the format requires a UTF-8 JSON header`);
  }

  const header = parseJson(text, (detail) => fail(`header is not valid JSON (${detail}); header starts with ${preview(text.slice(0, 40))}`));
  if (!isPlainObject(header)) {
    throw fail(`header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}, found ${preview(header)}`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = fileLength - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];

  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === METADATA_KEY) {
      metadata = readMetadata(value, fail);
      continue;
    }
    entries.push(readEntry(name, value, dataLength, fail));
  }

  // The reference sorts entries by data_offsets and requires each to begin exactly
  // where the previous one ended, the first at 0 and the last at the end of the file
  // (Metadata::validate + MetadataIncompleteBuffer): no overlaps, since a byte may
  // belong to one tensor only, and no holes, so no unaccounted bytes can hide in a
  // file. Header order itself is free; older writers ordered by name.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end || compareCodePoints(a.name, b.name));
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of ordered) {
    if (entry.begin < covered) {
      throw fail(
        `data_offsets [${entry.begin}, ${entry.end}] overlap tensor ${quote(previous!.name)} at [${previous!.begin}, ${previous!.end}]; ` +
          `expected this tensor to start at ${covered} (tensors must not share bytes)`,
        entry.name,
      );
    }
    if (entry.begin > covered) {
      throw fail(
        previous === undefined
          ? `data_offsets [${entry.begin}, ${entry.end}] leave a hole: data buffer bytes 0..${entry.begin} belong to no tensor; ` +
              `expected the first tensor to start at offset 0`
          : `data_offsets [${entry.begin}, ${entry.end}] leave a hole: data buffer bytes ${covered}..${entry.begin} ` +
              `between tensor ${quote(previous.name)} (ends at ${covered}) and this one belong to no tensor; ` +
              `expected this tensor to start at ${covered}`,
        entry.name,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    // covered > dataLength is impossible here: readEntry already bounded every end.
    throw fail(
      previous === undefined
        ? `header declares no tensors but the data buffer holds ${dataLength} bytes; expected an empty data buffer`
        : `data_offsets [${previous.begin}, ${previous.end}] end the tensor data at ${covered}, but the data buffer holds ` +
            `${dataLength} bytes; bytes ${covered}..${dataLength} belong to no tensor (a hole at the end)`,
      previous?.name,
    );
  }

  return { ordered, metadata, dataStart };
}

/**
 * Checks that the length prefix and header at the start of a file (`head`, at
 * least 8 + N bytes of it) account for exactly its `fileLength` bytes, as
 * readSafetensors would, so a file's size is checked before the rest is read.
 * Throws SafetensorsError.
 */
export function checkSafetensorsHead(head: Uint8Array, fileLength: number, source?: string): void {
  readLayout(head, fileLength, failIn(source ?? DEFAULT_SOURCE));
}

function readMetadata(value: unknown, fail: Fail): Record<string, string> {
  // The reference types __metadata__ as Option<HashMap<String, String>>, so JSON null
  // means "no metadata" there; accept it the same way.
  if (value === null) return {};
  if (!isPlainObject(value)) {
    throw fail(`"${METADATA_KEY}" must be an object of string values, found ${preview(value)}`);
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw fail(`"${METADATA_KEY}" value for key ${quote(key)} must be a string, found ${preview(item)}`);
    }
  }
  // fromEntries defines own properties, so a key like "__proto__" stays an ordinary key.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function readEntry(name: string, value: unknown, dataLength: number, fail: Fail): Entry {
  if (!isPlainObject(value)) {
    throw fail(`header entry must be an object with "dtype", "shape" and "data_offsets", found ${preview(value)}`, name);
  }
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!Object.prototype.hasOwnProperty.call(value, field)) {
      throw fail(`header entry is missing "${field}"; expected {"dtype", "shape", "data_offsets"}, found ${preview(value)}`, name);
    }
  }

  const dtype = value.dtype;
  if (typeof dtype !== "string") throw fail(`"dtype" must be a string, found ${preview(dtype)}`, name);
  if (!Object.prototype.hasOwnProperty.call(DTYPES, dtype)) {
    throw fail(
      OTHER_FORMAT_DTYPES.has(dtype)
        ? `dtype ${quote(dtype)} is valid safetensors but not supported by this reader; supported dtypes: ${SUPPORTED}`
        : `unknown dtype ${quote(dtype)}; supported dtypes: ${SUPPORTED}`,
      name,
    );
  }
  const info = DTYPES[dtype as DType];

  const shape = value.shape;
  if (!Array.isArray(shape)) throw fail(`"shape" must be an array of non-negative integers, found ${preview(shape)}`, name);
  shape.forEach((dim: unknown, i) => {
    if (!isNonNegativeInteger(dim)) {
      throw fail(`shape[${i}] must be a non-negative integer, found ${preview(dim)} (shape ${preview(shape)})`, name);
    }
  });
  const count = elementCount(shape);
  if (count === undefined) throw fail(`shape ${preview(shape)} has more than 2^53 - 1 elements`, name);

  const offsets = value.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw fail(`"data_offsets" must be two non-negative integers [begin, end], found ${preview(offsets)}`, name);
  }
  offsets.forEach((offset: unknown, i) => {
    if (!isNonNegativeInteger(offset)) {
      throw fail(`data_offsets[${i}] must be a non-negative integer, found ${preview(offset)} (data_offsets ${preview(offsets)})`, name);
    }
  });
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] end before they begin; expected begin <= end`, name);
  if (end > dataLength) {
    throw fail(`data_offsets [${begin}, ${end}] reach past the end of the data buffer, which holds ${dataLength} bytes`, name);
  }

  const expected = count * info.size;
  if (end - begin !== expected) {
    throw fail(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape ${preview(shape)} of ${dtype} needs ` +
        `${count} elements x ${info.size} bytes = ${expected} bytes`,
      name,
    );
  }
  return { name, dtype: dtype as DType, shape: [...shape] as number[], count, begin, end };
}

export function writeSafetensors(
  tensors: Record<string, Tensor> | Map<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const where = "writeSafetensors";
  const fail = (problem: string, tensor?: string): SafetensorsError =>
    new SafetensorsError(`${where}: ${tensor === undefined ? "" : `tensor ${quote(tensor)}: `}${problem}`, {
      source: where,
      tensor,
    });

  let input: [unknown, unknown][];
  if (tensors instanceof Map) input = [...tensors];
  else if (isPlainObject(tensors)) input = Object.entries(tensors);
  else throw fail(`expected a Map or object of tensors, found ${preview(tensors)}`);

  const checked: { name: string; tensor: Tensor; info: DTypeInfo }[] = [];
  for (const [name, tensor] of input) {
    if (typeof name !== "string") throw fail(`tensor names must be strings, found ${preview(name)}`);
    // "__metadata__" is the header's metadata slot; a tensor of that name would be
    // read back as (invalid) metadata.
    if (name === METADATA_KEY) throw fail(`"${METADATA_KEY}" is reserved by the format for metadata and cannot name a tensor`, name);
    if (LONE_SURROGATE.test(name)) throw fail(`name contains a lone UTF-16 surrogate, which UTF-8 cannot encode`, name);
    checked.push({ name, tensor: tensor as Tensor, info: checkTensor(name, tensor, fail) });
  }
  // Sorted by name so equal inputs give equal bytes whatever the insertion order.
  // (The reference orders by dtype alignment first, then name; by-name keeps a
  // file's layout predictable from its names alone, and readers accept any order.)
  checked.sort((a, b) => compareCodePoints(a.name, b.name));

  const metaEntries = checkMetadata(metadata, fail);

  // Key order follows the reference serializer: "__metadata__" first, then the
  // tensors in data order; TensorInfo fields in the order dtype, shape, data_offsets.
  // Built by hand rather than via an object so names like "__proto__" or "10" keep
  // their place.
  const parts: string[] = [];
  if (metaEntries.length > 0) {
    parts.push(`${quote(METADATA_KEY)}:{${metaEntries.map(([k, v]) => `${quote(k)}:${quote(v)}`).join(",")}}`);
  }
  let offset = 0;
  for (const { name, tensor } of checked) {
    const end = offset + tensor.data.byteLength;
    parts.push(`${quote(name)}:{"dtype":${quote(tensor.dtype)},"shape":[${tensor.shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Pad with spaces (JSON whitespace) to a multiple of 8, as the reference writer
  // does: with the 8-byte prefix the data buffer then starts 8-byte aligned, so
  // memory-mapping readers can view tensors in place.
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_BYTES) {
    throw fail(`header would be ${headerLength} bytes; readers reject headers above ${MAX_HEADER_BYTES} bytes`);
  }

  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { tensor, info } of checked) {
    const data = tensor.data;
    const chunk = out.subarray(position, position + data.byteLength);
    chunk.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (!HOST_LITTLE_ENDIAN) swapBytes(chunk, info.size);
    position += data.byteLength;
  }
  return out;
}

function checkTensor(name: string, tensor: unknown, fail: Fail): DTypeInfo {
  if (!isPlainObject(tensor)) throw fail(`expected {dtype, shape, data}, found ${preview(tensor)}`, name);
  const { dtype, shape, data } = tensor;
  if (typeof dtype !== "string" || !Object.prototype.hasOwnProperty.call(DTYPES, dtype)) {
    throw fail(`unknown dtype ${preview(dtype)}; supported dtypes: ${SUPPORTED}`, name);
  }
  const info = DTYPES[dtype as DType];
  const tag = tagOf(data);
  if (tag !== info.tag || !ArrayBuffer.isView(data)) {
    throw fail(`dtype ${dtype} needs its data in a ${info.tag}, found ${tag}`, name);
  }
  if (!Array.isArray(shape)) throw fail(`shape must be an array of non-negative integers, found ${preview(shape)}`, name);
  shape.forEach((dim: unknown, i) => {
    if (!isNonNegativeInteger(dim)) {
      throw fail(`shape[${i}] must be a non-negative integer, found ${preview(dim)} (shape ${preview(shape)})`, name);
    }
  });
  const count = elementCount(shape);
  const length = (data as TensorData).length;
  if (count !== length) {
    throw fail(`shape ${preview(shape)} has ${count ?? "more than 2^53 - 1"} elements but data holds ${length}`, name);
  }
  return info;
}

function checkMetadata(metadata: unknown, fail: Fail): [string, string][] {
  if (metadata === undefined || metadata === null) return [];
  if (!isPlainObject(metadata)) throw fail(`metadata must be an object of string values, found ${preview(metadata)}`);
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    // The reference types metadata as HashMap<String, String>: anything else makes the file unreadable there.
    if (typeof value !== "string") throw fail(`metadata value for key ${quote(key)} must be a string, found ${preview(value)}`);
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
      throw fail(`metadata entry ${quote(key)} contains a lone UTF-16 surrogate, which UTF-8 cannot encode`);
    }
  }
  // Sorted so the bytes do not depend on the caller's key insertion order.
  return (entries as [string, string][]).sort((a, b) => compareCodePoints(a[0], b[0]));
}

/**
 * Values of any supported tensor as float64, for numeric code that does not care
 * about storage type. I64 values go through Number, so any beyond +-(2^53 - 1),
 * where float64 stops representing every integer, are an error rather than a
 * silent rounding.
 */
export function tensorToFloat64(t: Tensor): Float64Array {
  const where = "tensorToFloat64";
  if (!Object.prototype.hasOwnProperty.call(DTYPES, t.dtype)) {
    throw new SafetensorsError(`${where}: unknown dtype ${preview(t.dtype)}; supported dtypes: ${SUPPORTED}`, { source: where });
  }
  const info = DTYPES[t.dtype];
  if (tagOf(t.data) !== info.tag) {
    throw new SafetensorsError(`${where}: dtype ${t.dtype} needs its data in a ${info.tag}, found ${tagOf(t.data)}`, {
      source: where,
    });
  }
  if (t.dtype !== "I64") return Float64Array.from(t.data as Exclude<TensorData, BigInt64Array>);

  const data = t.data as BigInt64Array;
  const out = new Float64Array(data.length);
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v > limit || v < -limit) {
      throw new SafetensorsError(
        `${where}: I64 element ${i} is ${v}, beyond +-(2^53 - 1) = ${limit}; float64 cannot hold it exactly`,
        { source: where },
      );
    }
    out[i] = Number(v);
  }
  return out;
}
