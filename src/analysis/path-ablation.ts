// Path ablation between the two first layers (Wang et al. 2024 §4.3, "multigram
// circuit"; Elhage et al. 2021's path expansion): the held-out loss change when only
// the output of layer-0 head i is ablated in the input of layer-1 head j's query,
// key or value, every other path intact (ablation.ts: a second residual stream read
// by that one projection). Mean-ablation by default, with the per-position means of
// ablation.ts; zero-ablation as an option.
import type { Engine } from "../engine.ts";
import type { TransformerConfig } from "../config.ts";
import { AblationProbe, PROJECTIONS, firstSequences, topTokenChanges, type AblationKind, type Projection, type TokenChange, type TokenData } from "./ablation.ts";

export const PATH_TOP_TOKENS = 10;

export interface PathAblation {
  /** M[i][j]: mean cross-entropy over all predicted tokens with the path ablated, minus the intact model's. */
  Q: number[][];
  K: number[][];
  V: number[][];
  /** Per projection, [i][j]: the tokens whose loss the path's ablation changes most (largest |Δ| first). */
  tokens: Record<Projection, TokenChange[][][]>;
  baseLoss: number;
  sequences: number;
  seqLen: number;
  ablation: AblationKind;
}

export interface PathAblationOptions {
  maxSequences?: number;
  batch?: number;
  ablation?: AblationKind;
  /** Tokens per (i, j) (default 10). */
  top?: number;
  /** Tokens of context per reported token (default 12). */
  context?: number;
}

/** 3·n_heads² forward passes over `data` (the first maxSequences), one per (projection, i, j). */
export function pathAblation(engine: Engine, model: TransformerConfig, weights: Float32Array, data: TokenData, options: PathAblationOptions = {}): PathAblation {
  if (model.n_layers < 2) throw new RangeError(`path ablation: the model has ${model.n_layers} layer(s); paths run from layer 0 into layer 1`);
  const ablation = options.ablation ?? "mean";
  if (ablation !== "mean" && ablation !== "zero") throw new RangeError(`path ablation: ablation must be "mean" or "zero", got ${JSON.stringify(ablation)}`);
  const heldout = firstSequences(data, options.maxSequences);
  const probe = new AblationProbe(engine, model, weights, heldout, { batch: options.batch });
  const intact = probe.run();
  const H = model.n_heads;
  const top = options.top ?? PATH_TOP_TOKENS, context = options.context ?? 12;
  const result = { tokens: {} } as PathAblation;
  for (const projection of PROJECTIONS) {
    const matrix: number[][] = [], tokens: TokenChange[][][] = [];
    for (let i = 0; i < H; i++) {
      matrix.push([]);
      tokens.push([]);
      for (let j = 0; j < H; j++) {
        const ablated = probe.run({ path: { layer: 1, sources: [i], readers: [{ projection, head: j }] }, kind: ablation });
        matrix[i].push(ablated.loss - intact.loss);
        tokens[i].push(topTokenChanges(heldout, intact.tokenLosses, ablated.tokenLosses, top, context, Math.abs));
      }
    }
    result[projection] = matrix;
    result.tokens[projection] = tokens;
  }
  return { ...result, baseLoss: intact.loss, sequences: heldout.nSeq, seqLen: heldout.seqLen, ablation };
}
