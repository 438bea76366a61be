// Reader for the safetensors format, with the checks and messages of
// src/io/safetensors.ts readSafetensors (which mirror the reference Rust
// implementation): u64 little-endian header length (at most 100 MB), a UTF-8
// JSON header mapping names to {dtype, shape, data_offsets} plus an optional
// "__metadata__" of strings, and tensors that tile the data buffer exactly (no
// overlaps, no holes). Tensors are not copied: values are read in place.
//
// Decodes F32, F64, I32, I64, U16 and U8 like the JavaScript reader (the model
// takes F32/F64 weights; data of any of these dtypes is converted to f32).

import { FileBytes, decodeUtf8 } from "./io";
import { JValue, parseJson, jsonErrorOffset, jsonErrorProblem, lineColumn, compactJson, quoteJson, J_NUMBER } from "./json";
import { formatNumber } from "./numbers";
import { fail } from "./errors";
import { findByName, namesOf } from "./names";

export class Tensor {
  name: string;
  dtype: string;
  shape: f64[];
  count: f64;
  begin: f64;
  end: f64;
  code: i32; // index in DTYPES
  ptr: usize = 0; // address of the first byte in memory
  constructor(name: string, dtype: string, shape: f64[], count: f64, begin: f64, end: f64) {
    this.name = name;
    this.dtype = dtype;
    this.code = DTYPES.indexOf(dtype);
    this.shape = shape;
    this.count = count;
    this.begin = begin;
    this.end = end;
  }
}

export class SafetensorsFile {
  /** Ordered by position in the data buffer (the order the JavaScript reader's Map has). */
  tensors: Tensor[] = [];
  get(name: string): Tensor | null {
    return findByName<Tensor>(this.tensors, name);
  }
  names(): string {
    return namesOf<Tensor>(this.tensors);
  }
}

const DTYPES = ["F32", "F64", "I32", "I64", "U16", "U8"];
const DTYPE_SIZES: i32[] = [4, 8, 4, 8, 2, 1];
export const DT_F32: i32 = 0;
export const DT_F64: i32 = 1;
export const DT_I32: i32 = 2;
export const DT_U16: i32 = 4;
export const DT_U8: i32 = 5;
const SUPPORTED = "F32, F64, I32, I64, U16, U8";
const OTHER_FORMAT_DTYPES = [
  "BOOL", "I8", "U32", "U64", "I16", "F16", "BF16", "F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
];
const MAX_HEADER_BYTES: u64 = 100000000;
const METADATA_KEY = "__metadata__";

export function dtypeSize(dtype: string): i32 {
  return DTYPE_SIZES[DTYPES.indexOf(dtype)];
}

let where: string = "";

function stFail(problem: string, tensor: string | null = null): void {
  fail("SafetensorsError", where + ": " + (tensor == null ? "" : "tensor " + quoteJson(changetype<string>(tensor)) + ": ") + problem);
}

/** src/io/safetensors.ts preview: JSON text of a found value, cut to 80 characters. */
function preview(v: JValue): string {
  const text = v.kind == J_NUMBER && !isFinite(v.num) ? formatNumber(v.num) : compactJson(v);
  return text.length > 80 ? text.substring(0, 77) + "..." : text;
}

function previewText(s: string): string {
  const text = quoteJson(s);
  return text.length > 80 ? text.substring(0, 77) + "..." : text;
}

function isNonNegativeInteger(v: JValue): bool {
  if (v.kind != J_NUMBER) return false;
  const x = v.num;
  return isFinite(x) && Math.trunc(x) == x && Math.abs(x) <= 9007199254740991 && x >= 0;
}

function n(x: f64): string {
  return formatNumber(x);
}

