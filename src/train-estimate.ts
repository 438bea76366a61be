// What `llc train` says before it starts: what it will train and about how long
// that takes, from a short measured calibration — a few real AdamW steps of the
// configured model and batch on this machine, in a scratch engine, on placeholder
// tokens (a step costs the same whatever the token ids). Measured rather than
// predicted from the model's size because the speed of one machine says nothing of
// another's. The run itself is untouched: its own engine, data and seed.
import { createEngine, type Variant } from "./engine.ts";
import { modelLayout } from "./models.ts";
import { trainTransformer, type TrainRunSettings } from "./train.ts";

/** AdamW steps timed (after one untimed step, which grows the memory and warms the compiled code). */
export const CALIBRATION_STEPS = 3;

/** Milliseconds per training step of `settings` (model, batch size, n_ctx) on this machine. */
export async function calibrateTrainStep(wasm: WebAssembly.Module, variant: Variant, settings: TrainRunSettings, now: () => number): Promise<number> {
  const T = settings.model.n_ctx, B = settings.batch_size;
  const train = { tokens: new Int32Array(B * T), nSeq: B, seqLen: T };
  const hooks = { checkpoint: async () => {}, log: async () => {} };
  const quiet = { ...settings, checkpoints: [], eval_every: Number.MAX_SAFE_INTEGER, repeat_every: 0 };
  const engine = await createEngine(wasm, variant);
  await trainTransformer(engine, { ...quiet, steps: 1 }, train, train, hooks);
  const started = now();
  await trainTransformer(engine, { ...quiet, steps: CALIBRATION_STEPS }, train, train, hooks);
  return (now() - started) / CALIBRATION_STEPS;
}

/** "attn-only-2l: transformer, 2 layers × 8 heads (d_head 16), d_model 64, n_ctx 64, vocabulary 1024, 43,008 parameters; 6000 steps of 32 sequences" */
export function describeTraining(settings: TrainRunSettings & { name?: string }): string {
  const m = settings.model;
  const params = modelLayout(m).size.toLocaleString("en-US");
  return `${settings.name ? `${settings.name}: ` : ""}transformer, ${m.n_layers} layer(s) × ${m.n_heads} head(s) (d_head ${m.d_head}), ` +
    `d_model ${m.d_model}, n_ctx ${m.n_ctx}, vocabulary ${m.d_vocab}, ${params} parameters; ${settings.steps} steps of ${settings.batch_size} sequences`;
}
