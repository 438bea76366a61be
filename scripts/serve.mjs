// `npm run web`: serves build/ (the page is build/web/index.html) on 127.0.0.1.
// Static files only: every estimate runs in the visitor's browser, in module
// Workers; the server computes nothing. Responses carry COOP/COEP so the page is
// cross-origin isolated: SharedArrayBuffer exists there, and parallel.ts gives
// each worker a shared stop flag besides terminate().
//
//   node scripts/serve.mjs [--port N] [--host H]    (default 127.0.0.1:8080; --port 0 picks a free port)
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
export const BUILD_DIR = join(root, "build");

export const TYPES = {
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

/** Headers on every response: cross-origin isolation, and nothing sniffed or cached stale. */
const COMMON = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
};

/**
 * A node:http server for the files under `dir` (default build/). "/" redirects
 * to "/web/"; a directory serves its index.html; only GET and HEAD; a path that
 * leaves `dir` (.., encoded or not) is a 404, like a missing file.
 */
export function createStaticServer(dir = BUILD_DIR) {
  const base = resolve(dir);
  return createServer(async (req, res) => {
    const send = (status, headers, body) => {
      res.writeHead(status, { ...COMMON, ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const notFound = () => send(404, { "Content-Type": "text/plain; charset=utf-8" }, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }, "method not allowed\n");
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    } catch {
      return notFound(); // malformed %-escape
    }
    if (path === "/") return send(302, { Location: "/web/" }, "");
    if (path.includes("\0")) return notFound();
    let file = resolve(base, `.${path}`);
    if (file !== base && !file.startsWith(base + sep)) return notFound();
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        if (!path.endsWith("/")) return send(301, { Location: `${path}/` }, "");
        file = join(file, "index.html");
        info = await stat(file);
      }
      if (!info.isFile()) return notFound();
      const body = await readFile(file);
      send(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": String(body.length) }, body);
    } catch {
      notFound();
    }
  });
}

/** Start serving; resolves with the server and its URL (the page's). */
export function serve({ port = 8080, host = "127.0.0.1", dir = BUILD_DIR } = {}) {
  const server = createStaticServer(dir);
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolvePromise({ server, origin: `http://${host}:${address.port}`, url: `http://${host}:${address.port}/web/` });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(name);
    if (i < 0) return fallback;
    if (i + 1 >= args.length) {
      console.error(`${name}: expected a value`);
      process.exit(2);
    }
    return args[i + 1];
  };
  const port = Number(option("--port", "8080"));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: expected an integer in [0, 65535], got ${option("--port")}`);
    process.exit(2);
  }
  try {
    await stat(join(BUILD_DIR, "web", "index.html"));
  } catch {
    console.error("build/web/index.html is missing: run node scripts/build.mjs first (npm run web does)");
    process.exit(1);
  }
  const { url } = await serve({ port, host: option("--host", "127.0.0.1") }).catch((e) => {
    console.error(`cannot listen: ${e.message}`);
    process.exit(1);
  });
  console.log(`llc-wasm page: ${url}  (serving build/; Ctrl-C to stop)`);
}
