// The estimate config: parsed and validated once, at the edge (CLI file or library
// call). Everything downstream receives the resolved object, with every default
// filled in, and trusts it without re-checking.
//
// Each rejection is a ConfigError whose message starts with the dotted path of the
// offending field and says what was expected and what was found, e.g.
//   sampler.epsilon: expected a positive finite number, got -1
// because "invalid config" alone does not tell anyone which of twenty fields is wrong.
//
// The validators (expectNumber, expectInteger, expectOneOf, expectObject, ...) are
// exported so that other configs (the transformer config, later) produce the same
// messages instead of growing their own dialect.
//
// Host-neutral: plain ECMAScript only.

import { parseJson } from "./io/json.ts";
import { MAX_CHAIN_STEPS, MAX_RESULT_DRAWS, WASM32_MAX_PAGES } from "./limits.ts";

export { locateJsonSyntaxError } from "./io/json.ts";

// ── errors ──────────────────────────────────────────────────────────────────

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** Dotted path of the offending field ("sampler.epsilon", "model.sizes[1]"); "" for the config as a whole. */
  readonly field: string;
  /** The message without the leading field path: what was expected and what was found. */
  readonly detail: string;
  /** The file or other origin the config came from, when known (set by parseConfigText). */
  readonly source?: string;

  constructor(field: string, detail: string, options: { source?: string; cause?: unknown } = {}) {
    // The whole config has no field path of its own, so it is named by where it came from.
    const label = field !== "" ? field : (options.source ?? "config");
    const origin = field !== "" && options.source !== undefined ? ` (in ${options.source})` : "";
    super(`${label}: ${detail}${origin}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = field;
    this.detail = detail;
    if (options.source !== undefined) this.source = options.source;
  }
}

// ── describing values and paths ─────────────────────────────────────────────

const PREVIEW_LIMIT = 60;

/**
 * A short, JSON-like rendering of a found value for error messages, cut to about
 * 60 characters. Unlike JSON.stringify it keeps NaN and Infinity visible (JSON
 * would print null) and never walks more of a large array than it shows.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  let out = "";
  // Returns false once the preview is long enough, so big inputs stop early.
  const write = (text: string): boolean => {
    out += text;
    return out.length <= PREVIEW_LIMIT;
  };
  const emit = (item: unknown): boolean => {
    if (typeof item === "string") {
      return write(JSON.stringify(item.length > PREVIEW_LIMIT ? item.slice(0, PREVIEW_LIMIT) : item));
    }
    if (typeof item === "number") return write(Number.isFinite(item) ? JSON.stringify(item) : String(item));
    if (typeof item === "bigint") return write(`${item}n`);
    if (item === null || typeof item === "boolean" || item === undefined) return write(String(item));
    if (typeof item === "function") return write("a function");
    if (typeof item === "symbol") return write(String(item));
    if (Array.isArray(item)) {
      if (!write("[")) return false;
      for (let i = 0; i < item.length; i++) {
        if (i > 0 && !write(",")) return false;
        if (!emit(item[i])) return false;
      }
      return write("]");
    }
    if (isPlainObject(item)) {
      if (!write("{")) return false;
      let first = true;
      for (const key of Object.keys(item)) {
        if (!first && !write(",")) return false;
        first = false;
        if (!write(`${JSON.stringify(key)}:`) || !emit(item[key])) return false;
      }
      return write("}");
    }
    const typeName = (item as { constructor?: { name?: unknown } }).constructor?.name;
    return write(typeof typeName === "string" && typeName !== "" ? `a ${typeName}` : "an object");
  };
  emit(value);
  return out.length > PREVIEW_LIMIT ? `${out.slice(0, PREVIEW_LIMIT - 1)}…` : out;
}

/** The path of `key` inside the field `parent` ("" is the config itself). */
export function joinField(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

/** The path of element `index` of the array field `parent`. */
export function elementField(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  // toString rather than a prototype check, so objects from another realm
  // (a vm context, an iframe) are accepted; Map, Date, arrays and typed arrays are not.
  return typeof value === "object" && value !== null && Object.prototype.toString.call(value) === "[object Object]";
}

function fail(field: string, expected: string, found: unknown, hint = ""): never {
  throw new ConfigError(field, `expected ${expected}, got ${describeValue(found)}${hint}`);
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

const SUGGESTION_DISTANCE = 2;

/** The known name closest to `name`, if within edit distance 2 (case ignored); the earliest wins ties. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = SUGGESTION_DISTANCE + 1;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

// ── validators ──────────────────────────────────────────────────────────────

/** Bounds for expectNumber / expectInteger; min/max are inclusive, greaterThan/lessThan exclusive. */
export interface NumberRange {
  min?: number;
  max?: number;
  greaterThan?: number;
  lessThan?: number;
}

function inRange(value: number, range: NumberRange): boolean {
  return (
    (range.min === undefined || value >= range.min) &&
    (range.max === undefined || value <= range.max) &&
    (range.greaterThan === undefined || value > range.greaterThan) &&
    (range.lessThan === undefined || value < range.lessThan)
  );
}

/** "a positive finite number", "an integer >= 1", "a finite number in (0, 1)", ... */
export function describeRange(range: NumberRange, integer: boolean): string {
  const noun = integer ? "integer" : "finite number";
  const article = integer ? "an" : "a";
  const low = range.greaterThan ?? range.min;
  const high = range.lessThan ?? range.max;
  if (low !== undefined && high !== undefined) {
    const open = range.greaterThan !== undefined ? "(" : "[";
    const close = range.lessThan !== undefined ? ")" : "]";
    return `${article} ${noun} in ${open}${low}, ${high}${close}`;
  }
  if (range.greaterThan === 0 && high === undefined) return `a positive ${noun}`;
  if (range.greaterThan !== undefined) return `${article} ${noun} > ${range.greaterThan}`;
  if (range.min !== undefined) return `${article} ${noun} >= ${range.min}`;
  if (range.lessThan !== undefined) return `${article} ${noun} < ${range.lessThan}`;
  if (range.max !== undefined) return `${article} ${noun} <= ${range.max}`;
  return `${article} ${noun}`;
}

/** A finite number within `range`. NaN and ±Infinity are always rejected. */
export function expectNumber(value: unknown, field: string, range: NumberRange = {}): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !inRange(value, range)) {
    fail(field, describeRange(range, false), value);
  }
  return value;
}

/** A safe integer (|n| ≤ 2^53 − 1) within `range`; -0 comes back as 0. */
export function expectInteger(value: unknown, field: string, range: NumberRange = {}): number {
  if (typeof value !== "number" || !Number.isInteger(value) || !inRange(value, range)) {
    fail(field, describeRange(range, true), value);
  }
  if (!Number.isSafeInteger(value)) {
    // 1e300 is an integer to JavaScript, but not one it can count to exactly.
    fail(field, describeRange(range, true), value, " (beyond 2^53 - 1, the largest exactly representable integer)");
  }
  return value === 0 ? 0 : value;
}

function didYouMean(value: unknown, choices: readonly unknown[]): string {
  if (typeof value !== "string") return "";
  const names = choices.filter((choice): choice is string => typeof choice === "string");
  const suggestion = closestName(value, names);
  return suggestion === undefined ? "" : `; did you mean ${JSON.stringify(suggestion)}?`;
}

function listChoices(choices: readonly unknown[]): string {
  return choices.map((choice) => JSON.stringify(choice)).join(", ");
}

/** One of the given literal values (compared with ===). */
export function expectOneOf<const T extends string | number | boolean | null>(
  value: unknown,
  field: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly unknown[]).includes(value)) {
    const expected = choices.length === 1 ? listChoices(choices) : `one of ${listChoices(choices)}`;
    fail(field, expected, value, didYouMean(value, choices));
  }
  return value as T;
}

/**
 * One of the given literals, or a finite number within `range`: the shape of
 * nbeta ("default" | number), bounding_box (null | number), init_loss, ...
 */
export function expectNumberOr<const T extends string | null>(
  value: unknown,
  field: string,
  literals: readonly T[],
  range: NumberRange = {},
): T | number {
  if ((literals as readonly unknown[]).includes(value)) return value as T;
  if (typeof value === "number" && Number.isFinite(value) && inRange(value, range)) return value;
  fail(field, `${listChoices(literals)} or ${describeRange(range, false)}`, value, didYouMean(value, literals));
}

export function expectString(value: unknown, field: string, options: { nonEmpty?: boolean } = {}): string {
  if (typeof value !== "string" || (options.nonEmpty === true && value === "")) {
    fail(field, options.nonEmpty === true ? "a non-empty string" : "a string", value);
  }
  return value;
}

export function expectBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") fail(field, "true or false", value);
  return value;
}

/**
 * An array whose elements each pass `element` (called with the element's own path,
 * "field[i]"); returns a fresh array. Holes count as undefined elements.
 */
export function expectArrayOf<T>(
  value: unknown,
  field: string,
  element: (item: unknown, itemField: string) => T,
  options: { minLength?: number; expected?: string } = {},
): T[] {
  const minLength = options.minLength ?? 0;
  const expected =
    options.expected ?? (minLength === 0 ? "an array" : minLength === 1 ? "a non-empty array" : `an array of at least ${minLength} elements`);
  if (!Array.isArray(value)) fail(field, expected, value);
  if (value.length < minLength) fail(field, expected, value);
  const result: T[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) result[i] = element(value[i], elementField(field, i));
  return result;
}

/**
 * A plain object, with keys drawn from any set (a map such as restrict). Returns
 * a snapshot of its own enumerable properties, so inherited ones ("constructor",
 * "toString") can never be mistaken for fields.
 */
export function expectRecord(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(field, "an object", value);
  const fields: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) fields[key] = value[key];
  return fields;
}

/**
 * A plain object with no keys outside `knownKeys` (an unknown key is almost always
 * a typo, and silently ignoring it would run with a default the user meant to
 * change). `aliases` maps names used elsewhere (e.g. devinterp's) to ours, for the
 * suggestion. Returns the same kind of snapshot as expectRecord.
 */
export function expectObject(
  value: unknown,
  field: string,
  knownKeys: readonly string[],
  options: { aliases?: Readonly<Record<string, string>> } = {},
): Record<string, unknown> {
  const fields = expectRecord(value, field);
  for (const key of Object.keys(fields)) {
    if (!knownKeys.includes(key)) throwUnknownField(joinField(field, key), key, knownKeys, options.aliases);
  }
  return fields;
}

function throwUnknownField(
  field: string,
  key: string,
  knownKeys: readonly string[],
  aliases: Readonly<Record<string, string>> = {},
  note = "",
): never {
  const suggestion = (Object.hasOwn(aliases, key) ? aliases[key] : undefined) ?? closestName(key, knownKeys);
  const hint = suggestion === undefined ? "" : `, did you mean ${suggestion}?`;
  throw new ConfigError(field, `unknown field${note}${hint} (known: ${knownKeys.join(", ")})`);
}

/** `fallback` when the field is absent (undefined), else `parse(value)`. */
function orDefault<T>(value: unknown, fallback: T, parse: (value: unknown) => T): T {
  return value === undefined ? fallback : parse(value);
}

// ── the config ──────────────────────────────────────────────────────────────

export type Activation = "identity" | "relu" | "tanh";

/**
 * TransformerLens HookedTransformer with attn_only=True (the model of Wang et al. 2024):
 * tensor names and shapes follow TL's state dict, so an exported model loads as is.
 */
export interface TransformerConfig {
  kind: "transformer";
  n_layers: number;
  n_heads: number;
  d_model: number;
  d_head: number;
  n_ctx: number;
  d_vocab: number;
  /** "LN": LayerNorm (with weight and bias) before each attention block and before the unembed. */
  normalization: "LN" | null;
  /** "shortformer": W_pos is added to the query and key inputs only, after ln1 (TL semantics). */
  positional_embedding: "standard" | "shortformer";
  attn_bias: boolean;
  unembed_bias: boolean;
}

export type ModelConfig =
  | { kind: "mlp"; sizes: number[]; activation: Activation; bias: boolean }
  | { kind: "polynomial"; powers: number[] }
  | TransformerConfig;

export type LossKind = "mse" | "cross_entropy";

/**
 * The KL loss of the refined-LLC paper (Wang et al. 2024), transformer only:
 * L(w) = mean over predicted tokens of KL(p_ref ‖ p_w), p_ref the model at w*
 * ("w*": then L0 = 0 exactly) or at another checkpoint of `llc train` (a path,
 * relative to the config; its shape from its __metadata__.model, its vocabulary the model's).
 */
export interface KlLoss {
  kind: "kl";
  reference: "w*" | string;
}

export type LossConfig = LossKind | KlLoss;

export interface SamplerConfig {
  method: "sgld" | "rmsprop_sgld";
  /** Step size (devinterp's lr). */
  epsilon: number;
  /** Localization strength pulling samples toward w*. */
  gamma: number;
  /** Inverse temperature times n; "default" means b / ln b for batch size b. */
  nbeta: number | "default";
  chains: number;
  draws: number;
  burnin: number;
  /** Steps between kept draws (devinterp's num_steps_bw_draws). */
  thin: number;
  batch_size: number;
  seed: number;
  noise_level: number;
  weight_decay: number;
  bounding_box: number | null;
  /** How the loss at w* (L0) is obtained: from batches, from the full data set, or given by the user. */
  init_loss: "batches" | "full" | number;
  /** RMSprop decay (rmsprop_sgld only). */
  alpha: number;
  /** RMSprop eps (rmsprop_sgld only). */
  eps: number;
  /** Chains run on this many workers (threads); 0 = one per core. The result is the same for any value. */
  workers: number;
  /**
   * Stop at the first diverged chain (status "error", the draws so far kept), as
   * devinterp does; false (the default) runs every chain and estimates over the
   * healthy ones (status "diverged", the diverged ones listed).
   */
  fail_fast: boolean;
}

/** Tensor name → "all" its entries, or a flat 0/1 mask over them. */
/**
 * Which weights move (weight-refined LLC, Wang et al. 2024): per tensor ("all" or a
 * flattened 0/1 mask), or selectors — "l0h3" (one head's W_Q, W_K, W_V, W_O and its
 * b_Q, b_K, b_V slices), "l1" (a layer's attention), "embed", "pos", "unembed", "ln",
 * or a list of them (their union). Selectors are resolved against the model later.
 */
export type Restriction = Record<string, "all" | number[]> | string[];

export interface EstimateConfig {
  name?: string;
  model: ModelConfig;
  /** "mse" for the mlp and polynomial models, "cross_entropy" (next token) or {kind: "kl", reference} for the transformer. */
  loss: LossConfig;
  /** Path of the weights w* around which the LLC is estimated. */
  weights: string;
  /** Path of the data (tensors x, y). */
  data: string;
  sampler: SamplerConfig;
  restrict: Restriction | null;
}

/** Frozen: shared by every parse, so nobody may change it under the others. */
export const SAMPLER_DEFAULTS: SamplerConfig = Object.freeze({
  method: "sgld",
  epsilon: 1e-4,
  gamma: 100,
  nbeta: "default",
  chains: 4,
  draws: 200,
  burnin: 0,
  thin: 1,
  batch_size: 64,
  seed: 0,
  noise_level: 1,
  weight_decay: 0,
  bounding_box: null,
  init_loss: "batches",
  alpha: 0.99,
  eps: 0.1,
  workers: 0,
  fail_fast: false,
});

const SAMPLER_KEYS = Object.keys(SAMPLER_DEFAULTS);

/**
 * What each sampler field means, for help text (the CLI derives its override flags
 * from these keys): [the value's form, what it does]. Types and limits are checked by
 * parseSamplerConfig alone.
 */
export const SAMPLER_FIELD_DOCS: Readonly<Record<keyof SamplerConfig, readonly [string, string]>> = Object.freeze({
  method: ["sgld|rmsprop_sgld", "the sampler (rmsprop_sgld: preconditioned, devinterp's SGMCMC.rmsprop_sgld)"],
  epsilon: ["X", "SGLD step size ε (devinterp's lr)"],
  gamma: ["X", "localization strength γ, the pull toward w*"],
  nbeta: ["X|default", "inverse temperature nβ; default b / ln b for batch size b"],
  chains: ["N", "independent chains"],
  draws: ["N", "draws kept per chain"],
  burnin: ["N", "steps before the first draw"],
  thin: ["N", "steps per kept draw (devinterp's num_steps_bw_draws)"],
  batch_size: ["N", "minibatch size b"],
  seed: ["N", "chain c draws from Philox key (seed, c)"],
  noise_level: ["X", "noise scale σ"],
  weight_decay: ["X", "weight decay in the drift"],
  bounding_box: ["X|null", "clamp each weight to w* ± X"],
  init_loss: ["batches|full|X", "the loss L0 at w*: from the first chains' batches, the full data, or given"],
  alpha: ["X", "RMSprop decay (rmsprop_sgld)"],
  eps: ["X", "RMSprop eps (rmsprop_sgld)"],
  workers: ["N", "threads for the chains; 0 = one per core (never changes a bit)"],
  fail_fast: ["true|false", "stop at the first diverged chain (status error) instead of running every chain"],
});

// What devinterp 1.3.2 calls these, so a config ported from Python gets pointed at our name.
const DEVINTERP_SAMPLER_NAMES: Readonly<Record<string, string>> = {
  lr: "epsilon",
  localization: "gamma",
  temperature: "nbeta",
  num_chains: "chains",
  num_draws: "draws",
  num_burnin_steps: "burnin",
  num_steps_bw_draws: "thin",
  bounding_box_size: "bounding_box",
  cores: "workers",
  sampling_method: "method",
};

const SEED_MAX = 2 ** 32 - 1;

/** Validates a sampler section and fills its defaults; undefined means all defaults. */
export function parseSamplerConfig(raw: unknown, path = "sampler"): SamplerConfig {
  if (raw === undefined) return { ...SAMPLER_DEFAULTS };
  const f = expectObject(raw, path, SAMPLER_KEYS, { aliases: DEVINTERP_SAMPLER_NAMES });
  const d = SAMPLER_DEFAULTS;
  const at = (key: keyof SamplerConfig) => joinField(path, key);
  const positive: NumberRange = { greaterThan: 0 };
  const nonNegative: NumberRange = { min: 0 };
  const atLeastOne: NumberRange = { min: 1 };
  const sampler: SamplerConfig = {
    method: orDefault(f.method, d.method, (v) => expectOneOf(v, at("method"), ["sgld", "rmsprop_sgld"])),
    epsilon: orDefault(f.epsilon, d.epsilon, (v) => expectNumber(v, at("epsilon"), positive)),
    gamma: orDefault(f.gamma, d.gamma, (v) => expectNumber(v, at("gamma"), nonNegative)),
    nbeta: orDefault(f.nbeta, d.nbeta, (v) => expectNumberOr(v, at("nbeta"), ["default"], positive)),
    chains: orDefault(f.chains, d.chains, (v) => expectInteger(v, at("chains"), atLeastOne)),
    draws: orDefault(f.draws, d.draws, (v) => expectInteger(v, at("draws"), atLeastOne)),
    burnin: orDefault(f.burnin, d.burnin, (v) => expectInteger(v, at("burnin"), nonNegative)),
    thin: orDefault(f.thin, d.thin, (v) => expectInteger(v, at("thin"), atLeastOne)),
    batch_size: orDefault(f.batch_size, d.batch_size, (v) => expectInteger(v, at("batch_size"), atLeastOne)),
    seed: orDefault(f.seed, d.seed, (v) => expectInteger(v, at("seed"), { min: 0, max: SEED_MAX })),
    noise_level: orDefault(f.noise_level, d.noise_level, (v) => expectNumber(v, at("noise_level"), nonNegative)),
    weight_decay: orDefault(f.weight_decay, d.weight_decay, (v) => expectNumber(v, at("weight_decay"), nonNegative)),
    bounding_box: orDefault(f.bounding_box, d.bounding_box, (v) => expectNumberOr(v, at("bounding_box"), [null], positive)),
    init_loss: orDefault(f.init_loss, d.init_loss, (v) => expectNumberOr(v, at("init_loss"), ["batches", "full"])),
    alpha: orDefault(f.alpha, d.alpha, (v) => expectNumber(v, at("alpha"), { greaterThan: 0, lessThan: 1 })),
    eps: orDefault(f.eps, d.eps, (v) => expectNumber(v, at("eps"), positive)),
    workers: orDefault(f.workers, d.workers, (v) => expectInteger(v, at("workers"), { min: 0 })),
    fail_fast: orDefault(f.fail_fast, d.fail_fast, (v) => expectBoolean(v, at("fail_fast"))),
  };
  checkSamplerLimits(sampler, path);
  return sampler;
}

/**
 * What a run may hold, checked before it starts (src/limits.ts): chains × draws
 * values per trace (so a result can always be written, and read back to resume),
 * and burnin + draws × thin steps per chain (the chain's i32 step counter).
 */
export function checkSamplerLimits(s: SamplerConfig, path = "sampler"): void {
  const values = s.chains * s.draws;
  if (values > MAX_RESULT_DRAWS) {
    throw new ConfigError(
      joinField(path, s.chains > s.draws ? "chains" : "draws"),
      `chains × draws = ${s.chains} × ${s.draws} = ${values} draws in each trace of the result; expected at most ${MAX_RESULT_DRAWS} (a larger result could not be written as JSON)`,
    );
  }
  const steps = samplerSteps(s);
  if (steps > MAX_CHAIN_STEPS) {
    throw new ConfigError(
      joinField(path, s.burnin > s.draws * s.thin ? "burnin" : s.thin > s.draws ? "thin" : "draws"),
      `burnin + draws × thin = ${s.burnin} + ${s.draws} × ${s.thin} = ${steps} SGLD steps per chain; expected at most ${MAX_CHAIN_STEPS} (the chain's step counter is 32-bit)`,
    );
  }
}

