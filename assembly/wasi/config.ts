// The estimate config for the WASI command: the checks of src/config.ts
// (parseConfig) for the polynomial and MLP models, in the same order and with
// the same messages ("sampler.epsilon: expected a positive finite number, got -1
// (in case.json)"), and the resolved config written back as JavaScript would
// (JSON.stringify of parseConfig's result). A failed check prints the error and
// exits 1 (AssemblyScript has no exceptions).

import { JValue, J_NULL, J_TRUE, J_FALSE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT, quoteJson } from "./json";
import { CharSink, appendNumber, formatNumber } from "./numbers";
import { JsonWriter } from "./writer";
import { fail } from "./errors";
import { MAX_CHAIN_STEPS, MAX_RESULT_DRAWS, WASM32_MAX_PAGES } from "../../src/limits";

// ───────────────────────────── the resolved config ─────────────────────────────

export const MODEL_POLYNOMIAL_KIND: i32 = 0;
export const MODEL_MLP_KIND: i32 = 1;

export class ModelSpec {
  kind: i32 = MODEL_MLP_KIND;
  powers: f64[] = [];
  sizes: f64[] = [];
  activation: string = "identity";
  bias: bool = true;
}

export class SamplerSpec {
  method: string = "sgld";
  epsilon: f64 = 1e-4;
  gamma: f64 = 100;
  nbetaDefault: bool = true;
  nbeta: f64 = 0;
  chains: f64 = 4;
  draws: f64 = 200;
  burnin: f64 = 0;
  thin: f64 = 1;
  batchSize: f64 = 64;
  seed: f64 = 0;
  noiseLevel: f64 = 1;
  weightDecay: f64 = 0;
  boxNull: bool = true;
  box: f64 = 0;
  initLoss: string = "batches"; // "batches" | "full" | "number"
  initLossValue: f64 = 0;
  alpha: f64 = 0.99;
  eps: f64 = 0.1;
  workers: f64 = 0;
  failFast: bool = false;
}

export class RestrictEntry {
  name: string;
  all: bool;
  mask: f64[];
  constructor(name: string, all: bool, mask: f64[]) {
    this.name = name;
    this.all = all;
    this.mask = mask;
  }
}

export const RESTRICT_NONE: i32 = 0;
export const RESTRICT_LIST: i32 = 1;
export const RESTRICT_RECORD: i32 = 2;

export class Config {
  hasName: bool = false;
  name: string = "";
  model: ModelSpec = new ModelSpec();
  loss: string = "mse";
  weights: string = "";
  data: string = "";
  sampler: SamplerSpec = new SamplerSpec();
  restrictKind: i32 = RESTRICT_NONE;
  selectors: string[] = [];
  entries: RestrictEntry[] = [];
}

// ───────────────────────────── describing values ─────────────────────────────

const PREVIEW_LIMIT = 60;

class Preview {
  out: CharSink = new CharSink();
  write(s: string): bool {
    this.out.pushString(s);
    return this.out.len <= PREVIEW_LIMIT;
  }
  emit(v: JValue): bool {
    const k = v.kind;
    if (k == J_STRING) return this.write(quoteJson(v.str.length > PREVIEW_LIMIT ? v.str.substring(0, PREVIEW_LIMIT) : v.str));
    if (k == J_NUMBER) {
      const s = new CharSink();
      appendNumber(s, v.num);
      return this.write(s.toString());
    }
    if (k == J_NULL) return this.write("null");
    if (k == J_TRUE) return this.write("true");
    if (k == J_FALSE) return this.write("false");
    if (k == J_ARRAY) {
      if (!this.write("[")) return false;
      for (let i = 0; i < v.items.length; i++) {
        if (i > 0 && !this.write(",")) return false;
        if (!this.emit(v.items[i])) return false;
      }
      return this.write("]");
    }
    if (!this.write("{")) return false;
    const keys = v.orderedKeys();
    for (let i = 0; i < keys.length; i++) {
      if (i > 0 && !this.write(",")) return false;
      if (!this.write(quoteJson(keys[i]) + ":") || !this.emit(changetype<JValue>(v.get(keys[i])))) return false;
    }
    return this.write("}");
  }
}

/** src/config.ts describeValue: a JSON-like preview cut to about 60 characters; "nothing" for an absent field. */
export function describeValue(v: JValue | null): string {
  if (v == null) return "nothing";
  const p = new Preview();
  p.emit(changetype<JValue>(v));
  const s = p.out.toString();
  return s.length > PREVIEW_LIMIT ? s.substring(0, PREVIEW_LIMIT - 1) + "…" : s;
}

