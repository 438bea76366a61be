// Runs every test/**/*.test.ts in its own Node process (two at a time: CI has two
// cores), shows each file's uvu report, and closes with the line CI reads:
// "N passed, N failed, K skipped". A test is skipped only when a program it needs
// is not installed (test/helpers.ts testNeeding; never under CI=true); the skips
// are listed with what they need above the closing line. A file counts as failed
// when it crashes, exits non-zero, prints no uvu report, or reports fewer tests
// run than it declared (a failing before() hook: test/uvu-hooks.mjs prints why).
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";
import { counts, runFile } from "./run-file.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith(".test.ts") ? [path] : [];
  });
}

const files = findTests(join(root, "test")).filter((f) => !filter || filter.test(f)).sort();
const queue = [...files];
const results = [];
const workers = Array.from({ length: Math.min(2, availableParallelism()) }, async () => {
  while (queue.length) {
    const result = await runFile(root, queue.shift());
    results.push(result);
    process.stdout.write(`\n── ${relative(root, result.file)} (exit ${result.code})\n${result.out}`);
  }
});
await Promise.all(workers);

let passed = 0, failed = 0, skipped = 0;
const failedFiles = [], skips = new Map(); // why → per file, how many
for (const r of results.sort((a, b) => (a.file < b.file ? -1 : 1))) {
  const c = counts(r);
  passed += c.passed; failed += c.failed; skipped += c.skipped;
  const name = relative(root, r.file);
  if (c.failed) failedFiles.push(`  ${name}: ${c.failed} failed${c.problem ? ` — ${c.problem}` : ""}`);
  for (const [, why] of r.out.matchAll(/^SKIP ".*?": (.*)$/gm)) {
    const files = skips.get(why) ?? new Map();
    skips.set(why, files.set(name, (files.get(name) ?? 0) + 1));
  }
}
if (skips.size) {
  console.log("\nSkipped, because a program they need is not installed here (CI=true requires them):");
  for (const [why, files] of skips) console.log(`  ${why}\n    ${[...files].map(([f, n]) => `${f}: ${n} test${n > 1 ? "s" : ""}`).join(", ")}`);
}
if (failedFiles.length) console.log(`\nFailed:\n${failedFiles.join("\n")}`);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
