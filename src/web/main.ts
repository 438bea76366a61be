// The browser page (build/web/index.html, served by `npm run web`): pick a
// built-in example or drop config + weights + data files, edit the sampler
// basics, run the estimate on module Workers (estimateParallel + webWorkers
// over build/worker.js), watch the chains live, and keep the result.
//
// Nothing is computed on the server, and little on this thread: the example's
// inputs are built in build/web/inputs-worker.js, the chains in the pool's
// workers; here only prepareEstimate (L0 and nβ for the running λ̂, a few ms),
// the charts and the summary. The result is the library's own, bit for bit
// what estimate() gives in Node for the same config (test/web.test.ts checks).
//
// Charts: uPlot. Why: it is small (~50 KB minified, its CSS 2 KB), fast at
// streaming many points (canvas 2D, built for time series redrawn many times a
// second), has no dependencies, and is maintained (1.6.x, regular releases).
// Chart.js or Plotly would be 4–70× the size for features this page doesn't use.
import uPlot from "uplot";
import {
  BrowserHost, EstimateError, estimateParallel, exampleCases, createEngine, hostHasSimd, parseConfig, parseConfigText,
  prepareEstimate, readSafetensors, webWorkers,
  type EstimateConfig, type EstimateInputs, type EstimateResult, type Progress, type ChainTraces, type Tensor, type Variant,
} from "../index.ts";
import { runningLlc, meanOf, resultWarnings, verdictLine } from "./diagnostics.ts";
import { chartsToSvg, niceTicks, tickLabel, type SvgPanel } from "./svg.ts";
import { describeModel, fmt, otherSettings, resultCaption, resultTitle } from "./describe.ts";
import type { InputsReply, InputsRequest } from "./inputs-worker.ts";
import { initAnalysisPanel } from "./analysis-panel.ts";
import { $, el, save } from "./dom.ts";

type CaseName = keyof typeof exampleCases;
type State = "loading" | "idle" | "preparing" | "running" | "done" | "cancelled" | "diverged" | "error";

declare global {
  interface Window {
    /** The last run's result (or partial result), as the library returned it: for tests and the console. */
    __llcResult?: EstimateResult;
    __llcState?: State;
    __llcError?: string;
  }
}

// ── where things are ────────────────────────────────────────────────────────
const WORKER_URL = new URL("../worker.js", import.meta.url); // build/worker.js
const INPUTS_WORKER_URL = new URL("./inputs-worker.js", import.meta.url);
const host = new BrowserHost({ wasmBase: new URL("../", import.meta.url) }); // build/llc-*.wasm
const variant: Variant = hostHasSimd() ? "simd" : "scalar";
const moduleReady: Promise<WebAssembly.Module> = host.wasmBytes(variant).then((bytes) => WebAssembly.compile(bytes));

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const color = (i: number) => PALETTE[i % PALETTE.length];
/** Points per series drawn at most (finished chains are thinned evenly for the chart; the result keeps every draw). */
const MAX_POINTS = 2000;
const FRAME_MS = 100; // ~10 redraws a second
/** Tick steps 1, 2, 2.5, 5 × 10^k over all of f64: uPlot's own stop at 5e32, and skip the axis beyond. */
const Y_INCRS = Array.from({ length: 4 * 640 }, (_, i) => Number(`${[1, 2, 2.5, 5][i % 4]}e${Math.floor(i / 4) - 320}`)).filter((v) => v > 0 && Number.isFinite(v));

const ui = {
  form: $<HTMLFormElement>("controls"),
  example: $<HTMLSelectElement>("example"),
  exampleInfo: $("example-info"),
  drop: $("drop"),
  configFile: $<HTMLInputElement>("config-file"),
  weightsFile: $<HTMLInputElement>("weights-file"),
  dataFile: $<HTMLInputElement>("data-file"),
  fileStatus: $("file-status"),
  chains: $<HTMLInputElement>("chains"),
  draws: $<HTMLInputElement>("draws"),
  epsilon: $<HTMLInputElement>("epsilon"),
  gamma: $<HTMLInputElement>("gamma"),
  workers: $<HTMLInputElement>("workers"),
  samplerRest: $("sampler-rest"),
  run: $<HTMLButtonElement>("run"),
  cancel: $<HTMLButtonElement>("cancel"),
  status: $("status"),
  progress: $<HTMLProgressElement>("progress"),
  errors: $("errors"),
  warnings: $("warnings"),
  llcValue: $("llc-value"),
  facts: $("facts"),
  lossChart: $("loss-chart"),
  llcChart: $("llc-chart"),
  chainRows: $("chains-table").querySelector("tbody")!,
  downloadJson: $<HTMLButtonElement>("download-json"),
  downloadSvg: $<HTMLButtonElement>("download-svg"),
  downloadPng: $<HTMLButtonElement>("download-png"),
};

