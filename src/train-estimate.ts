// What `llc train` says before it starts: what it will train and about how long
// that takes, from a short measured calibration — a few real AdamW steps of the
// configured model and batch on this machine, in a scratch engine, on placeholder
// tokens (a step costs the same whatever the token ids). Measured rather than
// predicted from the model's size because the speed of one machine says nothing of
// another's. The run itself is untouched: its own engine, data and seed.
import { createEngine, type Variant } from "./engine.ts";
import { modelLayout } from "./models.ts";
import { trainTransformer, type TrainRunSettings } from "./train.ts";

/** The first timed run lasts about this long (at least MIN_CALIBRATION_STEPS, at most MAX_CALIBRATION_STEPS steps); the second twice that. */
export const CALIBRATION_MS = 300;
export const MIN_CALIBRATION_STEPS = 3;
export const MAX_CALIBRATION_STEPS = 50;

/**
 * Milliseconds per training step of `settings` (model, batch size, n_ctx) on this
 * machine, and how many steps were timed: two untimed steps first (they grow the
 * memory, warm the compiled code and size the timed runs), then runs of n and 2n steps.
 */
export async function calibrateTrainStep(
  wasm: WebAssembly.Module, variant: Variant, settings: TrainRunSettings, now: () => number,
): Promise<{ msPerStep: number; steps: number }> {
  const T = settings.model.n_ctx, B = settings.batch_size;
  const train = { tokens: new Int32Array(B * T), nSeq: B, seqLen: T };
  const hooks = { checkpoint: async () => {}, log: async () => {} };
  const quiet = { ...settings, checkpoints: [], eval_every: Number.MAX_SAFE_INTEGER, repeat_every: 0 };
  const engine = await createEngine(wasm, variant);
  const time = async (steps: number) => {
    const started = now();
    await trainTransformer(engine, { ...quiet, steps }, train, train, hooks);
    return now() - started;
  };
  const warm = (await time(2)) / 2;
  const steps = Math.max(MIN_CALIBRATION_STEPS, Math.min(MAX_CALIBRATION_STEPS, Math.round(CALIBRATION_MS / Math.max(warm, 1e-3))));
  // Runs of n and 2n steps: their difference is n steps without the run's setup (weights, buffers).
  const once = await time(steps);
  const twice = await time(2 * steps);
  const msPerStep = twice > once ? (twice - once) / steps : twice / (2 * steps);
  return { msPerStep, steps: 3 * steps };
}

/** "attn-only-2l: transformer, 2 layers × 8 heads (d_head 16), d_model 64, n_ctx 64, vocabulary 1024, 43,008 parameters; 6000 steps of 32 sequences" */
export function describeTraining(settings: TrainRunSettings & { name?: string }): string {
  const m = settings.model;
  const params = modelLayout(m).size.toLocaleString("en-US");
  return `${settings.name ? `${settings.name}: ` : ""}transformer, ${m.n_layers} layer(s) × ${m.n_heads} head(s) (d_head ${m.d_head}), ` +
    `d_model ${m.d_model}, n_ctx ${m.n_ctx}, vocabulary ${m.d_vocab}, ${params} parameters; ${settings.steps} steps of ${settings.batch_size} sequences`;
}
