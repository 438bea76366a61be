// A small SVG writer for the page's charts (the "plot as SVG" download): panels
// stacked vertically, each with a frame, "nice" ticks, one polyline per series
// (null values are skipped and the line joins across them, as the live chart
// does), and a legend; a heading above them and caption lines below. Plain
// strings, no DOM, so Node can test it. The page's PNG download is this SVG drawn
// onto a canvas, so both carry the same heading, legends and caption. The
// analysis figures (src/analysis/figures.ts) use it too: a log x axis, point
// markers, and the document wrapper they share.

export interface SvgSeries {
  label: string;
  color: string;
  width?: number;
  dash?: string;
  /** false: no legend entry (a twin of another series' entry). */
  legend?: boolean;
  /** Draw a dot at each point as well as the line. */
  marker?: boolean;
  x: ArrayLike<number>;
  y: ArrayLike<number | null | undefined>;
}

export interface SvgPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: SvgSeries[];
  /** "log": a log10 x axis (values ≤ 0 are skipped), ticks at 1, 2, 5 × 10^k. Default linear. */
  xScale?: "linear" | "log";
  /** A fixed y range (lines beyond it are clipped at the frame); default the data's extent. */
  yDomain?: [number, number];
}

export interface SvgOptions {
  width?: number;
  panelHeight?: number;
  /** A heading above the panels (the page: the case and λ̂ ± std). */
  title?: string;
  /** Lines of text under the panels (the page: the model and the sampler settings). */
  caption?: string | string[];
}

export const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
export const num = (v: number) => (Math.round(v * 100) / 100).toString();

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) ticks.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return ticks;
}

/** A tick label: short, and the same precision along one axis (also the live charts' y labels). */
export function tickLabel(v: number, ticks: number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(v) || 1;
  if (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)) return v.toExponential(1);
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(digits);
}

/** Ticks of a log axis over [lo, hi] (lo > 0): the powers of ten, with 2× and 5× when fewer than three decades show. */
export function logTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo)), last = Math.ceil(Math.log10(hi));
  const mantissas = last - first <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = first; e <= last; e++) for (const m of mantissas) {
    const v = Number((m * 10 ** e).toPrecision(12));
    if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) ticks.push(v);
  }
  return ticks;
}

/** A log-axis tick label: 100, 2000, 5e+4 … written out as 100, 2k, 50k. */
export function logTickLabel(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

function extent(values: Iterable<number>): [number, number] | null {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (lo > hi) return null;
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

function* finite(series: SvgSeries[], axis: "x" | "y", logX = false): Iterable<number> {
  for (const s of series)
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i];
      if (y === null || y === undefined || !Number.isFinite(y) || !Number.isFinite(s.x[i]) || (logX && !(s.x[i] > 0))) continue;
      yield axis === "x" ? s.x[i] : y;
    }
}

