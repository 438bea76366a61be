// Estimate config validation: defaults, round trips, and one test per kind of
// rejection, each checking the error's field path and that its message names the
// field and the expectation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  closestName,
  ConfigError,
  describeValue,
  expectInteger,
  expectNumber,
  expectObject,
  expectOneOf,
  locateJsonSyntaxError,
  parameterCount,
  parseConfig,
  parseConfigText,
  parseModel,
  parseSamplerConfig,
  SAMPLER_DEFAULTS,
  samplerSteps,
  type EstimateConfig,
  type SamplerConfig,
} from "../src/config.ts";
import { modelLayout } from "../src/models.ts";
import { MAX_CHAIN_STEPS, MAX_RESULT_DRAWS } from "../src/limits.ts";

// ── helpers ─────────────────────────────────────────────────────────────────

/** The smallest valid config: only the required fields. */
function minimal(): Record<string, unknown> {
  return { model: { kind: "mlp", sizes: [2, 3, 1] }, weights: "w.safetensors", data: "data.safetensors" };
}

/** `minimal()` with `sampler` set to the given fields. */
function withSampler(sampler: Record<string, unknown>): Record<string, unknown> {
  return { ...minimal(), sampler };
}

/**
 * Runs `parse`, which must throw a ConfigError for `field` whose message starts
 * with the field's path and contains every fragment. Returns the error.
 */
