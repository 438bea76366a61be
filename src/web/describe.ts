// The page's words for a config and a result: the model, the weight restriction,
// the sampler settings, λ̂ ± std. One place, so the config line under the sampler
// fields and the title and caption of the downloaded plots (PNG and SVG) say the
// same thing; plain strings, so Node tests them (test/web-arithmetic.test.ts).
import type { EstimateConfig, Restriction } from "../config.ts";
import type { EstimateResult } from "../estimator.ts";

/** A number for people: 3 decimals, exponent form when very large or small, "–" when missing or not finite. */
export const fmt = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined || !Number.isFinite(v) ? "–"
    : Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(digits);

export function describeModel(config: EstimateConfig): string {
  const m = config.model as { kind: string; sizes?: number[]; activation?: string; bias?: boolean; powers?: number[] };
  if (m.kind === "mlp") return `MLP ${m.sizes?.join("→")}, ${m.activation}${m.bias ? ", bias" : ""}`;
  if (m.kind === "polynomial") return `polynomial x·∏w_i^p_i, powers ${JSON.stringify(m.powers)}`;
  return m.kind;
}

/**
 * Which weights move (the weight-refined LLC, Wang et al. 2024): "none" when
 * every weight moves, the selectors, or per tensor "all" or its 0/1 mask's count.
 */
export function describeRestriction(restrict: Restriction | null): string {
  if (restrict === null) return "none (every weight moves)";
  if (Array.isArray(restrict)) return restrict.join(", ");
  return Object.entries(restrict)
    .map(([name, spec]) => (spec === "all" ? name : `${name} (${spec.filter((v) => v === 1).length} of ${spec.length})`))
    .join(", ");
}

/** The settings the page's sampler fields do not show: method, batch, nβ, seed, …, restrict. */
export function otherSettings(config: EstimateConfig): string[] {
  const s = config.sampler;
  const out = [s.method, `batch ${s.batch_size}`, `nβ ${s.nbeta === "default" ? "default (b / ln b)" : s.nbeta}`, `seed ${s.seed}`,
    `burn-in ${s.burnin}`, `thin ${s.thin}`, `L0 ${s.init_loss}`];
  if (s.method === "rmsprop_sgld") out.push(`α ${s.alpha}`, `eps ${s.eps}`);
  if (s.noise_level !== 1) out.push(`noise ${s.noise_level}`);
  if (s.weight_decay !== 0) out.push(`weight decay ${s.weight_decay}`);
  if (s.bounding_box !== null) out.push(`box ${s.bounding_box}`);
  out.push(`restrict ${describeRestriction(config.restrict)}`);
  return out;
}

/** Every sampler setting of a run, on one line: chains × draws, ε, γ, then otherSettings. */
export function samplerLine(config: EstimateConfig): string {
  const s = config.sampler;
  return [`${s.chains} chains × ${s.draws} draws`, `ε ${s.epsilon}`, `γ ${s.gamma}`, ...otherSettings(config)].join(" · ");
}

/** A downloaded plot's heading: "rrr: λ̂ = 5.531 ± 0.882", and how the run ended when it did not finish. */
export function resultTitle(label: string, result: EstimateResult): string {
  const status = result.status === "complete" ? "" : ` (${result.status}: ${result.chains_completed} of ${result.config.sampler.chains} chains)`;
  return `${label}: λ̂ = ${fmt(result["llc/mean"])} ± ${fmt(result["llc/std"])}${status}`;
}

/** A downloaded plot's caption: the model and the run's numbers, then every sampler setting. */
export function resultCaption(result: EstimateResult, trueLambda?: number): string[] {
  const facts = [describeModel(result.config), `nβ = ${fmt(result.nbeta)}`, `L0 = ${fmt(result.init_loss, 5)}`,
    `MALA accept ${fmt(result["mala_accept/mean"])}`];
  if (trueLambda !== undefined) facts.push(`true λ = ${trueLambda}`);
  return [facts.join(" · "), samplerLine(result.config)];
}
