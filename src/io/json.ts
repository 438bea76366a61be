// Every JSON the engine reads (configs, safetensors headers and their metadata,
// token-file metadata, result and state files, the tokenizer, log lines) goes
// through parseJson: its size and nesting are bounded before JSON.parse sees it,
// so no input can exhaust the call stack (JSON.stringify and every recursive
// walk of the value after it) or the heap, and every rejection is the caller's
// own error type with a line and column, never a bare SyntaxError or RangeError.
//
// Host-neutral: plain ECMAScript only.
import { MAX_JSON_DEPTH, MAX_TEXT_BYTES } from "../limits.ts";

export interface JsonBounds {
  /** Nesting levels of arrays and objects at most. */
  maxDepth: number;
  /** Characters of text at most. */
  maxChars: number;
}

export const JSON_BOUNDS: JsonBounds = Object.freeze({ maxDepth: MAX_JSON_DEPTH, maxChars: MAX_TEXT_BYTES });

/** Builds the caller's own error (ConfigError, SafetensorsError, ...) from a problem's description. */
export type JsonFail = (detail: string, cause?: unknown) => Error;

/** A JSON file (or JSON Lines line) the engine wrote itself and cannot read back: named by its path and line. */
export class JsonError extends Error {
  override readonly name = "JsonError";
  /** The file, with ":line" for a line of a JSON Lines file. */
  readonly source: string;
  constructor(source: string, detail: string, cause?: unknown) {
    super(`${source}: ${detail}`, cause === undefined ? undefined : { cause });
    this.source = source;
  }
}

export interface JsonLine {
  value: unknown;
  /** From 1. */
  line: number;
  text: string;
}

/**
 * The values of a JSON Lines file (one JSON value per line; blank lines skipped).
 * A last line without its newline is the torn end of an append cut short by a
 * kill: it is left out (the caller redoes it) and `torn` says so. Any other line
 * that is not JSON is a JsonError naming `source` and the line.
 */
export function parseJsonLines(text: string, source: string): { values: JsonLine[]; torn: boolean } {
  const lines = text.split("\n");
  const endsClean = lines[lines.length - 1] === "";
  if (endsClean) lines.pop();
  const values: JsonLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "") continue;
    const last = i === lines.length - 1;
    try {
      values.push({ value: parseJson(lines[i]!, (detail, cause) => new JsonError(`${source}:${i + 1}`, detail, cause)), line: i + 1, text: lines[i]! });
    } catch (error) {
      if (last && !endsClean) return { values, torn: true };
      throw error;
    }
  }
  return { values, torn: false };
}

/** "line L, column C" of character `offset` of `text` (both from 1). */
export function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - (before.lastIndexOf("\n") + 1) + 1}`;
}

/**
 * Where nesting first exceeds `maxDepth` levels, or undefined. One pass over the
 * characters (strings skipped, escapes honoured), no recursion.
 */
export function excessNesting(text: string, maxDepth: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}

/**
 * JSON.parse within `bounds`; any problem (too long, too deep, not JSON) becomes
 * `fail(detail)`, the detail naming the line and column.
 */
export function parseJson(text: string, fail: JsonFail, bounds: JsonBounds = JSON_BOUNDS): unknown {
  if (text.length > bounds.maxChars) {
    throw fail(`JSON text of ${text.length} characters; expected at most ${bounds.maxChars} (the engine's limit for any JSON it reads)`);
  }
  const deep = excessNesting(text, bounds.maxDepth);
  if (deep !== undefined) {
    throw fail(`JSON nested more than ${bounds.maxDepth} levels deep at ${lineAndColumn(text, deep)}; expected at most ${bounds.maxDepth} levels`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const located = locateJsonSyntaxError(text);
    // The engine rejected something the locator accepts; its own words are all there is.
    const detail = located
      ? `invalid JSON at ${lineAndColumn(text, located.offset)}: ${located.problem}`
      : `invalid JSON: ${error instanceof Error ? error.message : String(error)}`;
    throw fail(detail, error);
  }
}

const JSON_WHITESPACE = " \t\n\r";
const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const JSON_ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/**
 * Where `text` stops being JSON (RFC 8259), and what was expected there; undefined
 * if it is valid. JSON.parse's own messages cannot be used for this: V8 (Node 20)
 * often omits the position ("Unexpected token ',', ... is not valid JSON"), Safari
 * always does, and each engine words it differently. Iterative (an explicit stack of
 * open brackets), so deeply nested input cannot overflow the call stack.
 */
export function locateJsonSyntaxError(text: string): { offset: number; problem: string } | undefined {
  let i = 0;
  const open: ("[" | "{")[] = [];
  const skipWhitespace = () => {
    while (i < text.length && JSON_WHITESPACE.includes(text[i]!)) i++;
  };
  const problem = (expected: string) => ({
    offset: i,
    problem: `expected ${expected}, found ${i < text.length ? JSON.stringify(text[i]) : "the end of the text"}`,
  });
  // Consumes a string starting at text[i] === '"'; returns a problem or undefined.
  const scanString = () => {
    i++;
    while (i < text.length) {
      const char = text[i]!;
      if (char === '"') {
        i++;
        return undefined;
      }
      if (char === "\\") {
        JSON_ESCAPE.lastIndex = i;
        if (!JSON_ESCAPE.test(text)) return problem("a valid escape sequence");
        i = JSON_ESCAPE.lastIndex;
      } else if (char.charCodeAt(0) < 0x20) {
        return problem("a string character or a closing quote (control characters must be escaped)");
      } else {
        i++;
      }
    }
    return problem("a closing quote");
  };
  // Consumes `"key" :` of an object member.
  const scanKey = () => {
    skipWhitespace();
    if (text[i] !== '"') return problem("a string key");
    const bad = scanString();
    if (bad) return bad;
    skipWhitespace();
    if (text[i] !== ":") return problem('":"');
    i++;
    return undefined;
  };

  for (;;) {
    // A value starts here.
    skipWhitespace();
    const char = text[i];
    let bad: { offset: number; problem: string } | undefined;
    let valueDone = true;
    if (char === "{" || char === "[") {
      i++;
      skipWhitespace();
      const close = char === "{" ? "}" : "]";
      if (text[i] === close) {
        i++;
      } else {
        open.push(char);
        valueDone = false;
        if (char === "{") bad = scanKey();
      }
    } else if (char === '"') {
      bad = scanString();
    } else if (char === "-" || (char !== undefined && char >= "0" && char <= "9")) {
      JSON_NUMBER.lastIndex = i;
      if (!JSON_NUMBER.test(text)) return problem("a digit");
      i = JSON_NUMBER.lastIndex;
    } else {
      const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
      if (literal === undefined) return problem("a value");
      i += literal.length;
    }
    if (bad) return bad;
    if (!valueDone) continue;
    // A value ended: close brackets, or move on to the next element or member.
    for (;;) {
      skipWhitespace();
      const innermost = open[open.length - 1];
      if (innermost === undefined) return i < text.length ? problem("the end of the text") : undefined;
      const close = innermost === "{" ? "}" : "]";
      if (text[i] === close) {
        i++;
        open.pop();
        continue;
      }
      if (text[i] !== ",") return problem(`"," or "${close}"`);
      i++;
      if (innermost === "{") {
        const badKey = scanKey();
        if (badKey) return badKey;
      }
      break;
    }
  }
}

