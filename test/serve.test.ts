// `llc web`'s server (src/platform/node-server.ts) over loopback: it redirects
// only to paths of its own (issue 12: "/%2Fevil.com%2F..%2Fweb" answered
// `301 Location: //evil.com/../web/`, an open redirect), follows no symlink out
// of its root, and sends a Content-Security-Policy under which the page still
// runs an estimate in Chromium (where /usr/bin/chromium exists); and the CLI
// command itself.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { request, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM, collectErrors, launchChromium } from "./browser.ts";
import { serve, CONTENT_SECURITY_POLICY } from "../src/platform/node-server.ts";
import { scratchDir, testNeeding } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = scratchDir("llc-serve-");

/** GET with the path sent byte for byte (fetch would normalise "//" and ".."). */
function rawGet(origin: string, path: string, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function withServer<T>(dir: string, run: (origin: string) => Promise<T>): Promise<T> {
  const { server, origin } = await serve({ port: 0, host: "127.0.0.1", dir });
  try {
    return await run(origin);
  } finally {
    await new Promise((r) => (server as Server).close(r));
  }
}

// A root with a page, a directory, an inside alias, and symlinks to a secret outside it.
const site = join(work, "site");
const outside = join(work, "outside");
mkdirSync(join(site, "web"), { recursive: true });
mkdirSync(join(site, "a b"), { recursive: true });
mkdirSync(outside, { recursive: true });
writeFileSync(join(site, "web", "index.html"), "<!doctype html><title>page</title>\n");
writeFileSync(join(site, "a b", "index.html"), "spaced\n");
writeFileSync(join(outside, "secret.txt"), "secret\n");
writeFileSync(join(outside, "index.html"), "outside index\n");
symlinkSync(join(outside, "secret.txt"), join(site, "leak.txt"));
symlinkSync(outside, join(site, "linked"));
symlinkSync(join(site, "web", "index.html"), join(site, "alias.html"));

test("redirects go only to paths of this server: the open redirect of issue 12 and its variants", async () => {
  await withServer(site, async (origin) => {
    const cases: [path: string, location: string][] = [
      ["/%2Fevil.com%2F..%2Fweb", "/web/"], // was "//evil.com/../web/"
      ["/%5Cevil.com%2F..%2Fweb", "/web/"], // "/\evil.com" is "//evil.com" to a browser
      ["//evil.com/%2E%2E/web", "/web/"],
      ["/web", "/web/"],
      ["/a%20b", "/a%20b/"],
      ["/", "/web/"],
    ];
    for (const [path, location] of cases) {
      const r = await rawGet(origin, path);
      assert.ok(r.status === 301 || r.status === 302, `${path}: status ${r.status}`);
      assert.is(r.headers.location, location, path);
      assert.is(new URL(String(r.headers.location), origin).origin, origin, `${path}: stays on this server`);
    }
    assert.is((await rawGet(origin, "/web/")).body, readFileSync(join(site, "web", "index.html"), "utf8"));
    assert.is((await rawGet(origin, "/a%20b/")).body, "spaced\n");
  });
});

test("no symlink out of the root is followed; one inside it is", async () => {
  await withServer(site, async (origin) => {
    for (const path of ["/leak.txt", "/linked/secret.txt", "/linked/", "/linked"]) {
      const r = await rawGet(origin, path);
      assert.ok(r.status === 404 || (r.status === 301 && r.headers.location === "/linked/"), `${path}: ${r.status}`);
      assert.not.match(r.body, /secret|outside/, path);
    }
    assert.is((await rawGet(origin, "/linked/")).status, 404);
    const alias = await rawGet(origin, "/alias.html");
    assert.is(alias.status, 200);
    assert.is(alias.body, readFileSync(join(site, "web", "index.html"), "utf8"));
  });
  // A root that is itself reached through a symlink (as node_modules may be) still serves.
  const linkedRoot = join(work, "linked-root");
  symlinkSync(site, linkedRoot);
  await withServer(linkedRoot, async (origin) => assert.is((await rawGet(origin, "/web/")).status, 200));
});

test("every response carries the CSP: no inline script, no eval but WebAssembly's", async () => {
  const directives = new Map(CONTENT_SECURITY_POLICY.split(/;\s*/).map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
  assert.equal(directives.get("script-src"), ["'self'", "'wasm-unsafe-eval'"]);
  assert.equal(directives.get("style-src"), ["'self'"]);
  assert.equal(directives.get("object-src"), ["'none'"]);
  assert.not.match(CONTENT_SECURITY_POLICY, /unsafe-inline|'unsafe-eval'/);
  await withServer(site, async (origin) => {
    for (const [path, method, status] of [["/web/", "GET", 200], ["/web", "GET", 301], ["/missing", "GET", 404], ["/web/", "POST", 405], ["/web/", "HEAD", 200]] as const) {
      const r = await rawGet(origin, path, method);
      assert.is(r.status, status, `${method} ${path}`);
      assert.is(r.headers["content-security-policy"], CONTENT_SECURITY_POLICY, `${method} ${path}`);
    }
  });
  // The built page complies by construction: scripts by src only, no inline handlers or styles.
  const html = readFileSync(join(root, "build/web/index.html"), "utf8");
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /\bsrc=/, tag);
  assert.not.match(html, /<script\b[^>]*>\s*[^<\s]/, "inline script");
  assert.not.match(html, /\son[a-z]+\s*=/i, "inline event handler");
  assert.not.match(html, /\sstyle\s*=|<style\b/i, "inline style");
});

testNeeding(test, [CHROMIUM], "the page runs an estimate under the CSP in Chromium, with no violation reported", async () => {
  const { server, origin } = await serve({ port: 0 });
  const context = await launchChromium(join(work, "profile"));
  const errors = collectErrors(context);
  try {
    const page = await context.newPage();
    await page.addInitScript(() => {
      const seen: string[] = ((window as unknown as { __csp: string[] }).__csp = []);
      document.addEventListener("securitypolicyviolation", (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const response = await page.goto(`${origin}/web/`);
    assert.is(response?.headers()["content-security-policy"], CONTENT_SECURITY_POLICY);
    await page.waitForFunction(() => document.body.dataset.state === "idle", undefined, { timeout: 15_000 });
    await page.selectOption("#example", "rrr");
    for (const [id, v] of Object.entries({ chains: "1", draws: "20", workers: "1" })) await page.fill(`#${id}`, v);
    await page.click("#run");
    await page.waitForFunction(() => ["done", "error", "diverged"].includes(document.body.dataset.state ?? ""), undefined, { timeout: 30_000 });
    assert.is(await page.evaluate(() => document.body.dataset.state), "done", (await page.textContent("#errors")) ?? "");
    assert.equal(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), [], "CSP violations");
    assert.equal(errors, [], "page errors");
  } finally {
    await context.close();
    server.close();
  }
});

test("llc web --port 0: prints the page's URL, serves it, stops on SIGTERM", async () => {
  const child = spawn(process.execPath, [join(root, "bin/llc.mjs"), "web", "--port", "0"], { cwd: work, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /http:\/\/127\.0\.0\.1:\d+\/web\//.exec(out);
        if (m) resolve(m[0]);
      });
      child.stderr.on("data", (d) => (out += d));
      child.on("exit", (code) => reject(new Error(`llc web exited ${code}: ${out}`)));
    });
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(await page.text(), "<title>llc-wasm");
    assert.is((await fetch(new URL("../llc-simd.wasm", url))).headers.get("content-type"), "application/wasm");
  } finally {
    child.kill("SIGTERM");
  }
  const bad = spawn(process.execPath, [join(root, "bin/llc.mjs"), "web", "--port", "http"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  bad.stderr.on("data", (d) => (err += d));
  const code = await new Promise((r) => bad.on("exit", r));
  assert.is(code, 2);
  assert.match(err, "--port: expected an integer");
});

test.run();