function readEntry(name: string, value: JValue, dataLength: f64): Tensor {
  if (!value.isObject) stFail('header entry must be an object with "dtype", "shape" and "data_offsets", found ' + preview(value), name);
  const fields = ["dtype", "shape", "data_offsets"];
  for (let i = 0; i < fields.length; i++) {
    if (!value.has(fields[i])) {
      stFail('header entry is missing "' + fields[i] + '"; expected {"dtype", "shape", "data_offsets"}, found ' + preview(value), name);
    }
  }
  const dtypeValue = changetype<JValue>(value.get("dtype"));
  if (!dtypeValue.isString) stFail('"dtype" must be a string, found ' + preview(dtypeValue), name);
  const dtype = dtypeValue.str;
  if (!DTYPES.includes(dtype)) {
    stFail(
      OTHER_FORMAT_DTYPES.includes(dtype)
        ? "dtype " + quoteJson(dtype) + " is valid safetensors but not supported by this reader; supported dtypes: " + SUPPORTED
        : "unknown dtype " + quoteJson(dtype) + "; supported dtypes: " + SUPPORTED,
      name,
    );
  }
  const size = dtypeSize(dtype);

  const shapeValue = changetype<JValue>(value.get("shape"));
  if (!shapeValue.isArray) stFail('"shape" must be an array of non-negative integers, found ' + preview(shapeValue), name);
  const shape: f64[] = [];
  for (let i = 0; i < shapeValue.items.length; i++) {
    const dim = shapeValue.items[i];
    if (!isNonNegativeInteger(dim)) {
      stFail("shape[" + i.toString() + "] must be a non-negative integer, found " + preview(dim) + " (shape " + preview(shapeValue) + ")", name);
    }
    shape.push(dim.num == 0 ? 0 : dim.num);
  }
  let count: f64 = 1;
  if (shape.includes(0)) count = 0;
  else {
    for (let i = 0; i < shape.length; i++) {
      count *= shape[i];
      if (!(count <= 9007199254740991)) stFail("shape " + preview(shapeValue) + " has more than 2^53 - 1 elements", name);
    }
  }

  const offsets = changetype<JValue>(value.get("data_offsets"));
  if (!offsets.isArray || offsets.items.length != 2) {
    stFail('"data_offsets" must be two non-negative integers [begin, end], found ' + preview(offsets), name);
  }
  for (let i = 0; i < 2; i++) {
    if (!isNonNegativeInteger(offsets.items[i])) {
      stFail("data_offsets[" + i.toString() + "] must be a non-negative integer, found " + preview(offsets.items[i]) + " (data_offsets " + preview(offsets) + ")", name);
    }
  }
  const begin = offsets.items[0].num == 0 ? 0 : offsets.items[0].num;
  const end = offsets.items[1].num == 0 ? 0 : offsets.items[1].num;
  const span = "data_offsets [" + n(begin) + ", " + n(end) + "]";
  if (begin > end) stFail(span + " end before they begin; expected begin <= end", name);
  if (end > dataLength) stFail(span + " reach past the end of the data buffer, which holds " + n(dataLength) + " bytes", name);
  const expectedBytes = count * <f64>size;
  if (end - begin != expectedBytes) {
    stFail(
      span + " span " + n(end - begin) + " bytes, but shape " + preview(shapeValue) + " of " + dtype + " needs " + n(count) +
        " elements x " + size.toString() + " bytes = " + n(expectedBytes) + " bytes",
      name,
    );
  }
  return new Tensor(name, dtype, shape, count, begin, end);
}

function readMetadata(value: JValue): void {
  if (value.isNull) return;
  if (!value.isObject) stFail('"' + METADATA_KEY + '" must be an object of string values, found ' + preview(value));
  const keys = value.orderedKeys();
  for (let i = 0; i < keys.length; i++) {
    const item = changetype<JValue>(value.get(keys[i]));
    if (!item.isString) stFail('"' + METADATA_KEY + '" value for key ' + quoteJson(keys[i]) + " must be a string, found " + preview(item));
  }
}