// ───────────────────────────── errors and suggestions ─────────────────────────────

/** Where the config came from (the --config path as given); "" for checks made after parsing. */
let configSource: string = "";

export function setConfigSource(source: string): void {
  configSource = source;
}

export function configError(field: string, detail: string): void {
  const label = field.length ? field : configSource.length ? configSource : "config";
  const origin = field.length && configSource.length ? " (in " + configSource + ")" : "";
  fail("ConfigError", label + ": " + detail + origin);
}

function expected(field: string, what: string, found: JValue | null, hint: string = ""): void {
  configError(field, "expected " + what + ", got " + describeValue(found) + hint);
}

export function editDistance(a: string, b: string): i32 {
  let previous = new Array<i32>(b.length + 1);
  for (let j = 0; j <= b.length; j++) previous[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<i32>(b.length + 1);
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a.charCodeAt(i - 1) == b.charCodeAt(j - 1) ? 0 : 1);
      current[j] = min(min(previous[j] + 1, current[j - 1] + 1), substitution);
    }
    previous = current;
  }
  return previous[b.length];
}

/** The known name within edit distance 2 of `name` (case ignored), the earliest on ties; "" if none. */
export function closestName(name: string, known: string[]): string {
  let best = "";
  let bestDistance = 3;
  const lower = name.toLowerCase();
  for (let i = 0; i < known.length; i++) {
    const d = editDistance(lower, known[i].toLowerCase());
    if (d < bestDistance) {
      best = known[i];
      bestDistance = d;
    }
  }
  return best;
}

function didYouMean(v: JValue | null, choices: string[]): string {
  if (v == null || !changetype<JValue>(v).isString) return "";
  const s = closestName(changetype<JValue>(v).str, choices);
  return s.length ? "; did you mean " + quoteJson(s) + "?" : "";
}

function unknownField(field: string, key: string, known: string[], aliasFrom: string[], aliasTo: string[], note: string): void {
  let suggestion = "";
  for (let i = 0; i < aliasFrom.length; i++) if (aliasFrom[i] == key) suggestion = aliasTo[i];
  if (!suggestion.length) suggestion = closestName(key, known);
  const hint = suggestion.length ? ", did you mean " + suggestion + "?" : "";
  configError(field, "unknown field" + note + hint + " (known: " + known.join(", ") + ")");
}

function join(parent: string, key: string): string {
  return parent.length ? parent + "." + key : key;
}

// ───────────────────────────── validators ─────────────────────────────

function isNumber(v: JValue | null): bool {
  return v != null && changetype<JValue>(v).kind == J_NUMBER;
}

function isInteger(x: f64): bool {
  return isFinite(x) && Math.trunc(x) == x;
}

const SAFE_MAX: f64 = 9007199254740991;

/** expectNumber: a finite number with lo ≤ / < x ≤ / < hi (NaN bounds are absent). */
function expectNumber(v: JValue | null, field: string, what: string, min: f64, greaterThan: f64, lessThan: f64): f64 {
  if (!isNumber(v)) {
    expected(field, what, v);
    return 0;
  }
  const x = changetype<JValue>(v).num;
  const ok = isFinite(x) && !(x < min) && !(x <= greaterThan) && !(x >= lessThan);
  if (!ok) expected(field, what, v);
  return x;
}

function expectInteger(v: JValue | null, field: string, what: string, min: f64, max: f64): f64 {
  if (!isNumber(v)) {
    expected(field, what, v);
    return 0;
  }
  const x = changetype<JValue>(v).num;
  if (!isInteger(x) || x < min || x > max) expected(field, what, v);
  if (Math.abs(x) > SAFE_MAX) expected(field, what, v, " (beyond 2^53 - 1, the largest exactly representable integer)");
  return x == 0 ? 0 : x;
}

function expectString(v: JValue | null, field: string, nonEmpty: bool): string {
  if (v == null || !changetype<JValue>(v).isString || (nonEmpty && changetype<JValue>(v).str.length == 0)) {
    expected(field, nonEmpty ? "a non-empty string" : "a string", v);
    return "";
  }
  return changetype<JValue>(v).str;
}

function expectBoolean(v: JValue | null, field: string): bool {
  if (v == null || (changetype<JValue>(v).kind != J_TRUE && changetype<JValue>(v).kind != J_FALSE)) {
    expected(field, "true or false", v);
    return false;
  }
  return changetype<JValue>(v).kind == J_TRUE;
}

