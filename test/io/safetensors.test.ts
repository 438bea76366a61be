// safetensors reader/writer: round trips, byte-exact compatibility with the
// reference implementation's output, and one test per malformed-file rule.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  readSafetensors,
  SafetensorsError,
  tensorToFloat64,
  writeSafetensors,
  type DType,
  type Tensor,
  type TensorData,
} from "../../src/io/safetensors.ts";

const SRC = "model.safetensors";

// ── helpers ─────────────────────────────────────────────────────────────────

/**
 * Hand-assembles a file: 8-byte little-endian length prefix (default: the real
 * header length, override to lie), the header (object → JSON.stringify, string →
 * UTF-8, Uint8Array → raw bytes), then the data bytes. No padding is added.
 */
function assemble(
  header: unknown,
  data: ArrayLike<number> = [],
  prefix?: number | bigint,
): Uint8Array {
  const headerBytes =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(prefix ?? headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

/** Raw bytes of a typed array (for bit-exact comparisons that NaN !== NaN would defeat). */
function rawBytes(data: TensorData): number[] {
  return [...new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

/**
 * Asserts `fn` throws a SafetensorsError whose message names the file and matches
 * every pattern; with `tensor`, also that the error (property and message) names it.
 * The checker asserts rather than returning false so a failure shows the actual message.
 */
function expectError(fn: () => unknown, patterns: RegExp[], tensor?: string, source = SRC): void {
  assert.throws(fn, (error: unknown) => {
    assert.instance(error, SafetensorsError);
    const e = error as SafetensorsError;
    assert.is(e.name, "SafetensorsError");
    assert.ok(e.message.includes(source), `message should name ${source}: ${e.message}`);
    if (tensor !== undefined) {
      assert.is(e.tensor, tensor, `error.tensor for: ${e.message}`);
      assert.ok(e.message.includes(JSON.stringify(tensor)), `message should name tensor ${tensor}: ${e.message}`);
    }
    for (const pattern of patterns) assert.match(e.message, pattern, `expected ${pattern} to match: ${e.message}`);
    return true;
  });
}

const read = (bytes: Uint8Array) => readSafetensors(bytes, SRC);

/** One valid F32 entry of `n` elements at `begin`. */
const f32 = (begin: number, n: number, shape: number[] = [n]) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, begin + 4 * n],
});

function headerLengthOf(file: Uint8Array): number {
  return Number(new DataView(file.buffer, file.byteOffset, file.byteLength).getBigUint64(0, true));
}

// ── round trips ─────────────────────────────────────────────────────────────

function f32WithBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}
function f64WithBits(bits: bigint[]): Float64Array {
  return new Float64Array(new BigUint64Array(bits).buffer);
}

const SAMPLES: Record<DType, Tensor> = {
  // quiet NaN with payload, signalling NaN, negative NaN with payload, -0, +-Inf,
  // the smallest subnormal and the largest finite value
  F32: {
    dtype: "F32",
    shape: [2, 5],
    data: f32WithBits([0x7fc00001, 0x7f800001, 0xffbadbad, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x7f7fffff, 0x3f800000, 0xc0490fdb]),
  },
  F64: {
    dtype: "F64",
    shape: [3, 2],
    data: f64WithBits([0x7ff8000000000001n, 0x7ff0000000000001n, 0xfff80000deadbeefn, 0x8000000000000000n, 0x0000000000000001n, 0x7fefffffffffffffn]),
  },
  I32: { dtype: "I32", shape: [4], data: new Int32Array([-2147483648, 2147483647, -1, 0]) },
  I64: { dtype: "I64", shape: [2, 2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -1n, 9007199254740993n]) },
  U16: { dtype: "U16", shape: [3], data: new Uint16Array([0, 65535, 0x1234]) },
  U8: { dtype: "U8", shape: [1, 1, 3], data: new Uint8Array([0, 255, 7]) },
};

const EMPTY: Record<DType, TensorData> = {
  F32: new Float32Array(0),
  F64: new Float64Array(0),
  I32: new Int32Array(0),
  I64: new BigInt64Array(0),
  U16: new Uint16Array(0),
  U8: new Uint8Array(0),
};

const CTOR_NAME: Record<DType, string> = {
  F32: "Float32Array",
  F64: "Float64Array",
  I32: "Int32Array",
  I64: "BigInt64Array",
  U16: "Uint16Array",
  U8: "Uint8Array",
};

