// Readers for the JSON that `llc heads --json` and `llc circuits --json` write
// (issue 11's schemas), for the clustering labels and the figures. Tolerant of
// extra keys; strict about the ones read, with errors naming the path in the file.

export class ResultsJsonError extends Error {
  override readonly name = "ResultsJsonError";
}

/** One head as `llc heads --json` lists it (only the fields read here). */
export interface HeadRecord {
  layer: number;
  head: number;
  label?: string;
  previous_token?: number;
  current_token?: number;
  induction?: number;
  ablation_delta?: number;
  /** How many multigrams the head holds, by kind ("2-gram", "3-gram", "4-gram", "skip-bigram", …). */
  multigramCounts?: Record<string, number>;
}

/** The heads of one checkpoint and data set. */
export interface HeadsEntry {
  step: number | null;
  data: string | null;
  heads: HeadRecord[];
}

function parse(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ResultsJsonError(`${source}: not JSON (${(e as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function optionalNumber(o: Record<string, unknown>, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") throw new ResultsJsonError(`${path}.${key}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function readHead(raw: unknown, path: string): HeadRecord {
  if (!isObject(raw)) throw new ResultsJsonError(`${path}: expected an object with "layer", "head", …`);
  for (const key of ["layer", "head"])
    if (typeof raw[key] !== "number" || !Number.isSafeInteger(raw[key]) || (raw[key] as number) < 0)
      throw new ResultsJsonError(`${path}.${key}: expected an integer ≥ 0, got ${JSON.stringify(raw[key])}`);
  if (raw.label !== undefined && typeof raw.label !== "string") throw new ResultsJsonError(`${path}.label: expected a string, got ${JSON.stringify(raw.label)}`);
  const head: HeadRecord = { layer: raw.layer as number, head: raw.head as number };
  if (typeof raw.label === "string") head.label = raw.label;
  for (const key of ["previous_token", "current_token", "induction", "ablation_delta"] as const) {
    const v = optionalNumber(raw, key, path);
    if (v !== undefined) head[key] = v;
  }
  const mg = raw.multigrams;
  if (mg !== undefined && mg !== null) {
    // {"counts": {kind: n}, "top": […]} as issue 11 sketches it, or the counts object itself.
    const counts = isObject(mg) && isObject(mg.counts) ? mg.counts : mg;
    const where = isObject(mg) && isObject(mg.counts) ? `${path}.multigrams.counts` : `${path}.multigrams`;
    if (!isObject(counts)) throw new ResultsJsonError(`${where}: expected an object of counts by kind, e.g. {"2-gram": 3, "skip-bigram": 1}`);
    const out: Record<string, number> = {};
    for (const [kind, n] of Object.entries(counts)) {
      if (typeof n !== "number" || !(n >= 0)) throw new ResultsJsonError(`${where}.${kind}: expected a count ≥ 0, got ${JSON.stringify(n)}`);
      out[kind] = n;
    }
    head.multigramCounts = out;
  }
  return head;
}

function readHeadList(raw: unknown, path: string): HeadRecord[] {
  if (!Array.isArray(raw)) throw new ResultsJsonError(`${path}: expected a list of heads`);
  return raw.map((h, i) => readHead(h, `${path}[${i}]`));
}

/**
 * The entries of a heads JSON file: a bare list of heads (one entry, step and
 * data unknown), {"heads": […]} (with optional "step", "data"), or
 * {"checkpoints": [{"step": N, "data": "prose", "heads": […]}, …]}.
 */
export function readHeadsJson(text: string, source: string): HeadsEntry[] {
  const raw = parse(text, source);
  if (Array.isArray(raw)) return [{ step: null, data: null, heads: readHeadList(raw, source) }];
  if (!isObject(raw)) throw new ResultsJsonError(`${source}: expected a list of heads or {"checkpoints": [{"step", "data", "heads"}, …]}`);
  const entry = (o: Record<string, unknown>, path: string): HeadsEntry => {
    if (o.step !== undefined && o.step !== null && typeof o.step !== "number") throw new ResultsJsonError(`${path}.step: expected a number, got ${JSON.stringify(o.step)}`);
    if (o.data !== undefined && o.data !== null && typeof o.data !== "string") throw new ResultsJsonError(`${path}.data: expected a string, got ${JSON.stringify(o.data)}`);
    return { step: (o.step as number | undefined) ?? null, data: (o.data as string | undefined) ?? null, heads: readHeadList(o.heads, `${path}.heads`) };
  };
  if (Array.isArray(raw.checkpoints)) {
    if (raw.checkpoints.length === 0) throw new ResultsJsonError(`${source}.checkpoints: empty`);
    return raw.checkpoints.map((c, i) => {
      if (!isObject(c)) throw new ResultsJsonError(`${source}.checkpoints[${i}]: expected {"step", "data", "heads"}`);
      return entry(c, `${source}.checkpoints[${i}]`);
    });
  }
  if ("heads" in raw) return [entry(raw, source)];
  throw new ResultsJsonError(`${source}: expected a list of heads or an object with "checkpoints" or "heads"`);
}

/**
 * One entry: at `step` if given (else the last step), on `data` if given (else
 * the first entry of that step whose data is in `prefer`, in its order, else
 * the first of that step).
 */
export function selectHeadsEntry(entries: readonly HeadsEntry[], source: string, want: { step?: number; data?: string; prefer?: readonly (string | undefined)[] } = {}): HeadsEntry {
  let pool = entries.filter((e) => want.data === undefined || e.data === want.data);
  if (pool.length === 0) throw new ResultsJsonError(`${source}: no heads for data ${JSON.stringify(want.data)} (it has ${[...new Set(entries.map((e) => JSON.stringify(e.data)))].join(", ")})`);
  const steps = pool.map((e) => e.step).filter((s): s is number => s !== null);
  const step = want.step ?? (steps.length ? Math.max(...steps) : null);
  pool = pool.filter((e) => e.step === step || (want.step === undefined && e.step === null && step === null));
  if (pool.length === 0) throw new ResultsJsonError(`${source}: no heads at step ${want.step} (steps ${[...new Set(steps)].join(", ")})`);
  for (const d of want.prefer ?? []) {
    const hit = pool.find((e) => e.data === d);
    if (hit) return hit;
  }
  return pool[0];
}

/** Behaviour label per head name "l{l}h{h}". */
export function headLabels(entry: HeadsEntry): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of entry.heads) if (h.label !== undefined) out[`l${h.layer}h${h.head}`] = h.label;
  return out;
}

