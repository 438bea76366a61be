// One test file in a Node process of its own (the TypeScript loader and
// uvu-hooks.mjs preloaded), and what its uvu report counts: shared by test/run.mjs
// and test/runner.test.ts, which checks the counting on files that fail in each way.
import { spawn } from "node:child_process";
import { join } from "node:path";

/** Runs `file` from `root` (env: extra variables); resolves with its combined stdout and stderr and its exit code. */
export function runFile(root, file, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", join(root, "scripts/ts-register.mjs"), "--import", join(root, "test/uvu-hooks.mjs"), file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ file, out, code }));
  });
}

/**
 * A file's counts from uvu's closing report ("Total: T  Passed: P  Skipped: S").
 * uvu's Total is the tests declared and run (skipped ones are not in it), so
 * T − P failed, whether uvu printed their FAIL or a hook kept them from running.
 * `problem` says why the file failed beyond its FAIL blocks.
 */
export function counts({ out, code }) {
  const report = [...out.matchAll(/Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g)].pop();
  if (!report) return { passed: 0, failed: 1, skipped: 0, problem: `no uvu report (exit ${code}): the file crashed or exited early` };
  const [total, passed, skipped] = report.slice(1).map(Number);
  const printed = (out.match(/^\s*FAIL\s/gm) ?? []).length - (out.match(/^\s*FAIL before\(\) hook/gm) ?? []).length;
  let failed = total - passed, problem;
  if (failed > printed) problem = `${failed - printed} of ${total} tests did not run (a before() hook failed, see above)`;
  if (code !== 0 && failed === 0) (failed = 1), (problem = `exit ${code} although uvu reported every test passed`);
  return { passed, failed, skipped, problem };
}
