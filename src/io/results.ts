// Result files: a fingerprint of the job (config + input bytes) so a rerun can
// tell whether an existing partial result belongs to it, and the chain traces
// recovered from such a file to resume after a kill. JSON numbers round-trip
// f64 exactly, so a resumed result equals an uninterrupted one bit for bit.
import type { ChainTraces } from "../sampler.ts";
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

/** Finished chains of a previous run of the same job, or [] if the file is another job's or complete. */
export function chainsToResume(previous: unknown, job: string): ChainTraces[] {
  if (!previous || typeof previous !== "object") return [];
  const r = previous as Partial<ResultFile>;
  if (r.job !== job || r.status !== "partial" || typeof r.chains_completed !== "number") return [];
  const chains: ChainTraces[] = [];
  for (let c = 0; c < r.chains_completed; c++) {
    const loss = r["loss/trace"]?.[c];
    if (!Array.isArray(loss) || loss.some((v) => typeof v !== "number")) return [];
    chains.push({
      loss,
      mala: r["mala_accept/trace"]?.[c] ?? [],
      gradientNorm: r["gradient_norm/trace"]?.[c] ?? [],
      noiseNorm: r["noise_norm/trace"]?.[c] ?? [],
      distance: r["distance/trace"]?.[c] ?? [],
      weightNorm: r["weight_norm/trace"]?.[c] ?? [],
    });
  }
  return chains;
}