/**
 * A sampler section (raw, unvalidated) with `overrides` written over its fields, as
 * if the file held them (the CLI's --chains, --epsilon, …): a value that is not an
 * object is returned as is, for parseSamplerConfig to reject with its own message.
 */
export function overrideSampler(raw: unknown, overrides: Readonly<Record<string, unknown>> | undefined): unknown {
  if (overrides === undefined || (raw !== undefined && !isPlainObject(raw))) return raw;
  return { ...(raw as Record<string, unknown> | undefined), ...overrides };
}

/** Total SGLD steps per chain (devinterp's num_steps): burn-in, then `thin` steps per kept draw. */
export function samplerSteps(s: SamplerConfig): number {
  return s.burnin + s.draws * s.thin;
}

const MLP_KEYS = ["kind", "sizes", "activation", "bias"] as const;
const POLYNOMIAL_KEYS = ["kind", "powers"] as const;
const TRANSFORMER_KEYS = [
  "kind", "n_layers", "n_heads", "d_model", "d_head", "n_ctx", "d_vocab",
  "normalization", "positional_embedding", "attn_bias", "unembed_bias",
] as const;
// Keys are first checked against every model's keys, so a typo of "kind" itself
// is reported as a typo rather than as a missing kind.
const ANY_MODEL_KEYS = [...new Set<string>([...MLP_KEYS, ...POLYNOMIAL_KEYS, ...TRANSFORMER_KEYS])];

