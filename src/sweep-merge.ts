// `llc merge`: the shard files of `llc sweep --shard K/N` combined into the file one machine
// would have written for the same cells. Each shard's first line (ShardHeader) records the whole
// sweep's steps, selectors, data and sampler; merge checks that every shard 1..N is there once,
// that all were made with the same settings and checkpoints, and that each holds exactly its cells,
// then writes the rows in the single sweep's order (step-major, selectors in order) with the
// single sweep's bytes (JSON.stringify of each row, "\n"-terminated). Host-neutral.
import type { Host } from "./platform/host.ts";
import { pairKey, parseRows, samplerDifference, shardOfCell, formatSweepTable, SweepError, type ShardHeader, type SweepRow } from "./sweep.ts";

export interface MergeResult {
  out: string;
  steps: number[];
  selectors: string[];
  rows: Map<string, SweepRow>;
  /** The aligned table of formatSweepTable. */
  table: string;
}

interface ShardFile {
  path: string;
  header: ShardHeader;
  rows: { row: SweepRow; line: number }[];
}

/** The first setting in which shard file `y`'s header differs from `x`'s, in words, or undefined. */
function settingsDifference(x: ShardFile, y: ShardFile): string | undefined {
  const [a, b] = [{ ...x.header, path: x.path }, y.header];
  if (a.of !== b.of) return `it is one of ${b.of} shards, ${a.path} one of ${a.of}`;
  const sampler = samplerDifference(a.sampler as unknown as Record<string, unknown>, b.sampler as unknown as Record<string, unknown>);
  if (sampler !== undefined) return `another sampler: ${sampler.replace("there", `in ${a.path}`).replace("in this run", "in it")}`;
  if (a.data_hash !== b.data_hash) return `other data: ${JSON.stringify(b.data)} (data_hash ${b.data_hash}), ${a.path} has ${JSON.stringify(a.data)} (${a.data_hash})`;
  if (JSON.stringify(a.steps) !== JSON.stringify(b.steps)) return `other steps: ${b.steps.join(",")}, ${a.path} has ${a.steps.join(",")}`;
  if (JSON.stringify(a.selectors) !== JSON.stringify(b.selectors)) return `other selectors: ${b.selectors.join(",")}, ${a.path} has ${a.selectors.join(",")}`;
  return undefined;
}

/** Combine shard files (any order) into `out`; every error names the file and, where there is one, the cell. */
export async function mergeShards(host: Host, files: readonly string[], out: string): Promise<MergeResult> {
  if (files.length === 0) throw new SweepError("merge: expected the shard files of llc sweep --shard K/N");
  const real = (path: string) => (host.realPath ? host.realPath(path) : Promise.resolve(path));
  const shards: ShardFile[] = [];
  for (const path of files) {
    if (!(await host.exists(path))) throw new SweepError(`${path}: no such shard file`);
    if ((await real(path)) === (await real(out))) throw new SweepError(`out: ${out} is one of the shard files; writing the merge there would destroy it: give another --out`);
    const parsed = parseRows(await host.readText(path), path);
    if (!parsed.header) throw new SweepError(`${path}: not a shard of llc sweep --shard K/N (its first line is not a shard header); an unsharded sweep's file needs no merge`);
    if (parsed.repaired) throw new SweepError(`${path}: its last line is torn (a shard killed mid-write); rerun that shard (llc sweep --shard ${parsed.header.shard}/${parsed.header.of}) to finish it`);
    shards.push({ path, header: parsed.header, rows: parsed.rows });
  }
  // Settings: every shard's must equal the first's.
  const [first] = shards;
  const reference = first.header;
  for (const s of shards.slice(1)) {
    const differs = settingsDifference(first, s);
    if (differs !== undefined) throw new SweepError(`${s.path} was made with other settings than ${first.path} (${differs}); shards of different sweeps are not merged`);
  }
  // Shards: each of 1..N exactly once.
  const { of, steps, selectors } = reference;
  const byShard = new Map<number, string>();
  for (const s of shards) {
    const other = byShard.get(s.header.shard);
    if (other !== undefined) throw new SweepError(`${s.path} and ${other} are both shard ${s.header.shard} of ${of}; give each shard once`);
    byShard.set(s.header.shard, s.path);
  }
  for (let k = 1; k <= of; k++)
    if (!byShard.has(k)) throw new SweepError(`shard ${k} of ${of} is missing (given: ${[...byShard.keys()].sort((a, b) => a - b).join(", ")}); run llc sweep --shard ${k}/${of} and pass its file too`);

  // Cells: each row in its own shard's cells, once; every cell there; one checkpoint per step.
  const cellIndex = new Map(steps.flatMap((step, t) => selectors.map((r, s) => [pairKey(step, r), t * selectors.length + s] as const)));
  const rows = new Map<string, { row: SweepRow; where: string }>();
  const checkpoints = new Map<number, { hash: string; where: string }>();
  for (const s of shards) {
    for (const { row, line } of s.rows) {
      const where = `${s.path}:${line}`;
      const cell = `step ${row.step} ${row.restrict}`;
      const key = pairKey(row.step, row.restrict);
      const index = cellIndex.get(key);
      if (index === undefined) throw new SweepError(`${where}: cell ${cell} is not a cell of this sweep (steps ${steps.join(",")}; selectors ${selectors.join(",")})`);
      const previous = rows.get(key);
      if (previous !== undefined) throw new SweepError(`${where}: cell ${cell} is duplicated (also at ${previous.where})`);
      if (shardOfCell(index, of) + 1 !== s.header.shard)
        throw new SweepError(`${where}: cell ${cell} belongs to shard ${shardOfCell(index, of) + 1} of ${of}, not to this file's shard ${s.header.shard}`);
      const sampler = row.sampler !== null && typeof row.sampler === "object" ? (row.sampler as unknown as Record<string, unknown>) : {};
      const differs = samplerDifference(reference.sampler as unknown as Record<string, unknown>, sampler);
      if (differs !== undefined || row.data_hash !== reference.data_hash)
        throw new SweepError(`${where}: cell ${cell} was made with other settings than its shard header (${differs ?? `data_hash ${row.data_hash}, header ${reference.data_hash}`})`);
      const checkpoint = checkpoints.get(row.step);
      if (checkpoint && checkpoint.hash !== row.checkpoint_hash)
        throw new SweepError(`${where}: cell ${cell} was made from another checkpoint of step ${row.step} (checkpoint_hash ${row.checkpoint_hash}) than ${checkpoint.where} (${checkpoint.hash}); every shard must read the same run`);
      if (!checkpoint) checkpoints.set(row.step, { hash: row.checkpoint_hash, where });
      rows.set(key, { row, where });
    }
  }
  const ordered: SweepRow[] = [];
  for (const [key, index] of cellIndex) {
    const found = rows.get(key);
    const step = steps[Math.floor(index / selectors.length)], restrict = selectors[index % selectors.length];
    if (!found) {
      const k = shardOfCell(index, of) + 1;
      throw new SweepError(`${byShard.get(k)}: cell step ${step} ${restrict} is missing (shard ${k} of ${of} is unfinished: rerun llc sweep --shard ${k}/${of}, it resumes)`);
    }
    ordered.push(found.row);
  }
  await host.prepareOutput?.(out);
  await host.writeText(out, ordered.map((row) => JSON.stringify(row) + "\n").join(""));
  const byKey = new Map(ordered.map((row) => [pairKey(row.step, row.restrict), row]));
  return { out, steps, selectors, rows: byKey, table: formatSweepTable(steps, selectors, byKey) };
}
