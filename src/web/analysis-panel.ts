// The page's Analysis panel: drop the JSON of `llc heads --json`, `llc circuits --json`,
// `llc cluster --json` or a sweep's JSONL rows, and see the figures `llc plot` writes
// (src/analysis/plot-files.ts draws them, here in the page: the files never leave it),
// each with an SVG download.
//
// How a figure is shown: as an <img> whose src is a blob: URL of the SVG. The page's CSP
// already allows img-src blob: (the PNG download draws the plot SVG that way), and an
// image is a document of its own, so the figure's <style> element applies inside it.
// Inline SVG (DOMParser + importNode) would need style-src 'unsafe-inline': the figures
// carry a <style> element and style="fill:…" attributes, which style-src 'self' blocks
// in the page (unstyled, the frames would be filled black). So no CSP change is needed.
import { plotFiles, type PlotInput } from "../analysis/plot-files.ts";
import { $, el, save } from "./dom.ts";

/** The files dropped so far, by name (a file dropped again replaces its earlier version). */
const loaded = new Map<string, PlotInput>();
let urls: string[] = [];

function render(): void {
  const list = $("analysis-status"), figures = $("analysis-figures");
  for (const url of urls) URL.revokeObjectURL(url);
  urls = [];
  const result = plotFiles([...loaded.values()]);
  list.replaceChildren(...[...loaded.keys()].map((name) => {
    const problems = result.problems.filter((p) => p.source.split(", ").includes(name));
    const kind = result.kinds[name];
    const bad = problems.some((p) => !p.message.startsWith("warning:"));
    const li = el("li", { className: bad ? "bad" : "ok" }, `${bad ? "✗" : "✓"} ${name}${kind ? ` (${kind === "sweep" ? "sweep rows" : `llc ${kind} --json`})` : ""}`);
    for (const p of problems) li.append(el("br"), p.message);
    return li;
  }));
  figures.replaceChildren(...result.figures.map((f) => {
    const url = URL.createObjectURL(new Blob([f.svg], { type: "image/svg+xml" }));
    urls.push(url);
    const button = el("button", { type: "button", className: "download-figure", title: "download the SVG" }, `Download ${f.fileName}`);
    button.onclick = () => save(new Blob([f.svg], { type: "image/svg+xml" }), f.fileName);
    const figure = el("figure", { className: "card analysis-figure" },
      el("figcaption", {}, el("span", {}, f.title), button),
      el("img", { src: url, alt: f.title, decoding: "async" }));
    figure.dataset.file = f.fileName;
    return figure;
  }));
  $("analysis").dataset.figures = String(result.figures.length);
}

async function add(files: Iterable<File>): Promise<void> {
  for (const file of files) loaded.set(file.name, { name: file.name, text: await file.text() });
  render();
}

export function initAnalysisPanel(): void {
  const input = $<HTMLInputElement>("analysis-files"), drop = $("analysis-drop");
  input.onchange = () => {
    void add(Array.from(input.files ?? []));
    input.value = ""; // choosing the same file again (rewritten by the CLI) reloads it
  };
  drop.ondragover = (event) => {
    event.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    void add(Array.from(event.dataTransfer?.files ?? []));
  };
  $("analysis-clear").onclick = () => {
    loaded.clear();
    render();
  };
}