function listChoices(choices: string[]): string {
  const quoted: string[] = [];
  for (let i = 0; i < choices.length; i++) quoted.push(quoteJson(choices[i]));
  return quoted.join(", ");
}

function expectOneOf(v: JValue | null, field: string, choices: string[]): string {
  if (v != null && changetype<JValue>(v).isString) {
    const s = changetype<JValue>(v).str;
    for (let i = 0; i < choices.length; i++) if (choices[i] == s) return s;
  }
  const what = choices.length == 1 ? listChoices(choices) : "one of " + listChoices(choices);
  expected(field, what, v, didYouMean(v, choices));
  return "";
}

function expectObject(v: JValue | null, field: string, known: string[], aliasFrom: string[], aliasTo: string[]): JValue {
  if (v == null || !changetype<JValue>(v).isObject) expected(field, "an object", v);
  const o = changetype<JValue>(v);
  const keys = o.orderedKeys();
  for (let i = 0; i < keys.length; i++) {
    if (!known.includes(keys[i])) unknownField(join(field, keys[i]), keys[i], known, aliasFrom, aliasTo, "");
  }
  return o;
}

// ───────────────────────────── the config ─────────────────────────────

const TOP_LEVEL_KEYS = ["$schema", "comment", "name", "model", "loss", "weights", "data", "sampler", "restrict"];
const MLP_KEYS = ["kind", "sizes", "activation", "bias"];
const POLYNOMIAL_KEYS = ["kind", "powers"];
const ANY_MODEL_KEYS = [
  "kind", "sizes", "activation", "bias", "powers", "n_layers", "n_heads", "d_model", "d_head", "n_ctx", "d_vocab",
  "normalization", "positional_embedding", "attn_bias", "unembed_bias",
];
const SAMPLER_KEYS = [
  "method", "epsilon", "gamma", "nbeta", "chains", "draws", "burnin", "thin", "batch_size", "seed", "noise_level",
  "weight_decay", "bounding_box", "init_loss", "alpha", "eps", "workers", "fail_fast",
];
const DEVINTERP_FROM = ["lr", "localization", "temperature", "num_chains", "num_draws", "num_burnin_steps", "num_steps_bw_draws", "bounding_box_size", "cores", "sampling_method"];
const DEVINTERP_TO = ["epsilon", "gamma", "nbeta", "chains", "draws", "burnin", "thin", "bounding_box", "workers", "method"];
const NONE: string[] = [];
const NO_BOUND: f64 = NaN;

function required(v: JValue | null, field: string, what: string): JValue {
  if (v == null) configError(field, "expected " + what + ", got nothing (the field is required)");
  return changetype<JValue>(v);
}

function parseModel(raw: JValue, path: string): ModelSpec {
  const f = expectObject(raw, path, ANY_MODEL_KEYS, NONE, NONE);
  const kind = expectOneOf(f.get("kind"), join(path, "kind"), ["mlp", "polynomial", "transformer"]);
  if (kind == "transformer") {
    configError(join(path, "kind"), 'the transformer is not supported in the WASI build yet (it takes "mlp" and "polynomial"); ' +
      "estimate it with the JavaScript CLI: llc estimate --config FILE");
  }
  const keysOfKind = kind == "mlp" ? MLP_KEYS : POLYNOMIAL_KEYS;
  const keys = f.orderedKeys();
  for (let i = 0; i < keys.length; i++) {
    if (!keysOfKind.includes(keys[i])) unknownField(join(path, keys[i]), keys[i], keysOfKind, NONE, NONE, " for a " + quoteJson(kind) + " model");
  }
  const m = new ModelSpec();
  if (kind == "polynomial") {
    m.kind = MODEL_POLYNOMIAL_KIND;
    const field = join(path, "powers");
    const v = f.get("powers");
    const what = "a non-empty array of finite numbers >= 0";
    if (v == null || !changetype<JValue>(v).isArray || changetype<JValue>(v).items.length < 1) expected(field, what, v);
    const items = changetype<JValue>(v).items;
    for (let i = 0; i < items.length; i++) {
      m.powers.push(expectNumber(items[i], field + "[" + i.toString() + "]", "a finite number >= 0", 0, NO_BOUND, NO_BOUND));
    }
    return m;
  }
  m.kind = MODEL_MLP_KIND;
  const field = join(path, "sizes");
  const v = f.get("sizes");
  const what = "an array of at least 2 layer widths (input and output included)";
  if (v == null || !changetype<JValue>(v).isArray || changetype<JValue>(v).items.length < 2) expected(field, what, v);
  const items = changetype<JValue>(v).items;
  for (let i = 0; i < items.length; i++) m.sizes.push(expectInteger(items[i], field + "[" + i.toString() + "]", "an integer >= 1", 1, Infinity));
  const activation = f.get("activation");
  if (activation != null) m.activation = expectOneOf(activation, join(path, "activation"), ["identity", "relu", "tanh"]);
  const bias = f.get("bias");
  if (bias != null) m.bias = expectBoolean(bias, join(path, "bias"));
  return m;
}

