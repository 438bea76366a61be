// Model layouts (tensor names and shapes as PyTorch would write them) and the
// plans that tell the WebAssembly forward/backward where everything lives.
import type { Engine } from "./engine.ts";
import type { ModelConfig, TransformerConfig } from "./config.ts";
import { buildLayout, type Layout } from "./arena.ts";

const ACTIVATIONS = { identity: 0, relu: 1, tanh: 2 } as const;

export function modelLayout(model: ModelConfig): Layout {
  if (model.kind === "polynomial") return buildLayout([{ name: "weights", shape: [model.powers.length] }]);
  if (model.kind === "transformer") return buildLayout(transformerTensors(model));
  const specs: { name: string; shape: number[] }[] = [];
  for (let i = 0; i + 1 < model.sizes.length; i++) {
    specs.push({ name: `layers.${i}.weight`, shape: [model.sizes[i + 1], model.sizes[i]] });
    if (model.bias) specs.push({ name: `layers.${i}.bias`, shape: [model.sizes[i + 1]] });
  }
  return buildLayout(specs);
}

/**
 * TransformerLens state-dict names and shapes of an attention-only HookedTransformer
 * (W_Q/W_K/W_V [n_heads, d_model, d_head], W_O [n_heads, d_head, d_model]).
 */
export function transformerTensors(m: TransformerConfig): { name: string; shape: number[] }[] {
  const specs: { name: string; shape: number[] }[] = [
    { name: "embed.W_E", shape: [m.d_vocab, m.d_model] },
    { name: "pos_embed.W_pos", shape: [m.n_ctx, m.d_model] },
  ];
  for (let l = 0; l < m.n_layers; l++) {
    const block = `blocks.${l}`;
    if (m.normalization === "LN") specs.push({ name: `${block}.ln1.w`, shape: [m.d_model] }, { name: `${block}.ln1.b`, shape: [m.d_model] });
    for (const w of ["W_Q", "W_K", "W_V"]) specs.push({ name: `${block}.attn.${w}`, shape: [m.n_heads, m.d_model, m.d_head] });
    specs.push({ name: `${block}.attn.W_O`, shape: [m.n_heads, m.d_head, m.d_model] });
    if (m.attn_bias) {
      for (const b of ["b_Q", "b_K", "b_V"]) specs.push({ name: `${block}.attn.${b}`, shape: [m.n_heads, m.d_head] });
      specs.push({ name: `${block}.attn.b_O`, shape: [m.d_model] });
    }
  }
  if (m.normalization === "LN") specs.push({ name: "ln_final.w", shape: [m.d_model] }, { name: "ln_final.b", shape: [m.d_model] });
  specs.push({ name: "unembed.W_U", shape: [m.d_model, m.d_vocab] });
  if (m.unembed_bias) specs.push({ name: "unembed.b_U", shape: [m.d_vocab] });
  return specs;
}

export function modelDims(model: ModelConfig): { dIn: number; dOut: number } {
  if (model.kind === "polynomial") return { dIn: 1, dOut: 1 };
  if (model.kind === "transformer") return { dIn: model.n_ctx, dOut: model.n_ctx };
  return { dIn: model.sizes[0], dOut: model.sizes[model.sizes.length - 1] };
}

/** A value of an i32 constant exported by the module (one source of truth for plan offsets). */
export function moduleConstant(engine: Engine, name: string): number {
  const global = engine.kernels[name] as WebAssembly.Global | undefined;
  if (!global) throw new Error(`engine build lacks the export ${name}; rebuild with "npm run build"`);
  return global.value as number;
}

export interface ModelPlan {
  readonly address: number;
  readonly layout: Layout;
  readonly dIn: number;
  readonly dOut: number;
  readonly maxBatch: number;
}

/**
 * Write a model plan for batches of up to `maxBatch` rows whose parameters and
 * gradients live at `params` and `grads` (arena addresses), allocating its
 * activation buffers and matmul scratch once.
 */
export function planModel(engine: Engine, model: ModelConfig, layout: Layout, params: number, grads: number, maxBatch: number): ModelPlan {
  const k = engine.kernels;
  const c = (name: string) => moduleConstant(engine, name);
  const { dIn, dOut } = modelDims(model);
  const words = model.kind === "mlp" ? c("MLP_LAYER0") + (model.sizes.length - 1) * c("MLP_LAYER_WORDS") : c("PLAN_WORDS_FIXED");
  const plan = engine.allocI32(words);
  const set = (index: number, value: number) => (engine.i32(plan, words)[index] = value);
  set(c("PLAN_MAX_BATCH"), maxBatch);
  set(c("PLAN_D_IN"), dIn);
  set(c("PLAN_D_OUT"), dOut);
  set(c("PLAN_PARAMS"), params);
  set(c("PLAN_GRADS"), grads);
  set(c("PLAN_PRED"), engine.allocF32(maxBatch * dOut));
  set(c("PLAN_DPRED"), engine.allocF32(maxBatch * dOut));
  if (model.kind === "polynomial") {
    const powers = engine.allocF64(model.powers.length);
    engine.f64(powers, model.powers.length).set(model.powers);
    set(c("PLAN_KIND"), c("MODEL_POLYNOMIAL"));
    set(c("POLY_K"), model.powers.length);
    set(c("POLY_POWERS"), powers);
  } else if (model.kind === "mlp") {
    const layers = model.sizes.length - 1;
    const widest = Math.max(...model.sizes);
    let scratchBytes = 0;
    for (let l = 0; l < layers; l++) {
      const [fanIn, fanOut] = [model.sizes[l], model.sizes[l + 1]];
      scratchBytes = Math.max(
        scratchBytes,
        k.matmulScratchBytes(maxBatch, fanOut, fanIn),
        k.matmulScratchBytes(fanOut, fanIn, maxBatch),
        k.matmulScratchBytes(maxBatch, fanIn, fanOut),
      );
    }
    set(c("PLAN_KIND"), c("MODEL_MLP"));
    set(c("PLAN_SCRATCH"), engine.alloc(scratchBytes));
    set(c("MLP_LAYERS"), layers);
    set(c("MLP_ACTIVATION"), ACTIVATIONS[model.activation]);
    set(c("MLP_GRAD_A"), engine.allocF32(maxBatch * widest));
    set(c("MLP_GRAD_B"), engine.allocF32(maxBatch * widest));
    const layerWords = c("MLP_LAYER_WORDS");
    const pred = engine.i32(plan, words)[c("PLAN_PRED")];
    for (let l = 0; l < layers; l++) {
      const base = c("MLP_LAYER0") + l * layerWords;
      const weight = layout.tensors.find((t) => t.name === `layers.${l}.weight`)!;
      const bias = layout.tensors.find((t) => t.name === `layers.${l}.bias`);
      set(base, model.sizes[l]);
      set(base + 1, model.sizes[l + 1]);
      set(base + 2, weight.offset);
      set(base + 3, bias ? bias.offset : -1);
      set(base + 4, l === layers - 1 ? pred : engine.allocF32(maxBatch * model.sizes[l + 1]));
    }
  } else {
    throw new Error("the transformer's WebAssembly plan is not wired yet (issue 3)");
  }
  return { address: plan, layout, dIn, dOut, maxBatch };
}