function scalarOf(dtype: DType): TensorData {
  switch (dtype) {
    case "F32": return new Float32Array([-0]);
    case "F64": return new Float64Array([-0]);
    case "I32": return new Int32Array([-7]);
    case "I64": return new BigInt64Array([-7n]);
    case "U16": return new Uint16Array([7]);
    case "U8": return new Uint8Array([7]);
  }
}

test("round trip of every dtype is bit-exact (NaN payloads, -0, extremes)", () => {
  const file = writeSafetensors(SAMPLES);
  const back = read(file);
  assert.equal([...back.tensors.keys()].sort(), Object.keys(SAMPLES).sort());
  for (const [name, original] of Object.entries(SAMPLES)) {
    const got = back.tensors.get(name)!;
    assert.is(got.dtype, original.dtype);
    assert.equal(got.shape, original.shape);
    assert.is(Object.prototype.toString.call(got.data), `[object ${CTOR_NAME[original.dtype]}]`);
    assert.equal(rawBytes(got.data), rawBytes(original.data), `bytes of ${name}`);
  }
  const f32 = back.tensors.get("F32")!.data as Float32Array;
  assert.is(new Uint32Array(f32.buffer, f32.byteOffset, f32.length)[0], 0x7fc00001);
  assert.ok(Object.is(f32[3], -0));
  const f64 = back.tensors.get("F64")!.data as Float64Array;
  assert.is(new BigUint64Array(f64.buffer, f64.byteOffset, f64.length)[2], 0xfff80000deadbeefn);
  assert.ok(Object.is(f64[3], -0));
  assert.is((back.tensors.get("I64")!.data as BigInt64Array)[3], 9007199254740993n);
  assert.equal(back.metadata, {});
});

test("round trip of empty tensors (a zero dim) and scalars (shape []) of every dtype", () => {
  const input = new Map<string, Tensor>();
  for (const dtype of Object.keys(EMPTY) as DType[]) {
    input.set(`empty.${dtype}`, { dtype, shape: [3, 0, 2], data: EMPTY[dtype] });
    input.set(`zero.${dtype}`, { dtype, shape: [0], data: EMPTY[dtype] });
    input.set(`scalar.${dtype}`, { dtype, shape: [], data: scalarOf(dtype) });
  }
  const back = read(writeSafetensors(input));
  assert.is(back.tensors.size, input.size);
  for (const [name, original] of input) {
    const got = back.tensors.get(name)!;
    assert.is(got.dtype, original.dtype, name);
    assert.equal(got.shape, original.shape, name);
    assert.is(got.data.length, original.data.length, name);
    assert.is(Object.prototype.toString.call(got.data), `[object ${CTOR_NAME[original.dtype]}]`);
    assert.equal(rawBytes(got.data), rawBytes(original.data), name);
  }
  assert.ok(Object.is((back.tensors.get("scalar.F64")!.data as Float64Array)[0], -0));
  // A file of nothing but empty tensors has an empty data buffer.
  const onlyEmpty = writeSafetensors({ e: { dtype: "F64", shape: [0, 4], data: new Float64Array(0) } });
  assert.is(onlyEmpty.length, 8 + headerLengthOf(onlyEmpty));
  assert.equal(read(onlyEmpty).tensors.get("e")!.shape, [0, 4]);
});

test("round trip of metadata and non-ASCII / JSON-special names", () => {
  const metadata = Object.fromEntries([
    ["format", "pt"],
    ["描述", "ünïcödé ✓ 😀"],
    ["quotes", 'say "hi" \\ back\nslash\ttab'],
    ["empty", ""],
    ["__proto__", "just a key"],
  ]);
  const names = ["层.权重", "emoji😀", "naïve", 'q"uo\\te', "__proto__", "10", "2", "", "tab\tname"];
  const tensors = new Map<string, Tensor>(
    names.map((name, i) => [name, { dtype: "I32", shape: [1], data: new Int32Array([i]) }]),
  );
  const back = read(writeSafetensors(tensors, metadata));
  assert.equal(back.metadata, metadata);
  assert.ok(Object.prototype.hasOwnProperty.call(back.metadata, "__proto__"));
  assert.is(Object.getPrototypeOf(back.metadata), Object.prototype);
  assert.equal([...back.tensors.keys()].sort(), [...names].sort());
  names.forEach((name, i) => assert.equal([...back.tensors.get(name)!.data], [i], name));
});

