// The browser page (src/web/, `npm run web`) end to end in headless Chromium:
// `llc web` (src/platform/node-server.ts) serves build/, the page runs the built-in rrr example on
// module Workers through its own inputs, and its result must be the bits
// estimate() gives in this Node process for the same config. Also: the
// downloads, a screenshot, Cancel, a diverging chain, files chosen through the
// file inputs (good and malformed). The page's arithmetic (diagnostics.ts,
// svg.ts) is tested in Node, without a browser, by web-arithmetic.test.ts.
// Without Chromium these tests are skipped (failed under CI=true); a Chromium
// that is there but does not start fails them all with its error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Server } from "node:http";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM_ARGS, chromiumProgram, testNeeding } from "./helpers.ts";
import { runningLlc } from "../src/web/diagnostics.ts";
import { fmt } from "../src/web/describe.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "llc-web-"));
const CHROMIUM = chromiumProgram();
const RUN_TIMEOUT = 30_000;

let lib: any;
let wasm: Buffer;
let server: Server;
let origin = "";
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

/** Node's result for a built-in case with sampler overrides: estimate() in one engine, no workers. */
async function nodeEstimate(name: string, sampler: Record<string, unknown>) {
  const c = lib.exampleCases[name]();
  const config = lib.parseConfig({ ...c.config, sampler: { ...c.config.sampler, ...sampler } });
  const engine = await lib.createEngine(wasm, "simd");
  const inputs = c.inputs(engine);
  return { config, inputs, result: await lib.estimate(engine, config, inputs) };
}

async function setSampler(values: Record<string, string | number>): Promise<void> {
  for (const [id, v] of Object.entries(values)) await page.fill(`#${id}`, String(v));
}

const state = () => page.evaluate(() => document.body.dataset.state);
const waitState = (states: string[], timeout = RUN_TIMEOUT) =>
  page.waitForFunction((s) => s.includes(document.body.dataset.state ?? ""), states, { timeout });
const pageResult = async () => JSON.parse(await page.evaluate(() => JSON.stringify(window.__llcResult)));

/** Build, serve, start Chromium and load the page: what every test here needs. */
async function setUp(executablePath: string): Promise<void> {
  const built = spawnSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, encoding: "utf8" });
  assert.is(built.status, 0, built.stderr);
  lib = await import(pathToFileURL(join(root, "build/index.js")).href);
  wasm = readFileSync(join(root, "build/llc-simd.wasm"));
  const { serve } = await import("../src/platform/node-server.ts");
  ({ server, origin } = await serve({ port: 0 }));
  try {
    context = await chromium.launchPersistentContext(join(work, "profile"), {
      executablePath, headless: true, acceptDownloads: true, viewport: { width: 1280, height: 1000 }, args: CHROMIUM_ARGS,
    });
  } catch (e) {
    throw new Error(`Chromium (${executablePath}) did not start: ${(e as Error).message}`);
  }
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(`console.error: ${m.text()}`));
  const response = await page.goto(`${origin}/`);
  assert.ok(response?.ok(), `GET / → ${response?.status()}`);
  await waitState(["idle"], 15_000);
}

// uvu drops an error thrown in before() (the file would report "(0 / 6)" and nothing
// else), so setUp's error is kept and every test fails with it.
let setUpError: unknown;
test.before(async () => {
  if (!CHROMIUM.path) return; // every test is skipped (or failed under CI) by testNeeding
  try {
    await setUp(CHROMIUM.path);
  } catch (e) {
    setUpError = e;
  }
});

let setUpReported = false;
/** A test in the page: skipped without Chromium; failed with setUp's error if setting up failed (its log once). */
function pageTest(name: string, fn: () => Promise<void>): void {
  testNeeding(test, [CHROMIUM], name, async () => {
    if (setUpError && !setUpReported) {
      setUpReported = true;
      throw setUpError;
    }
    if (setUpError) throw new Error(`${String((setUpError as Error).message ?? setUpError).split("\n")[0]} (in full in the first failure)`);
    await fn();
  });
}

