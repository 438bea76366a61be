// The page's arithmetic on results, kept out of the DOM code so Node can test it:
// running λ̂ traces, per-chain MALA means, and the three warnings with their rules.
//
//  - diverged: a chain's loss became NaN/Inf: the result lists it in
//    diverged_chains (status "diverged", the estimate over the healthy chains), or,
//    with sampler.fail_fast, the estimate stopped with a ChainDivergedError (shown
//    by main.ts from the error).
//  - still trending (trendCheck): for each chain with at least 8 draws, d_c = mean
//    of the last quarter of its llc/trace minus the mean of the quarter before.
//    Across the C ≥ 2 chains (independent replicates) t = mean(d) / (sd(d)/√C),
//    sd with ddof 1; warn when |t| exceeds the two-sided 1 % point of Student's t
//    with C − 1 degrees of freedom (2.576, the z-test's, from 31 chains on).
//    Chains, not draws, are the replicates: draws within a chain are strongly
//    autocorrelated, so a z-test over draws would flag almost every run.
//  - MALA acceptance (malaCheck): mala_accept/mean < 0.8 means ε is too large
//    for the step to be trusted (discretization bias); ≥ 0.995 means ε could be
//    larger (chains move slowly). devinterp suggests aiming near 0.9. Measured on
//    the rrr example (5→3→5, true λ 6.5, default ε 6e-4: MALA 0.98, λ̂ 6.45), λ̂
//    grows with ε: MALA 0.87 → 6.83 (+5 %), 0.78 → 7.56 (+16 %), 0.72 → 8.27,
//    0.60 → 9.39 (+45 %); below 0.8 the bias is well past the chains' spread.
// resultWarnings puts the three into words, for the page and the CLI alike.
// Host-neutral: plain ECMAScript.
import { MALA_TOO_LOW } from "../limits.ts";

/** nβ·(mean of loss[0..t] − L0) for every t: the running λ̂ of one chain. Its last value is llc-chain/c, to the bit. */
export function runningLlc(loss: ArrayLike<number>, initLoss: number, nbeta: number): number[] {
  const out = new Array<number>(loss.length);
  let sum = 0;
  for (let t = 0; t < loss.length; t++) {
    sum += loss[t];
    out[t] = nbeta * (sum / (t + 1) - initLoss);
  }
  return out;
}

/** Mean of the non-null values, or null when there are none. */
export function meanOf(values: readonly (number | null)[]): number | null {
  let sum = 0, count = 0;
  for (const v of values) if (v !== null) (sum += v), count++;
  return count ? sum / count : null;
}

// Two-sided 1 % points of Student's t, t_{0.995, df} for df = 1..30; the normal's 2.576 beyond.
const T_995 = [63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.25, 3.169, 3.106, 3.055, 3.012, 2.977, 2.947,
  2.921, 2.898, 2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.75];
export const tCritical = (df: number): number => (df >= 1 && df <= 30 ? T_995[df - 1] : 2.576);

export interface TrendCheck {
  /** Chains that entered the test (those with at least 8 draws). */
  chains: number;
  /** Mean over chains of (last quarter − previous quarter) of llc/trace. */
  shift: number;
  t: number;
  critical: number;
  trending: boolean;
}

/** The "still trending" rule above, on llc/trace [chains][draws]; null when fewer than 2 chains have 8 draws. */
export function trendCheck(llcTrace: readonly (readonly number[])[]): TrendCheck | null {
  const diffs: number[] = [];
  for (const trace of llcTrace) {
    const n = trace.length;
    if (n < 8) continue;
    const q = Math.floor(n / 4);
    let previous = 0, last = 0;
    for (let i = n - 2 * q; i < n - q; i++) previous += trace[i];
    for (let i = n - q; i < n; i++) last += trace[i];
    diffs.push(last / q - previous / q);
  }
  const c = diffs.length;
  if (c < 2) return null;
  const shift = diffs.reduce((a, b) => a + b, 0) / c;
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - shift) * (d - shift), 0) / (c - 1));
  const t = sd > 0 ? shift / (sd / Math.sqrt(c)) : shift === 0 ? 0 : Math.sign(shift) * Infinity;
  const critical = tCritical(c - 1);
  return { chains: c, shift, t, critical, trending: Math.abs(t) > critical };
}