/** Rust's String order (UTF-8 bytes = code points), not UTF-16 code units. */
function compareCodePoints(a: string, b: string): i32 {
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i), cb = b.codePointAt(j);
    if (ca != cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

function before(a: Tensor, b: Tensor): bool {
  if (a.begin != b.begin) return a.begin < b.begin;
  if (a.end != b.end) return a.end < b.end;
  return compareCodePoints(a.name, b.name) < 0;
}

/** Parse and validate a safetensors file; `source` names it in errors (the path as the config wrote it). */
export function readSafetensors(file: FileBytes, source: string): SafetensorsFile {
  where = source;
  const len = file.len;
  if (len < 8) stFail("file is " + len.toString() + " bytes long; expected at least 8 bytes for the u64 header length prefix");
  const declared = load<u64>(file.ptr);
  if (declared > MAX_HEADER_BYTES) {
    stFail("header length prefix is " + declared.toString() + " bytes; expected at most " + MAX_HEADER_BYTES.toString() + " (the format's 100 MB limit)");
  }
  const headerLength = <i32>declared;
  if (8 + headerLength > len) {
    stFail(
      "header length prefix is " + headerLength.toString() + " bytes but only " + (len - 8).toString() + " bytes follow the prefix (file is " +
        len.toString() + " bytes)",
    );
  }
  const decoded = decodeUtf8(file.ptr + 8, headerLength, true);
  if (decoded == null) {
    stFail("header (bytes 8.." + (8 + headerLength).toString() + ") is not valid UTF-8; the format requires a UTF-8 JSON header");
  }
  const text = changetype<string>(decoded);
  const parsed = parseJson(text);
  if (parsed == null) {
    stFail("header is not valid JSON (" + jsonErrorProblem + " at " + lineColumn(text, jsonErrorOffset) + "); header starts with " + previewText(text.substring(0, 40)));
  }
  const header = changetype<JValue>(parsed);
  if (!header.isObject) stFail("header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}, found " + preview(header));

  const dataStart = 8 + headerLength;
  const dataLength = <f64>(len - dataStart);
  const entries: Tensor[] = [];
  const keys = header.orderedKeys();
  for (let i = 0; i < keys.length; i++) {
    const value = changetype<JValue>(header.get(keys[i]));
    if (keys[i] == METADATA_KEY) readMetadata(value);
    else entries.push(readEntry(keys[i], value, dataLength));
  }

  // Sort by data position (insertion sort: stable, and headers are short).
  const ordered: Tensor[] = [];
  for (let i = 0; i < entries.length; i++) {
    const t = entries[i];
    ordered.push(t);
    let at = ordered.length - 1;
    while (at > 0 && before(t, ordered[at - 1])) {
      ordered[at] = ordered[at - 1];
      at--;
    }
    ordered[at] = t;
  }
  let covered: f64 = 0;
  let previous: Tensor | null = null;
  for (let i = 0; i < ordered.length; i++) {
    const entry = ordered[i];
    const span = "data_offsets [" + n(entry.begin) + ", " + n(entry.end) + "]";
    if (entry.begin < covered) {
      const p = changetype<Tensor>(previous);
      stFail(
        span + " overlap tensor " + quoteJson(p.name) + " at [" + n(p.begin) + ", " + n(p.end) + "]; expected this tensor to start at " + n(covered) +
          " (tensors must not share bytes)",
        entry.name,
      );
    }
    if (entry.begin > covered) {
      if (previous == null) {
        stFail(span + " leave a hole: data buffer bytes 0.." + n(entry.begin) + " belong to no tensor; expected the first tensor to start at offset 0", entry.name);
      }
      stFail(
        span + " leave a hole: data buffer bytes " + n(covered) + ".." + n(entry.begin) + " between tensor " + quoteJson(changetype<Tensor>(previous).name) +
          " (ends at " + n(covered) + ") and this one belong to no tensor; expected this tensor to start at " + n(covered),
        entry.name,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered != dataLength) {
    if (previous == null) stFail("header declares no tensors but the data buffer holds " + n(dataLength) + " bytes; expected an empty data buffer");
    const p = changetype<Tensor>(previous);
    stFail(
      "data_offsets [" + n(p.begin) + ", " + n(p.end) + "] end the tensor data at " + n(covered) + ", but the data buffer holds " + n(dataLength) +
        " bytes; bytes " + n(covered) + ".." + n(dataLength) + " belong to no tensor (a hole at the end)",
      p.name,
    );
  }
  const result = new SafetensorsFile();
  for (let i = 0; i < ordered.length; i++) {
    ordered[i].ptr = file.ptr + <usize>dataStart + <usize>ordered[i].begin;
    result.tensors.push(ordered[i]);
  }
  return result;
}

/** Element i of a tensor as f64 (src/io/safetensors.ts tensorToFloat64; I64 beyond ±(2^53 − 1) is an error). */
export function elementAsF64(t: Tensor, i: i32): f64 {
  const p = t.ptr;
  const d = t.code;
  if (d == DT_F32) return <f64>load<f32>(p + (<usize>i << 2));
  if (d == DT_F64) return load<f64>(p + (<usize>i << 3));
  if (d == DT_I32) return <f64>load<i32>(p + (<usize>i << 2));
  if (d == DT_U16) return <f64>load<u16>(p + (<usize>i << 1));
  if (d == DT_U8) return <f64>load<u8>(p + <usize>i);
  const v = load<i64>(p + (<usize>i << 3));
  if (v > 9007199254740991 || v < -9007199254740991) {
    fail("SafetensorsError", "tensorToFloat64: I64 element " + i.toString() + " is " + v.toString() + ", beyond +-(2^53 - 1) = 9007199254740991; float64 cannot hold it exactly");
  }
  return <f64>v;
}