test.after(async () => {
  await context?.close();
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

// ------------------------------------------------------------------ the server
pageTest("llc web server: build/ only, MIME types, COOP/COEP, the page is cross-origin isolated", async () => {
  const get = (path: string, init?: RequestInit) => fetch(`${origin}${path}`, { redirect: "manual", ...init });
  const root = await get("/");
  assert.is(root.status, 302);
  assert.is(root.headers.get("location"), "/web/");
  const html = await get("/web/");
  assert.is(html.status, 200);
  assert.is(html.headers.get("content-type"), "text/html; charset=utf-8");
  assert.is(html.headers.get("cross-origin-opener-policy"), "same-origin");
  assert.is(html.headers.get("cross-origin-embedder-policy"), "require-corp");
  for (const [path, type] of [["/llc-simd.wasm", "application/wasm"], ["/worker.js", "text/javascript; charset=utf-8"], ["/web/main.js", "text/javascript; charset=utf-8"], ["/web/style.css", "text/css; charset=utf-8"]]) {
    const r = await get(path);
    assert.is(r.status, 200, path);
    assert.is(r.headers.get("content-type"), type, path);
  }
  for (const path of ["/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/%2e%2e%2fsrc%2fweb%2fmain.ts", "/missing.js", "/%zz"])
    assert.is((await get(path)).status, 404, path);
  assert.is((await get("/web/index.html", { method: "POST" })).status, 405);
  assert.is(await page.evaluate(() => crossOriginIsolated && typeof SharedArrayBuffer === "function"), true, "crossOriginIsolated");
  assert.is(await page.inputValue("#workers"), String(await page.evaluate(() => navigator.hardwareConcurrency)), "workers default");
});

// ------------------------------------------------------------------ the main run
pageTest("rrr, 2 chains × 200 draws set in the UI: the page's λ̂ and traces are Node's estimate(), to the bit", async () => {
  await page.selectOption("#example", "rrr");
  await setSampler({ chains: 2, draws: 200, workers: 2 });
  await page.click("#run");
  await waitState(["done", "error", "diverged"]);
  assert.is(await state(), "done", await page.textContent("#errors") ?? "");
  const browser = await pageResult();
  const { result: node } = await nodeEstimate("rrr", { chains: 2, draws: 200 }); // the page's worker count is not part of the config
  assert.is(JSON.stringify(browser["llc/mean"]), JSON.stringify(node["llc/mean"]), "llc/mean");
  assert.is(JSON.stringify(browser["loss/trace"]), JSON.stringify(node["loss/trace"]), "loss/trace");
  assert.is(JSON.stringify(browser), JSON.stringify(node), "the whole result JSON");
  // What the page shows.
  assert.is(await page.getAttribute("#llc-value", "data-value"), JSON.stringify(node["llc/mean"]));
  assert.is((await page.textContent("#llc-value"))!.trim(), `${node["llc/mean"].toFixed(3)} ± ${node["llc/std"].toFixed(3)}`);
  const rows = await page.$$eval("#chains-table tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent!.trim())));
  assert.is(rows.length, 2);
  rows.forEach((row, c) => {
    assert.is(row[1], "200 / 200");
    assert.is(row[2], node[`llc-chain/${c}`].toFixed(3));
    assert.is(row[4], "done");
  });
  const facts = await page.textContent("#facts");
  assert.match(facts!, "MALA accept");
  assert.match(facts!, node["mala_accept/mean"].toFixed(3));
  assert.match(facts!, /elapsed\d/);
  assert.is(await page.textContent("#errors"), "");
  assert.is(await page.locator(".uplot").count(), 2, "two uPlot charts");
  assert.match((await page.textContent("#sampler-rest"))!, "· restrict none (every weight moves)", "the config line names restrict");

  // Hovering a draw: both legends (the charts' cursors are synced) show every series' value there.
  const legend = (chart: string) => page.$$eval(`${chart} .u-legend .u-series`, (trs) =>
    Object.fromEntries(trs.map((tr) => [tr.querySelector(".u-label")!.textContent, tr.querySelector(".u-value")!.textContent])));
  const over = (await page.locator("#llc-chart .u-over").boundingBox())!;
  await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2);
  await page.waitForFunction(() => document.querySelector("#loss-chart .u-legend .u-series .u-value")?.textContent !== "--");
  const [llcLegend, lossLegend] = [await legend("#llc-chart"), await legend("#loss-chart")];
  const d = Number(llcLegend.draw);
  assert.ok(Number.isInteger(d) && d > 0 && d < 199, `hovered draw ${llcLegend.draw}`);
  assert.is(lossLegend.draw, llcLegend.draw, "the loss chart's legend follows the same draw");
  const running = node["loss/trace"].map((loss: number[]) => runningLlc(loss, node.init_loss, node.nbeta)[d]);
  assert.equal(llcLegend, { draw: String(d), "chain 0": fmt(running[0]), "chain 1": fmt(running[1]), mean: fmt((running[0] + running[1]) / 2), "true λ": fmt(6.5) });
  assert.equal(lossLegend, { draw: String(d), "chain 0": fmt(node["loss/trace"][0][d]), "chain 1": fmt(node["loss/trace"][1][d]) });
  await page.mouse.move(0, 0);

  const shot = join(work, "page.png");
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), "PNG signature");
  assert.ok(statSync(shot).size > 20_000, `screenshot of ${statSync(shot).size} bytes`);
  if (process.env.LLC_WEB_SCREENSHOT) copyFileSync(shot, process.env.LLC_WEB_SCREENSHOT); // to look at it
});