/**
 * Parameters of a model, in closed form (src/models.ts modelLayout lays out the
 * same tensors; test/config.test.ts checks the two agree): counted before any
 * layout is built, so an absurd size costs nothing.
 */
export function parameterCount(m: ModelConfig): number {
  if (m.kind === "polynomial") return m.powers.length;
  if (m.kind === "mlp") {
    let count = 0;
    for (let i = 0; i + 1 < m.sizes.length; i++) count += m.sizes[i + 1]! * (m.sizes[i]! + (m.bias ? 1 : 0));
    return count;
  }
  const ln = m.normalization === "LN" ? 2 * m.d_model : 0;
  const attention = 4 * m.n_heads * m.d_model * m.d_head + (m.attn_bias ? 3 * m.n_heads * m.d_head + m.d_model : 0);
  return 2 * m.d_vocab * m.d_model + m.n_ctx * m.d_model + m.n_layers * (ln + attention) + ln + (m.unembed_bias ? m.d_vocab : 0);
}

/** Bytes of a wasm32 memory: the most any plan may take. */
export const WASM32_MAX_BYTES = WASM32_MAX_PAGES * 65536;

/** A model whose parameters alone (one f32 copy) would not fit a WebAssembly memory is refused here, naming the bytes. */
function checkModelSize(m: ModelConfig, path: string): ModelConfig {
  const count = parameterCount(m);
  const bytes = 4 * count;
  if (bytes > WASM32_MAX_BYTES) {
    const field = m.kind === "transformer" ? path : joinField(path, m.kind === "mlp" ? "sizes" : "powers");
    throw new ConfigError(
      field,
      `the model has ${count} parameters, ${bytes} bytes for one f32 copy of them; a WebAssembly memory holds at most ${WASM32_MAX_BYTES} bytes (wasm32: ${WASM32_MAX_PAGES} pages of 64 KiB)`,
    );
  }
  return m;
}

