// llc-wasm's public API. Host-neutral: nothing here imports node:*, Deno or DOM
// names; file access goes through a Host (src/platform/).
export { createEngine, hostHasSimd, OutOfMemoryError, type Engine, type Variant } from "./engine.ts";
export { parseConfig, parseConfigText, parseSamplerConfig, ConfigError, SAMPLER_DEFAULTS, type EstimateConfig, type SamplerConfig, type ModelConfig } from "./config.ts";
export { estimate, defaultNbeta, InputError, EstimateError, type EstimateResult, type EstimateInputs, type EstimateOptions } from "./estimator.ts";
export { ChainDivergedError, type Progress, type ChainTraces } from "./sampler.ts";
export { runEstimateJob, type JobOptions } from "./job.ts";
export { readSafetensors, writeSafetensors, SafetensorsError, type Tensor } from "./io/safetensors.ts";
export { modelLayout } from "./models.ts";
export { builtinCases, exampleCases, type BuiltinCase } from "./cases.ts";
export { normalCrossingLambda, reducedRankRegressionLambda, deepLinearNetworkLambda } from "./analysis/aoyagi.ts";
export type { Host } from "./platform/host.ts";