pageTest("downloads: the result JSON is the result, the SVG has a polyline per series, the PNG is a PNG", async () => {
  const download = async (id: string) => {
    const [file] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
    const path = join(work, file.suggestedFilename());
    await file.saveAs(path);
    return { name: file.suggestedFilename(), bytes: readFileSync(path) };
  };
  const json = await download("#download-json");
  assert.is(json.name, "rrr-result.json");
  assert.equal(JSON.parse(json.bytes.toString("utf8")), await pageResult());
  const svg = await download("#download-svg");
  assert.is(svg.name, "rrr-chains.svg");
  const text = svg.bytes.toString("utf8");
  assert.ok(text.startsWith("<?xml") && text.trimEnd().endsWith("</svg>"));
  // loss: 2 chains; λ̂: 2 chains + mean + true λ
  assert.is(text.match(/<polyline /g)?.length, 6);
  assert.match(text, "Running λ̂");
  for (const color of ["#4e79a7", "#f28e2b", "#222"]) assert.match(text, `stroke="${color}`, `series colour ${color}`);
  // A heading with λ̂ ± std, the legends, and the sampler settings.
  const result = await pageResult();
  const texts = [...text.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1].replaceAll("&amp;", "&"));
  assert.is(texts[0], `rrr: λ̂ = ${result["llc/mean"].toFixed(3)} ± ${result["llc/std"].toFixed(3)}`);
  for (const [label, n] of [["chain 0", 2], ["chain 1", 2], ["mean", 1], ["true λ", 1]] as const)
    assert.is(texts.filter((t) => t === label).length, n, `legend entries "${label}"`);
  const s = result.config.sampler;
  assert.is(texts.at(-1), `2 chains × 200 draws · ε ${s.epsilon} · γ ${s.gamma} · sgld · batch ${s.batch_size} · nβ default (b / ln b) · seed ${s.seed} · burn-in 0 · thin 1 · L0 batches · restrict none (every weight moves)`);
  assert.match(texts.at(-2)!, `MLP 5→3→5, identity · nβ = ${result.nbeta.toFixed(3)}`);

  // The PNG is that SVG drawn at twice its size: the same pixels as Chromium drawing the SVG again.
  const png = await download("#download-png");
  assert.ok(png.bytes.subarray(1, 4).toString("latin1") === "PNG", "PNG signature");
  const [svgW, svgH] = [Number(/width="(\d+)"/.exec(text)![1]), Number(/height="(\d+)"/.exec(text)![1])];
  assert.equal([png.bytes.readUInt32BE(16), png.bytes.readUInt32BE(20)], [2 * svgW, 2 * svgH], "IHDR width × height");
  const compared = await page.evaluate(async ({ png, svg }) => {
    const load = async (blob: Blob) => {
      const image = new Image();
      image.src = URL.createObjectURL(blob);
      await image.decode();
      return image;
    };
    const pixels = (image: HTMLImageElement, w: number, h: number) => {
      const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(image, 0, 0, w, h);
      return ctx.getImageData(0, 0, w, h).data;
    };
    const a = await load(new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], { type: "image/png" }));
    const b = await load(new Blob([svg], { type: "image/svg+xml" }));
    const [w, h] = [a.naturalWidth, a.naturalHeight];
    const [pa, pb] = [pixels(a, w, h), pixels(b, w, h)];
    let differ = 0, headingInk = 0;
    for (let i = 0; i < pa.length; i += 4) {
      if (pa[i] !== pb[i] || pa[i + 1] !== pb[i + 1] || pa[i + 2] !== pb[i + 2] || pa[i + 3] !== pb[i + 3]) differ++;
      if (i < w * 4 * 72 && pa[i] < 128) headingInk++; // the heading's 36 px, drawn at 2×
    }
    return { differ, headingInk };
  }, { png: png.bytes.toString("base64"), svg: text });
  assert.is(compared.differ, 0, "pixels that differ from the SVG drawn again");
  assert.ok(compared.headingInk > 100, `the heading is drawn (${compared.headingInk} dark pixels)`);
});

