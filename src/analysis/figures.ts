// The analysis figures of issue 11 as standalone SVG documents: pure functions
// from the commands' JSON to an SVG string, with no DOM, so they render the same
// in Node, Deno, a browser or a Worker. Line charts go through the page's SVG
// writer (src/web/svg.ts, extended with a log x axis); heat maps and bar charts
// are drawn here with the same style sheet.
//   signatureFigure  per-head wrLLC curves over training, a panel per layer, coloured by cluster
//   codeFigure       drLLC(code) against wrLLC(prose) per head, and their ratio
//   circuitsFigure   Q/K/V composition scores and path-ablation Δloss, layer-0 head × layer-1 head
//   multigramFigure  multigrams held per head, by kind
import { chartsToSvg, escape, niceTicks, num, svgDocument, tickLabel, type SvgPanel, type SvgSeries } from "../web/svg.ts";
import type { Circuits, HeadsEntry } from "./results-json.ts";

/** The fields of `llc cluster --json` (signatureJson) the figures read. */
export interface SignatureJson {
  clusters: Record<string, number>;
  labels: Record<string, string>;
  normalise: string;
  data: string | null;
  steps: number[];
  curves: Record<string, number[]>;
  layers: { layer: number | "all"; heads: string[]; k: number }[];
  code?: { data: string | null; steps: number[]; curves: Record<string, number[]>; ratio: Record<string, (number | null)[]>; split: Record<string, boolean> };
}

// Tableau 10: distinct, print- and colour-blind-friendlier than a rainbow.
export const CATEGORICAL = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const DASHES = [undefined, "6 3", "2 2", "8 3 2 3", "1 3"];

/** The i-th of m shades of a colour, dark to light (the paper tells a cluster's heads apart by shading). */
export function shade(hex: string, i: number, m: number): string {
  const t = m > 1 ? i / (m - 1) : 0.5;
  const rgb = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  const mixed = t < 0.5 ? rgb.map((v) => v * (1 - 0.45 * (1 - 2 * t))) : rgb.map((v) => v + (255 - v) * 0.5 * (2 * t - 1));
  return "#" + mixed.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
}

const headTitle = (name: string) => name.replace(/^l(\d+)h(\d+)$/, "$1:$2");
/** A data set as a figure names it: "prose", or a token file's base name (a path would crowd the title). */
export const dataLabel = (d: string | null | undefined) => (d ? d.replace(/^.*[\\/]/, "").replace(/\.safetensors$/, "") : "the sweep's data");

/**
 * Per-head refined LLC over training (log step), one panel per layer; each
 * head's line takes its k-means cluster's colour (heads of one cluster differ
 * by shade, dark to light, and dash), and its legend entry names the head, its behaviour label and cluster.
 */
export function signatureFigure(s: SignatureJson): string {
  const panels: SvgPanel[] = s.layers.map((layer) => {
    const seen = new Map<number, number>();
    const size = new Map<number, number>();
    for (const h of layer.heads) size.set(s.clusters[h], (size.get(s.clusters[h]) ?? 0) + 1);
    const series: SvgSeries[] = layer.heads.map((h) => {
      const c = s.clusters[h];
      const within = seen.get(c) ?? 0;
      seen.set(c, within + 1);
      const label = `${headTitle(h)} ${s.labels[h] ?? "(no label)"} · cluster ${c}`;
      const color = shade(CATEGORICAL[c % CATEGORICAL.length], within, size.get(c)!);
      return { label, color, dash: DASHES[within % DASHES.length], width: 1.6, marker: true, x: s.steps, y: s.curves[h] };
    });
    return {
      title: `${layer.layer === "all" ? "All heads" : `Layer ${layer.layer} heads`}: weight-refined LLC over training, coloured by k-means cluster (k = ${layer.k})`,
      xLabel: "training step (log scale)",
      yLabel: `wrLLC λ̂ on ${dataLabel(s.data)} (dimensionless)`,
      xScale: "log",
      series,
    };
  });
  return chartsToSvg(panels, { width: 960, panelHeight: 380, caption: `Legend: head (layer:index), llc heads label, k-means cluster of its curve (${s.normalise === "none" ? "not normalised" : `${s.normalise}d`}, log-step grid; ids count across layers). ${s.steps.length} checkpoints, steps ${s.steps[0]}–${s.steps[s.steps.length - 1]}.` });
}

