// Convergence diagnostics and the verdict of an estimate. The statistics are
// computed once, in WebAssembly (assembly/diagnostics.ts, whose header defines
// each of them and cites its source), so they are the same bits in every host;
// this file moves the traces in, the numbers out under devinterp-style
// `diagnostics/...` keys, and puts the verdict into words. assembly/wasi/estimate.ts
// writes the same keys and the same verdict for the WASI command (test/wasi.test.ts
// compares the bytes).
import { MALA_TOO_LOW } from "./limits.ts";
import type { Engine } from "./engine.ts";
import { moduleConstant } from "./models.ts";

/** R̂ above this: not converged (Vehtari et al. 2021 §4: 1.01). */
export const RHAT_MAX = 1.01;
/** |slope / s.e.| of the second half's trend above this (two-sided 0.1 %): a trend. */
export const TREND_T_MAX = 3.29;
/** Mean MALA acceptance below this: ε too large (src/limits.ts says why 0.8). */
export const MALA_MIN = MALA_TOO_LOW;
/** Fraction of a chain's draws that are loss spikes (> 10 robust s.d. above its median) above this: ε too large. */
export const SPIKE_FRACTION_MAX = 0.01;
/** s.e.(L0)·nβ above this fraction of |λ̂|: L0 uncertain. */
export const INIT_LOSS_SE_FRACTION = 0.1;

export interface Diagnostics {
  "diagnostics/verdict": string;
  "diagnostics/reasons": string;
  "diagnostics/rhat": number | null;
  "diagnostics/rhat_bulk": number | null;
  "diagnostics/rhat_tail": number | null;
  "diagnostics/ess_bulk": number | null;
  "diagnostics/ess_tail": number | null;
  "diagnostics/mcse": number | null;
  "diagnostics/init_loss_se": number | null;
  "diagnostics/geweke_z": (number | null)[];
  "diagnostics/heidelberger_stationary": (boolean | null)[];
  "diagnostics/heidelberger_start": (number | null)[];
  "diagnostics/heidelberger_cvm": (number | null)[];
  "diagnostics/heidelberger_halfwidth": (number | null)[];
  "diagnostics/heidelberger_mean": (number | null)[];
  "diagnostics/heidelberger_passed": (boolean | null)[];
  "diagnostics/trend_slope": (number | null)[];
  "diagnostics/trend_se": (number | null)[];
  "diagnostics/trend_t": (number | null)[];
  "diagnostics/below_init_loss": (number | null)[];
  "diagnostics/mala_accept": (number | null)[];
  "diagnostics/raftery_lewis_n": (number | null)[];
  "diagnostics/spikes": (number | null)[];
}

const GLOBAL = ["rhat", "rhat_bulk", "rhat_tail", "ess_bulk", "ess_tail", "mcse"] as const;
/** The per-chain words of the kernel, in PC_* order, with how each is written. */
const PER_CHAIN: [string, "number" | "boolean"][] = [
  ["geweke_z", "number"], ["heidelberger_stationary", "boolean"], ["heidelberger_start", "number"], ["heidelberger_cvm", "number"],
  ["heidelberger_halfwidth", "number"], ["heidelberger_mean", "number"], ["heidelberger_passed", "boolean"], ["trend_slope", "number"],
  ["trend_se", "number"], ["trend_t", "number"], ["below_init_loss", "number"], ["mala_accept", "number"], ["raftery_lewis_n", "number"], ["spikes", "number"],
];

const orNull = (x: number) => (Number.isNaN(x) ? null : x);

/** The raw kernel output: DG_GLOBAL_WORDS + chains·PC_WORDS f64 (NaN: undefined). */
export function diagnosticsWords(engine: Engine, loss: readonly (readonly number[])[], mala: readonly (readonly (number | null)[])[], initLoss: number, nbeta: number): Float64Array {
  const chains = loss.length;
  const draws = chains ? Math.min(...loss.map((l) => l.length)) : 0;
  const total = Math.max(1, chains * draws);
  const words = moduleConstant(engine, "DG_GLOBAL_WORDS") + chains * moduleConstant(engine, "PC_WORDS");
  // One block the module reuses for every call (the estimator calls this after every chain).
  // At most 56 bytes a draw (inputs 16, scratch 40) and the output words: refused, in the engine's words, if that cannot fit.
  engine.reserve(56 * total + 8 * words + 512, `the convergence diagnostics of ${chains} chains × ${draws} draws`);
  const lossPtr = engine.kernels.diagnosticsIo(chains, draws) >>> 0; // an address: u32
  if (lossPtr === 0) throw new Error(`diagnostics: the engine could not grow its memory by the ${56 * total + 8 * words + 512} bytes it reserved`);
  const malaPtr = lossPtr + total * 8, out = malaPtr + total * 8;
  const l = engine.f64(lossPtr, total), a = engine.f64(malaPtr, total);
  for (let c = 0; c < chains; c++)
    for (let d = 0; d < draws; d++) {
      l[c * draws + d] = loss[c][d];
      a[c * draws + d] = mala[c][d] ?? NaN;
    }
  engine.kernels.diagnosticsRun(lossPtr, malaPtr, chains, draws, initLoss, nbeta, out);
  return engine.f64(out, words).slice();
}