export function parseModel(raw: unknown, path: string): ModelConfig {
  return checkModelSize(parseModelFields(raw, path), path);
}

function parseModelFields(raw: unknown, path: string): ModelConfig {
  const f = expectObject(raw, path, ANY_MODEL_KEYS);
  const kind = expectOneOf(f.kind, joinField(path, "kind"), ["mlp", "polynomial", "transformer"]);
  const keysOfKind: readonly string[] = kind === "mlp" ? MLP_KEYS : kind === "polynomial" ? POLYNOMIAL_KEYS : TRANSFORMER_KEYS;
  for (const key of Object.keys(f)) {
    if (!keysOfKind.includes(key)) throwUnknownField(joinField(path, key), key, keysOfKind, {}, ` for a "${kind}" model`);
  }
  if (kind === "transformer") {
    const positive = (key: string) => expectInteger(required(f[key], joinField(path, key), "a positive integer"), joinField(path, key), { min: 1 });
    return {
      kind,
      n_layers: positive("n_layers"),
      n_heads: positive("n_heads"),
      d_model: positive("d_model"),
      d_head: positive("d_head"),
      n_ctx: positive("n_ctx"),
      d_vocab: positive("d_vocab"),
      normalization: orDefault(f.normalization, "LN" as const, (v) => expectOneOf(v, joinField(path, "normalization"), ["LN", null])),
      positional_embedding: orDefault(f.positional_embedding, "standard" as const, (v) =>
        expectOneOf(v, joinField(path, "positional_embedding"), ["standard", "shortformer"]),
      ),
      attn_bias: orDefault(f.attn_bias, true, (v) => expectBoolean(v, joinField(path, "attn_bias"))),
      unembed_bias: orDefault(f.unembed_bias, true, (v) => expectBoolean(v, joinField(path, "unembed_bias"))),
    };
  }
  if (kind === "polynomial") {
    return {
      kind,
      powers: expectArrayOf(f.powers, joinField(path, "powers"), (v, at) => expectNumber(v, at, { min: 0 }), {
        minLength: 1,
        expected: "a non-empty array of finite numbers >= 0",
      }),
    };
  }
  return {
    kind,
    sizes: expectArrayOf(f.sizes, joinField(path, "sizes"), (v, at) => expectInteger(v, at, { min: 1 }), {
      minLength: 2,
      expected: "an array of at least 2 layer widths (input and output included)",
    }),
    activation: orDefault(f.activation, "identity" as Activation, (v) =>
      expectOneOf(v, joinField(path, "activation"), ["identity", "relu", "tanh"]),
    ),
    bias: orDefault(f.bias, true, (v) => expectBoolean(v, joinField(path, "bias"))),
  };
}