/**
 * drLLC on code against wrLLC on prose, per layer: each head in its own colour,
 * prose solid and code dashed; then drLLC(code)/wrLLC(prose) per head (a head
 * whose prose cluster splits apart on code drawn thicker).
 */
export function codeFigure(s: SignatureJson): string {
  if (!s.code) throw new Error("codeFigure: the cluster JSON has no code comparison (run llc cluster with --sweep-code)");
  const code = s.code;
  const panels: SvgPanel[] = [];
  for (const layer of s.layers) {
    const series: SvgSeries[] = [
      // Style keys: empty series, legend only.
      { label: `wrLLC on ${dataLabel(s.data)}`, color: "#555", width: 1.6, x: [], y: [] },
      { label: `drLLC on ${dataLabel(code.data)}`, color: "#555", width: 1.6, dash: "5 3", x: [], y: [] },
    ];
    layer.heads.forEach((h, i) => {
      const color = CATEGORICAL[i % CATEGORICAL.length];
      const prose = code.steps.map((st) => s.curves[h][s.steps.indexOf(st)]);
      series.push({ label: headTitle(h) + (code.split[h] ? " (splits on code)" : ""), color, width: 1.6, x: code.steps, y: prose });
      series.push({ label: `${headTitle(h)} code`, legend: false, color, width: 1.6, dash: "5 3", x: code.steps, y: code.curves[h] });
    });
    panels.push({
      title: `${layer.layer === "all" ? "All heads" : `Layer ${layer.layer}`}: wrLLC on ${dataLabel(s.data)} (solid) and drLLC on ${dataLabel(code.data)} (dashed)`,
      xLabel: "training step (log scale)", yLabel: "refined LLC λ̂ (dimensionless)", xScale: "log", series,
    });
    // Where the prose λ̂ is near 0 the ratio of two noisy estimates explodes (hundreds at an early
    // checkpoint): the axis then stops at 1.5× the 90th percentile and says so.
    const ratios = layer.heads.flatMap((h) => code.ratio[h]).filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
    const p90 = ratios.length ? ratios[Math.min(ratios.length - 1, Math.floor(0.9 * ratios.length))] : 1;
    const clip = ratios.length && ratios[ratios.length - 1] > 1.5 * p90 && p90 > 0 ? 1.5 * p90 : undefined;
    panels.push({
      title: `${layer.layer === "all" ? "All heads" : `Layer ${layer.layer}`}: drLLC(code) / wrLLC(prose) per head` +
        (clip !== undefined ? ` (axis cut at ${clip.toPrecision(2)}; up to ${ratios[ratios.length - 1].toPrecision(3)} where prose λ̂ ≈ 0)` : ""),
      xLabel: "training step (log scale)", yLabel: "ratio code / prose", xScale: "log",
      ...(clip !== undefined ? { yDomain: [Math.min(0, ratios[0]), clip] as [number, number] } : {}),
      series: layer.heads.map((h, i) => ({ label: headTitle(h), color: CATEGORICAL[i % CATEGORICAL.length], width: code.split[h] ? 2.6 : 1.4, marker: true, x: code.steps, y: code.ratio[h] })),
    });
  }
  return chartsToSvg(panels, { width: 960, panelHeight: 360, caption: "Solid: weight-refined LLC on prose; dashed: the same head's data-refined LLC on code. Thick ratio lines: heads whose prose cluster splits apart on code." });
}

// ── colour maps ──────────────────────────────────────────────────────────────

// viridis and RdBu at evenly spaced stops (matplotlib's values), interpolated in RGB.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const RDBU = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"];

function ramp(stops: readonly string[], t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u)), f = u - i;
  const rgb = (hex: string) => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  const a = rgb(stops[i]), b = rgb(stops[i + 1]);
  return "#" + a.map((v, k) => Math.round(v + f * (b[k] - v)).toString(16).padStart(2, "0")).join("");
}

/** Whether text on this fill reads better in white (dark fill) or black. */
const darkFill = (hex: string) => {
  const [r, g, b] = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b < 140;
};

