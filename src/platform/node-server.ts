/// <reference types="node" />
// `llc web`: serves build/ (the page is build/web/index.html) over node:http.
// Static files only: every estimate runs in the visitor's browser, in module
// Workers; the server computes nothing. Responses carry COOP/COEP so the page is
// cross-origin isolated (SharedArrayBuffer exists there, and parallel.ts gives
// each worker a shared stop flag besides terminate()), and a Content-Security-Policy
// that allows scripts of this origin only plus WebAssembly compilation.
//
// What it will not do (issue 12): redirect anywhere but to a path of its own
// (a directory's canonical "/…/" form is built from the file found, never from
// the request's text, so "/%2Fevil.com%2F..%2Fweb" cannot become "//evil.com/…");
// serve a file whose real path (symlinks followed) is outside the real root;
// answer anything but GET and HEAD.
import { createServer, type Server } from "node:http";
import { readFile, realpath, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8", // build/types/*.d.ts
  ".wat": "text/plain; charset=utf-8",
  ".safetensors": "application/octet-stream",
};

/**
 * No inline script or style, no eval: scripts, workers, styles and fetches of this
 * origin only; 'wasm-unsafe-eval' lets the page and its workers compile the engine
 * (CSP Level 3: WebAssembly.compile is otherwise "eval"). img-src data: is the
 * page's empty favicon (`<link rel="icon" href="data:,">`); blob: the PNG/SVG
 * downloads' object URLs.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every response: cross-origin isolation, the CSP, and nothing sniffed or cached stale. */
const COMMON = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

/** The build directory: beside this module once bundled (build/cli.js), ../../build/ from src/platform/. */
export function defaultBuildDir(): string {
  const candidates = [new URL("./", import.meta.url), new URL("../../build/", import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((dir) => existsSync(join(dir, "web", "index.html")));
  if (!found) throw new Error(`the page's build is missing (looked for web/index.html in ${candidates.join(", ")}); run "npm run build"`);
  return found;
}

const inside = (base: string, path: string) => path === base || path.startsWith(base + sep);

/** "/a b/c" for base/a b/c: each segment percent-encoded, so the result is a path of this server and nothing else. */
function urlPath(base: string, file: string): string {
  const rel = relative(base, file);
  return rel === "" ? "/" : `/${rel.split(sep).map(encodeURIComponent).join("/")}`;
}

/**
 * A node:http server for the files under `dir`. "/" redirects to "/web/"; a
 * directory serves its index.html (redirected to its canonical "/…/" path first);
 * only GET and HEAD; a path that leaves `dir` (.., encoded or not, or a symlink
 * whose target is outside) is a 404, like a missing file.
 */
export function createStaticServer(dir: string = defaultBuildDir()): Server {
  const base = resolve(dir);
  const realBase = realpath(base); // the root's own symlinks (e.g. a linked node_modules) are fine
  realBase.catch(() => {}); // reported per request
  return createServer(async (req, res) => {
    const send = (status: number, headers: Record<string, string>, body?: string | Buffer) => {
      res.writeHead(status, { ...COMMON, ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const notFound = () => send(404, { "Content-Type": "text/plain; charset=utf-8" }, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }, "method not allowed\n");
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    } catch {
      return notFound(); // malformed %-escape
    }
    if (path === "/") return send(302, { Location: "/web/" }, "");
    if (path.includes("\0")) return notFound();
    let file = resolve(base, `.${path}`);
    if (!inside(base, file)) return notFound();
    try {
      const root = await realBase;
      let info = await stat(file);
      if (info.isDirectory()) {
        // Built from the directory found, so "/%2Fevil.com%2F..%2Fweb" → "/web/", never "//evil.com/…".
        if (!path.endsWith("/")) return send(301, { Location: `${urlPath(base, file).replace(/\/$/, "")}/` }, "");
        file = join(file, "index.html");
        info = await stat(file);
      }
      if (!info.isFile() || !inside(root, await realpath(file))) return notFound();
      const body = await readFile(file);
      send(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": String(body.length) }, body);
    } catch {
      notFound();
    }
  });
}

export interface ServeOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Default: the package's build/ (defaultBuildDir). */
  dir?: string;
}

/** Start serving; resolves with the server, its origin and the page's URL. */
export function serve({ port = 8080, host = "127.0.0.1", dir }: ServeOptions = {}): Promise<{ server: Server; origin: string; url: string }> {
  const server = createStaticServer(dir ?? defaultBuildDir());
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      const origin = `http://${host.includes(":") ? `[${host}]` : host}:${actual}`;
      resolvePromise({ server, origin, url: `${origin}/web/` });
    });
  });
}
