// Steps/s of head- and tensor-restricted SGLD on the default training model (issue 16,
// "restriction-aware steps"): a restriction that freezes whole tensors computes no gradient
// for them and no backward below its lowest moving block (models.ts freezeTensors). The
// restrictions run interleaved in rounds (bench/common.ts interleavedRounds) and each figure
// is the median over rounds, as is each round's ratio to the unrestricted step: this shared
// VM's speed moves by ±30% within a minute. "l1h0, full backward" is the step before the
// change (every gradient computed, masks on the update only, as devinterp does it).
import { DEFAULT_TRAIN_MODEL } from "../src/train-job.ts";
import { BATCH, DEFAULT_LABEL, transformerChain } from "./transformer.bench.ts";
import { interleavedRounds, median, printTable, type BenchRecord } from "./common.ts";

const STEPS_PER_CALL = 2;
const ROUNDS = 11;
const ROUND_MS = 500;
const CASES: [label: string, restrict: string[] | null, fullBackward: boolean][] = [
  ["none", null, false],
  ["l0h0", ["l0h0"], false],
  ["l1h0", ["l1h0"], false],
  ["unembed", ["unembed"], false],
  ["l1h0, full backward", ["l1h0"], true],
];

export async function run(): Promise<BenchRecord[]> {
  const model = DEFAULT_TRAIN_MODEL;
  const shape = [model.n_layers, model.n_heads, model.d_model, model.d_head, model.n_ctx, model.d_vocab, BATCH];
  const chains = [];
  for (const [, restrict, fullBackward] of CASES) chains.push(await transformerChain("simd", model, STEPS_PER_CALL, restrict, fullBackward));
  for (const c of chains) c.run(); // warm-up: tier-up and first-touch of every plan
  const rounds = interleavedRounds(chains.map((c) => c.run), ROUNDS, ROUND_MS);
  const records: BenchRecord[] = [];
  const rows = CASES.map(([label], i) => {
    const stepsPerSecond = median(rounds.map((ms) => STEPS_PER_CALL / (ms[i] / 1000)));
    const speedup = median(rounds.map((ms) => ms[0] / ms[i]));
    records.push({ family: "restrict", name: `${DEFAULT_LABEL} SGLD restrict ${label}`, impl: "simd", shape, unit: "steps/s", value: stepsPerSecond });
    records.push({ family: "restrict", name: `${DEFAULT_LABEL} SGLD restrict ${label}`, impl: "simd/none interleaved", shape, unit: "ratio", value: speedup });
    return [label, stepsPerSecond.toFixed(2), `${speedup.toFixed(2)}×`];
  });
  printTable(`Restricted SGLD steps/s, ${DEFAULT_LABEL} at batch ${BATCH} (SIMD; medians of ${ROUNDS} interleaved rounds)`, ["restrict", "steps/s", "÷ none"], rows);
  return records;
}