test("writer sorts by code point (like the reference's byte-wise UTF-8 order), not UTF-16 unit", () => {
  // U+FFFD sorts before U+1F600 by code point; by UTF-16 code unit (0xD83D) it would sort after.
  const file = writeSafetensors({
    "😀": { dtype: "U8", shape: [1], data: new Uint8Array([2]) },
    "\uFFFD": { dtype: "U8", shape: [1], data: new Uint8Array([1]) },
    a: { dtype: "U8", shape: [1], data: new Uint8Array([0]) },
  });
  const back = read(file);
  assert.equal([...back.tensors.keys()], ["a", "\uFFFD", "😀"]);
  assert.equal([...file.subarray(file.length - 3)], [0, 1, 2]);
});

test("deterministic bytes: insertion order of tensors and metadata keys does not matter", () => {
  const entries = Object.entries(SAMPLES);
  const forward = writeSafetensors(new Map(entries), { b: "2", a: "1", "ä": "3" });
  const backward = writeSafetensors(new Map([...entries].reverse()), { "ä": "3", a: "1", b: "2" });
  const record = writeSafetensors(Object.fromEntries([...entries].reverse()), { a: "1", "ä": "3", b: "2" });
  assert.equal([...forward], [...backward]);
  assert.equal([...forward], [...record]);
  // Data laid contiguously in name order.
  const back = read(forward);
  assert.equal([...back.tensors.keys()], ["F32", "F64", "I32", "I64", "U16", "U8"]);
});

test("header is space-padded so the data buffer starts 8-byte aligned", () => {
  for (let len = 1; len <= 16; len++) {
    const name = "x".repeat(len);
    const file = writeSafetensors({ [name]: { dtype: "F64", shape: [1], data: new Float64Array([len]) } });
    const n = headerLengthOf(file);
    assert.is((8 + n) % 8, 0, `name length ${len}`);
    const header = new TextDecoder().decode(file.subarray(8, 8 + n));
    const json = header.trimEnd();
    assert.ok(/^ *$/.test(header.slice(json.length)), "padding is spaces");
    assert.ok(n - json.length < 8, "at most 7 padding bytes");
    assert.is(file.length, 8 + n + 8);
    assert.equal([...(read(file).tensors.get(name)!.data as Float64Array)], [len]);
  }
});

// ── compatibility with the reference implementation ──────────────────────────

// What Python's `safetensors.numpy.save({"a": np.array([1.0, 2.0], dtype=np.float32)})`
// produces: prefix 56, 54 bytes of compact JSON, 2 spaces of padding, 8 data bytes.
const PYTHON_A = new Uint8Array([
  56, 0, 0, 0, 0, 0, 0, 0,
  ...new TextEncoder().encode('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'),
  32, 32,
  0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
  0x00, 0x00, 0x00, 0x40, // 2.0f
]);

test("reads a file written byte-for-byte as the Python safetensors library does", () => {
  assert.is(PYTHON_A.length, 72);
  const { tensors, metadata } = read(PYTHON_A);
  assert.equal([...tensors.keys()], ["a"]);
  const a = tensors.get("a")!;
  assert.is(a.dtype, "F32");
  assert.equal(a.shape, [2]);
  assert.instance(a.data, Float32Array);
  assert.equal([...a.data], [1, 2]);
  assert.equal(metadata, {});
});

