// Result files: a fingerprint of the job (config + input bytes) so a rerun can
// tell whether an existing partial result belongs to it, and the chain traces
// recovered from such a file to resume after a kill. JSON numbers round-trip
// f64 exactly, so a resumed result equals an uninterrupted one bit for bit.
import type { SamplerConfig } from "../config.ts";
import type { ChainTraces, Divergence } from "../sampler.ts";
import type { EstimateResult } from "../estimator.ts";

/** FNV-1a (32-bit) over byte arrays, as 8 hex digits: integer-only, identical in every host. */
export function fingerprint(...parts: Uint8Array[]): string {
  let h = 0x811c9dc5;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part[i], 0x01000193);
    h = Math.imul(h ^ 0xff, 0x01000193); // separator, so ("ab","c") ≠ ("a","bc")
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

export type ResultFile = EstimateResult & { job: string };

const TRACE_KEYS = [
  ["loss", "loss/trace"], ["gradientNorm", "gradient_norm/trace"], ["noiseNorm", "noise_norm/trace"],
  ["distance", "distance/trace"], ["weightNorm", "weight_norm/trace"],
] as const;

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Chain `c` of a previous result, if its traces are exactly what the job makes: a
 * healthy chain has `draws` finite losses and `draws` values in every other trace;
 * a diverged one (listed in diverged_chains) stops at its diverged draw, its loss
 * ending with the non-finite value (null in JSON). Anything else: undefined (redo it).
 */
function chainFrom(r: Partial<ResultFile>, c: number, sampler: SamplerConfig): ChainTraces | undefined {
  const record = Array.isArray(r.diverged_chains) ? r.diverged_chains.find((d) => d?.chain === c) : undefined;
  let draws = sampler.draws;
  let divergence: Divergence | undefined;
  if (record !== undefined) {
    const { draw, step, error } = record;
    if (!Number.isInteger(draw) || !Number.isInteger(step) || typeof error !== "string" || draw < -1 || draw >= sampler.draws) return undefined;
    divergence = { chain: c, draw, step, error };
    const kept = r["gradient_norm/trace"]?.[c];
    if (!Array.isArray(kept)) return undefined;
    draws = draw >= 0 ? draw : kept.length; // draws before the diverged one
    if (draws > sampler.draws) return undefined;
  }
  const traces: Partial<ChainTraces> = {};
  for (const [name, key] of TRACE_KEYS) {
    const values = r[key]?.[c];
    if (name === "loss" && divergence) {
      // draw ≥ 0: the diverged draw's loss was recorded (null in JSON); burn-in: none.
      const last = divergence.draw >= 0 ? 1 : 0;
      if (!Array.isArray(values) || values.length !== draws + last || !values.slice(0, draws).every(finite) || (last && values[draws] !== null)) return undefined;
      traces.loss = last ? [...(values.slice(0, draws) as number[]), NaN] : [...(values as number[])];
      continue;
    }
    // A norm may overflow before the loss does (a chain on its way to diverge): JSON
    // wrote it as null, read back as NaN, which JSON writes as null again.
    if (!Array.isArray(values) || values.length !== draws || !values.every((v) => v === null || finite(v))) return undefined;
    traces[name] = values.map((v) => (v === null ? NaN : v));
  }
  const mala = r["mala_accept/trace"]?.[c];
  if (!Array.isArray(mala) || mala.length !== draws || !mala.every((v) => v === null || finite(v))) return undefined;
  traces.mala = mala;
  if (divergence) traces.diverged = divergence;
  return traces as ChainTraces;
}

/**
 * The chains of a previous run of the same job (`job`, its fingerprint) to resume
 * from: the longest run of chains 0, 1, … whose traces check out against the
 * sampler (chainFrom); a chain that does not, and every chain after it, is redone.
 * [] for another job's file.
 */
export function chainsToResume(previous: unknown, job: string, sampler: SamplerConfig): ChainTraces[] {
  if (!previous || typeof previous !== "object") return [];
  const r = previous as Partial<ResultFile>;
  if (r.job !== job || !Array.isArray(r["loss/trace"])) return [];
  const chains: ChainTraces[] = [];
  for (let c = 0; c < Math.min(r["loss/trace"].length, sampler.chains); c++) {
    const chain = chainFrom(r, c, sampler);
    if (!chain) break;
    chains.push(chain);
  }
  return chains;
}
