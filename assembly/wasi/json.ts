// A small JSON reader (RFC 8259) and the JSON.stringify rules the WASI command
// needs: values as a tree (objects keep JavaScript's key order: array-index keys
// ascending, then the others in insertion order; a repeated key keeps its first
// position and its last value, as JSON.parse does), numbers parsed exactly
// (numbers.ts), and on bad input the same "line, column, expected …, found …"
// that src/config.ts locateJsonSyntaxError reports.
//
// Limit: nesting deeper than MAX_JSON_DEPTH (512, src/limits.ts, the same bound as
// src/io/json.ts) levels is rejected (the parser recurses); no config or
// safetensors header comes near it.

import { parseDecimal, appendNumber, CharSink } from "./numbers";
import { MAX_JSON_DEPTH } from "../../src/limits";

export const J_NULL: i32 = 0;
export const J_FALSE: i32 = 1;
export const J_TRUE: i32 = 2;
export const J_NUMBER: i32 = 3;
export const J_STRING: i32 = 4;
export const J_ARRAY: i32 = 5;
export const J_OBJECT: i32 = 6;

export class JValue {
  kind: i32;
  num: f64 = 0;
  str: string = "";
  items: JValue[] = [];
  keys: string[] = [];
  constructor(kind: i32) {
    this.kind = kind;
  }
  get isNumber(): bool {
    return this.kind == J_NUMBER;
  }
  get isString(): bool {
    return this.kind == J_STRING;
  }
  get isArray(): bool {
    return this.kind == J_ARRAY;
  }
  get isObject(): bool {
    return this.kind == J_OBJECT;
  }
  get isNull(): bool {
    return this.kind == J_NULL;
  }
  /** The member `key` of an object, or null when absent (JavaScript's undefined). */
  get(key: string): JValue | null {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }
  has(key: string): bool {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return true;
    return false;
  }
  set(key: string, value: JValue): void {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) {
        this.items[i] = value;
        return;
      }
    }
    this.keys.push(key);
    this.items.push(value);
  }
  /** Object.keys order: canonical array indices (0 … 2^32 − 2) ascending, then the rest as inserted. */
  orderedKeys(): string[] {
    const indexKeys: string[] = [];
    const indexValues: f64[] = [];
    const others: string[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i];
      const v = arrayIndexOf(k);
      if (v >= 0) {
        // Insertion sort by value.
        indexKeys.push(k);
        indexValues.push(v);
        let at = indexValues.length - 1;
        while (at > 0 && indexValues[at - 1] > v) {
          indexKeys[at] = indexKeys[at - 1];
          indexValues[at] = indexValues[at - 1];
          at--;
        }
        indexKeys[at] = k;
        indexValues[at] = v;
      } else others.push(k);
    }
    for (let i = 0; i < others.length; i++) indexKeys.push(others[i]);
    return indexKeys;
  }
}

/** The value of a canonical array-index key ("0", "17"; not "01" or "4294967295"), else −1. */
function arrayIndexOf(k: string): f64 {
  const n = k.length;
  if (n == 0 || n > 10) return -1;
  if (n > 1 && k.charCodeAt(0) == 48) return -1;
  let v: f64 = 0;
  for (let i = 0; i < n; i++) {
    const c = k.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + <f64>(c - 48);
  }
  return v <= 4294967294 ? v : -1;
}

export function jNumber(x: f64): JValue {
  const v = new JValue(J_NUMBER);
  v.num = x;
  return v;
}
export function jString(s: string): JValue {
  const v = new JValue(J_STRING);
  v.str = s;
  return v;
}

// ─────────────────────────────── parsing ───────────────────────────────

const MAX_DEPTH: i32 = MAX_JSON_DEPTH;

/** Set when parseJson returns null: UTF-16 offset and "expected …, found …". */
export let jsonErrorOffset: i32 = 0;
export let jsonErrorProblem: string = "";

let text: string = "";
let pos: i32 = 0;
let failed = false;

function isSpace(c: i32): bool {
  return c == 32 || c == 9 || c == 10 || c == 13;
}

function skipSpace(): void {
  while (pos < text.length && isSpace(text.charCodeAt(pos))) pos++;
}