test("writer reproduces the reference implementation's bytes exactly", () => {
  const a = writeSafetensors({ a: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
  assert.equal([...a], [...PYTHON_A]);

  // Vectors from the reference crate's own tests (safetensors/src/tensor.rs):
  // test_serialization_forced_alignement, test_empty (with and without metadata).
  const attn0 = writeSafetensors({ attn0: { dtype: "F32", shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
  assert.equal([...attn0], [
    72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
    121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
    91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
    115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
    32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
    160, 64,
  ]);
  assert.equal([...writeSafetensors({})], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.equal([...writeSafetensors(new Map(), { framework: "pt" })], [
    40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
    95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
    116, 34, 125, 125, 32, 32, 32, 32, 32,
  ]);
  assert.equal(read(writeSafetensors(new Map(), { framework: "pt" })).metadata, { framework: "pt" });
});

// ── what the format allows ──────────────────────────────────────────────────

test("accepts header order differing from offset order, unpadded headers and unaligned offsets", () => {
  // "b" is listed first but stored second; a 1-byte U8 first leaves the F32 at odd
  // offset 1, and the unpadded 0-based header length makes the file offset odd too.
  const file = assemble(
    {
      b: { dtype: "F32", shape: [2], data_offsets: [1, 9] },
      a: { dtype: "U8", shape: [], data_offsets: [0, 1] },
      z: { dtype: "I64", shape: [0, 3], data_offsets: [9, 9] },
      y: { dtype: "U16", shape: [0], data_offsets: [0, 0] },
    },
    [42, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x20, 0xc1],
  );
  const { tensors } = read(file);
  // Result map follows data order.
  assert.equal([...tensors.keys()], ["y", "a", "b", "z"]);
  assert.equal([...tensors.get("a")!.data], [42]);
  assert.equal([...tensors.get("b")!.data], [1.5, -10]);
  assert.is(tensors.get("b")!.data.byteOffset, 0);
  assert.equal(tensors.get("z")!.shape, [0, 3]);
  assert.is(tensors.get("z")!.data.length, 0);
});

test("reads from a subarray and returns copies detached from the input", () => {
  const inner = writeSafetensors({ w: { dtype: "U16", shape: [2], data: new Uint16Array([1, 2]) } });
  const outer = new Uint8Array(inner.length + 3);
  outer.set(inner, 3);
  const view = outer.subarray(3);
  const w = readSafetensors(view).tensors.get("w")!;
  view[view.length - 1] = 0xff;
  assert.equal([...w.data], [1, 2]);
  assert.is.not(w.data.buffer, outer.buffer);
});

test("accepts JSON whitespace around the header object and null __metadata__ (as the reference does)", () => {
  const file = assemble(`\n {"__metadata__":null, "a": {"dtype":"U8","shape":[1],"data_offsets":[0,1]}} \t\r\n`, [9]);
  const { tensors, metadata } = read(file);
  assert.equal(metadata, {});
  assert.equal([...tensors.get("a")!.data], [9]);
});

// ── malformed files: one test per rule ───────────────────────────────────────

test("rejects a file shorter than 8 bytes", () => {
  expectError(() => read(new Uint8Array(0)), [/0 bytes/, /at least 8/]);
  expectError(() => read(new Uint8Array([8, 0, 0, 0, 0, 0, 0])), [/7 bytes/, /at least 8/]);
  expectError(() => readSafetensors(new Uint8Array(3)), [/3 bytes/], undefined, "<safetensors bytes>");
});

test("rejects a header length beyond the end of the file", () => {
  expectError(() => read(assemble("{}", [], 1000)), [/prefix is 1000 bytes/, /only 2 bytes follow the prefix/, /file is 10 bytes/]);
  // Off by one: the header would need one byte more than the file has.
  expectError(() => read(assemble("{}", [], 3)), [/prefix is 3 bytes/, /only 2 bytes follow/]);
});

test("rejects an absurdly large header length (> 100 MB)", () => {
  expectError(() => read(assemble("{}", [], 100_000_001)), [/100000001/, /at most 100000000/]);
  expectError(() => read(assemble("{}", [], 0xffffffffffffffffn)), [/18446744073709551615/, /100 MB/]);
});

test("rejects a header that is not valid UTF-8", () => {
  const bad = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]); // {"\xff\xfe":1}
  expectError(() => read(assemble(bad)), [/not valid UTF-8/]);
  // A truncated multi-byte sequence at the end of the header counts too.
  expectError(() => read(assemble(new Uint8Array([0x7b, 0x7d, 0xe2, 0x82]))), [/not valid UTF-8/]);
});

test("rejects a header that is not JSON", () => {
  expectError(() => read(assemble('{"a":')), [/not valid JSON/]);
  expectError(() => read(assemble("")), [/not valid JSON/]);
  // A UTF-8 byte order mark is not JSON whitespace (serde_json rejects it too).
  expectError(() => read(assemble(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))), [/not valid JSON/]);
});

test("rejects a header nested too deep in its own words (not a stack overflow)", () => {
  const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
  for (const header of [deep, `{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`, `{"__metadata__":${deep}}`]) {
    expectError(() => read(assemble(header)), [/not valid JSON/, /nested more than 512 levels deep at line 1, column \d+/]);
  }
});

test("rejects a header that is not a JSON object", () => {
  expectError(() => read(assemble("[1,2]")), [/must be a JSON object/, /found \[1,2\]/]);
  expectError(() => read(assemble("null")), [/must be a JSON object/, /found null/]);
  expectError(() => read(assemble('"x"')), [/must be a JSON object/]);
});

test("rejects a tensor entry that is not an object", () => {
  expectError(() => read(assemble({ w: [0, 4] })), [/entry must be an object/, /found \[0,4\]/], "w");
  expectError(() => read(assemble({ w: null })), [/entry must be an object/, /found null/], "w");
});

test("rejects a tensor entry missing dtype, shape or data_offsets", () => {
  expectError(() => read(assemble({ w: { shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0])), [/missing "dtype"/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", data_offsets: [0, 4] } }, [0, 0, 0, 0])), [/missing "shape"/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [1] } }, [0, 0, 0, 0])), [/missing "data_offsets"/], "w");
});

test("rejects dtype / shape / data_offsets of the wrong JSON type", () => {
  expectError(() => read(assemble({ w: { dtype: 32, shape: [1], data_offsets: [0, 4] } })), [/"dtype" must be a string/, /found 32/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: "2", data_offsets: [0, 8] } })), [/"shape" must be an array/, /found "2"/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [2, "3"], data_offsets: [0, 24] } })), [/shape\[1\] must be a non-negative integer/, /found "3"/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [1], data_offsets: { begin: 0, end: 4 } } })), [/"data_offsets" must be two non-negative integers/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [1], data_offsets: ["0", 4] } })), [/data_offsets\[0\] must be a non-negative integer/, /found "0"/], "w");
});