function setState(state: State): void {
  document.body.dataset.state = state;
  window.__llcState = state;
  const busy = state === "preparing" || state === "running";
  for (const fieldset of Array.from(ui.form.querySelectorAll("fieldset"))) fieldset.disabled = busy;
  ui.run.disabled = busy || state === "loading";
  ui.cancel.disabled = state !== "running";
}

// ── messages ───────────────────────────────────────────────────────────────
/** An error as text with the field the library names (ConfigError, InputError: `.field`) set in code. */
function errorNode(error: unknown): HTMLElement {
  const e = error instanceof Error ? error : new Error(String(error));
  const field = (e as { field?: unknown }).field;
  const p = el("p");
  if (typeof field === "string" && field !== "" && e.message.startsWith(field)) p.append(el("code", { className: "field" }, field), e.message.slice(field.length));
  else p.append(e.message);
  return p;
}

function showError(error: unknown, title = "Error"): void {
  ui.errors.append(el("div", { className: "message error" }, el("strong", {}, title), errorNode(error)));
  window.__llcError = error instanceof Error ? error.message : String(error);
}

function showWarning(title: string, ...body: (Node | string)[]): void {
  ui.warnings.append(el("div", { className: "message warning" }, el("strong", {}, title), el("p", {}, ...body)));
}

function showInfo(title: string, ...body: (Node | string)[]): void {
  ui.warnings.append(el("div", { className: "message info" }, el("strong", {}, title), el("p", {}, ...body)));
}

function clearMessages(): void {
  ui.errors.replaceChildren();
  ui.warnings.replaceChildren();
  window.__llcError = undefined;
}

