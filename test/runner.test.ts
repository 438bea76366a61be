// test/run.mjs's counting (test/run-file.mjs) on files that fail in each way
// uvu alone would hide, run as run.mjs runs them, and testNeeding's three
// outcomes: run, skip (printing what is needed and how to get it), fail under CI.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
// @ts-expect-error: a plain .mjs module without types
import { counts, runFile } from "./run-file.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixture = (name: string, env: Record<string, string> = {}) => runFile(root, join(root, "test/fixtures/runner", name), env);
const noCI = { CI: "" };

test("a before() hook that throws: its error is printed and both tests count as failed", async () => {
  const r = await fixture("before-throws.mjs", noCI);
  assert.match(r.out, "the browser did not start (fixture)");
  const c = counts(r);
  assert.equal([c.passed, c.failed, c.skipped], [0, 2, 0]);
  assert.match(c.problem, "2 of 2 tests did not run");
});

test("a file that exits before uvu's report counts as failed, even with status 0", async () => {
  const r = await fixture("exits-early.mjs", noCI);
  const c = counts(r);
  assert.equal([c.passed, c.failed], [0, 1]);
  assert.match(c.problem, "no uvu report");
});

test("a non-zero exit after an all-passing report is a failure", async () => {
  const r = await fixture("exit-code.mjs", noCI);
  assert.is(r.code, 1);
  assert.match(r.out, "late failure (fixture)");
  const c = counts(r);
  assert.equal([c.passed, c.failed], [1, 1]);
  assert.match(c.problem, "exit 1 although");
});

test("pass, fail and skip: uvu's Total leaves skipped tests out, so failed = Total − Passed", async () => {
  const r = await fixture("mixed.mjs", noCI);
  assert.match(r.out, "arithmetic (fixture)");
  const c = counts(r);
  assert.equal([c.passed, c.failed, c.skipped], [1, 1, 2]);
  assert.is(c.problem, undefined, "its FAIL was printed");
});

test("testNeeding: a missing program skips its test, printing what it needs and how to get it", async () => {
  const r = await fixture("needs.ts", noCI);
  assert.match(r.out, 'SKIP "needs a missing program": llc-no-such-program not found (looked for /nonexistent/llc-no-such-program): needs llc-no-such-program (apt-get install llc-no-such-package');
  assert.equal(counts(r), { passed: 1, failed: 0, skipped: 1, problem: undefined });
});

test("testNeeding under CI=true: a missing program fails its test with the same message", async () => {
  const r = await fixture("needs.ts", { CI: "true" });
  assert.not.match(r.out, "SKIP");
  assert.match(r.out, "llc-no-such-program not found");
  assert.match(r.out, "CI=true: every program of the test matrix is required");
  assert.equal(counts(r), { passed: 1, failed: 1, skipped: 0, problem: undefined });
});

test.run();
