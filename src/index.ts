// llc-wasm's public API. Host-neutral: nothing here imports node:*, Deno or DOM
// names; file access goes through a Host (src/platform/).
export { createEngine, hostHasSimd, OutOfMemoryError, type Engine, type Variant } from "./engine.ts";
export {
  parseConfig, parseConfigText, parseSamplerConfig, ConfigError, SAMPLER_DEFAULTS,
  type EstimateConfig, type SamplerConfig, type ModelConfig, type TransformerConfig,
} from "./config.ts";
export { estimate, prepareEstimate, defaultNbeta, InputError, EstimateError, type EstimateResult, type EstimateInputs, type EstimateOptions } from "./estimator.ts";
export { estimateParallel, type ParallelOptions, type SpawnWorker, type WorkerLike } from "./parallel.ts";
export { webWorkers } from "./platform/web-workers.ts";
export { ChainDivergedError, type Progress, type ChainTraces } from "./sampler.ts";
export { runEstimateJob, type JobOptions } from "./job.ts";
export { runTrainingJob, parseTrainConfig, type TrainConfig } from "./train-job.ts";
export { trainTransformer, checkpointSchedule } from "./train.ts";
export { runSweep, formatSweepTable, SweepError, type SweepOptions, type SweepRow, type SweepResult } from "./sweep.ts";
export { headScores, formatHeadTable, type HeadScores, type HeadScore } from "./analysis/heads.ts";
export { readSafetensors, writeSafetensors, SafetensorsError, type Tensor } from "./io/safetensors.ts";
export { modelLayout, transformerSelector } from "./models.ts";
export { trainTokenizer, tokenizerFromJSON, tokenizerToJSON, type ByteBpeTokenizer } from "./data/tokenizer.ts";
export { loadCorpus, type CorpusName } from "./data/corpora.ts";
export { buildTokenDataset, readTokenSplit, writeTokenSplit } from "./data/tokens.ts";
export { builtinCases, exampleCases, type BuiltinCase } from "./cases.ts";
export { normalCrossingLambda, reducedRankRegressionLambda, deepLinearNetworkLambda } from "./analysis/aoyagi.ts";
export { BrowserHost } from "./platform/browser.ts";
export { FileError, type Host } from "./platform/host.ts";
export { JsonError } from "./io/json.ts";
export * as limits from "./limits.ts";