function parseSampler(raw: JValue | null, path: string): SamplerSpec {
  const s = new SamplerSpec();
  if (raw == null) return s;
  const f = expectObject(raw, path, SAMPLER_KEYS, DEVINTERP_FROM, DEVINTERP_TO);
  let v: JValue | null;
  if ((v = f.get("method")) != null) s.method = expectOneOf(v, path + ".method", ["sgld", "rmsprop_sgld"]);
  if ((v = f.get("epsilon")) != null) s.epsilon = expectNumber(v, path + ".epsilon", "a positive finite number", NO_BOUND, 0, NO_BOUND);
  if ((v = f.get("gamma")) != null) s.gamma = expectNumber(v, path + ".gamma", "a finite number >= 0", 0, NO_BOUND, NO_BOUND);
  if ((v = f.get("nbeta")) != null) {
    const x = changetype<JValue>(v);
    if (x.isString && x.str == "default") s.nbetaDefault = true;
    else if (x.isNumber && isFinite(x.num) && x.num > 0) {
      s.nbetaDefault = false;
      s.nbeta = x.num;
    } else expected(path + ".nbeta", '"default" or a positive finite number', v, didYouMean(v, ["default"]));
  }
  if ((v = f.get("chains")) != null) s.chains = expectInteger(v, path + ".chains", "an integer >= 1", 1, Infinity);
  if ((v = f.get("draws")) != null) s.draws = expectInteger(v, path + ".draws", "an integer >= 1", 1, Infinity);
  if ((v = f.get("burnin")) != null) s.burnin = expectInteger(v, path + ".burnin", "an integer >= 0", 0, Infinity);
  if ((v = f.get("thin")) != null) s.thin = expectInteger(v, path + ".thin", "an integer >= 1", 1, Infinity);
  if ((v = f.get("batch_size")) != null) s.batchSize = expectInteger(v, path + ".batch_size", "an integer >= 1", 1, Infinity);
  if ((v = f.get("seed")) != null) s.seed = expectInteger(v, path + ".seed", "an integer in [0, 4294967295]", 0, 4294967295);
  if ((v = f.get("noise_level")) != null) s.noiseLevel = expectNumber(v, path + ".noise_level", "a finite number >= 0", 0, NO_BOUND, NO_BOUND);
  if ((v = f.get("weight_decay")) != null) s.weightDecay = expectNumber(v, path + ".weight_decay", "a finite number >= 0", 0, NO_BOUND, NO_BOUND);
  if ((v = f.get("bounding_box")) != null) {
    const x = changetype<JValue>(v);
    if (x.isNull) s.boxNull = true;
    else if (x.isNumber && isFinite(x.num) && x.num > 0) {
      s.boxNull = false;
      s.box = x.num;
    } else expected(path + ".bounding_box", "null or a positive finite number", v);
  }
  if ((v = f.get("init_loss")) != null) {
    const x = changetype<JValue>(v);
    if (x.isString && (x.str == "batches" || x.str == "full")) s.initLoss = x.str;
    else if (x.isNumber && isFinite(x.num)) {
      s.initLoss = "number";
      s.initLossValue = x.num;
    } else expected(path + ".init_loss", '"batches", "full" or a finite number', v, didYouMean(v, ["batches", "full"]));
  }
  if ((v = f.get("alpha")) != null) s.alpha = expectNumber(v, path + ".alpha", "a finite number in (0, 1)", NO_BOUND, 0, 1);
  if ((v = f.get("eps")) != null) s.eps = expectNumber(v, path + ".eps", "a positive finite number", NO_BOUND, 0, NO_BOUND);
  if ((v = f.get("workers")) != null) s.workers = expectInteger(v, path + ".workers", "an integer >= 0", 0, Infinity);
  if ((v = f.get("fail_fast")) != null) s.failFast = expectBoolean(v, path + ".fail_fast");
  checkSamplerLimits(s, path);
  return s;
}