pageTest("a validation error after a run clears its charts, chain rows, λ̂ and downloads", async () => {
  assert.is(await page.locator(".uplot").count(), 2, "the last run's charts");
  await setSampler({ epsilon: "-1" });
  await page.click("#run");
  await waitState(["error"]);
  assert.match((await page.textContent("#errors"))!, "sampler.epsilon: expected a positive finite number, got -1");
  assert.is(await page.locator(".uplot").count(), 0, "no chart left");
  assert.is(await page.locator("#chains-table tbody tr").count(), 0, "no chain rows left");
  assert.is((await page.textContent("#llc-value"))!.trim(), "–");
  for (const id of ["#download-json", "#download-svg", "#download-png"]) assert.is(await page.isDisabled(id), true, id);
  assert.is(await page.evaluate(() => window.__llcResult), undefined);
  await setSampler({ epsilon: 0.0006 });
});

// ------------------------------------------------------------------ cancel and divergence
pageTest("Cancel stops a long run within seconds and keeps a partial result and the live traces", async () => {
  await setSampler({ chains: 2, draws: 500_000, workers: 2 }); // chains × draws at most MAX_RESULT_DRAWS (10^6)
  await page.click("#run");
  await waitState(["running"]);
  // Every chain under way (on a busy machine the second worker can start seconds after
  // the first), so each row must end "cancelled" rather than "not run".
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#chains-table tbody tr")];
    return rows.length === 2 && rows.every((tr) => Number(tr.querySelectorAll("td")[1]?.textContent?.trim().split(" / ")[0]) > 0);
  }, undefined, { timeout: 20_000 });
  await page.waitForTimeout(300);
  const clicked = Date.now();
  await page.click("#cancel");
  await waitState(["cancelled"], 5_000);
  assert.ok(Date.now() - clicked < 5_000);
  const partial = await pageResult();
  assert.is(partial.status, "partial");
  assert.is(partial.chains_completed, 0);
  assert.match((await page.textContent("#warnings"))!, "Cancelled");
  const rows = await page.$$eval("#chains-table tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent!.trim())));
  assert.is(rows.length, 2);
  for (const row of rows) {
    assert.is(row[4], "cancelled");
    assert.match(row[2], /^≈ -?\d/, "the live λ̂ preview is kept");
    assert.ok(Number(row[1].split(" / ")[0]) > 0, "draws so far");
  }
  assert.is(await page.isDisabled("#run"), false, "Run is enabled again");
});

pageTest("a diverging chain: the library's message, the draws before it kept, status diverged", async () => {
  await setSampler({ chains: 2, draws: 200, epsilon: 0.5, workers: 2 });
  await page.click("#run");
  await waitState(["diverged", "done", "error"]);
  assert.is(await state(), "diverged", await page.textContent("#errors") ?? "");
  const partial = await pageResult();
  // Every chain ran (sampler.fail_fast is false): each diverged one is listed.
  assert.is(partial.status, "diverged");
  assert.is(partial.diverged_chains[0].chain, 0);
  const warnings = (await page.textContent("#warnings"))!;
  assert.match(warnings, /(NaN|Inf) detected in loss at chain 0/);
  assert.match(warnings, partial.error);
  assert.ok(partial["loss/trace"][0].length >= 0);
  await setSampler({ epsilon: 0.0006 });
});