test("rejects an unknown dtype and lists the supported ones", () => {
  const supported = /supported dtypes: F32, F64, I32, I64, U16, U8/;
  expectError(() => read(assemble({ w: { dtype: "F33", shape: [1], data_offsets: [0, 4] } })), [/unknown dtype "F33"/, supported], "w");
  expectError(() => read(assemble({ w: { dtype: "f32", shape: [1], data_offsets: [0, 4] } })), [/unknown dtype "f32"/, supported], "w");
  expectError(() => read(assemble({ w: { dtype: "toString", shape: [1], data_offsets: [0, 4] } })), [/unknown dtype "toString"/], "w");
  // Valid in the format, just not decoded here: said so.
  expectError(() => read(assemble({ w: { dtype: "BF16", shape: [1], data_offsets: [0, 2] } })), [/"BF16" is valid safetensors but not supported/, supported], "w");
});

test("rejects shapes with negative or non-integer dims", () => {
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [2, -3], data_offsets: [0, 0] } })), [/shape\[1\] must be a non-negative integer/, /found -3/], "w");
  expectError(() => read(assemble({ w: { dtype: "F32", shape: [1.5], data_offsets: [0, 6] } })), [/shape\[0\] must be a non-negative integer/, /found 1\.5/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 0] } })), [/more than 2\^53 - 1 elements/], "w");
});

test("rejects data_offsets that are not two non-negative integers with begin <= end", () => {
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [1], data_offsets: [0] } }, [1])), [/must be two non-negative integers/, /found \[0\]/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [1], data_offsets: [0, 1, 2] } }, [1])), [/must be two non-negative integers/, /found \[0,1,2\]/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [1], data_offsets: [-1, 0] } }, [1])), [/data_offsets\[0\] must be a non-negative integer/, /found -1/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [1], data_offsets: [0, 0.5] } }, [1])), [/data_offsets\[1\] must be a non-negative integer/, /found 0\.5/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [0], data_offsets: [1, 0] } }, [1])), [/\[1, 0\] end before they begin/, /begin <= end/], "w");
});

test("rejects data_offsets out of range of the data buffer", () => {
  expectError(() => read(assemble({ w: f32(0, 2) }, [0, 0, 0, 0])), [/\[0, 8\] reach past the end of the data buffer/, /holds 4 bytes/], "w");
  expectError(() => read(assemble({ w: { dtype: "U8", shape: [0], data_offsets: [5, 5] } }, [])), [/reach past the end/, /holds 0 bytes/], "w");
});

