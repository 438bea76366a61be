// The analysis figures from a set of files as text, whatever they are: what the
// browser page's Analysis panel draws from the files dropped on it (src/web/analysis-panel.ts),
// with the same figure functions `llc plot` and `llc cluster` use, so the page's
// SVG is the CLI's byte for byte. Host-neutral: names and texts in, SVG strings out.
//   llc heads --json     → the multigram counts per head (multigramFigure); its labels also label a sweep's heads
//   llc circuits --json  → composition and path-ablation heat maps (circuitsFigure)
//   llc cluster --json   → wrLLC curves by cluster (signatureFigure) and, with code, codeFigure
//   llc sweep rows (JSONL) → clustered here with analyseSignatures' defaults, then as llc cluster --json;
//                          a sweep whose rows' data is "code" (or whose name says code) is the code comparison
import { analyseSignatures, headCurves, parseSweepRows, signatureJson, type HeadCurves } from "./cluster.ts";
import { circuitsFigure, codeFigure, multigramFigure, signatureFigure, type SignatureJson } from "./figures.ts";
import { headLabels, readCircuitsJson, readHeadsJson, selectHeadsEntry, type HeadsEntry } from "./results-json.ts";

export interface PlotInput {
  name: string;
  text: string;
}

export type FileKind = "heads" | "circuits" | "cluster" | "sweep";

export interface PlotFigure {
  /** The file it was drawn from (for a sweep with a code sweep: the prose one). */
  source: string;
  /** What `llc plot` would call it: BASE-wrllc, BASE-code, BASE-multigrams, BASE-circuits (+ ".svg"). */
  fileName: string;
  /** A one-line title for the page (the SVG carries its own). */
  title: string;
  svg: string;
}

export interface PlotProblem {
  source: string;
  message: string;
}

export interface PlotFiles {
  kinds: Record<string, FileKind>;
  figures: PlotFigure[];
  problems: PlotProblem[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const baseName = (name: string) => name.replace(/^.*[\\/]/, "").replace(/\.jsonl?$/i, "");

/** What a file is, from its content: the commands' JSON by their top-level keys, sweep rows by their lines. */
export function fileKind(input: PlotInput): FileKind {
  let raw: unknown;
  try {
    raw = JSON.parse(input.text);
  } catch {
    const first = input.text.split("\n").find((l) => l.trim() !== "");
    let row: unknown;
    try {
      row = first === undefined ? undefined : JSON.parse(first);
    } catch {
      // reported below
    }
    if (isObject(row) && "restrict" in row) return "sweep";
    throw new Error(`${input.name}: neither JSON nor the JSON lines of llc sweep`);
  }
  if (isObject(raw) && "restrict" in raw && "step" in raw) return "sweep"; // a one-row sweep file
  if (isObject(raw) && isObject(raw.composition)) return "circuits";
  if (isObject(raw) && "clusters" in raw && "curves" in raw && Array.isArray(raw.layers)) return "cluster";
  if (Array.isArray(raw) || (isObject(raw) && ("checkpoints" in raw || "heads" in raw))) return "heads";
  throw new Error(`${input.name}: not the JSON of llc heads, llc circuits or llc cluster --json (no "checkpoints"/"heads", "composition", or "clusters"/"curves"/"layers"), nor sweep rows`);
}

/** The figures of every file (each file on its own, except that sweeps take the heads file's labels and pair with a code sweep). */
export function plotFiles(inputs: readonly PlotInput[]): PlotFiles {
  const out: PlotFiles = { kinds: {}, figures: [], problems: [] };
  const attempt = (source: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      out.problems.push({ source, message: e instanceof Error ? e.message : String(e) });
    }
  };
  const sweeps: { input: PlotInput; curves: HeadCurves }[] = [];
  let heads: { input: PlotInput; entries: HeadsEntry[] } | undefined;
  for (const input of inputs)
    attempt(input.name, () => {
      const kind = fileKind(input);
      out.kinds[input.name] = kind;
      const base = baseName(input.name);
      if (kind === "heads") {
        const entries = readHeadsJson(input.text, input.name);
        heads ??= { input, entries };
        const entry = selectHeadsEntry(entries, input.name, { prefer: ["prose", "mix"] });
        out.figures.push({ source: input.name, fileName: `${base}-multigrams.svg`, title: `Multigrams held per head (${input.name})`, svg: multigramFigure(entry) });
      } else if (kind === "circuits") {
        out.figures.push({ source: input.name, fileName: `${base}-circuits.svg`, title: `Composition scores and path ablation (${input.name})`, svg: circuitsFigure(readCircuitsJson(input.text, input.name)) });
      } else if (kind === "cluster") {
        signatureFigures(JSON.parse(input.text) as SignatureJson, input.name, base, out.figures);
      } else {
        const { rows, warnings } = parseSweepRows(input.text, input.name);
        for (const w of warnings) out.problems.push({ source: input.name, message: `warning: ${w}` });
        sweeps.push({ input, curves: headCurves(rows, input.name) });
      }
    });
  const isCode = (s: (typeof sweeps)[number]) => s.curves.data === "code" || (s.curves.data === undefined && /code/i.test(baseName(s.input.name)));
  const code = sweeps.filter(isCode);
  const prose = sweeps.filter((s) => !isCode(s));
  if (code.length > 1) out.problems.push({ source: code.map((s) => s.input.name).join(", "), message: "several code sweeps: drop one at a time to compare with prose" });
  if (prose.length === 0 && code.length === 1) prose.push(...code.splice(0)); // a code sweep alone is clustered like any other
  for (const s of prose)
    attempt(s.input.name, () => {
      // Labels as llc cluster takes them: the heads file's last step, the entry on the sweep's data set, else prose, else mix.
      const labels = heads ? headLabels(selectHeadsEntry(heads.entries, heads.input.name, { prefer: [s.curves.data, "prose", "mix"] })) : undefined;
      const analysis = analyseSignatures(s.curves, { labels, code: code.length === 1 ? code[0].curves : undefined });
      signatureFigures(signatureJson(analysis) as unknown as SignatureJson, s.input.name, baseName(s.input.name), out.figures);
    });
  return out;
}

function signatureFigures(json: SignatureJson, source: string, base: string, figures: PlotFigure[]): void {
  figures.push({ source, fileName: `${base}-wrllc.svg`, title: `wrLLC curves by k-means cluster (${source})`, svg: signatureFigure(json) });
  if (json.code) figures.push({ source, fileName: `${base}-code.svg`, title: `drLLC on code against wrLLC on prose (${source})`, svg: codeFigure(json) });
}
