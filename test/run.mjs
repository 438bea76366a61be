// Runs every test/**/*.test.ts in its own Node process (two at a time: CI has two
// cores), shows each file's uvu report, and closes with the line CI reads:
// "N passed, N failed".
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";

const root = fileURLToPath(new URL("..", import.meta.url));
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith(".test.ts") ? [path] : [];
  });
}

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", join(root, "scripts/ts-register.mjs"), file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ file, out, code }));
  });
}

function counts({ out, code }) {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  // uvu's Total counts the tests that ran (test.skip ones are only in Skipped).
  // A file that crashed before reporting counts as one failure, never as a pass.
  const failed = total - passed + (code !== 0 && total === passed ? 1 : 0);
  return { passed, failed, skipped };
}

const files = findTests(join(root, "test")).filter((f) => !filter || filter.test(f)).sort();
const queue = [...files];
const results = [];
const workers = Array.from({ length: Math.min(2, availableParallelism()) }, async () => {
  while (queue.length) {
    const result = await runFile(queue.shift());
    results.push(result);
    process.stdout.write(`\n── ${relative(root, result.file)} (exit ${result.code})\n${result.out}`);
  }
});
await Promise.all(workers);

let passed = 0, failed = 0, skipped = 0;
for (const r of results) {
  const c = counts(r);
  passed += c.passed; failed += c.failed; skipped += c.skipped;
}
console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