function panelSvg(panel: SvgPanel, top: number, width: number, height: number): string {
  // Legend entries flow left to right under the title, wrapping; the plot starts below them.
  const entries: { s: SvgSeries; x: number; row: number }[] = [];
  let lx = 72, row = 0;
  for (const s of panel.series) {
    if (s.legend === false) continue;
    const w = 36 + s.label.length * 6.6;
    if (lx + w > width - 16 && lx > 72) (lx = 72), row++;
    entries.push({ s, x: lx, row });
    lx += w;
  }
  const m = { left: 72, right: 16, top: 34 + 16 * (row + 1), bottom: 44 };
  const plotW = width - m.left - m.right, plotH = height - m.top - m.bottom;
  const logX = panel.xScale === "log";
  const xData = [...finite(panel.series, "x", logX)];
  // A log axis spans the data exactly (a pad would reach below the first checkpoint's decade for nothing).
  const xs: [number, number] = logX
    ? xData.length ? [Math.min(...xData), Math.max(...xData) > Math.min(...xData) ? Math.max(...xData) : Math.min(...xData) * 10] : [1, 10]
    : extent(xData) ?? [0, 1];
  const ys = panel.yDomain ?? extent(finite(panel.series, "y", logX)) ?? [0, 1];
  const X = logX
    ? (v: number) => m.left + ((Math.log10(v) - Math.log10(xs[0])) / (Math.log10(xs[1]) - Math.log10(xs[0]))) * plotW
    : (v: number) => m.left + ((v - xs[0]) / (xs[1] - xs[0])) * plotW;
  const Y = (v: number) => top + m.top + plotH - ((v - ys[0]) / (ys[1] - ys[0])) * plotH;
  const out: string[] = [];
  out.push(`<text x="${m.left}" y="${top + 20}" class="title">${escape(panel.title)}</text>`);
  out.push(`<rect x="${m.left}" y="${top + m.top}" width="${plotW}" height="${plotH}" class="frame"/>`);
  const xTicks = logX ? logTicks(xs[0], xs[1]) : niceTicks(xs[0], xs[1], 8).filter((v) => v >= xs[0] && v <= xs[1]);
  const yTicks = niceTicks(ys[0], ys[1], 5).filter((v) => v >= ys[0] && v <= ys[1]);
  for (const v of xTicks) {
    const x = num(X(v));
    out.push(`<line x1="${x}" x2="${x}" y1="${top + m.top}" y2="${top + m.top + plotH}" class="grid"/>`);
    out.push(`<text x="${x}" y="${top + m.top + plotH + 16}" text-anchor="middle">${logX ? logTickLabel(v) : tickLabel(v, xTicks)}</text>`);
  }
  for (const v of yTicks) {
    const y = num(Y(v));
    out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" class="grid"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" dy="4" text-anchor="end">${tickLabel(v, yTicks)}</text>`);
  }
  out.push(`<text x="${m.left + plotW / 2}" y="${top + height - 8}" text-anchor="middle" class="axis">${escape(panel.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${num(top + m.top + plotH / 2)}) rotate(-90)" text-anchor="middle" class="axis">${escape(panel.yLabel)}</text>`);
  out.push(`<g clip-path="url(#clip${top})">`);
  for (const s of panel.series) {
    const points: string[] = [];
    for (let i = 0; i < s.x.length; i++) {
      const y = s.y[i];
      if (y === null || y === undefined || !Number.isFinite(y) || (logX && !(s.x[i] > 0))) continue;
      points.push(`${num(X(s.x[i]))},${num(Y(y))}`);
    }
    if (!points.length) continue;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : "";
    out.push(`<polyline fill="none" stroke="${escape(s.color)}" stroke-width="${s.width ?? 1.25}"${dash} stroke-linejoin="round" points="${points.join(" ")}"><title>${escape(s.label)}</title></polyline>`);
    if (s.marker)
      for (const p of points) {
        const [cx, cy] = p.split(",");
        out.push(`<circle cx="${cx}" cy="${cy}" r="2.2" fill="${escape(s.color)}"/>`);
      }
  }
  out.push("</g>");
  for (const { s, x, row } of entries) {
    const y = top + 36 + 16 * row;
    out.push(`<line x1="${num(x)}" x2="${num(x + 16)}" y1="${y}" y2="${y}" stroke="${escape(s.color)}" stroke-width="${Math.max(2, s.width ?? 1.25)}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
    out.push(`<text x="${num(x + 20)}" y="${y + 4}">${escape(s.label)}</text>`);
  }
  out.unshift(`<clipPath id="clip${top}"><rect x="${m.left}" y="${top + m.top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  return out.join("\n");
}

/** A standalone SVG document of the given size around `body`, with the charts' style sheet. */
export function svgDocument(width: number, height: number, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="11">
<style>text{fill:#333}.heading{font-size:18px;font-weight:600}.title{font-size:14px;font-weight:600}.axis{font-size:12px}.caption{fill:#555}.frame{fill:none;stroke:#999}.grid{stroke:#e5e5e5}</style>
<rect width="100%" height="100%" fill="#fff"/>
${body}
</svg>
`;
}

/** The panels as one standalone SVG document. */
export function chartsToSvg(panels: SvgPanel[], options: SvgOptions = {}): string {
  const width = options.width ?? 900, height = options.panelHeight ?? 340;
  const lines = typeof options.caption === "string" ? [options.caption] : options.caption ?? [];
  const titleH = options.title ? 36 : 0, captionH = lines.length ? 12 + 16 * lines.length : 0;
  const total = titleH + panels.length * height + captionH;
  const out: string[] = [];
  if (options.title) out.push(`<text x="16" y="25" class="heading">${escape(options.title)}</text>`);
  panels.forEach((p, i) => out.push(panelSvg(p, titleH + i * height, width, height)));
  lines.forEach((line, i) => out.push(`<text x="16" y="${total - captionH + 16 * (i + 1)}" class="caption">${escape(line)}</text>`));
  return svgDocument(width, total, out.join("\n"));
}