const MASK_EXPECTED = '"all" or a non-empty array of 0/1 numbers';

function parseRestriction(raw: unknown, path: string): Restriction | null {
  if (raw === null) return null;
  if (typeof raw === "string") return [expectString(raw, path, { nonEmpty: true })];
  if (Array.isArray(raw)) {
    return expectArrayOf(raw, path, (v, at) => expectString(v, at, { nonEmpty: true }), {
      minLength: 1,
      expected: 'a non-empty list of selectors such as ["l0h3", "embed"]',
    });
  }
  const record = expectRecord(raw, path);
  // An empty restriction frees no parameter: λ̂ would be ≈ 0 whatever the model (as `restrict: []`).
  if (Object.keys(record).length === 0) fail(path, 'a non-empty object of tensor names → "all" or a 0/1 mask (or null: every weight moves)', raw);
  const entries = Object.entries(record).map(([name, value]) => {
    const at = joinField(path, name);
    if (value === "all") return [name, "all"] as const;
    if (!Array.isArray(value) || value.length === 0) fail(at, MASK_EXPECTED, value, didYouMean(value, ["all"]));
    return [name, expectArrayOf(value, at, (v, bitAt) => expectOneOf(v, bitAt, [0, 1]))] as const;
  });
  // fromEntries defines own properties, so even a tensor named "__proto__" survives.
  return Object.fromEntries(entries);
}