function expectConfigError(parse: () => unknown, field: string, ...fragments: string[]): ConfigError {
  let thrown: unknown;
  try {
    parse();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) assert.unreachable(`expected a ConfigError for ${JSON.stringify(field)}, but nothing was thrown`);
  if (!(thrown instanceof ConfigError)) throw thrown;
  assert.is(thrown.name, "ConfigError");
  assert.is(thrown.field, field, `field of: ${thrown.message}`);
  // The config as a whole is labelled by where it came from.
  const prefix = `${field !== "" ? field : (thrown.source ?? "config")}: `;
  assert.ok(thrown.message.startsWith(prefix), `message should start with ${JSON.stringify(prefix)}: ${thrown.message}`);
  for (const fragment of fragments) {
    assert.ok(thrown.message.includes(fragment), `message should contain ${JSON.stringify(fragment)}: ${thrown.message}`);
  }
  return thrown;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

// ── accepted configs ────────────────────────────────────────────────────────

test("a minimal config gets every default filled in", () => {
  const config = parseConfig(minimal());
  const expected: EstimateConfig = {
    model: { kind: "mlp", sizes: [2, 3, 1], activation: "identity", bias: true },
    loss: "mse",
    weights: "w.safetensors",
    data: "data.safetensors",
    sampler: {
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
    },
    restrict: null,
  };
  assert.equal(config, expected);
  assert.not.ok("name" in config, "no name key when none was given");
  assert.equal(config.sampler, SAMPLER_DEFAULTS);
});

test("a partial sampler keeps the given fields and defaults the rest", () => {
  const config = parseConfig(withSampler({ epsilon: 0.01, chains: 2 }));
  assert.equal(config.sampler, { ...SAMPLER_DEFAULTS, epsilon: 0.01, chains: 2 });
});

test("fields explicitly set to undefined (library API) take their defaults", () => {
  const config = parseConfig({ ...minimal(), sampler: { epsilon: undefined }, restrict: undefined, loss: undefined });
  assert.equal(config.sampler, SAMPLER_DEFAULTS);
  assert.is(config.restrict, null);
  assert.is(config.loss, "mse");
});

test("parseSamplerConfig: undefined gives a fresh copy of the defaults, which are frozen", () => {
  const sampler = parseSamplerConfig(undefined);
  assert.equal(sampler, SAMPLER_DEFAULTS);
  assert.is.not(sampler, SAMPLER_DEFAULTS);
  sampler.chains = 99;
  assert.is(SAMPLER_DEFAULTS.chains, 4);
  assert.ok(Object.isFrozen(SAMPLER_DEFAULTS));
});

test("parseSamplerConfig names fields under the given path", () => {
  expectConfigError(() => parseSamplerConfig({ epsilon: 0 }, "options"), "options.epsilon", "positive");
  expectConfigError(() => parseSamplerConfig({ epsilon: 0 }), "sampler.epsilon", "positive");
});

const FULL = {
  $schema: "https://example.org/llc-config.schema.json",
  comment: "every field set to a non-default value",
  name: "deep linear 2-3-1",
  model: { kind: "mlp", sizes: [2, 3, 1], activation: "tanh", bias: false },
  loss: "mse",
  weights: "runs/w.safetensors",
  data: "runs/data.safetensors",
  sampler: {
    method: "rmsprop_sgld",
    epsilon: 0.003,
    gamma: 0,
    nbeta: 12.5,
    chains: 8,
    draws: 50,
    burnin: 10,
    thin: 3,
    batch_size: 32,
    seed: 2 ** 32 - 1,
    noise_level: 0.5,
    weight_decay: 0.001,
    bounding_box: 2.5,
    init_loss: 0.25,
    alpha: 0.9,
    eps: 1e-8,
    workers: 2,
    fail_fast: true,
  },
  restrict: { "layers.0.weight": "all", "layers.1.weight": [1, 0, 1] },
};

test("a full valid config round-trips: everything kept, $schema and comment dropped", () => {
  const config = parseConfig(structuredClone(FULL));
  const { $schema: _schema, comment: _comment, ...expected } = structuredClone(FULL);
  assert.equal(config, expected);
  // The resolved object is itself a valid config that resolves to itself.
  assert.equal(parseConfig(config), config);
  assert.equal(parseConfigText(JSON.stringify(config), "resolved.json"), config);
});

test("polynomial models and the string/number alternatives are accepted", () => {
  const config = parseConfig({
    ...minimal(),
    model: { kind: "polynomial", powers: [0, 1, 2.5] },
    sampler: { nbeta: "default", init_loss: "full", bounding_box: null },
  });
  assert.equal(config.model, { kind: "polynomial", powers: [0, 1, 2.5] });
  assert.is(config.sampler.nbeta, "default");
  assert.is(config.sampler.init_loss, "full");
  assert.is(config.sampler.bounding_box, null);
  assert.is(parseSamplerConfig({ init_loss: -3 }).init_loss, -3, "a user-given L0 may be any finite number");
});

test("boundary values are accepted: seed 2^32 - 1, gamma 0, burnin 0, noise_level 0", () => {
  const sampler = parseSamplerConfig({ seed: 2 ** 32 - 1, gamma: 0, burnin: 0, noise_level: 0, weight_decay: 0 });
  assert.is(sampler.seed, 4294967295);
  assert.is(sampler.gamma, 0);
});

test("samplerSteps is burnin + draws * thin", () => {
  assert.is(samplerSteps(SAMPLER_DEFAULTS), 200);
  assert.is(samplerSteps({ ...SAMPLER_DEFAULTS, burnin: 10, draws: 5, thin: 3 } satisfies SamplerConfig), 25);
});

test("what a result may hold is bounded up front, naming the numbers", () => {
  // 4 chains × 1e6 draws ran to the end, then failed to serialise (RangeError: Invalid string length).
  expectConfigError(() => parseSamplerConfig({ chains: 4, draws: 1e6 }), "sampler.draws", `chains × draws = 4 × 1000000 = 4000000 draws in each trace of the result; expected at most ${MAX_RESULT_DRAWS}`);
  expectConfigError(() => parseSamplerConfig({ draws: 1e12 }), "sampler.draws", "4 × 1000000000000 = 4000000000000");
  expectConfigError(() => parseSamplerConfig({ chains: 1e9 }), "sampler.chains", "1000000000 × 200 = 200000000000");
  expectConfigError(() => parseSamplerConfig({ burnin: 1e12 }), "sampler.burnin", `burnin + draws × thin = 1000000000000 + 200 × 1 = 1000000000200 SGLD steps per chain; expected at most ${MAX_CHAIN_STEPS}`);
  expectConfigError(() => parseSamplerConfig({ draws: 1000, thin: 1e7 }), "sampler.thin", "1000 × 10000000");
  // The bounds themselves are allowed.
  assert.is(parseSamplerConfig({ chains: 1, draws: MAX_RESULT_DRAWS }).draws, MAX_RESULT_DRAWS);
  assert.is(parseSamplerConfig({ chains: 1, draws: 1, burnin: MAX_CHAIN_STEPS - 1 }).burnin, MAX_CHAIN_STEPS - 1);
});

test("a model too large for a WebAssembly memory is refused in validation, with the bytes it needs", () => {
  expectConfigError(
    () => parseConfig({ ...minimal(), model: { kind: "mlp", sizes: [1e9, 1e9] } }),
    "model.sizes",
    "the model has 1000000001000000000 parameters, 4000000004000000000 bytes for one f32 copy of them; a WebAssembly memory holds at most 4294967296 bytes",
  );
  const tf = { kind: "transformer", n_layers: 2, n_heads: 8, d_model: 64, d_head: 16, n_ctx: 64, d_vocab: 1024 };
  expectConfigError(() => parseModel({ ...tf, d_vocab: 1e8 }, "model"), "model", "bytes for one f32 copy");
  // The closed-form count is the layout's.
  for (const m of [
    { kind: "mlp", sizes: [5, 3, 5], bias: false }, { kind: "mlp", sizes: [4, 7, 2, 3] }, { kind: "polynomial", powers: [1, 2, 3] },
    tf, { ...tf, normalization: null, attn_bias: false, unembed_bias: false, positional_embedding: "shortformer" },
  ]) {
    const model = parseModel(m, "model");
    assert.is(parameterCount(model), modelLayout(model).size, JSON.stringify(m));
  }
});

test("the input object is never mutated and the result shares nothing with it", () => {
  const input = deepFreeze(structuredClone(FULL));
  const snapshot = structuredClone(input);
  const config = parseConfig(input);
  assert.equal(input, snapshot);
  assert.is.not(config.model, input.model);
  assert.is.not((config.model as { sizes: number[] }).sizes, input.model.sizes);
  assert.is.not(config.sampler, input.sampler);
  assert.is.not(config.restrict, input.restrict);
  assert.is.not((config.restrict as Record<string, "all" | number[]>)["layers.1.weight"], input.restrict["layers.1.weight"]);
  // Also for the defaults path: filling defaults must not write into a frozen input.
  const bare = deepFreeze(minimal());
  parseConfig(bare);
  assert.equal(bare, minimal());
});

test("only own fields are read: inherited properties are not config", () => {
  const inherited = Object.assign(Object.create({ weights: "inherited.safetensors" }), {
    model: { kind: "mlp", sizes: [1, 1] },
    data: "d",
  });
  expectConfigError(() => parseConfig(inherited), "weights", "required");
});

test("a tensor named __proto__ in restrict survives as an own key", () => {
  const text = '{"model": {"kind": "mlp", "sizes": [1, 1]}, "weights": "w", "data": "d", "restrict": {"__proto__": [1]}}';
  const config = parseConfigText(text);
  assert.equal(Object.keys(config.restrict!), ["__proto__"]);
  assert.equal(Object.getOwnPropertyDescriptor(config.restrict, "__proto__")?.value, [1]);
  assert.is(Object.getPrototypeOf(config.restrict), Object.prototype);
});

// ── rejections: unknown fields ──────────────────────────────────────────────

test("unknown top-level field is rejected (before any missing field), with a suggestion", () => {
  const { model, ...rest } = minimal();
  const error = expectConfigError(() => parseConfig({ ...rest, modle: model }), "modle", "unknown field", "did you mean model?");
  assert.ok(error.message.includes("known: $schema, comment, name, model, loss, weights, data, sampler, restrict"), error.message);
});

test("unknown sampler field suggests the closest known name", () => {
  expectConfigError(
    () => parseConfig(withSampler({ epslion: 1e-3 })),
    "sampler.epslion",
    "unknown field",
    "did you mean epsilon?",
    "(known: method, epsilon, gamma,",
  );
});

test("unknown field far from every known name gets no suggestion", () => {
  const error = expectConfigError(() => parseConfig(withSampler({ frobnicate: 1 })), "sampler.frobnicate", "unknown field");
  assert.not.ok(error.message.includes("did you mean"), error.message);
});

test("devinterp's parameter names point at ours", () => {
  expectConfigError(() => parseConfig(withSampler({ num_chains: 4 })), "sampler.num_chains", "did you mean chains?");
  expectConfigError(() => parseConfig(withSampler({ lr: 1e-3 })), "sampler.lr", "did you mean epsilon?");
  expectConfigError(() => parseConfig(withSampler({ localization: 10 })), "sampler.localization", "did you mean gamma?");
});

test("a field belonging to the other model kind is rejected", () => {
  expectConfigError(
    () => parseConfig({ ...minimal(), model: { kind: "polynomial", powers: [1], sizes: [1, 1] } }),
    "model.sizes",
    'unknown field for a "polynomial" model',
    "known: kind, powers",
  );
});

// ── rejections: types and ranges ────────────────────────────────────────────

test("a string where a number is expected", () => {
  expectConfigError(
    () => parseConfig(withSampler({ epsilon: "1e-4" })),
    "sampler.epsilon",
    "expected a positive finite number",
    'got "1e-4"',
  );
});

test("a float where an integer is expected", () => {
  expectConfigError(() => parseConfig(withSampler({ chains: 2.5 })), "sampler.chains", "expected an integer >= 1", "got 2.5");
  expectConfigError(() => parseConfig(withSampler({ burnin: -1 })), "sampler.burnin", "expected an integer >= 0", "got -1");
});

test("negative epsilon: the message is exactly field, expectation, found value", () => {
  const error = expectConfigError(() => parseConfig(withSampler({ epsilon: -1 })), "sampler.epsilon");
  assert.is(error.message, "sampler.epsilon: expected a positive finite number, got -1");
});

test("NaN and Infinity (possible through the library API) are rejected and shown as such", () => {
  expectConfigError(() => parseSamplerConfig({ gamma: NaN }), "sampler.gamma", "expected a finite number >= 0", "got NaN");
  expectConfigError(() => parseSamplerConfig({ epsilon: Infinity }), "sampler.epsilon", "positive finite number", "got Infinity");
  expectConfigError(() => parseSamplerConfig({ nbeta: -Infinity }), "sampler.nbeta", "got -Infinity");
  expectConfigError(() => parseSamplerConfig({ init_loss: NaN }), "sampler.init_loss", '"batches", "full" or a finite number', "got NaN");
  expectConfigError(() => parseConfig({ ...minimal(), model: { kind: "polynomial", powers: [1, NaN] } }), "model.powers[1]", "got NaN");
});

test('nbeta must be a positive number or exactly "default"', () => {
  expectConfigError(
    () => parseConfig(withSampler({ nbeta: "auto" })),
    "sampler.nbeta",
    'expected "default" or a positive finite number',
    'got "auto"',
  );
  expectConfigError(() => parseConfig(withSampler({ nbeta: 0 })), "sampler.nbeta", "positive", "got 0");
});

test("seed must fit in 32 bits", () => {
  expectConfigError(
    () => parseConfig(withSampler({ seed: 2 ** 32 })),
    "sampler.seed",
    "expected an integer in [0, 4294967295]",
    "got 4294967296",
  );
  expectConfigError(() => parseConfig(withSampler({ seed: -1 })), "sampler.seed", "[0, 4294967295]", "got -1");
});

test("bounding_box must be null or positive", () => {
  expectConfigError(
    () => parseConfig(withSampler({ bounding_box: 0 })),
    "sampler.bounding_box",
    "expected null or a positive finite number",
    "got 0",
  );
});

test("alpha must lie strictly inside (0, 1); eps must be positive", () => {
  expectConfigError(() => parseSamplerConfig({ alpha: 1 }), "sampler.alpha", "expected a finite number in (0, 1)", "got 1");
  expectConfigError(() => parseSamplerConfig({ alpha: 0 }), "sampler.alpha", "(0, 1)");
  expectConfigError(() => parseSamplerConfig({ eps: 0 }), "sampler.eps", "positive");
});

test("integers beyond 2^53 are rejected even though JavaScript calls them integers", () => {
  expectConfigError(() => parseSamplerConfig({ draws: 1e300 }), "sampler.draws", "an integer >= 1", "2^53");
});

test("enumerations name the choices and suggest a near miss", () => {
  expectConfigError(
    () => parseSamplerConfig({ method: "SGLD" }),
    "sampler.method",
    'expected one of "sgld", "rmsprop_sgld"',
    'got "SGLD"',
    'did you mean "sgld"?',
  );
  expectConfigError(() => parseConfig({ ...minimal(), loss: "mae" }), "loss", 'expected "mse"', 'got "mae"');
  expectConfigError(
    () => parseConfig({ ...minimal(), model: { kind: "mlp", sizes: [1, 1], activation: "sigmoid" } }),
    "model.activation",
    '"identity", "relu", "tanh"',
  );
  expectConfigError(() => parseConfig({ ...minimal(), model: { kind: "mlp", sizes: [1, 1], bias: "yes" } }), "model.bias", "true or false");
});

test("the sampler section and the config itself must be objects", () => {
  expectConfigError(() => parseConfig({ ...minimal(), sampler: null }), "sampler", "expected an object", "got null");
  expectConfigError(() => parseConfig([minimal()]), "", "expected an object", "got [");
  expectConfigError(() => parseConfig(undefined), "", "expected an object", "got nothing");
});

// ── rejections: restrict ────────────────────────────────────────────────────

test('restrict entries must be "all" or a non-empty 0/1 array', () => {
  const restrict = (entry: unknown) => parseConfig({ ...minimal(), restrict: { "layers.0.weight": entry } });
  expectConfigError(() => restrict("none"), "restrict.layers.0.weight", '"all" or a non-empty array of 0/1 numbers', 'got "none"');
  expectConfigError(() => restrict({ mask: [1] }), "restrict.layers.0.weight", '"all" or a non-empty array', 'got {"mask":[1]}');
  expectConfigError(() => restrict([]), "restrict.layers.0.weight", "non-empty", "got []");
  expectConfigError(() => restrict("All"), "restrict.layers.0.weight", 'did you mean "all"?');
  // A list (or a single string) is the selector form ("l0h3", "embed", …, or tensor names): it must hold non-empty strings.
  assert.equal(parseConfig({ ...minimal(), restrict: ["layers.0.weight", "l0h1"] }).restrict, ["layers.0.weight", "l0h1"]);
  assert.equal(parseConfig({ ...minimal(), restrict: "l0h1" }).restrict, ["l0h1"]);
  expectConfigError(() => parseConfig({ ...minimal(), restrict: [] }), "restrict", "non-empty list of selectors");
  expectConfigError(() => parseConfig({ ...minimal(), restrict: ["l0h1", 3] }), "restrict[1]", "expected");
});

test("a mask may hold only 0 and 1", () => {
  expectConfigError(
    () => parseConfig({ ...minimal(), restrict: { "layers.0.weight": [1, 0, 2, 1] } }),
    "restrict.layers.0.weight[2]",
    "expected one of 0, 1",
    "got 2",
  );
  expectConfigError(() => parseConfig({ ...minimal(), restrict: { w: [1, true] } }), "restrict.w[1]", "got true");
});

// ── rejections: model ───────────────────────────────────────────────────────

test("mlp sizes: each a positive integer, at least two of them", () => {
  const sizes = (value: unknown) => parseConfig({ ...minimal(), model: { kind: "mlp", sizes: value } });
  expectConfigError(() => sizes([4, 0, 1]), "model.sizes[1]", "expected an integer >= 1", "got 0");
  expectConfigError(() => sizes([4]), "model.sizes", "at least 2", "got [4]");
  expectConfigError(() => sizes([4, 1.5]), "model.sizes[1]", "integer", "got 1.5");
  expectConfigError(() => sizes(undefined), "model.sizes", "at least 2", "got nothing");
});

test("polynomial powers: non-empty, each finite and >= 0", () => {
  const powers = (value: unknown) => parseConfig({ ...minimal(), model: { kind: "polynomial", powers: value } });
  expectConfigError(() => powers([]), "model.powers", "non-empty array of finite numbers >= 0", "got []");
  expectConfigError(() => powers([1, -1]), "model.powers[1]", "expected a finite number >= 0", "got -1");
  expectConfigError(() => powers("1,2"), "model.powers", "non-empty array", 'got "1,2"');
});

test("unknown model kind", () => {
  expectConfigError(
    () => parseConfig({ ...minimal(), model: { kind: "cnn", sizes: [1, 1] } }),
    "model.kind",
    'expected one of "mlp", "polynomial"',
    'got "cnn"',
  );
  expectConfigError(() => parseConfig({ ...minimal(), model: { sizes: [1, 1] } }), "model.kind", "got nothing");
});

// ── rejections: required fields ─────────────────────────────────────────────

test("weights, data and model are required", () => {
  const { weights: _w, ...noWeights } = minimal();
  const { data: _d, ...noData } = minimal();
  const { model: _m, ...noModel } = minimal();
  expectConfigError(() => parseConfig(noWeights), "weights", "expected a non-empty string", "required");
  expectConfigError(() => parseConfig(noData), "data", "expected a non-empty string", "required");
  expectConfigError(() => parseConfig(noModel), "model", "required");
  expectConfigError(() => parseConfig({ ...minimal(), weights: 7 }), "weights", "expected a non-empty string", "got 7");
  expectConfigError(() => parseConfig({ ...minimal(), data: "" }), "data", "non-empty string", 'got ""');
  expectConfigError(() => parseConfig({ ...minimal(), name: 3 }), "name", "expected a string", "got 3");
});

// ── parseConfigText ─────────────────────────────────────────────────────────

test("malformed JSON: the error names the source and the line and column", () => {
  const text = '{\n  "weights": "w",\n  "data": ,\n}';
  const error = expectConfigError(() => parseConfigText(text, "runs/estimate.json"), "", "invalid JSON");
  assert.is(error.message, 'runs/estimate.json: invalid JSON at line 3, column 11: expected a value, found ","');
  assert.is(error.source, "runs/estimate.json");
  assert.instance(error.cause, SyntaxError);
});

test("validation errors from parseConfigText also name the source", () => {
  const text = JSON.stringify(withSampler({ epsilon: -1 }));
  const error = expectConfigError(() => parseConfigText(text, "a.json"), "sampler.epsilon");
  assert.is(error.message, "sampler.epsilon: expected a positive finite number, got -1 (in a.json)");
  assert.is(error.detail, "expected a positive finite number, got -1");
  const root = expectConfigError(() => parseConfigText("[1, 2]", "b.json"), "", "expected an object");
  assert.ok(root.message.startsWith("b.json: "), root.message);
});

test("syntax errors are located the same way on every engine", () => {
  const at = (text: string) => {
    const error = expectConfigError(() => parseConfigText(text, "t.json"), "", "invalid JSON");
    return error.message.replace("t.json: invalid JSON ", "");
  };
  assert.is(at(""), "at line 1, column 1: expected a value, found the end of the text");
  assert.is(at("[1, 2,]"), 'at line 1, column 7: expected a value, found "]"');
  assert.is(at('{"a" 1}'), 'at line 1, column 6: expected ":", found "1"');
  assert.is(at('{"a": 1,}'), 'at line 1, column 9: expected a string key, found "}"');
  assert.is(at('{"a": "b'), "at line 1, column 9: expected a closing quote, found the end of the text");
  assert.is(at('{"a": 1} x'), 'at line 1, column 10: expected the end of the text, found "x"');
  assert.is(at("{\n\n  \"a\": tru\n}"), 'at line 3, column 8: expected a value, found "t"');
  assert.is(at('["\\x"]'), 'at line 1, column 3: expected a valid escape sequence, found "\\\\"');
  assert.is(at("[01]"), 'at line 1, column 3: expected "," or "]", found "1"');
  // Deep nesting must not overflow the locator's stack.
  assert.equal(locateJsonSyntaxError("[".repeat(200_000)), { offset: 200_000, problem: "expected a value, found the end of the text" });
  // Nor reach JSON.parse and the recursive walks after it: refused for its depth, in the config's own error.
  expectConfigError(() => parseConfigText(`{"model": ${"[".repeat(5000)}${"]".repeat(5000)}}`, "t.json"), "", "t.json: JSON nested more than 512 levels deep at line 1, column 522");
});

test("the syntax locator agrees with JSON.parse on what is valid", () => {
  const samples = [
    '{"a": [1, -2.5e+3, 0.0, true, false, null, "\\u00e9\\n"]}', "  7  ", '""', "[[]]", "{}", '{"": {}}',
    "-", "1.", ".5", "+1", "1e", "[1 2]", "{'a': 1}", "[NaN]", '"\t"', "nul", "[1]]", "{,}", '{"a":1,,"b":2}',
  ];
  for (const text of samples) {
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    assert.is(locateJsonSyntaxError(text) === undefined, valid, text);
  }
});

test("parseConfigText tolerates a byte-order mark", () => {
  const config = parseConfigText("\uFEFF" + JSON.stringify(minimal()), "bom.json");
  assert.is(config.weights, "w.safetensors");
});

// ── the reusable validators ─────────────────────────────────────────────────

test("validators return the value and throw with the given field", () => {
  assert.is(expectInteger(3, "n", { min: 0, max: 5 }), 3);
  assert.ok(Object.is(expectInteger(-0, "n"), 0), "-0 normalised to 0");
  assert.is(expectNumber(0.5, "p", { greaterThan: 0, lessThan: 1 }), 0.5);
  assert.is(expectOneOf("b", "letter", ["a", "b"]), "b");
  expectConfigError(() => expectInteger(6, "layer.heads", { min: 0, max: 5 }), "layer.heads", "expected an integer in [0, 5]", "got 6");
  expectConfigError(() => expectNumber("x", "lr"), "lr", "expected a finite number", 'got "x"');
  const fields = expectObject({ heads: 2 }, "transformer", ["heads", "width"]);
  assert.is(fields.heads, 2);
  expectConfigError(() => expectObject({ hedas: 2 }, "transformer", ["heads", "width"]), "transformer.hedas", "did you mean heads?");
});

test("describeValue keeps NaN visible and cuts long values to about 60 characters", () => {
  assert.is(describeValue(NaN), "NaN");
  assert.is(describeValue([1, -Infinity]), "[1,-Infinity]");
  assert.is(describeValue("a"), '"a"');
  assert.is(describeValue(undefined), "nothing");
  assert.is(describeValue(new Map()), "a Map");
  const long = describeValue(Array.from({ length: 100_000 }, (_, i) => i));
  assert.is(long.length, 60);
  assert.ok(long.endsWith("…"), long);
  const error = expectConfigError(() => parseConfig({ ...minimal(), weights: Array(10_000).fill("x") }), "weights");
  assert.ok(error.message.length < 120, error.message);
});

test("closestName: within edit distance 2, case ignored", () => {
  assert.is(closestName("epslion", ["method", "epsilon"]), "epsilon");
  assert.is(closestName("Epsilon", ["epsilon"]), "epsilon");
  assert.is(closestName("seeds", ["seed", "eps"]), "seed");
  assert.is(closestName("frobnicate", ["seed", "eps"]), undefined);
});

test.run();