// ── circuits ────────────────────────────────────────────────────────────────

export type Qkv = { Q: number[][]; K: number[][]; V: number[][] };

/** `llc circuits --json`: M[i][j] for layer-0 head i and layer-1 head j. */
export interface Circuits {
  composition: Qkv & { baseline: number | null };
  path_ablation?: Qkv;
}

function readMatrix(raw: unknown, path: string): number[][] {
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every(Array.isArray)) throw new ResultsJsonError(`${path}: expected a non-empty matrix (a list of rows)`);
  const width = (raw[0] as unknown[]).length;
  return (raw as unknown[][]).map((row, i) => {
    if (row.length !== width) throw new ResultsJsonError(`${path}[${i}]: ${row.length} entries, row 0 has ${width}`);
    return row.map((v, j) => {
      if (typeof v !== "number") throw new ResultsJsonError(`${path}[${i}][${j}]: expected a number, got ${JSON.stringify(v)}`);
      return v;
    });
  });
}

function readQkv(raw: unknown, path: string): Qkv {
  if (!isObject(raw)) throw new ResultsJsonError(`${path}: expected {"Q": M, "K": M, "V": M}`);
  const out = { Q: readMatrix(raw.Q, `${path}.Q`), K: readMatrix(raw.K, `${path}.K`), V: readMatrix(raw.V, `${path}.V`) };
  for (const k of ["K", "V"] as const)
    if (out[k].length !== out.Q.length || out[k][0].length !== out.Q[0].length)
      throw new ResultsJsonError(`${path}.${k}: ${out[k].length}×${out[k][0].length}, but ${path}.Q is ${out.Q.length}×${out.Q[0].length}`);
  return out;
}

export function readCircuitsJson(text: string, source: string): Circuits {
  const raw = parse(text, source);
  if (!isObject(raw) || !isObject(raw.composition)) throw new ResultsJsonError(`${source}: expected {"composition": {"Q", "K", "V", "baseline"}, "path_ablation": {"Q", "K", "V"}}`);
  const baseline = optionalNumber(raw.composition, "baseline", `${source}.composition`) ?? null;
  const out: Circuits = { composition: { ...readQkv(raw.composition, `${source}.composition`), baseline } };
  if (raw.path_ablation !== undefined && raw.path_ablation !== null) out.path_ablation = readQkv(raw.path_ablation, `${source}.path_ablation`);
  return out;
}