test("rejects a byte length that does not match shape x dtype size", () => {
  expectError(
    () => read(assemble({ w: { dtype: "F64", shape: [2, 3], data_offsets: [0, 24] } }, new Array(24).fill(0))),
    [/span 24 bytes/, /shape \[2,3\] of F64 needs 6 elements x 8 bytes = 48 bytes/],
    "w",
  );
  expectError(() => read(assemble({ s: { dtype: "I32", shape: [], data_offsets: [0, 0] } })), [/span 0 bytes/, /= 4 bytes/], "s");
});

test("rejects overlapping tensors, naming both", () => {
  const file = assemble({ first: f32(0, 2), second: f32(4, 1) }, new Array(8).fill(0));
  expectError(() => read(file), [/overlap tensor "first" at \[0, 8\]/, /expected this tensor to start at 8/], "second");
  // Identical ranges overlap too; ties are broken by name so the report is stable.
  const same = assemble({ b: f32(0, 1), a: f32(0, 1) }, [0, 0, 0, 0]);
  expectError(() => read(same), [/overlap tensor "a"/], "b");
  // A zero-size tensor inside another tensor's bytes is an overlap (the reference's InvalidOffset).
  const inside = assemble({ big: f32(0, 2), tiny: { dtype: "U8", shape: [0], data_offsets: [4, 4] } }, new Array(8).fill(0));
  expectError(() => read(inside), [/overlap tensor "big"/], "tiny");
});

test("rejects a hole between tensors, naming both", () => {
  const file = assemble({ first: f32(0, 1), second: f32(8, 1) }, new Array(12).fill(0));
  expectError(() => read(file), [/hole/, /bytes 4\.\.8/, /"first" \(ends at 4\)/, /start at 4/], "second");
});

test("rejects a first tensor that does not start at offset 0", () => {
  const file = assemble({ w: f32(4, 1) }, new Array(8).fill(0));
  expectError(() => read(file), [/hole/, /bytes 0\.\.4 belong to no tensor/, /start at offset 0/], "w");
});

test("rejects data left over after the last tensor", () => {
  const file = assemble({ a: f32(0, 1), last: f32(4, 1) }, new Array(10).fill(0));
  expectError(() => read(file), [/end the tensor data at 8/, /holds 10 bytes/, /bytes 8\.\.10 belong to no tensor/], "last");
  expectError(() => read(assemble({}, [1, 2, 3])), [/no tensors/, /holds 3 bytes/]);
});

test("rejects __metadata__ that is not an object of strings", () => {
  expectError(() => read(assemble({ __metadata__: ["a"] })), [/"__metadata__" must be an object of string values/, /found \["a"\]/]);
  expectError(() => read(assemble({ __metadata__: "pt" })), [/"__metadata__" must be an object/, /found "pt"/]);
  expectError(() => read(assemble({ __metadata__: { framework: "pt", epochs: 3 } })), [/value for key "epochs" must be a string/, /found 3/]);
  expectError(() => read(assemble({ __metadata__: { nested: { a: "b" } } })), [/key "nested" must be a string/, /found \{"a":"b"\}/]);
});

test("rejects non-Uint8Array input", () => {
  expectError(() => readSafetensors([1, 2, 3] as unknown as Uint8Array, SRC), [/expected the file contents as a Uint8Array, found Array/]);
});

// ── writer validation ───────────────────────────────────────────────────────

const W = "writeSafetensors";

test("writer rejects shape product != data length", () => {
  expectError(() => writeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }), [/shape \[2,2\] has 4 elements but data holds 3/], "w", W);
  expectError(() => writeSafetensors({ s: { dtype: "F32", shape: [], data: new Float32Array(0) } }), [/shape \[\] has 1 elements but data holds 0/], "s", W);
});

test("writer rejects data whose array type does not match the dtype", () => {
  expectError(() => writeSafetensors({ w: { dtype: "F64", shape: [2], data: new Float32Array(2) } }), [/F64 needs its data in a Float64Array, found Float32Array/], "w", W);
  expectError(() => writeSafetensors({ w: { dtype: "I64", shape: [2], data: [1, 2] as unknown as TensorData } }), [/BigInt64Array, found Array/], "w", W);
  expectError(() => writeSafetensors({ w: { dtype: "BF16" as DType, shape: [1], data: new Uint16Array(1) } }), [/unknown dtype "BF16"/, /supported dtypes/], "w", W);
});