interface HeatScale {
  lo: number;
  hi: number;
  color: (v: number) => string;
  label: string;
  /** A value marked on the colour bar (the composition baseline). */
  mark?: { value: number; label: string };
  /** Annotate only cells with |value| ≥ this (small Δloss values would print as 0.00 noise). */
  annotateAbove?: number;
}

function valueText(v: number, ticks: number[]): string {
  if (!Number.isFinite(v)) return "–";
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const digits = Math.max(2, Math.min(4, 1 - Math.floor(Math.log10(step))));
  const text = v.toFixed(digits);
  return /^-0\.0*$/.test(text) ? text.slice(1) : text; // no "−0.00"
}

/** One heat map: rows = layer-0 head i (top to bottom), columns = layer-1 head j. */
function heatMap(M: number[][], x0: number, y0: number, cell: number, title: string, scale: HeatScale): string {
  const rows = M.length, cols = M[0].length;
  const out: string[] = [`<text x="${x0}" y="${y0 - 10}" class="title">${escape(title)}</text>`];
  const ticks = niceTicks(scale.lo, scale.hi, 5);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const v = M[i][j];
      const fill = scale.color(v);
      const x = x0 + j * cell, y = y0 + i * cell;
      out.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#fff" stroke-width="0.5"><title>layer-0 head ${i} → layer-1 head ${j}: ${v}</title></rect>`);
      if (cell >= 28 && !(Math.abs(v) < (scale.annotateAbove ?? -Infinity))) out.push(`<text x="${num(x + cell / 2)}" y="${num(y + cell / 2)}" dy="3.5" text-anchor="middle" font-size="${cell >= 40 ? 10 : 8.5}" style="fill:${darkFill(fill) ? "#fff" : "#111"}">${valueText(v, ticks)}</text>`);
    }
  for (let j = 0; j < cols; j++) out.push(`<text x="${num(x0 + (j + 0.5) * cell)}" y="${y0 + rows * cell + 14}" text-anchor="middle">${j}</text>`);
  for (let i = 0; i < rows; i++) out.push(`<text x="${x0 - 6}" y="${num(y0 + (i + 0.5) * cell)}" dy="4" text-anchor="end">${i}</text>`);
  out.push(`<text x="${num(x0 + (cols * cell) / 2)}" y="${y0 + rows * cell + 32}" text-anchor="middle" class="axis">layer-1 head j</text>`);
  out.push(`<text transform="translate(${x0 - 26} ${num(y0 + (rows * cell) / 2)}) rotate(-90)" text-anchor="middle" class="axis">layer-0 head i</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${cols * cell}" height="${rows * cell}" class="frame"/>`);
  return out.join("\n");
}

/** A vertical colour bar with ticks, its label, and an optional marked value. */
function colorBar(x: number, y: number, h: number, scale: HeatScale, id: string): string {
  const steps = 48, out: string[] = [];
  for (let s = 0; s < steps; s++) {
    const v = scale.hi - ((s + 0.5) / steps) * (scale.hi - scale.lo);
    out.push(`<rect x="${x}" y="${num(y + (s * h) / steps)}" width="14" height="${num(h / steps + 0.3)}" fill="${scale.color(v)}"/>`);
  }
  out.push(`<rect x="${x}" y="${y}" width="14" height="${h}" class="frame"/>`);
  const Y = (v: number) => y + ((scale.hi - v) / (scale.hi - scale.lo || 1)) * h;
  const ticks = niceTicks(scale.lo, scale.hi, 5).filter((v) => v >= scale.lo - 1e-12 && v <= scale.hi + 1e-12);
  for (const v of ticks) {
    out.push(`<line x1="${x + 14}" x2="${x + 18}" y1="${num(Y(v))}" y2="${num(Y(v))}" stroke="#666"/>`);
    out.push(`<text x="${x + 21}" y="${num(Y(v))}" dy="4">${tickLabel(v, ticks)}</text>`);
  }
  if (scale.mark && scale.mark.value >= scale.lo && scale.mark.value <= scale.hi) {
    const my = num(Y(scale.mark.value));
    out.push(`<line x1="${x - 4}" x2="${x + 18}" y1="${my}" y2="${my}" stroke="#000" stroke-width="1.5" stroke-dasharray="3 2"/>`);
    out.push(`<text x="${x - 6}" y="${my}" dy="4" text-anchor="end" font-size="10">${escape(scale.mark.label)}</text>`);
    // (the bar stands far enough right of the maps for this label)
  }
  out.push(`<text transform="translate(${x + 62} ${num(y + h / 2)}) rotate(-90)" text-anchor="middle" class="axis" id="${id}">${escape(scale.label)}</text>`);
  return out.join("\n");
}