export interface DiagnosticsInput {
  /** Every chain's loss and MALA traces; `healthy[c]` false for a diverged chain (left out of the statistics, null in per-chain lists). */
  loss: readonly (readonly number[])[];
  mala: readonly (readonly (number | null)[])[];
  healthy: readonly boolean[];
  initLoss: number;
  nbeta: number;
  initLossSe: number | null;
  llcMean: number;
  mala_accept_mean: number | null;
  diverged: readonly { chain: number; draw: number }[];
}

/** The diagnostics/* keys of a result. */
export function diagnose(engine: Engine, input: DiagnosticsInput): Diagnostics {
  const used = input.loss.map((_, c) => c).filter((c) => input.healthy[c]);
  const words = diagnosticsWords(engine, used.map((c) => input.loss[c]), used.map((c) => input.mala[c]), input.initLoss, input.nbeta);
  const G = GLOBAL.length, K = PER_CHAIN.length;
  const out: Record<string, unknown> = {};
  GLOBAL.forEach((name, i) => (out[`diagnostics/${name}`] = orNull(words[i])));
  out["diagnostics/init_loss_se"] = input.initLossSe;
  PER_CHAIN.forEach(([name, kind], k) => {
    out[`diagnostics/${name}`] = input.loss.map((_, c) => {
      const j = used.indexOf(c);
      if (j < 0) return null;
      const v = words[G + j * K + k];
      return Number.isNaN(v) ? null : kind === "boolean" ? v === 1 : v;
    });
  });
  const { verdict, reasons } = verdictOf(out as unknown as Diagnostics, input);
  return { "diagnostics/verdict": verdict, "diagnostics/reasons": reasons, ...out } as Diagnostics;
}

const fmt = (x: number, digits = 3) => (Object.is(x, -0) ? 0 : x).toPrecision(digits);

/**
 * The verdict: the failed checks' names joined by ", " ("healthy" when none), and
 * their reasons joined by "; ", in this order: diverged, not converged, ε too large, L0 uncertain.
 * assembly/wasi/estimate.ts verdict() words it identically.
 */
export function verdictOf(d: Diagnostics, input: Pick<DiagnosticsInput, "diverged" | "nbeta" | "llcMean" | "mala_accept_mean" | "loss" | "healthy">): { verdict: string; reasons: string } {
  const names: string[] = [], reasons: string[] = [];
  if (input.diverged.length) {
    names.push("diverged");
    reasons.push(`chain(s) diverged: ${input.diverged.map((x) => `${x.chain} at draw ${x.draw}`).join(", ")}`);
  }
  const notConverged: string[] = [];
  const rhat = d["diagnostics/rhat"];
  if (rhat !== null && rhat > RHAT_MAX) notConverged.push(`R̂ = ${fmt(rhat, 4)} > ${RHAT_MAX}`);
  d["diagnostics/trend_t"].forEach((t, c) => {
    if (t !== null && Math.abs(t) > TREND_T_MAX)
      notConverged.push(`chain ${c} trends (slope ${fmt(d["diagnostics/trend_slope"][c]!)} per draw, t = ${fmt(t)})`);
  });
  if (notConverged.length) names.push("not converged"), reasons.push(...notConverged);
  const large: string[] = [];
  const mala = input.mala_accept_mean;
  if (mala !== null && mala < MALA_MIN) large.push(`MALA acceptance ${fmt(mala)} < ${fmt(MALA_MIN)}`);
  d["diagnostics/spikes"].forEach((s, c) => {
    const n = input.loss[c].length;
    if (s !== null && n > 0 && s / n > SPIKE_FRACTION_MAX) large.push(`chain ${c} has ${s} loss spikes in ${n} draws`);
  });
  if (large.length) names.push("ε too large"), reasons.push(...large);
  const se = d["diagnostics/init_loss_se"];
  if (se !== null && se * input.nbeta > INIT_LOSS_SE_FRACTION * Math.abs(input.llcMean))
    names.push("L0 uncertain"), reasons.push(`s.e.(L0)·nβ = ${fmt(se * input.nbeta)} > |λ̂|/10 = ${fmt(Math.abs(input.llcMean) / 10)}: try init_loss: "full"`);
  return { verdict: names.length ? names.join(", ") : "healthy", reasons: reasons.join("; ") };
}