// ------------------------------------------------------------------ files
pageTest("files: a malformed config names the field; bad safetensors name the file; good files give Node's bits", async () => {
  const config = { model: { kind: "mlp", sizes: [5, 3, 5], activation: "identity", bias: false }, weights: "w.safetensors", data: "d.safetensors", sampler: { epsilon: -1 } };
  await page.setInputFiles("#config-file", { name: "bad.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(config)) });
  await page.waitForSelector("#errors .message.error");
  const errors = (await page.textContent("#errors"))!;
  assert.match(errors, "sampler.epsilon: expected a positive finite number, got -1 (in bad.json)");
  assert.is(await page.textContent("#errors code.field"), "sampler.epsilon");
  assert.match((await page.textContent("#file-status"))!, "✗ config bad.json");

  await page.setInputFiles("#config-file", { name: "typo.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify({ ...config, sampler: { num_chains: 2 } })) });
  await page.waitForFunction(() => document.querySelector("#errors")!.textContent!.includes("typo.json"));
  assert.match((await page.textContent("#errors code.field"))!, "sampler.num_chains");

  await page.setInputFiles("#weights-file", { name: "junk.safetensors", mimeType: "application/octet-stream", buffer: Buffer.from("not a safetensors file at all") });
  await page.waitForFunction(() => document.querySelector("#errors")!.textContent!.includes("junk.safetensors"));

  // The rrr example as three files, made here in Node.
  const sampler = { chains: 2, draws: 100 };
  const { config: good, inputs, result: node } = await nodeEstimate("rrr", sampler);
  const files = {
    config: Buffer.from(JSON.stringify({ ...good, weights: "weights.safetensors", data: "data.safetensors" })),
    weights: Buffer.from(lib.writeSafetensors(inputs.weights)),
    data: Buffer.from(lib.writeSafetensors(inputs.data)),
  };
  await page.setInputFiles("#config-file", { name: "case.json", mimeType: "application/json", buffer: files.config });
  await page.setInputFiles("#weights-file", { name: "weights.safetensors", mimeType: "application/octet-stream", buffer: files.weights });
  await page.setInputFiles("#data-file", { name: "data.safetensors", mimeType: "application/octet-stream", buffer: files.data });
  await page.waitForFunction(() => document.querySelectorAll("#file-status li.ok").length === 3);
  assert.is(await page.inputValue("#chains"), "2", "the sampler fields follow the chosen config");
  assert.is(await page.inputValue("#draws"), "100");
  await setSampler({ workers: 1 });
  await page.click("#run");
  await waitState(["done", "error", "diverged"]);
  assert.is(await state(), "done", await page.textContent("#errors") ?? "");
  const browser = await pageResult();
  assert.is(JSON.stringify(browser["loss/trace"]), JSON.stringify(node["loss/trace"]));
  assert.is(JSON.stringify(browser), JSON.stringify({ ...node, config: { ...node.config, weights: "weights.safetensors", data: "data.safetensors" } }));
  assert.equal(pageErrors, [], "no page errors");
});

// ------------------------------------------------------------------ the Analysis panel
pageTest("analysis panel: dropped heads and circuits JSON give the CLI's figures as images, each downloadable; no CSP violation", async () => {
  await page.evaluate(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  // The schemas of README "Head types and circuits": two checkpoints of one layer of 3 heads (the figure takes
  // the last step on prose), and 2 × 2 composition and path-ablation matrices.
  const heads = (step: number) => [0, 1, 2].map((h) => ({ layer: 0, head: h, previous_token: 0.5 - 0.2 * h, current_token: 0.1, induction: 0.05, ablation_delta: 0.2,
    multigrams: { counts: { "2-gram": step / 1000 + h, "skip-bigram": 2 * h }, top: [] }, label: h === 0 ? "previous-token" : "multigram" }));
  const headsJson = { format: "llc-wasm/heads/1", checkpoints: [{ step: 1000, data: "prose", heads: heads(1000) }, { step: 6000, data: "prose", heads: heads(6000) }] };
  const circuits = { composition: { Q: [[0.1, 0.2], [0.3, 0.4]], K: [[0.2, 0.2], [0.2, 0.6]], V: [[0.1, 0.1], [0.1, 0.1]], baseline: 0.15 }, path_ablation: { Q: [[0, 0], [0, 0]], K: [[0, 0.3], [0, 0]], V: [[0.01, 0], [0, 0]] } };
  const json = (name: string, value: unknown) => ({ name, mimeType: "application/json", buffer: Buffer.from(JSON.stringify(value)) });
  await page.setInputFiles("#analysis-files", [json("heads.json", headsJson), json("circuits.json", circuits), json("junk.json", { hello: 1 })]);
  await page.waitForFunction(() => document.querySelector("#analysis")!.getAttribute("data-figures") === "2");
  // Every image decoded (an SVG that failed to load or was blocked has naturalWidth 0).
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>("#analysis-figures img")].every((img) => img.complete && img.naturalWidth > 0));
  const shown = await page.$$eval("#analysis-figures figure", (figs) => figs.map((f) => ({
    file: f.getAttribute("data-file"), caption: f.querySelector("figcaption span")!.textContent, src: f.querySelector("img")!.src.slice(0, 5), width: f.querySelector("img")!.naturalWidth,
  })));
  assert.equal(shown.map((f) => [f.file, f.caption, f.src]), [
    ["heads-multigrams.svg", "Multigrams held per head (heads.json)", "blob:"],
    ["circuits-circuits.svg", "Composition scores and path ablation (circuits.json)", "blob:"],
  ]);
  const status = await page.$$eval("#analysis-status li", (lis) => lis.map((li) => [li.className, li.textContent]));
  assert.equal(status.slice(0, 2), [["ok", "✓ heads.json (llc heads --json)"], ["ok", "✓ circuits.json (llc circuits --json)"]]);
  assert.is(status[2][0], "bad");
  assert.match(status[2][1]!, "✗ junk.jsonjunk.json: not the JSON of llc heads, llc circuits or llc cluster --json");

  // The downloads are the library's figures (what llc plot writes) for the same JSON, and the images are drawn at their size.
  const expected = {
    "heads-multigrams.svg": lib.multigramFigure(lib.selectHeadsEntry(lib.readHeadsJson(JSON.stringify(headsJson), "heads.json"), "heads.json", { prefer: ["prose", "mix"] })),
    "circuits-circuits.svg": lib.circuitsFigure(lib.readCircuitsJson(JSON.stringify(circuits), "circuits.json")),
  } as Record<string, string>;
  const titles: Record<string, string[]> = {};
  for (const [i, f] of shown.entries()) {
    const [file] = await Promise.all([page.waitForEvent("download"), page.click(`#analysis-figures figure:nth-child(${i + 1}) button`)]);
    assert.is(file.suggestedFilename(), f.file);
    const saved = join(work, file.suggestedFilename());
    await file.saveAs(saved);
    const svg = readFileSync(saved, "utf8");
    assert.ok(svg === expected[f.file!], `${f.file} is the library's figure`);
    assert.is(f.width, Number(/<svg [^>]*width="(\d+)"/.exec(svg)![1]), `${f.file}: the image is the SVG's width`);
    titles[f.file!] = [...svg.matchAll(/<text [^>]*class="title"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  }
  assert.equal(titles["heads-multigrams.svg"], ["Layer 0: multigrams each head holds (step 6000, held-out prose)"]);
  assert.equal(titles["circuits-circuits.svg"], ["How layer-0 heads feed layer-1 heads", "Q-composition", "K-composition", "V-composition", "Q path ablated: Δloss", "K path ablated: Δloss", "V path ablated: Δloss"]);

  await page.click("#analysis-clear");
  assert.is(await page.locator("#analysis-figures figure").count(), 0, "Clear removes the figures");
  assert.equal(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), [], "CSP violations");
  assert.equal(pageErrors, [], "no page errors");
});

test.run();
