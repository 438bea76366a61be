// Types for harness.js, which stays plain JavaScript so that Node, Deno and
// Chromium run it unchanged. `lib` is the library (build/index.js at run time).
import type { BuiltinCase, Host, Variant } from "../../src/index.ts";

type Lib = typeof import("../../src/index.ts");
type Estimates = Record<string, { selfTest: string; results: Record<string, string> }>;

export declare const SAMPLERS: {
  rrr: { make: "rrr"; sampler: { chains: number; draws: number } };
  nc: { make: "normal-crossing"; sampler: { chains: number; draws: number } };
};

export declare function portabilityCase(lib: Lib, key: keyof typeof SAMPLERS): BuiltinCase;

export declare function fnv1a(text: string): string;

export declare function runEstimates(lib: Lib, wasmBytes: (variant: Variant) => Promise<Uint8Array<ArrayBuffer>>, variants?: Variant[]): Promise<Estimates>;

export declare function runJob(lib: Lib, host: Host, dir: string): Promise<{ text: string; rerunIdentical: boolean }>;

export declare function runPortability(lib: Lib, host: Host, dir: string): Promise<{ estimates: Estimates; job: { text: string; rerunIdentical: boolean }; ms: number }>;
