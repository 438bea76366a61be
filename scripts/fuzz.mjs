// `npm run fuzz`: test/fuzz.test.ts with many more iterations per target than
// `npm test` runs (LLC_FUZZ_ITERATIONS, default 20000; LLC_FUZZ_SEED to vary the seed).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = { ...process.env, LLC_FUZZ_ITERATIONS: process.env.LLC_FUZZ_ITERATIONS ?? "20000" };
const run = spawnSync(process.execPath, ["test/run.mjs", "test/fuzz"], { cwd: root, env, stdio: "inherit" });
process.exitCode = run.status ?? 1;