/** src/config.ts checkSamplerLimits, on the limits both read from src/limits.ts. */
function checkSamplerLimits(s: SamplerSpec, path: string): void {
  const values = s.chains * s.draws;
  if (values > <f64>MAX_RESULT_DRAWS) {
    configError(
      join(path, s.chains > s.draws ? "chains" : "draws"),
      "chains × draws = " + formatNumber(s.chains) + " × " + formatNumber(s.draws) + " = " + formatNumber(values) +
        " draws in each trace of the result; expected at most " + formatNumber(<f64>MAX_RESULT_DRAWS) + " (a larger result could not be written as JSON)",
    );
  }
  const steps = s.burnin + s.draws * s.thin;
  if (steps > <f64>MAX_CHAIN_STEPS) {
    configError(
      join(path, s.burnin > s.draws * s.thin ? "burnin" : s.thin > s.draws ? "thin" : "draws"),
      "burnin + draws × thin = " + formatNumber(s.burnin) + " + " + formatNumber(s.draws) + " × " + formatNumber(s.thin) + " = " + formatNumber(steps) +
        " SGLD steps per chain; expected at most " + formatNumber(<f64>MAX_CHAIN_STEPS) + " (the chain's step counter is 32-bit)",
    );
  }
}

/** src/config.ts checkModelSize: one f32 copy of the parameters must fit a wasm32 memory. */
function checkModelSize(m: ModelSpec, path: string): ModelSpec {
  let count: f64 = 0;
  if (m.kind == MODEL_POLYNOMIAL_KIND) count = <f64>m.powers.length;
  else for (let i = 0; i + 1 < m.sizes.length; i++) count += m.sizes[i + 1] * (m.sizes[i] + (m.bias ? 1 : 0));
  const bytes = 4 * count;
  const limit = <f64>WASM32_MAX_PAGES * 65536;
  if (bytes > limit) {
    configError(
      join(path, m.kind == MODEL_POLYNOMIAL_KIND ? "powers" : "sizes"),
      "the model has " + formatNumber(count) + " parameters, " + formatNumber(bytes) + " bytes for one f32 copy of them; a WebAssembly memory holds at most " +
        formatNumber(limit) + " bytes (wasm32: " + WASM32_MAX_PAGES.toString() + " pages of 64 KiB)",
    );
  }
  return m;
}

const MASK_EXPECTED = '"all" or a non-empty array of 0/1 numbers';

function parseRestriction(raw: JValue, path: string, c: Config): void {
  if (raw.isNull) return;
  if (raw.isString) {
    c.restrictKind = RESTRICT_LIST;
    c.selectors.push(expectString(raw, path, true));
    return;
  }
  if (raw.isArray) {
    if (raw.items.length < 1) expected(path, 'a non-empty list of selectors such as ["l0h3", "embed"]', raw);
    c.restrictKind = RESTRICT_LIST;
    for (let i = 0; i < raw.items.length; i++) c.selectors.push(expectString(raw.items[i], path + "[" + i.toString() + "]", true));
    return;
  }
  if (!raw.isObject) expected(path, "an object", raw);
  c.restrictKind = RESTRICT_RECORD;
  const keys = raw.orderedKeys();
  if (keys.length == 0) expected(path, 'a non-empty object of tensor names → "all" or a 0/1 mask (or null: every weight moves)', raw);
  for (let i = 0; i < keys.length; i++) {
    const at = join(path, keys[i]);
    const value = changetype<JValue>(raw.get(keys[i]));
    if (value.isString && value.str == "all") {
      c.entries.push(new RestrictEntry(keys[i], true, []));
      continue;
    }
    if (!value.isArray || value.items.length == 0) expected(at, MASK_EXPECTED, value, didYouMean(value, ["all"]));
    const mask: f64[] = [];
    for (let j = 0; j < value.items.length; j++) {
      const bit = value.items[j];
      if (!(bit.isNumber && (bit.num == 0 || bit.num == 1))) {
        expected(at + "[" + j.toString() + "]", "one of 0, 1", bit);
      }
      mask.push(bit.num);
    }
    c.entries.push(new RestrictEntry(keys[i], false, mask));
  }
}