function finiteValues(ms: number[][][]): number[] {
  return ms.flat(2).filter(Number.isFinite);
}

/**
 * Composition scores (Elhage et al. 2021) and path-ablation Δloss as heat maps:
 * a row of Q, K, V per quantity, layer-0 head i down, layer-1 head j across, one
 * colour scale per row (composition from 0, with the random baseline marked;
 * Δloss diverging around 0, in nats).
 */
export function circuitsFigure(c: Circuits, options: { title?: string } = {}): string {
  const rows = c.composition.Q.length, cols = c.composition.Q[0].length;
  const cell = Math.max(18, Math.min(48, Math.floor(240 / Math.max(rows, cols))));
  const mapW = cols * cell, mapH = rows * cell;
  const left = 64, gap = 56, top = 90;
  const rowH = mapH + 100;
  const parts: string[] = [];
  const title = options.title ?? "How layer-0 heads feed layer-1 heads";
  parts.push(`<text x="${left - 40}" y="26" class="title" font-size="16">${escape(title)}</text>`);
  const sections: { name: string; Ms: Qkv3; scale: HeatScale }[] = [];
  const comp = [c.composition.Q, c.composition.K, c.composition.V] as Qkv3;
  const cv = finiteValues(comp);
  const chi = Math.max(...cv, c.composition.baseline ?? 0, 1e-12);
  sections.push({
    name: "composition score", Ms: comp,
    scale: {
      lo: Math.min(0, ...cv), hi: chi, label: "composition score (dimensionless)",
      color: (v) => ramp(VIRIDIS, v / chi),
      ...(c.composition.baseline !== null ? { mark: { value: c.composition.baseline, label: "random" } } : {}),
    },
  });
  if (c.path_ablation) {
    const pa = [c.path_ablation.Q, c.path_ablation.K, c.path_ablation.V] as Qkv3;
    const a = Math.max(...finiteValues(pa).map(Math.abs), 1e-12);
    sections.push({ name: "path ablation Δloss", Ms: pa, scale: { lo: -a, hi: a, label: "Δ loss (nats per token)", color: (v) => ramp(RDBU, (v + a) / (2 * a)), annotateAbove: 0.1 * a } });
  }
  sections.forEach((sec, r) => {
    const y0 = top + r * rowH + 22;
    (["Q", "K", "V"] as const).forEach((k, i) => {
      const x0 = left + i * (mapW + gap);
      const what = sec.name === "composition score" ? `${k}-composition` : `${k} path ablated: Δloss`;
      parts.push(heatMap(sec.Ms[i], x0, y0, cell, what, sec.scale));
    });
    parts.push(colorBar(left + 3 * (mapW + gap) - gap + 60, y0, mapH, sec.scale, `bar${r}`));
  });
  const width = left + 3 * (mapW + gap) - gap + 60 + 90;
  const height = top + sections.length * rowH + 10;
  const notes = [
    "Rows: layer-0 head i; columns: layer-1 head j.",
    "Composition score ‖W_A W_B‖_F / (‖W_A‖_F ‖W_B‖_F) (Elhage et al. 2021)" +
      (c.composition.baseline !== null ? `; random baseline ${c.composition.baseline.toPrecision(3)} (matrices of the same shapes), marked on the colour bar.` : "."),
    c.path_ablation ? "Δloss: mean cross-entropy change when head i's output is mean-ablated only in head j's query, key or value input; cells annotated where |Δ| ≥ 10% of the largest." : "",
  ];
  notes.forEach((t, i) => t && parts.push(`<text x="${left - 40}" y="${44 + 14 * i}" class="caption">${escape(t)}</text>`));
  return svgDocument(Math.max(width, 640), height, parts.join("\n"));
}
type Qkv3 = [number[][], number[][], number[][]];

/**
 * Multigrams each head holds, by kind, as grouped bars: a panel per layer,
 * heads along x, one bar per kind (2-gram, 3-gram, 4-gram, skip-bigram, …).
 */