function problem(expected: string): void {
  if (failed) return;
  failed = true;
  jsonErrorOffset = pos;
  const found = pos < text.length ? quoteJson(text.charAt(pos)) : "the end of the text";
  jsonErrorProblem = "expected " + expected + ", found " + found;
}

function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const strSink = new CharSink();

function parseString(): string {
  pos++; // opening quote
  strSink.len = 0;
  while (pos < text.length) {
    const c = text.charCodeAt(pos);
    if (c == 34) {
      pos++;
      return strSink.toString();
    }
    if (c == 92) {
      const e = pos + 1 < text.length ? text.charCodeAt(pos + 1) : -1;
      let out = -1;
      if (e == 34) out = 34;
      else if (e == 92) out = 92;
      else if (e == 47) out = 47;
      else if (e == 98) out = 8;
      else if (e == 102) out = 12;
      else if (e == 110) out = 10;
      else if (e == 114) out = 13;
      else if (e == 116) out = 9;
      else if (e == 117 && pos + 5 < text.length) {
        let v = 0;
        for (let k = 2; k < 6; k++) {
          const h = hexValue(text.charCodeAt(pos + k));
          if (h < 0) {
            v = -1;
            break;
          }
          v = v * 16 + h;
        }
        if (v >= 0) {
          strSink.push(v);
          pos += 6;
          continue;
        }
      }
      if (out < 0) {
        problem("a valid escape sequence");
        return "";
      }
      strSink.push(out);
      pos += 2;
    } else if (c < 0x20) {
      problem("a string character or a closing quote (control characters must be escaped)");
      return "";
    } else {
      strSink.push(c);
      pos++;
    }
  }
  problem("a closing quote");
  return "";
}

function isDigit(c: i32): bool {
  return c >= 48 && c <= 57;
}

/** The longest match of -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? at pos. */
function parseNumber(): JValue | null {
  const start = pos;
  let i = pos;
  const n = text.length;
  if (i < n && text.charCodeAt(i) == 45) i++;
  if (i >= n || !isDigit(text.charCodeAt(i))) {
    problem("a digit");
    return null;
  }
  if (text.charCodeAt(i) == 48) i++;
  else while (i < n && isDigit(text.charCodeAt(i))) i++;
  if (i + 1 < n && text.charCodeAt(i) == 46 && isDigit(text.charCodeAt(i + 1))) {
    i += 2;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
  }
  if (i < n && (text.charCodeAt(i) == 101 || text.charCodeAt(i) == 69)) {
    let j = i + 1;
    if (j < n && (text.charCodeAt(j) == 43 || text.charCodeAt(j) == 45)) j++;
    if (j < n && isDigit(text.charCodeAt(j))) {
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      i = j;
    }
  }
  pos = i;
  return jNumber(parseDecimal(text, start, i));
}

function startsWithAt(word: string): bool {
  if (pos + word.length > text.length) return false;
  for (let k = 0; k < word.length; k++) if (text.charCodeAt(pos + k) != word.charCodeAt(k)) return false;
  return true;
}

function parseValue(depth: i32): JValue | null {
  skipSpace();
  if (pos >= text.length) {
    problem("a value");
    return null;
  }
  const c = text.charCodeAt(pos);
  if (c == 123 || c == 91) {
    if (depth >= MAX_DEPTH) {
      problem("at most " + MAX_DEPTH.toString() + " levels of nesting (a limit of the WASI build)");
      return null;
    }
    pos++;
    const isObject = c == 123;
    const close = isObject ? 125 : 93;
    const v = new JValue(isObject ? J_OBJECT : J_ARRAY);
    skipSpace();
    if (pos < text.length && text.charCodeAt(pos) == close) {
      pos++;
      return v;
    }
    for (;;) {
      let key = "";
      if (isObject) {
        skipSpace();
        if (pos >= text.length || text.charCodeAt(pos) != 34) {
          problem("a string key");
          return null;
        }
        key = parseString();
        if (failed) return null;
        skipSpace();
        if (pos >= text.length || text.charCodeAt(pos) != 58) {
          problem('":"');
          return null;
        }
        pos++;
      }
      const item = parseValue(depth + 1);
      if (item == null) return null;
      if (isObject) v.set(key, item);
      else v.items.push(item);
      skipSpace();
      if (pos < text.length && text.charCodeAt(pos) == close) {
        pos++;
        return v;
      }
      if (pos >= text.length || text.charCodeAt(pos) != 44) {
        problem(isObject ? '"," or "}"' : '"," or "]"');
        return null;
      }
      pos++;
    }
  }
  if (c == 34) {
    const s = parseString();
    if (failed) return null;
    return jString(s);
  }
  if (c == 45 || isDigit(c)) return parseNumber();
  if (startsWithAt("true")) {
    pos += 4;
    return new JValue(J_TRUE);
  }
  if (startsWithAt("false")) {
    pos += 5;
    return new JValue(J_FALSE);
  }
  if (startsWithAt("null")) {
    pos += 4;
    return new JValue(J_NULL);
  }
  problem("a value");
  return null;
}