/** src/config.ts parseConfig for the models of the WASI build; exits 1 on the first problem. */
export function parseConfig(raw: JValue, source: string): Config {
  configSource = source;
  const f = expectObject(raw, "", TOP_LEVEL_KEYS, NONE, NONE);
  let v: JValue | null;
  if ((v = f.get("$schema")) != null) expectString(v, "$schema", false);
  if ((v = f.get("comment")) != null) expectString(v, "comment", false);
  const c = new Config();
  c.model = checkModelSize(parseModel(required(f.get("model"), "model", 'an object such as {"kind": "mlp", "sizes": [...]}'), "model"), "model");
  if ((v = f.get("loss")) != null) {
    // The KL object {kind: "kl", reference} belongs to the transformer, which this build refuses above.
    if (changetype<JValue>(v).isObject) configError("loss", 'the "kl" loss (a transformer loss, {"kind": "kl", "reference": ...}) is not supported in the WASI build; estimate it with Node, Deno or the browser');
    c.loss = expectOneOf(v, "loss", ["mse"]);
  }
  const pathExpected = "a non-empty string (a file path)";
  c.weights = expectString(required(f.get("weights"), "weights", pathExpected), "weights", true);
  c.data = expectString(required(f.get("data"), "data", pathExpected), "data", true);
  c.sampler = parseSampler(f.get("sampler"), "sampler");
  if ((v = f.get("restrict")) != null) parseRestriction(changetype<JValue>(v), "restrict", c);
  if ((v = f.get("name")) != null) {
    c.hasName = true;
    c.name = expectString(v, "name", false);
  }
  configSource = "";
  return c;
}

// ───────────────────────────── writing it back ─────────────────────────────

/** The resolved config as JSON.stringify writes parseConfig's result (workers as given, or overridden). */
export function writeConfig(w: JsonWriter, c: Config, workers: f64, withFailFast: bool = true): void {
  w.beginObject();
  if (c.hasName) {
    w.key("name");
    w.string(c.name);
  }
  w.key("model");
  w.beginObject();
  w.key("kind");
  if (c.model.kind == MODEL_POLYNOMIAL_KIND) {
    w.string("polynomial");
    w.key("powers");
    w.numbers(c.model.powers);
  } else {
    w.string("mlp");
    w.key("sizes");
    w.numbers(c.model.sizes);
    w.key("activation");
    w.string(c.model.activation);
    w.key("bias");
    w.boolean(c.model.bias);
  }
  w.endObject();
  w.key("loss");
  w.string(c.loss);
  w.key("weights");
  w.string(c.weights);
  w.key("data");
  w.string(c.data);
  const s = c.sampler;
  w.key("sampler");
  w.beginObject();
  w.key("method");
  w.string(s.method);
  w.key("epsilon");
  w.number(s.epsilon);
  w.key("gamma");
  w.number(s.gamma);
  w.key("nbeta");
  if (s.nbetaDefault) w.string("default");
  else w.number(s.nbeta);
  w.key("chains");
  w.number(s.chains);
  w.key("draws");
  w.number(s.draws);
  w.key("burnin");
  w.number(s.burnin);
  w.key("thin");
  w.number(s.thin);
  w.key("batch_size");
  w.number(s.batchSize);
  w.key("seed");
  w.number(s.seed);
  w.key("noise_level");
  w.number(s.noiseLevel);
  w.key("weight_decay");
  w.number(s.weightDecay);
  w.key("bounding_box");
  if (s.boxNull) w.nullValue();
  else w.number(s.box);
  w.key("init_loss");
  if (s.initLoss == "number") w.number(s.initLossValue);
  else w.string(s.initLoss);
  w.key("alpha");
  w.number(s.alpha);
  w.key("eps");
  w.number(s.eps);
  w.key("workers");
  w.number(workers);
  // src/job.ts leaves fail_fast out of the job's fingerprint (it changes no chain's bits).
  if (withFailFast) {
    w.key("fail_fast");
    w.boolean(s.failFast);
  }
  w.endObject();
  w.key("restrict");
  if (c.restrictKind == RESTRICT_NONE) w.nullValue();
  else if (c.restrictKind == RESTRICT_LIST) {
    w.beginArray();
    for (let i = 0; i < c.selectors.length; i++) w.string(c.selectors[i]);
    w.endArray();
  } else {
    w.beginObject();
    for (let i = 0; i < c.entries.length; i++) {
      const e = c.entries[i];
      w.key(e.name);
      if (e.all) w.string("all");
      else w.numbers(e.mask);
    }
    w.endObject();
  }
  w.endObject();
}
