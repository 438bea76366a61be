// Host for browsers (and any runtime with fetch and URL). Paths are URLs,
// resolved against a base (document.baseURI unless given); files are read with
// fetch, and files written by a job (its result) are kept in memory, where a
// later read of the same URL finds them and a page can offer them for download.
import type { Host } from "./host.ts";

export interface BrowserHostOptions {
  /** What relative paths resolve against; default document.baseURI (or location.href in a worker). */
  base?: string | URL;
  /** Directory URL of llc-simd.wasm / llc-scalar.wasm; default: `base`. */
  wasmBase?: string | URL;
  /** fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

function defaultBase(): string {
  const g = globalThis as { document?: { baseURI: string }; location?: { href: string } };
  const base = g.document?.baseURI ?? g.location?.href;
  if (!base) throw new Error("BrowserHost: no document.baseURI or location here; pass options.base");
  return base;
}

export class BrowserHost implements Host {
  readonly base: string;
  readonly wasmBase: string;
  /** Files written through this host, by absolute URL. */
  readonly files = new Map<string, Uint8Array>();
  private readonly fetchImpl: typeof fetch;

  constructor(options: BrowserHostOptions = {}) {
    this.base = new URL(options.base ?? defaultBase()).href;
    this.wasmBase = new URL(options.wasmBase ?? this.base, this.base).href;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Absolute URL of `path` (relative to the host's base). */
  url(path: string): string {
    return new URL(path, this.base).href;
  }

  private async fetchOk(url: string): Promise<Response> {
    const response = await this.fetchImpl(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`);
    return response;
  }

  async readBytes(path: string): Promise<Uint8Array<ArrayBuffer>> {
    const url = this.url(path);
    const kept = this.files.get(url);
    if (kept) return kept.slice();
    return new Uint8Array(await (await this.fetchOk(url)).arrayBuffer());
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path));
  }

  // A Map.set is atomic for every reader, which is all Host asks of a write.
  async writeText(path: string, text: string): Promise<void> {
    this.files.set(this.url(path), new TextEncoder().encode(text));
  }

  async writeBytes(path: string, bytes: Uint8Array): Promise<void> {
    this.files.set(this.url(path), bytes.slice());
  }

  async exists(path: string): Promise<boolean> {
    const url = this.url(path);
    if (this.files.has(url)) return true;
    try {
      const response = await this.fetchImpl(url, { method: "HEAD" });
      return response.ok;
    } catch {
      return false;
    }
  }

  /** URLs resolve against the directory of `base` by URL rules already. */
  resolve(base: string, path: string): string {
    return new URL(path, this.url(base)).href;
  }

  async wasmBytes(variant: "simd" | "scalar"): Promise<Uint8Array<ArrayBuffer>> {
    const url = new URL(`./llc-${variant}.wasm`, this.wasmBase).href;
    return new Uint8Array(await (await this.fetchOk(url)).arrayBuffer());
  }

  now(): number {
    return performance.now();
  }

  cores(): number {
    return navigator.hardwareConcurrency || 1;
  }

  /** An object URL for a written file (e.g. an <a download> link); revoke it when done. */
  objectUrl(path: string, type = "application/octet-stream"): string {
    const bytes = this.files.get(this.url(path));
    if (!bytes) throw new Error(`${this.url(path)}: not written by this host`);
    return URL.createObjectURL(new Blob([bytes.slice()], { type }));
  }
}