// ── number formatting ───────────────────────────────────────────────────────
const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`);
const shape = (t: Tensor) => `[${t.shape.join(", ")}]`;

// ── the model and data: a built-in example or three files ────────────────────
interface Loaded<T> { name: string; value?: T; error?: unknown }
const files: { config?: Loaded<EstimateConfig>; weights?: Loaded<Map<string, Tensor>>; data?: Loaded<Map<string, Tensor>> } = {};
const exampleInputs = new Map<CaseName, Promise<EstimateInputs>>();

const source = (): "example" | "files" => (ui.form.elements.namedItem("source") as RadioNodeList).value as "example" | "files";
function setSource(value: "example" | "files"): void {
  (ui.form.elements.namedItem("source") as RadioNodeList).value = value;
  onBaseChange();
}

/** The config the sampler fields edit: the example's, or the chosen file's. */
function baseConfig(): { config?: EstimateConfig; label: string; trueLambda?: number; lambdaSource?: string } {
  if (source() === "example") {
    const name = ui.example.value as CaseName;
    const c = exampleCases[name]();
    return { config: c.config, label: name, trueLambda: c.trueLambda, lambdaSource: c.source };
  }
  return { config: files.config?.value, label: files.config?.name.replace(/\.json$/i, "") ?? "files" };
}

/** Refill the sampler fields (and the notes under them) from the base config. */
function onBaseChange(): void {
  const { config, trueLambda, lambdaSource } = baseConfig();
  ui.form.dataset.source = source();
  if (source() === "example" && config) ui.exampleInfo.textContent = `${describeModel(config)} · true λ = ${trueLambda} (${lambdaSource})`;
  if (!config) {
    ui.samplerRest.textContent = "Choose a config file.";
    return;
  }
  const s = config.sampler;
  ui.chains.value = String(s.chains);
  ui.draws.value = String(s.draws);
  ui.epsilon.value = String(s.epsilon);
  ui.gamma.value = String(s.gamma);
  ui.samplerRest.textContent = `from the config: ${otherSettings(config).join(" · ")}`;
  // The charts keep showing the last run until the next one starts.
  if (!charts) resetCharts(s.chains, s.draws, trueLambda);
}

function renderFileStatus(): void {
  const rows: HTMLElement[] = [];
  const row = (slot: string, loaded: Loaded<unknown> | undefined, describe: () => string) => {
    if (!loaded) return rows.push(el("li", { className: "missing" }, `${slot}: not chosen`));
    if (loaded.error) {
      const li = el("li", { className: "bad" }, `✗ ${slot} ${loaded.name}: `);
      li.append(...Array.from(errorNode(loaded.error).childNodes));
      return rows.push(li);
    }
    rows.push(el("li", { className: "ok" }, `✓ ${slot} ${loaded.name}: ${describe()}`));
  };
  row("config", files.config, () => describeModel(files.config!.value!));
  const tensors = (m: Map<string, Tensor>) => [...m].map(([name, t]) => `${name} ${shape(t)}`).join(", ");
  row("weights", files.weights, () => tensors(files.weights!.value!));
  row("data", files.data, () => tensors(files.data!.value!));
  ui.fileStatus.replaceChildren(...rows);
}

/** Read one chosen or dropped file into its slot; a .safetensors without a slot goes by content (x/y or tokens: data). */
async function loadFile(file: File, slot?: "config" | "weights" | "data"): Promise<void> {
  clearMessages();
  if (!slot && /\.json$/i.test(file.name)) slot = "config";
  if (slot === "config") {
    try {
      files.config = { name: file.name, value: parseConfigText(await file.text(), file.name) };
    } catch (e) {
      files.config = { name: file.name, error: e };
      showError(e, `Config ${file.name}`);
      clearRun();
    }
  } else {
    let tensors: Map<string, Tensor> | undefined, error: unknown;
    try {
      tensors = readSafetensors(new Uint8Array(await file.arrayBuffer()), file.name).tensors;
    } catch (e) {
      error = e;
    }
    slot ??= tensors && (tensors.has("tokens") || (tensors.has("x") && tensors.has("y"))) ? "data" : "weights";
    files[slot] = { name: file.name, value: tensors, error };
    if (error) {
      showError(error, `${slot === "data" ? "Data" : "Weights"} ${file.name}`);
      clearRun();
    }
  }
  renderFileStatus();
  setSource("files");
}

function filesInputs(): EstimateInputs {
  for (const slot of ["config", "weights", "data"] as const) {
    const loaded = files[slot];
    if (!loaded) throw new Error(`choose a ${slot} file (${slot === "config" ? ".json" : ".safetensors"})`);
    if (loaded.error) throw loaded.error;
  }
  return { weights: files.weights!.value!, data: files.data!.value! };
}

/** A built-in example's inputs, built once per page in the inputs worker. */
function exampleInputsFor(name: CaseName): Promise<EstimateInputs> {
  let promise = exampleInputs.get(name);
  if (!promise) {
    promise = moduleReady.then((module) => new Promise<EstimateInputs>((resolve, reject) => {
      const worker = new Worker(INPUTS_WORKER_URL, { type: "module" });
      worker.onmessage = ({ data }: MessageEvent<InputsReply>) => {
        worker.terminate();
        if (data.ok) resolve(data.inputs);
        else reject(new Error(data.message));
      };
      worker.onerror = (event) => {
        event.preventDefault();
        worker.terminate();
        reject(new Error(`inputs worker: ${event.message || "failed to load"}`));
      };
      worker.postMessage({ module, variant, name } satisfies InputsRequest);
    }));
    promise.catch(() => exampleInputs.delete(name)); // a failure is not cached
    exampleInputs.set(name, promise);
  }
  return promise;
}

/** The sampler fields over the base config; parseConfig names any bad field ("sampler.epsilon: …"). */
function runConfig(base: EstimateConfig): EstimateConfig {
  const value = (input: HTMLInputElement): unknown => {
    const text = input.value.trim();
    if (text === "") return undefined;
    const n = Number(text);
    return Number.isFinite(n) ? n : text; // a non-number goes to parseConfig as the string, to be named in its error
  };
  const sampler: Record<string, unknown> = { ...base.sampler };
  // Workers are how this page runs, not what it computes: they go to estimateParallel, not into the config.
  for (const key of ["chains", "draws", "epsilon", "gamma"] as const) {
    const v = value(ui[key]);
    if (v !== undefined) sampler[key] = v;
  }
  return parseConfig({ ...base, sampler });
}

// ── the live run ─────────────────────────────────────────────────────────────
const finiteOrNull = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);

/** What the charts show: per chain, the live preview (every progress event) until the chain's full traces arrive. */
class LiveRun {
  readonly preview: { draw: number[]; loss: number[]; llc: number[]; sum: number }[];
  readonly full: ({ loss: number[]; llc: number[] } | undefined)[];
  readonly state: ("queued" | "running" | "done" | "diverged" | "cancelled" | "stopped" | "not run")[];
  dirty = true;
  constructor(readonly chains: number, readonly draws: number, readonly initLoss: number, readonly nbeta: number, readonly trueLambda?: number) {
    this.preview = Array.from({ length: chains }, () => ({ draw: [], loss: [], llc: [], sum: 0 }));
    this.full = new Array(chains).fill(undefined);
    this.state = new Array(chains).fill("queued");
  }

  progress(p: Progress): void {
    if (this.full[p.chain]) return;
    const s = this.preview[p.chain];
    if (s.draw.length && s.draw[s.draw.length - 1] >= p.draw) return;
    s.draw.push(p.draw);
    s.loss.push(p.loss);
    s.sum += p.loss;
    s.llc.push(this.nbeta * (s.sum / s.draw.length - this.initLoss));
    this.state[p.chain] = "running";
    this.dirty = true;
  }

  chainDone(chain: number, loss: number[], state: "done" | "diverged" = "done"): void {
    this.full[chain] = { loss, llc: runningLlc(loss, this.initLoss, this.nbeta) };
    this.state[chain] = state;
    this.dirty = true;
  }

  /** Draws done in chain c (full, or the last previewed draw + 1). */
  drawsDone(c: number): number {
    const full = this.full[c];
    if (full) return full.loss.length;
    const d = this.preview[c].draw;
    return d.length ? d[d.length - 1] + 1 : 0;
  }

  /** uPlot's aligned data for both charts: x = draw index. */
  data(): { loss: uPlot.AlignedData; llc: uPlot.AlignedData } {
    const D = this.draws, C = this.chains;
    const marks = new Set<number>();
    if (this.full.some(Boolean)) {
      const step = Math.max(1, Math.ceil(D / MAX_POINTS));
      for (let t = 0; t < D; t += step) marks.add(t);
      marks.add(D - 1);
    }
    for (let c = 0; c < C; c++) if (!this.full[c]) for (const d of this.preview[c].draw) marks.add(d);
    const xs = [...marks].sort((a, b) => a - b);
    const lossYs: (number | null)[][] = [], llcYs: (number | null)[][] = [];
    for (let c = 0; c < C; c++) {
      const full = this.full[c];
      if (full) {
        // A diverged chain ends in NaN or ±Inf: left out, so the scale stays on the draws before it.
        lossYs.push(xs.map((t) => finiteOrNull(full.loss[t])));
        llcYs.push(xs.map((t) => finiteOrNull(full.llc[t])));
        continue;
      }
      const p = this.preview[c];
      const loss: (number | null)[] = new Array(xs.length).fill(null), llc: (number | null)[] = new Array(xs.length).fill(null);
      for (let i = 0, j = 0; i < xs.length && j < p.draw.length; i++) {
        if (xs[i] === p.draw[j]) (loss[i] = finiteOrNull(p.loss[j])), (llc[i] = finiteOrNull(p.llc[j])), j++;
      }
      lossYs.push(loss);
      llcYs.push(llc);
    }
    // The mean over chains that have started, where each of them has a value.
    const started = llcYs.filter((_, c) => this.full[c] || this.preview[c].draw.length);
    const mean = xs.map((_, i) => {
      if (!started.length) return null;
      let sum = 0;
      for (const ys of started) {
        const v = ys[i];
        if (v === null) return null;
        sum += v;
      }
      return sum / started.length;
    });
    const extra = this.trueLambda !== undefined ? [xs.map(() => this.trueLambda!)] : [];
    return { loss: [xs, ...lossYs], llc: [xs, ...llcYs, mean, ...extra] };
  }
}

let live: LiveRun | undefined;
let charts: { loss: uPlot; llc: uPlot } | undefined;
let controller: AbortController | undefined;
let lastResult: { result: EstimateResult; label: string; trueLambda?: number } | undefined;
let renderTimer: ReturnType<typeof setTimeout> | undefined;
let lastRender = 0;
let runStarted = 0, samplingStarted = 0;

function chartWidth(): number {
  return Math.max(320, ui.lossChart.clientWidth || 600);
}

function makeCharts(chains: number, draws: number, trueLambda?: number): { loss: uPlot; llc: uPlot } {
  const width = chartWidth();
  // The legends show each series' value at the hovered draw (legend.live), in the chain table's format.
  const value = (_u: uPlot, v: number | null) => fmt(v);
  const x: uPlot.Series = { label: "draw", value: (_u, v) => (v === null ? "–" : String(v)) };
  const chain = (c: number, alpha = ""): uPlot.Series => ({ label: `chain ${c}`, stroke: color(c) + alpha, width: 1.25, spanGaps: true, points: { show: false }, value });
  const common = (title: string, yLabel: string): Omit<uPlot.Options, "series"> => ({
    title, width, height: 280,
    scales: { x: { time: false, range: () => [0, Math.max(1, draws - 1)] } },
    // Our own y ticks: short labels, and ticks at all when a diverging chain reaches 1e33 (uPlot's steps end at 5e32).
    axes: [{ label: "draw", size: 40 }, {
      label: yLabel, size: 64, incrs: Y_INCRS,
      splits: (_u, _axis, min, max) => niceTicks(min, max, 5).filter((v) => v >= min && v <= max),
      values: (_u, splits) => splits.map((v) => tickLabel(v, splits)),
    }],
    cursor: { sync: { key: "llc-wasm" } },
    legend: { live: true },
  });
  const lossSeries = [x, ...Array.from({ length: chains }, (_, c) => chain(c))];
  const llcSeries: uPlot.Series[] = [x, ...Array.from({ length: chains }, (_, c) => chain(c, "99")),
    { label: "mean", stroke: "#222", width: 2.5, spanGaps: true, points: { show: false }, value }];
  if (trueLambda !== undefined) llcSeries.push({ label: "true λ", stroke: "#888", width: 1.5, dash: [6, 4], points: { show: false }, value });
  const empty = (n: number): uPlot.AlignedData => [[], ...Array.from({ length: n - 1 }, () => [])];
  ui.lossChart.replaceChildren();
  ui.llcChart.replaceChildren();
  return {
    loss: new uPlot({ ...common("Minibatch loss per chain", "loss"), series: lossSeries }, empty(lossSeries.length), ui.lossChart),
    llc: new uPlot({ ...common("Running λ̂ = nβ·(running mean of loss − L0)", "λ̂"), series: llcSeries }, empty(llcSeries.length), ui.llcChart),
  };
}

/** No charts, chain rows, λ̂ or downloads: after a validation error the page must not show the previous run as if it were this one's. */
function clearRun(): void {
  if (controller) return; // a run under way owns the charts
  if (renderTimer !== undefined) clearTimeout(renderTimer), (renderTimer = undefined);
  lastResult = window.__llcResult = undefined;
  setDownloads(false);
  ui.llcValue.textContent = "–";
  delete ui.llcValue.dataset.value;
  ui.facts.replaceChildren();
  ui.progress.value = 0;
  charts?.loss.destroy();
  charts?.llc.destroy();
  charts = live = undefined;
  ui.lossChart.replaceChildren();
  ui.llcChart.replaceChildren();
  ui.chainRows.replaceChildren();
}

function resetCharts(chains: number, draws: number, trueLambda?: number): void {
  if (!Number.isInteger(chains) || chains < 1) return;
  charts?.loss.destroy();
  charts?.llc.destroy();
  charts = makeCharts(chains, Math.max(1, draws), trueLambda);
}

function scheduleRender(): void {
  if (renderTimer !== undefined) return;
  renderTimer = setTimeout(render, Math.max(0, FRAME_MS - (performance.now() - lastRender)));
}

function render(): void {
  renderTimer = undefined;
  lastRender = performance.now();
  if (!live || !charts) return;
  if (live.dirty) {
    const data = live.data();
    charts.loss.setData(data.loss);
    charts.llc.setData(data.llc);
    live.dirty = false;
  }
  renderChainTable();
  let done = 0;
  for (let c = 0; c < live.chains; c++) done += live.drawsDone(c);
  ui.progress.value = done / (live.chains * live.draws);
  if (document.body.dataset.state === "running") {
    // A live λ̂: the mean over started chains of their latest running λ̂ (exact for finished chains, previewed otherwise).
    const latest = live.full.map((f, c) => (f ? f.llc[f.llc.length - 1] : live!.preview[c].llc.at(-1) ?? null)).filter((v): v is number => v !== null);
    ui.llcValue.textContent = latest.length ? `≈ ${fmt(latest.reduce((a, b) => a + b, 0) / latest.length)}` : "–";
    const finished = live.state.filter((s) => s === "done").length;
    ui.status.textContent = `Running: ${finished} of ${live.chains} chains done · ${seconds(performance.now() - runStarted)}`;
  }
}

function swatch(background: string): HTMLSpanElement {
  const span = el("span", { className: "swatch" });
  span.style.background = background;
  return span;
}

function renderChainTable(result?: EstimateResult): void {
  if (!live) return;
  const rows: HTMLTableRowElement[] = [];
  for (let c = 0; c < live.chains; c++) {
    const full = live.full[c], preview = live.preview[c];
    let llc = "–", mala = "–";
    if (full && live.state[c] === "done") llc = fmt(result?.[`llc-chain/${c}`] ?? full.llc[full.llc.length - 1]);
    else if (full?.llc.length && Number.isFinite(full.llc[full.llc.length - 1])) llc = `${fmt(full.llc[full.llc.length - 1])} (partial)`;
    else if (preview.llc.length) llc = `≈ ${fmt(preview.llc[preview.llc.length - 1])}`;
    const accept = result?.["mala_accept/trace"][c];
    if (accept) mala = fmt(meanOf(accept));
    rows.push(el("tr", { className: live.state[c].replace(" ", "-") },
      el("td", {}, swatch(color(c)), ` ${c}`),
      el("td", {}, `${live.drawsDone(c)} / ${live.draws}`),
      el("td", {}, llc), el("td", {}, mala), el("td", {}, live.state[c])));
  }
  ui.chainRows.replaceChildren(...rows);
}

// ── run ────────────────────────────────────────────────────────────────────
async function run(): Promise<void> {
  if (controller) return;
  clearMessages();
  setDownloads(false);
  lastResult = undefined;
  window.__llcResult = undefined;
  ui.llcValue.textContent = "–";
  delete ui.llcValue.dataset.value;
  ui.facts.replaceChildren();
  ui.progress.value = 0;
  runStarted = performance.now();
  setState("preparing");
  ui.status.textContent = "Preparing inputs…";
  const base = baseConfig();
  let config: EstimateConfig;
  let initLoss: number, nbeta: number;
  let inputs: EstimateInputs;
  let module: WebAssembly.Module;
  try {
    if (!base.config) throw new Error(files.config?.error ? `the config ${files.config.name} is invalid (see above)` : "choose a config file (.json)");
    config = runConfig(base.config);
    inputs = source() === "example" ? await exampleInputsFor(ui.example.value as CaseName) : filesInputs();
    module = await moduleReady;
    // L0 and nβ for the live running λ̂, in this thread's own engine (the workers compute the same bits).
    ({ initLoss, nbeta } = prepareEstimate(await createEngine(module, variant), config, inputs));
  } catch (e) {
    showError(e, "Cannot run");
    clearRun();
    ui.status.textContent = "Not started.";
    setState("error");
    return;
  }

  const { chains, draws } = config.sampler;
  const requested = Number(ui.workers.value);
  const workers = Number.isInteger(requested) && requested >= 1 ? requested : navigator.hardwareConcurrency || 1;
  live = new LiveRun(chains, draws, initLoss, nbeta, base.trueLambda);
  resetCharts(chains, draws, base.trueLambda);
  controller = new AbortController();
  setState("running");
  samplingStarted = performance.now();
  scheduleRender();
  const label = base.label;
  try {
    const result = await estimateParallel(config, inputs, {
      wasm: module,
      variant,
      workers,
      spawn: webWorkers(WORKER_URL),
      signal: controller.signal,
      onProgress: (p) => {
        live!.progress(p);
        scheduleRender();
      },
      onChain: (chain, traces: ChainTraces) => {
        live!.chainDone(chain, traces.loss);
        scheduleRender();
      },
    });
    finish(result, result.status === "diverged" ? "diverged" : "done", label);
  } catch (e) {
    if (e instanceof EstimateError) finish(e.partial, e.name === "AbortError" ? "cancelled" : e.name === "ChainDivergedError" ? "diverged" : "error", label, e);
    else {
      showError(e, "The run failed");
      finish(undefined, "error", label);
    }
  } finally {
    controller = undefined;
  }
}

function finish(result: EstimateResult | undefined, state: State, label: string, error?: EstimateError): void {
  const now = performance.now();
  const total = now - runStarted, sampling = now - samplingStarted;
  if (live && result) {
    const traces = result["loss/trace"];
    traces.forEach((loss, c) => {
      const diverged = result.diverged_chains?.some((d) => d.chain === c) ?? false;
      live!.chainDone(c, loss, diverged ? "diverged" : "done");
    });
  }
  if (live && state !== "done")
    for (let c = 0; c < live.chains; c++)
      if (!live.full[c]) live.state[c] = !live.preview[c].draw.length ? "not run" : state === "cancelled" ? "cancelled" : "stopped";
  if (renderTimer !== undefined) clearTimeout(renderTimer);
  render();
  renderChainTable(result);
  setState(state);

  if (!result) {
    ui.status.textContent = `Failed after ${seconds(total)}.`;
    return;
  }
  window.__llcResult = result;
  lastResult = { result, label, trueLambda: live?.trueLambda };
  setDownloads(true);

  const mean = result["llc/mean"], std = result["llc/std"];
  ui.llcValue.textContent = Number.isFinite(mean) ? `${fmt(mean)} ± ${fmt(std)}` : "–";
  ui.llcValue.dataset.value = JSON.stringify(mean);
  const facts: [string, string][] = [
    ["status", `${result.status}${state === "cancelled" ? " (cancelled)" : ""}`],
    ["chains", `${result.chains_completed} of ${result.config.sampler.chains} finished` +
      (result.diverged_chains?.length ? `, chain ${result.diverged_chains.map((d) => d.chain).join(", ")} diverged` : "")],
  ];
  if (live?.trueLambda !== undefined) facts.push(["true λ", String(live.trueLambda)]);
  facts.push(
    ["MALA accept", fmt(result["mala_accept/mean"])],
    ["L0 · nβ", `${fmt(result.init_loss, 5)} · ${fmt(result.nbeta)}`],
    ["elapsed", `${seconds(total)} (sampling ${seconds(sampling)})`],
    ["workers", `${Math.min(Number(ui.workers.value) || 1, result.config.sampler.chains)} · ${result.engine.variant}`],
  );
  ui.facts.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));

  if (state === "done") ui.status.textContent = `Done in ${seconds(total)}.`;
  else if (state === "cancelled") {
    ui.status.textContent = `Cancelled after ${seconds(total)}.`;
    showInfo("Cancelled",
      `${result.chains_completed} of ${result.config.sampler.chains} chains had finished: their draws are in the result (status "partial"). ` +
      "Unfinished chains keep their live preview (every 64th step) in the charts.");
  } else if (state === "diverged") {
    ui.status.textContent = `A chain diverged after ${seconds(total)}.`;
    const message = error?.message ?? result.error ?? "";
    showWarning("A chain diverged", message, /[.!]$/.test(message) ? " " : ". ", error
      ? "The draws before it are kept in the charts and the result (status \"error\")."
      : `The other chains ran: λ̂ is over the ${result.chains_completed} healthy chain(s) (status "diverged", chains_completed).`);
  } else if (error) {
    ui.status.textContent = `Failed after ${seconds(total)}.`;
    showError(error, "The run failed");
  }
  warn(result);
}

/** The trend and MALA warnings (rules and words in diagnostics.ts, shared with the CLI); a divergence is shown by finish(). */
function warn(result: EstimateResult): void {
  // The diagnostics' verdict (src/diagnostics.ts), as the CLI prints it after an estimate.
  if (result["diagnostics/verdict"] !== undefined)
    (result["diagnostics/verdict"] === "healthy" ? showInfo : showWarning)(`Verdict: ${result["diagnostics/verdict"]}`, verdictLine(result));
  for (const w of resultWarnings(result)) if (w.kind !== "diverged") showWarning(w.title, w.text[0].toUpperCase() + w.text.slice(1) + ".");
}

// ── downloads ──────────────────────────────────────────────────────────────
function setDownloads(enabled: boolean): void {
  ui.downloadJson.disabled = ui.downloadSvg.disabled = ui.downloadPng.disabled = !enabled;
}

const fileLabel = () => (lastResult?.label ?? "llc").replace(/[^\w.-]+/g, "_");

/** A series' stroke colour (uPlot keeps the option as a function once the chart is built). */
function strokeOf(u: uPlot, index: number): string {
  const stroke = u.series[index].stroke;
  const value = typeof stroke === "function" ? stroke(u, index) : stroke;
  return typeof value === "string" ? value : "#000";
}

/** Both charts as SVG panels, from what uPlot currently shows. */
function chartPanels(): SvgPanel[] {
  if (!charts) return [];
  const panel = (u: uPlot, yLabel: string): SvgPanel => ({
    title: u.root.querySelector(".u-title")?.textContent ?? "",
    xLabel: "draw",
    yLabel,
    series: u.series.slice(1).map((s, i) => ({
      label: typeof s.label === "string" ? s.label : `series ${i}`,
      color: strokeOf(u, i + 1),
      width: s.width,
      dash: s.dash?.join(" "),
      x: u.data[0],
      y: u.data[i + 1],
    })),
  });
  return [panel(charts.loss, "loss"), panel(charts.llc, "λ̂")];
}

/** Both charts with a heading (the case, λ̂ ± std) and a caption (the model, every sampler setting). */
function plotSvg(): string {
  const r = lastResult;
  return chartsToSvg(chartPanels(), r ? { title: resultTitle(r.label, r.result), caption: resultCaption(r.result, r.trueLambda) } : {});
}

/** The PNG download: the SVG drawn on a canvas at twice its size, so it carries the same heading, legends and caption. */
async function svgToPng(svg: string, scale = 2): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = el("canvas", { width: Math.round(image.naturalWidth * scale), height: Math.round(image.naturalHeight * scale) });
    canvas.getContext("2d")!.drawImage(image, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("canvas.toBlob gave no PNG"))), "image/png"));
  } finally {
    URL.revokeObjectURL(url);
  }
}

ui.downloadJson.onclick = () => {
  if (lastResult) save(new Blob([JSON.stringify(lastResult.result, null, 1) + "\n"], { type: "application/json" }), `${fileLabel()}-result.json`);
};
ui.downloadSvg.onclick = () => save(new Blob([plotSvg()], { type: "image/svg+xml" }), `${fileLabel()}-chains.svg`);
ui.downloadPng.onclick = () => {
  if (!charts) return;
  svgToPng(plotSvg()).then((blob) => save(blob, `${fileLabel()}-chains.png`), (e) => showError(e, "Plot PNG"));
};

// ── wiring ─────────────────────────────────────────────────────────────────
for (const name of Object.keys(exampleCases) as CaseName[]) ui.example.append(el("option", { value: name }, `${name} — ${exampleCases[name]().name}`));
ui.example.value = "rrr";
ui.example.onchange = () => setSource("example");
for (const radio of Array.from(ui.form.querySelectorAll<HTMLInputElement>('input[name="source"]'))) radio.onchange = onBaseChange;
for (const [input, slot] of [[ui.configFile, "config"], [ui.weightsFile, "weights"], [ui.dataFile, "data"]] as const)
  input.onchange = () => {
    const file = input.files?.[0];
    if (file) void loadFile(file, slot);
  };
ui.drop.ondragover = (event) => {
  event.preventDefault();
  ui.drop.classList.add("over");
};
ui.drop.ondragleave = () => ui.drop.classList.remove("over");
ui.drop.ondrop = async (event) => {
  event.preventDefault();
  ui.drop.classList.remove("over");
  for (const file of Array.from(event.dataTransfer?.files ?? [])) await loadFile(file);
};
ui.form.onsubmit = (event) => {
  event.preventDefault();
  void run();
};
ui.cancel.onclick = () => {
  ui.status.textContent = "Cancelling…";
  controller?.abort();
};
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const u of charts ? [charts.loss, charts.llc] : []) u.setSize({ width: chartWidth(), height: 280 });
  }, 100);
});

ui.workers.value = String(navigator.hardwareConcurrency || 1);
$("env").textContent = [
  variant === "simd" ? "WebAssembly SIMD" : "scalar WebAssembly (no SIMD here)",
  `${navigator.hardwareConcurrency || 1} threads`,
  crossOriginIsolated ? "cross-origin isolated" : "not cross-origin isolated (workers still stop on Cancel)",
].join(" · ");
onBaseChange();
renderFileStatus();
initAnalysisPanel();
moduleReady.then(
  () => {
    setState("idle");
    ui.status.textContent = "Ready.";
  },
  (e) => {
    setState("error");
    showError(e, "Cannot load the engine");
    ui.status.textContent = "The engine did not load.";
  },
);
