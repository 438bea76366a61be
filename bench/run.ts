// Benchmark runner: `npm run bench [-- --only matmul] [-- --json FILE]`, i.e.
//   node --import ./scripts/ts-register.mjs bench/run.ts [--only NAME[,NAME]] [--json FILE]
// Runs every bench/<name>.bench.ts in name order (new files are picked up
// without touching this runner). Each must export `run(): Promise<BenchRecord[]>`
// and print its own table, since it knows which comparisons matter; this runner
// prints the machine header and timings, closes (when the run measured the
// roofline) with attention and LayerNorm rated against that run's peak, and
// --json writes every record as one JSON array.
import { readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { printMachineInfo, type BenchModule, type BenchRecord } from "./common.ts";
import { rateAgainstPeak } from "./roofline.bench.ts";

function parseArgs(argv: string[]): { only: string[] | null; json: string | null } {
  let only: string[] | null = null;
  let json: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--only") only = value().split(",").filter(Boolean);
    else if (flag === "--json") json = value();
    else throw new Error(`unknown argument ${argv[i]} (usage: bench/run.ts [--only NAME[,NAME]] [--json FILE])`);
  }
  return { only, json };
}

const { only, json } = parseArgs(process.argv.slice(2));
const benchDir = new URL("./", import.meta.url);
const names = readdirSync(fileURLToPath(benchDir))
  .filter((file) => file.endsWith(".bench.ts"))
  .map((file) => file.slice(0, -".bench.ts".length))
  .sort();
const selected = only ? names.filter((name) => only.includes(name)) : names;
if (selected.length === 0) {
  console.error(`no benchmark matches ${only?.join(", ")} (available: ${names.join(", ")})`);
  process.exit(1);
}

printMachineInfo();
const records: BenchRecord[] = [];
for (const name of selected) {
  const started = performance.now();
  const module = (await import(new URL(`./${name}.bench.ts`, benchDir).href)) as Partial<BenchModule>;
  if (typeof module.run !== "function") throw new Error(`bench/${name}.bench.ts does not export run()`);
  const produced = await module.run();
  records.push(...produced);
  console.log(`(${name}: ${produced.length} records in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
records.push(...rateAgainstPeak(records));
if (json) {
  await writeFile(json, JSON.stringify(records, null, 2) + "\n");
  console.log(`wrote ${records.length} records to ${json}`);
}
