// The bounded JSON reader every parser of the engine goes through (src/io/json.ts):
// too long, too deep or not JSON is the caller's own error with a line and column,
// and JSON Lines files drop only a torn last line.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { JsonError, parseJson, parseJsonLines } from "../../src/io/json.ts";
import { MAX_JSON_DEPTH } from "../../src/limits.ts";
import { logLinesUpTo } from "../../src/train-job.ts";

class OwnError extends Error {}
const own = (detail: string) => new OwnError(detail);

function detailOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.instance(error, OwnError);
    return (error as Error).message;
  }
  throw new Error("expected a rejection");
}

test("nesting up to the limit parses; one level more is refused before JSON.parse, with its position", () => {
  const nest = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
  assert.ok(Array.isArray(parseJson(nest(MAX_JSON_DEPTH), own)));
  assert.is(detailOf(() => parseJson(`\n ${nest(MAX_JSON_DEPTH + 1)}`, own)), `JSON nested more than 512 levels deep at line 2, column ${MAX_JSON_DEPTH + 2}; expected at most 512 levels`);
  // Brackets inside strings (and escaped quotes) are not nesting.
  assert.equal(parseJson(JSON.stringify({ a: "[".repeat(5000) + '\\"' + "{".repeat(5000) }), own), { a: "[".repeat(5000) + '\\"' + "{".repeat(5000) });
});

test("text longer than the bound is refused by its length", () => {
  assert.is(detailOf(() => parseJson("[1, 2, 3]", own, { maxDepth: 8, maxChars: 8 })), "JSON text of 9 characters; expected at most 8 (the engine's limit for any JSON it reads)");
});

test("syntax errors carry the line and column", () => {
  assert.is(detailOf(() => parseJson('{\n  "a": 1,\n}', own)), 'invalid JSON at line 3, column 1: expected a string key, found "}"');
});

test("JSON Lines: a torn last line is dropped, a torn line elsewhere names the file and line", () => {
  assert.equal(parseJsonLines('{"step": 1}\n{"step": 2}\n{"st', "log.jsonl"), {
    values: [{ value: { step: 1 }, line: 1, text: '{"step": 1}' }, { value: { step: 2 }, line: 2, text: '{"step": 2}' }],
    torn: true,
  });
  assert.is(parseJsonLines('{"step": 1}\n\n{"step": 2}\n', "log.jsonl").values.length, 2);
  assert.throws(
    () => parseJsonLines('{"step": 1}\n{"st\n{"step": 3}\n', "run/log.jsonl"),
    (e: unknown) => e instanceof JsonError && e.message === "run/log.jsonl:2: invalid JSON at line 1, column 5: expected a closing quote, found the end of the text",
  );
  // A last line with its newline was written whole: if it is not JSON, that is damage, not a kill.
  assert.throws(() => parseJsonLines('{"step": 1}\n{"st\n', "log.jsonl"), /log\.jsonl:2: invalid JSON/);
});

test("a training log read on resume: lines up to the step kept as written; a torn line names the file and line", () => {
  const log = '{"step":10,"loss":2.5}\n{"step":20,"heldout_loss":2.25}\n{"step":30,"loss":2}\n';
  assert.equal(logLinesUpTo(log, "run/log.jsonl", 20), ['{"step":10,"loss":2.5}', '{"step":20,"heldout_loss":2.25}']);
  assert.equal(logLinesUpTo(log + '{"step":4', "run/log.jsonl", 20).length, 2);
  assert.throws(() => logLinesUpTo('{"step":10}\n{"ste\n{"step":30}\n', "run/log.jsonl", 20), (e: unknown) => e instanceof JsonError && /^run\/log\.jsonl:2: invalid JSON/.test((e as Error).message));
  assert.throws(() => logLinesUpTo('{"step":10}\n[1]\n', "run/log.jsonl", 20), (e: unknown) => e instanceof JsonError && /^run\/log\.jsonl:2: not a line of the training log/.test((e as Error).message));
});

test.run();