test("writer rejects negative and non-integer dims", () => {
  expectError(() => writeSafetensors({ w: { dtype: "U8", shape: [-1], data: new Uint8Array(0) } }), [/shape\[0\] must be a non-negative integer, found -1/], "w", W);
  expectError(() => writeSafetensors({ w: { dtype: "U8", shape: [1, 0.5], data: new Uint8Array(0) } }), [/shape\[1\] must be a non-negative integer, found 0\.5/], "w", W);
  expectError(() => writeSafetensors({ w: { dtype: "U8", shape: [NaN], data: new Uint8Array(0) } }), [/shape\[0\].*found NaN/], "w", W);
});

test("writer rejects non-string metadata values, the reserved name and unencodable names", () => {
  const ok = { w: { dtype: "U8" as const, shape: [1], data: new Uint8Array(1) } };
  expectError(() => writeSafetensors(ok, { epochs: 3 } as unknown as Record<string, string>), [/metadata value for key "epochs" must be a string, found 3/], undefined, W);
  expectError(() => writeSafetensors(ok, ["x"] as unknown as Record<string, string>), [/metadata must be an object/], undefined, W);
  expectError(() => writeSafetensors({ __metadata__: ok.w }), [/reserved/], "__metadata__", W);
  expectError(() => writeSafetensors({ "bad\uD800": ok.w }), [/lone UTF-16 surrogate/], "bad\uD800", W);
});

// ── tensorToFloat64 ─────────────────────────────────────────────────────────

test("tensorToFloat64 converts every dtype", () => {
  const cases: [Tensor, number[]][] = [
    [{ dtype: "F32", shape: [3], data: new Float32Array([1.5, -0, Infinity]) }, [1.5, -0, Infinity]],
    [{ dtype: "F64", shape: [2], data: new Float64Array([0.1, -2]) }, [0.1, -2]],
    [{ dtype: "I32", shape: [2], data: new Int32Array([-5, 2147483647]) }, [-5, 2147483647]],
    [{ dtype: "I64", shape: [3], data: new BigInt64Array([-(2n ** 53n - 1n), 0n, 2n ** 53n - 1n]) }, [-(2 ** 53 - 1), 0, 2 ** 53 - 1]],
    [{ dtype: "U16", shape: [1], data: new Uint16Array([65535]) }, [65535]],
    [{ dtype: "U8", shape: [0], data: new Uint8Array(0) }, []],
  ];
  for (const [tensor, expected] of cases) {
    const out = tensorToFloat64(tensor);
    assert.instance(out, Float64Array);
    assert.equal([...out], expected, tensor.dtype);
  }
  const f64 = new Float64Array([1]);
  assert.is.not(tensorToFloat64({ dtype: "F64", shape: [1], data: f64 }), f64, "returns a copy");
  assert.ok(Object.is(tensorToFloat64({ dtype: "F32", shape: [1], data: new Float32Array([-0]) })[0], -0));
});

test("tensorToFloat64 rejects I64 values beyond 2^53", () => {
  const big = { dtype: "I64" as const, shape: [2], data: new BigInt64Array([1n, 2n ** 53n + 1n]) };
  expectError(() => tensorToFloat64(big), [/I64 element 1 is 9007199254740993/, /2\^53/], undefined, "tensorToFloat64");
  const low = { dtype: "I64" as const, shape: [1], data: new BigInt64Array([-(2n ** 53n)]) };
  expectError(() => tensorToFloat64(low), [/element 0 is -9007199254740992/], undefined, "tensorToFloat64");
});

test("a Uint8Array subclass whose slice returns a view (Node's Buffer) still decodes its own tensors", () => {
  class ViewSlicing extends Uint8Array {
    override slice(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
      return this.subarray(begin, end); // what Buffer.prototype.slice does
    }
  }
  const bytes = writeSafetensors({ a: { dtype: "F32", shape: [2], data: new Float32Array([1.5, -2]) } });
  const pooled = new ViewSlicing(bytes.length + 13);
  pooled.set(bytes, 13);
  const read = readSafetensors(pooled.subarray(13) as Uint8Array, "pooled");
  assert.equal(Array.from(read.tensors.get("a")!.data as Float32Array), [1.5, -2]);
});

test.run();