export function multigramFigure(entry: HeadsEntry): string {
  const withCounts = entry.heads.filter((h) => h.multigramCounts);
  if (withCounts.length === 0) throw new Error("multigramFigure: no head has multigram counts (\"multigrams\": {\"counts\": {…}})");
  const kinds = [...new Set(withCounts.flatMap((h) => Object.keys(h.multigramCounts!)))];
  const order = ["2-gram", "3-gram", "4-gram", "skip-bigram"];
  kinds.sort((a, b) => (order.indexOf(a) < 0 ? 99 : order.indexOf(a)) - (order.indexOf(b) < 0 ? 99 : order.indexOf(b)) || (a < b ? -1 : a > b ? 1 : 0));
  const layers = [...new Set(withCounts.map((h) => h.layer))].sort((a, b) => a - b);
  const width = 960, panelH = 310, m = { left: 72, right: 16, top: 70, bottom: 58 };
  const max = Math.max(1, ...withCounts.flatMap((h) => Object.values(h.multigramCounts!)));
  // The axis ends at the first tick at or above the tallest bar.
  const step0 = niceTicks(0, max, 5);
  const tickStep = step0.length > 1 ? step0[1] - step0[0] : max;
  const yMax = Math.ceil(max / tickStep - 1e-9) * tickStep;
  const ticks = niceTicks(0, yMax, 5).filter((v) => v <= yMax + 1e-9);
  const parts: string[] = [];
  layers.forEach((layer, p) => {
    const top = p * panelH;
    const heads = withCounts.filter((h) => h.layer === layer).sort((a, b) => a.head - b.head);
    const plotW = width - m.left - m.right, plotH = panelH - m.top - m.bottom;
    const Y = (v: number) => top + m.top + plotH - (v / yMax) * plotH;
    const where = [entry.step !== null ? `step ${entry.step}` : "", entry.data ? `held-out ${entry.data}` : ""].filter(Boolean).join(", ");
    parts.push(`<text x="${m.left}" y="${top + 20}" class="title">${escape(`Layer ${layer}: multigrams each head holds${where ? ` (${where})` : ""}`)}</text>`);
    kinds.forEach((kind, k) => {
      const x = m.left + k * 110;
      parts.push(`<rect x="${x}" y="${top + 30}" width="12" height="12" fill="${CATEGORICAL[k % CATEGORICAL.length]}"/>`);
      parts.push(`<text x="${x + 16}" y="${top + 40}">${escape(kind)}</text>`);
    });
    parts.push(`<rect x="${m.left}" y="${top + m.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
    for (const v of ticks) {
      const y = num(Y(v));
      parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" class="grid"/>`);
      parts.push(`<text x="${m.left - 6}" y="${y}" dy="4" text-anchor="end">${tickLabel(v, ticks)}</text>`);
    }
    const groupW = plotW / heads.length, barW = Math.min(22, (groupW * 0.8) / kinds.length);
    heads.forEach((h, g) => {
      const cx = m.left + (g + 0.5) * groupW;
      kinds.forEach((kind, k) => {
        const v = h.multigramCounts![kind] ?? 0;
        const x = cx - (kinds.length * barW) / 2 + k * barW;
        parts.push(`<rect x="${num(x)}" y="${num(Y(v))}" width="${num(barW - 1)}" height="${num(Y(0) - Y(v))}" fill="${CATEGORICAL[k % CATEGORICAL.length]}"><title>${layer}:${h.head} ${escape(kind)}: ${v}</title></rect>`);
      });
      parts.push(`<text x="${num(cx)}" y="${top + m.top + plotH + 16}" text-anchor="middle">${layer}:${h.head}</text>`);
      if (h.label) parts.push(`<text x="${num(cx)}" y="${top + m.top + plotH + 29}" text-anchor="middle" font-size="9" class="caption">${escape(h.label)}</text>`);
    });
    parts.push(`<text transform="translate(16 ${num(top + m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" class="axis">multigrams held (count)</text>`);
    parts.push(`<text x="${m.left + plotW / 2}" y="${top + panelH - 4}" text-anchor="middle" class="axis">head (layer:index), behaviour label below</text>`);
  });
  return svgDocument(width, layers.length * panelH, parts.join("\n"));
}
