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
export {
  headScores, formatHeadTable, headScoresJson, headLabel, labelThresholds, readCheckpoint, readHeldout,
  PREVIOUS_TOKEN_THRESHOLD, CURRENT_TOKEN_THRESHOLD, INDUCTION_THRESHOLD, MULTIGRAM_SHARE_THRESHOLD, LABEL_THRESHOLDS,
  type HeadScores, type HeadScore, type HeadScoreOptions, type HeadLabel, type LabelThresholds, type MultigramOptions,
} from "./analysis/heads.ts";
export { AblationProbe, topTokenChanges, type AblationSpec, type AblationKind, type Projection, type TokenChange, type ForwardResult } from "./analysis/ablation.ts";
export { multigramTable, multigramIncreases, headMultigrams, MULTIGRAM_MIN_COUNT, MULTIGRAM_DELTA, type MultigramTable, type MultigramKind, type HeadMultigrams } from "./analysis/multigrams.ts";
export { compositionScores, compositionScore, compositionBaseline, type CompositionScores, type CompositionOptions } from "./analysis/composition.ts";
export { pathAblation, type PathAblation, type PathAblationOptions } from "./analysis/path-ablation.ts";
export { headsReport, circuitsReport, HEADS_FORMAT, CIRCUITS_FORMAT, type ReportInputs } from "./analysis/report.ts";
export {
  analyseSignatures, analyseSignatureFiles, clusterCurves, compareCode, headCurves, parseSweepRows, formatSignatureTable, signatureJson,
  kmeans, averageLinkage, cutTree, silhouette, adjustedRandIndex, logGridResample, normaliseCurve, logF64, ClusterError,
  type SignatureAnalysis, type SignatureFiles, type ClusterOptions, type Clustering, type CodeComparison, type HeadCurves, type Normalise, type Grid,
} from "./analysis/cluster.ts";
export { readHeadsJson, selectHeadsEntry, headLabels, readCircuitsJson, ResultsJsonError, type HeadsEntry, type HeadRecord, type Circuits } from "./analysis/results-json.ts";
export { signatureFigure, codeFigure, circuitsFigure, multigramFigure, type SignatureJson } from "./analysis/figures.ts";
export { plotFiles, fileKind, type PlotInput, type PlotFigure, type PlotFiles, type PlotProblem, type FileKind } from "./analysis/plot-files.ts";
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