/** The model's own loss as a string, or (transformer) the KL object {kind: "kl", reference: "w*" | path}. */
function parseLoss(value: unknown, modelLoss: LossKind): LossConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return expectOneOf(value, "loss", [modelLoss]);
  const f = expectObject(value, "loss", ["kind", "reference"]);
  expectOneOf(required(f.kind, "loss.kind", '"kl"'), "loss.kind", ["kl"]);
  if (modelLoss !== "cross_entropy") throw new ConfigError("loss.kind", 'the "kl" loss compares next-token distributions; it needs model.kind "transformer"');
  const reference = expectString(required(f.reference, "loss.reference", '"w*" or a checkpoint path'), "loss.reference", { nonEmpty: true });
  return { kind: "kl", reference };
}

/** The KL loss's reference checkpoint path, or undefined (another loss, or the reference is w* itself). */
export function klReferencePath(loss: LossConfig): string | undefined {
  return typeof loss === "object" && loss.reference !== "w*" ? loss.reference : undefined;
}

const TOP_LEVEL_KEYS = ["$schema", "comment", "name", "model", "loss", "weights", "data", "sampler", "restrict"];

function required(value: unknown, field: string, expected: string): unknown {
  if (value === undefined) throw new ConfigError(field, `expected ${expected}, got nothing (the field is required)`);
  return value;
}