export type MalaVerdict = "low" | "high" | "ok";

export const MALA_LOW = MALA_TOO_LOW; // one number for the warning and the verdict (src/limits.ts)
export const MALA_HIGH = 0.995;

/** The MALA rule above: < 0.8 low, ≥ 0.995 high (≈ 1), else ok; null when there is no acceptance (rmsprop_sgld). */
export function malaCheck(mean: number | null): MalaVerdict | null {
  if (mean === null || !Number.isFinite(mean)) return null;
  return mean < MALA_LOW ? "low" : mean >= MALA_HIGH ? "high" : "ok";
}

export interface Warning {
  kind: "diverged" | "trend" | "mala-low" | "mala-high";
  title: string;
  text: string;
}

/** What a result needs a warning for (the rules above), in words for a person; [] when none. */
export function resultWarnings(result: {
  "llc/trace": readonly (readonly number[])[];
  "mala_accept/mean": number | null;
  diverged_chains?: readonly { chain: number; error: string }[];
  chains_completed: number;
}): Warning[] {
  const out: Warning[] = [];
  const fmt = (x: number, digits = 3) => (Object.is(x, -0) ? 0 : x).toPrecision(digits);
  const diverged = result.diverged_chains ?? [];
  if (diverged.length)
    out.push({ kind: "diverged", title: `${diverged.length} chain(s) diverged`,
      text: `chain(s) ${diverged.map((d) => d.chain).join(", ")} diverged (${diverged[0].error}); λ̂ is over the ${result.chains_completed} healthy chain(s) (chains_completed)` });
  const healthy = result["llc/trace"].filter((_, c) => !diverged.some((d) => d.chain === c));
  const trend = trendCheck(healthy);
  if (trend?.trending)
    out.push({ kind: "trend", title: "λ̂ trace still trending",
      text: `across ${trend.chains} chains the last quarter of the trace averages ${fmt(trend.shift)} ${trend.shift > 0 ? "above" : "below"} the quarter before ` +
        `(t = ${fmt(trend.t, 2)}, |t| > ${trend.critical}); the chains may not have reached equilibrium: try more draws, a burn-in, or a larger ε` });
  const mala = result["mala_accept/mean"];
  const verdict = malaCheck(mala);
  if (verdict === "low")
    out.push({ kind: "mala-low", title: "Low MALA acceptance", text: `mala_accept/mean = ${fmt(mala!)} < ${MALA_LOW}: the step size ε is too large for SGLD's discretization to be trusted (λ̂ is biased upwards); try a smaller ε` });
  else if (verdict === "high")
    out.push({ kind: "mala-high", title: "MALA acceptance ≈ 1", text: `mala_accept/mean = ${fmt(mala!)}: ε could be larger; the chains move slowly and may not have explored the posterior (aim near 0.9)` });
  return out;
}

/**
 * The verdict of src/diagnostics.ts (diagnostics/verdict, diagnostics/reasons) with
 * the headline statistics, in one line for the CLI's stderr and the page.
 */
export function verdictLine(result: {
  "diagnostics/verdict"?: string;
  "diagnostics/reasons"?: string;
  "diagnostics/rhat"?: number | null;
  "diagnostics/ess_bulk"?: number | null;
  "diagnostics/mcse"?: number | null;
}): string {
  const verdict = result["diagnostics/verdict"];
  if (verdict === undefined) return "no diagnostics in this result";
  const num = (x: number | null | undefined, digits: number) => (x === null || x === undefined ? "n/a" : x.toPrecision(digits));
  const stats = `R̂ ${num(result["diagnostics/rhat"], 4)}, bulk ESS ${num(result["diagnostics/ess_bulk"], 3)}, MCSE ${num(result["diagnostics/mcse"], 3)}`;
  return `${verdict} (${stats})${result["diagnostics/reasons"] ? `: ${result["diagnostics/reasons"]}` : ""}`;
}