/** The value of a whole JSON text, or null with jsonErrorOffset / jsonErrorProblem set. */
export function parseJson(source: string): JValue | null {
  text = source;
  pos = 0;
  failed = false;
  const v = parseValue(0);
  if (v == null) return null;
  skipSpace();
  if (pos < text.length) {
    problem("the end of the text");
    return null;
  }
  return v;
}

/** "line L, column C" of a UTF-16 offset, counted as src/config.ts does. */
export function lineColumn(source: string, offset: i32): string {
  let line = 1;
  let lastNewline = -1;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) == 10) {
      line++;
      lastNewline = i;
    }
  }
  return "line " + line.toString() + ", column " + (offset - (lastNewline + 1) + 1).toString();
}

// ─────────────────────────────── writing ───────────────────────────────

function hex4(out: CharSink, v: i32): void {
  for (let s = 12; s >= 0; s -= 4) {
    const d = (v >> s) & 15;
    out.push(d < 10 ? 48 + d : 87 + d);
  }
}

/** JSON.stringify(s): escapes ", \, control characters and lone surrogates (well-formed JSON.stringify). */
export function appendQuoted(out: CharSink, s: string): void {
  out.push(34);
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c == 34) {
      out.push(92);
      out.push(34);
    } else if (c == 92) {
      out.push(92);
      out.push(92);
    } else if (c < 0x20) {
      out.push(92);
      if (c == 8) out.push(98);
      else if (c == 12) out.push(102);
      else if (c == 10) out.push(110);
      else if (c == 13) out.push(114);
      else if (c == 9) out.push(116);
      else {
        out.push(117);
        hex4(out, c);
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const paired =
        c <= 0xdbff ? i + 1 < n && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff : i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
      if (paired) out.push(c);
      else {
        out.push(92);
        out.push(117);
        hex4(out, c);
      }
    } else out.push(c);
  }
  out.push(34);
}

export function quoteJson(s: string): string {
  const out = new CharSink();
  appendQuoted(out, s);
  return out.toString();
}

/** JSON.stringify(v) without indentation (numbers as JavaScript writes them; non-finite → null). */
export function appendCompact(out: CharSink, v: JValue): void {
  const k = v.kind;
  if (k == J_NULL) out.pushString("null");
  else if (k == J_TRUE) out.pushString("true");
  else if (k == J_FALSE) out.pushString("false");
  else if (k == J_NUMBER) {
    if (isFinite(v.num)) appendNumber(out, v.num);
    else out.pushString("null");
  } else if (k == J_STRING) appendQuoted(out, v.str);
  else if (k == J_ARRAY) {
    out.push(91);
    for (let i = 0; i < v.items.length; i++) {
      if (i > 0) out.push(44);
      appendCompact(out, v.items[i]);
    }
    out.push(93);
  } else {
    out.push(123);
    const keys = v.orderedKeys();
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out.push(44);
      appendQuoted(out, keys[i]);
      out.push(58);
      appendCompact(out, changetype<JValue>(v.get(keys[i])));
    }
    out.push(125);
  }
}

export function compactJson(v: JValue): string {
  const out = new CharSink();
  appendCompact(out, v);
  return out.toString();
}