/**
 * Validates an estimate config (parsed JSON or a literal from the library API) and
 * fills every default. Returns a fresh object sharing nothing with `raw`, which is
 * never modified. Throws ConfigError on the first problem found.
 */
export function parseConfig(raw: unknown): EstimateConfig {
  const f = expectObject(raw, "", TOP_LEVEL_KEYS);
  // $schema and comment are for editors and humans; checked only so a stray
  // number there is reported rather than silently carried.
  if (f.$schema !== undefined) expectString(f.$schema, "$schema");
  if (f.comment !== undefined) expectString(f.comment, "comment");
  const pathExpected = "a non-empty string (a file path)";
  const model = parseModel(required(f.model, "model", 'an object such as {"kind": "mlp", "sizes": [...]}'), "model");
  // Each model has one loss: regression models MSE, the language model next-token cross-entropy.
  const modelLoss: LossKind = model.kind === "transformer" ? "cross_entropy" : "mse";
  const config: EstimateConfig = {
    model,
    loss: orDefault(f.loss, modelLoss, (v) => parseLoss(v, modelLoss)),
    weights: expectString(required(f.weights, "weights", pathExpected), "weights", { nonEmpty: true }),
    data: expectString(required(f.data, "data", pathExpected), "data", { nonEmpty: true }),
    sampler: parseSamplerConfig(f.sampler, "sampler"),
    restrict: orDefault(f.restrict, null, (v) => parseRestriction(v, "restrict")),
  };
  if (f.name !== undefined) return { name: expectString(f.name, "name"), ...config };
  return config;
}

/**
 * Parses JSON text, then validates it as parseConfig does. Syntax errors become a
 * ConfigError with field "" whose message names `source` and the line and column;
 * validation errors also name `source`.
 */
export function parseConfigText(text: string, source = "config"): EstimateConfig {
  return parseJsonConfig(text, source, parseConfig);
}

/** JSON text → `parse(raw)`, with syntax and validation errors that name `source`. */
export function parseJsonConfig<T>(text: string, source: string, parse: (raw: unknown) => T): T {
  // Editors on Windows like to save a byte-order mark, which JSON.parse rejects.
  const json = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const raw = parseJson(json, (detail, cause) => new ConfigError("", detail, { source, cause }));
  return withConfigSource(source, () => parse(raw));
}

/** `parse()`, its ConfigError (if any) rethrown naming `source` (the file the config came from). */
export function withConfigSource<T>(source: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.field, error.detail, { source, cause: error });
    throw error;
  }
}
