// Model layouts (tensor names and shapes as PyTorch would write them) and the
// plans that tell the WebAssembly forward/backward where everything lives.
import { blockBytes, type Engine } from "./engine.ts";
import type { ModelConfig, TransformerConfig } from "./config.ts";
import { buildLayout, findTensor, wholeTensor, type ArenaRange, type Layout, type SelectorResolver } from "./arena.ts";

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

export const TRANSFORMER_SELECTORS = '"l<layer>h<head>" (e.g. "l0h3"), "l<layer>", "embed", "pos", "unembed", "ln", or a tensor name';

/**
 * Selectors of the refined-LLC paper (Wang et al. 2024): "l0h3" frees head 3 of
 * layer 0 — its slices of W_Q, W_K, W_V [n_heads, d_model, d_head], W_O [n_heads,
 * d_head, d_model] and b_Q, b_K, b_V [n_heads, d_head] (b_O is shared by all heads);
 * "l1" a layer's whole attention; "embed", "pos", "unembed", "ln" those tensors.
 */
export function transformerSelector(m: TransformerConfig, layout: Layout): SelectorResolver {
  const tensors = (names: string[]) => names.flatMap((n) => wholeTensor(findTensor(layout, n)) ?? []);
  return (selector) => {
    const head = /^l(\d+)h(\d+)$/.exec(selector);
    if (head) {
      const [l, h] = [Number(head[1]), Number(head[2])];
      if (l >= m.n_layers || h >= m.n_heads) return undefined;
      const ranges: ArenaRange[] = [];
      for (const w of ["W_Q", "W_K", "W_V", "W_O"]) {
        const t = findTensor(layout, `blocks.${l}.attn.${w}`)!;
        ranges.push({ tensor: t, start: h * m.d_model * m.d_head, size: m.d_model * m.d_head });
      }
      for (const b of ["b_Q", "b_K", "b_V"]) {
        const t = findTensor(layout, `blocks.${l}.attn.${b}`);
        if (t) ranges.push({ tensor: t, start: h * m.d_head, size: m.d_head });
      }
      return ranges;
    }
    const layer = /^l(\d+)$/.exec(selector);
    if (layer) {
      const l = Number(layer[1]);
      if (l >= m.n_layers) return undefined;
      return layout.tensors.filter((t) => t.name.startsWith(`blocks.${l}.attn.`)).map((t) => ({ tensor: t, start: 0, size: t.size }));
    }
    if (selector === "embed") return tensors(["embed.W_E"]);
    if (selector === "pos") return tensors(["pos_embed.W_pos"]);
    if (selector === "unembed") return tensors(["unembed.W_U", "unembed.b_U"]);
    if (selector === "ln") return layout.tensors.filter((t) => /(^|\.)ln(1|_final)\./.test(t.name)).map((t) => ({ tensor: t, start: 0, size: t.size }));
    return undefined;
  };
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

export interface PlanOptions {
  /**
   * Transformer only: keep every layer's attention pattern [batch, n_heads, T, T]
   * (plan word TFL_PATTERN) after a forward pass, for reading head behaviour (true),
   * or keep only the softmax row statistics [batch, n_heads, T, 2] and let the
   * backward recompute the pattern from them (false); same bits either way.
   * Default: keep them when all layers' patterns fit in PATTERN_KEEP_BYTES.
   */
  keepPatterns?: boolean;
}

/**
 * Write a model plan for batches of up to `maxBatch` rows whose parameters and
 * gradients live at `params` and `grads` (arena addresses), allocating its
 * activation buffers and matmul scratch once.
 */
export function planModel(engine: Engine, model: ModelConfig, layout: Layout, params: number, grads: number, maxBatch: number, seqLen?: number, options: PlanOptions = {}): ModelPlan {
  if (model.kind === "transformer") {
    if (seqLen === undefined) throw new Error("planModel: a transformer plan needs the sequence length");
    const patternBytes = model.n_layers * maxBatch * model.n_heads * seqLen * seqLen * 4;
    return planTransformer(engine, model, layout, params, grads, maxBatch, seqLen, options.keepPatterns ?? patternBytes <= PATTERN_KEEP_BYTES);
  }
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
  set(c("PLAN_ARENA_FLOATS"), layout.padded);
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
    const pred = engine.i32(plan, words)[c("PLAN_PRED")] >>> 0;
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
  }
  return { address: plan, layout, dIn, dOut, maxBatch };
}

/** The plan words of a transformer plan that hold a tensor's arena offset (assembly/transformer.ts). */
const TRANSFORMER_GLOBAL_TENSOR_WORDS = ["TF_W_E", "TF_W_POS", "TF_LNF_W", "TF_LNF_B", "TF_W_U", "TF_B_U"];
const TRANSFORMER_LAYER_TENSOR_WORDS = ["TFL_LN_W", "TFL_LN_B", "TFL_W_Q", "TFL_W_K", "TFL_W_V", "TFL_W_O", "TFL_B_Q", "TFL_B_K", "TFL_B_V", "TFL_B_O"];

/**
 * Mark in a transformer plan (word TF_FROZEN) the tensors a restriction freezes, those whose
 * mask is 0 over the whole tensor, so the backward computes no gradient for them and stops
 * below the lowest block with a moving tensor. A tensor with any 1 in its mask (a head
 * selector frees slices of W_Q/W_K/W_V/W_O) keeps its full gradient. The moving tensors'
 * gradients keep their bits and the SGLD update reads gradients only through the mask, so
 * results are unchanged; other model kinds, and an unrestricted mask, are left as planned.
 * With `rowCache` (the data's row count, and how many rows the chains will draw) the activations
 * entering the lowest moving block are also kept per data row (chain.ts fills them at w*).
 */
export function freezeTensors(engine: Engine, plan: ModelPlan, mask: Float32Array, rowCache?: { rows: number; rowsDrawn: number }): void {
  const c = (name: string) => moduleConstant(engine, name);
  if (engine.i32(plan.address, c("PLAN_KIND") + 1)[c("PLAN_KIND")] !== c("MODEL_TRANSFORMER")) return;
  const layers = engine.i32(plan.address, c("TF_LAYERS") + 1)[c("TF_LAYERS")];
  const words = c("TF_LAYER0") + layers * c("TF_LAYER_WORDS");
  const planWords = engine.i32(plan.address, words);
  const dModel = planWords[c("TF_D_MODEL")];
  const tensorWords = [
    ...TRANSFORMER_GLOBAL_TENSOR_WORDS.map(c),
    ...Array.from({ length: layers }, (_, l) => TRANSFORMER_LAYER_TENSOR_WORDS.map((f) => c("TF_LAYER0") + l * c("TF_LAYER_WORDS") + c(f))).flat(),
  ];
  const frozen = new Int32Array(words);
  for (const i of tensorWords) {
    const view = plan.layout.tensors.find((t) => t.offset === planWords[i] && t.size > 0);
    if (view && !mask.subarray(view.offset, view.offset + view.size).includes(1)) frozen[i] = 1;
  }
  if (!frozen.includes(1)) return;
  const flags = engine.allocI32(words);
  engine.i32(flags, words).set(frozen);
  engine.i32(plan.address, words)[c("TF_FROZEN")] = flags;
  if (!rowCache) return;
  // The row cache (transformer.ts TF_ROW_CACHE) pays one forward below the lowest moving block
  // per data row, where the steps would pay one per row they draw: worth it when they draw more.
  const place = engine.kernels.transformerLowestMoving(plan.address) as number;
  const bytes = rowCache.rows * plan.dIn * dModel * 4;
  if (place < 1 || rowCache.rows >= rowCache.rowsDrawn || bytes > ROW_CACHE_BYTES) return;
  const cache = engine.alloc(bytes), rows = engine.allocI32(plan.maxBatch), descriptor = engine.allocI32(3);
  const fields = engine.i32(descriptor, 3);
  [fields[c("RC_CACHE")], fields[c("RC_ROWS")], fields[c("RC_PLACE")]] = [cache, rows, place];
  engine.i32(plan.address, words)[c("TF_ROW_CACHE")] = descriptor;
}

/** Largest row cache freezeTensors allocates (beyond it, each step recomputes its batch's activations). */
export const ROW_CACHE_BYTES = 256 * 2 ** 20;

export const LOGIT_CHUNK_FLOATS = 2 ** 19;

/**
 * Patterns of all layers up to this size are kept by default: reading P back in
 * the backward beats recomputing q·kᵀ and the exp (attention forward + backward
 * 5–20% faster at batch 32 × 64 positions × 8 heads of 16, the default training
 * model, for 8 MiB), while at the paper's size they would take 2 GiB.
 */
export const PATTERN_KEEP_BYTES = 16 * 2 ** 20;

/**
 * Bytes planModel would reserve for this model and batch (see measureAllocations),
 * so a plan too big for the engine's memory can be reported before it is attempted.
 */
export function plannedBytes(engine: Engine, model: ModelConfig, maxBatch: number, seqLen?: number, options: PlanOptions = {}): number {
  return measureAllocations(engine, (e) => planModel(e, model, modelLayout(model), 0, 0, maxBatch, seqLen, options));
}

/**
 * Heap bytes `allocate(engine)` takes (blockBytes of each allocation), found by
 * running it against an engine whose allocator only counts: the whole plan's
 * size, known before any of it is allocated. The views it hands out are small
 * scratch arrays whose `set` does nothing, so a plan may copy its inputs in (and
 * write its plan words) without the copies costing their size twice.
 */
export function measureAllocations(engine: Engine, allocate: (counting: Engine) => unknown): number {
  let total = 0;
  const view = <T extends Float32Array | Float64Array | Int32Array | Uint32Array>(make: (n: number) => T) => (_ptr: number, n: number): T =>
    Object.assign(make(Math.min(n, 1 << 12)), { set() {} });
  const counting: Engine = {
    ...engine,
    alloc: (bytes) => {
      const at = 16 + total;
      total += blockBytes(bytes);
      return at;
    },
    allocF32: (n) => counting.alloc(n * 4),
    allocF64: (n) => counting.alloc(n * 8),
    allocI32: (n) => counting.alloc(n * 4),
    reserve: () => {},
    f32: view((n) => new Float32Array(n)),
    f64: view((n) => new Float64Array(n)),
    i32: view((n) => new Int32Array(n)),
    u32: view((n) => new Uint32Array(n)),
  };
  allocate(counting);
  return total;
}

/**
 * The transformer's plan for batches of up to `maxBatch` sequences of `seqLen`
 * tokens: every activation assembly/transformer.ts keeps for its backward pass,
 * planned once. Attention keeps its row statistics (batch·n_heads·T·2 floats per
 * layer) and, with `keepPatterns` (by default while they fit PATTERN_KEEP_BYTES),
 * the pattern (batch·n_heads·T² floats per layer: 1 GiB at the paper's size, more
 * than one block the allocator can give).
 */
function planTransformer(engine: Engine, m: TransformerConfig, layout: Layout, params: number, grads: number, maxBatch: number, seqLen: number, keepPatterns: boolean): ModelPlan {
  const k = engine.kernels;
  const c = (name: string) => moduleConstant(engine, name);
  const rows = maxBatch * seqLen;
  const width = m.n_heads * m.d_head;
  const layerWords = c("TF_LAYER_WORDS");
  const words = c("TF_LAYER0") + m.n_layers * layerWords;
  const plan = engine.allocI32(words);
  const set = (index: number, value: number) => (engine.i32(plan, words)[index] = value);
  const offset = (name: string) => findTensor(layout, name)?.offset ?? -1;
  const activations = (floats: number) => engine.allocF32(floats);
  const useLN = m.normalization === "LN";
  const shortformer = m.positional_embedding === "shortformer";

  // Logits are made a chunk of sequences at a time, at most ~8M floats (32 MB) per buffer,
  // so the unembed's three products (logits, ∂W_U, ∂x) run on chunkRows rows, not all.
  const chunkSequences = Math.max(1, Math.min(maxBatch, Math.floor(LOGIT_CHUNK_FLOATS / (seqLen * m.d_vocab))));
  const chunkRows = chunkSequences * seqLen;
  const shapes: [number, number, number][] = [
    [rows, width, m.d_model], [rows, m.d_model, width], [chunkRows, m.d_vocab, m.d_model], // forward A·B
    [m.d_model, m.d_vocab, chunkRows], [width, m.d_model, rows], [m.d_model, width, rows], // Aᵀ·B
    [chunkRows, m.d_model, m.d_vocab], [rows, width, m.d_model], [rows, m.d_model, width], // A·Bᵀ
  ];
  const scratch = Math.max(k.attentionScratchBytes(seqLen, m.n_heads, m.d_head), ...shapes.map(([a, b, d]) => k.matmulScratchBytes(a, b, d)));
  set(c("PLAN_KIND"), c("MODEL_TRANSFORMER"));
  set(c("PLAN_MAX_BATCH"), maxBatch);
  set(c("PLAN_D_IN"), seqLen);
  set(c("PLAN_D_OUT"), 0);
  set(c("PLAN_PARAMS"), params);
  set(c("PLAN_GRADS"), grads);
  set(c("PLAN_ARENA_FLOATS"), layout.padded);
  set(c("PLAN_SCRATCH"), engine.alloc(scratch));
  set(c("TF_LAYERS"), m.n_layers);
  set(c("TF_HEADS"), m.n_heads);
  set(c("TF_D_MODEL"), m.d_model);
  set(c("TF_D_HEAD"), m.d_head);
  set(c("TF_D_VOCAB"), m.d_vocab);
  set(c("TF_LAYER_NORM"), useLN ? 1 : 0);
  set(c("TF_SHORTFORMER"), shortformer ? 1 : 0);
  set(c("TF_W_E"), offset("embed.W_E"));
  set(c("TF_W_POS"), offset("pos_embed.W_pos"));
  set(c("TF_LNF_W"), offset("ln_final.w"));
  set(c("TF_LNF_B"), offset("ln_final.b"));
  set(c("TF_W_U"), offset("unembed.W_U"));
  set(c("TF_B_U"), offset("unembed.b_U"));
  for (let l = 0; l < m.n_layers; l++) {
    const base = c("TF_LAYER0") + l * layerWords;
    const field = (name: string) => base + c(name);
    const block = `blocks.${l}`;
    set(field("TFL_LN_W"), offset(`${block}.ln1.w`));
    set(field("TFL_LN_B"), offset(`${block}.ln1.b`));
    for (const w of ["Q", "K", "V", "O"]) set(field(`TFL_W_${w}`), offset(`${block}.attn.W_${w}`));
    for (const b of ["Q", "K", "V", "O"]) set(field(`TFL_B_${b}`), offset(`${block}.attn.b_${b}`));
    const resid = activations(rows * m.d_model);
    const x = useLN ? activations(rows * m.d_model) : resid; // no LN: the block reads resid_l itself
    set(field("TFL_RESID"), resid);
    set(field("TFL_X"), x);
    set(field("TFL_MEAN"), useLN ? activations(rows) : 0);
    set(field("TFL_RSTD"), useLN ? activations(rows) : 0);
    set(field("TFL_QK_IN"), shortformer ? activations(rows * m.d_model) : x);
    for (const t of ["TFL_Q", "TFL_K", "TFL_V", "TFL_Z"]) set(field(t), activations(rows * width));
    set(field("TFL_STATS"), activations(maxBatch * m.n_heads * seqLen * 2));
    set(field("TFL_PATTERN"), keepPatterns ? activations(maxBatch * m.n_heads * seqLen * seqLen) : 0);
    for (const p of ["TFL_PACKED_Q", "TFL_PACKED_K", "TFL_PACKED_V"]) set(field(p), activations(m.d_model * width));
  }
  const residFinal = activations(rows * m.d_model);
  set(c("TF_RESID_FINAL"), residFinal);
  set(c("TF_FINAL_X"), useLN ? activations(rows * m.d_model) : residFinal);
  set(c("TF_FINAL_MEAN"), useLN ? activations(rows) : 0);
  set(c("TF_FINAL_RSTD"), useLN ? activations(rows) : 0);
  set(c("TF_CHUNK_SEQUENCES"), chunkSequences);
  set(c("TF_LOGITS"), activations(chunkSequences * seqLen * m.d_vocab));
  set(c("TF_D_LOGITS"), activations(chunkSequences * seqLen * m.d_vocab));
  set(c("TF_D_RESID"), activations(rows * m.d_model));
  set(c("TF_D_X"), activations(rows * m.d_model));
  for (const t of ["TF_D_Q", "TF_D_K", "TF_D_V", "TF_D_Z"]) set(c(t), activations(rows * width));
  set(c("TF_D_W_PACKED"), activations(m.d_model * width));
  return { address: plan, layout, dIn: seqLen, dOut: 0, maxBatch };
}

/** The model whose next-token distribution is the KL loss's target, and its weights (a padded arena of its layout). */
export interface KlReference {
  model: TransformerConfig;
  weights: Float32Array;
}

/**
 * Make `plan` (a transformer plan) measure the KL loss: L(w) = mean over predicted
 * tokens of KL(p_ref ‖ p_w) (Wang et al. 2024). The reference gets its own copy of
 * its weights and a forward-only plan for the same batch and sequence length, run on
 * each batch before the loss (plan word TF_KL_REFERENCE); its shape may differ from
 * the model's but not its vocabulary, and its context must hold the sequences.
 */
export function planKlReference(engine: Engine, plan: ModelPlan, model: TransformerConfig, reference: KlReference, seqLen: number): void {
  if (reference.model.d_vocab !== model.d_vocab)
    throw new Error(`loss.reference: its d_vocab is ${reference.model.d_vocab}, the model's ${model.d_vocab}; the KL needs one vocabulary`);
  if (reference.model.n_ctx < seqLen)
    throw new Error(`loss.reference: its n_ctx ${reference.model.n_ctx} is shorter than the sequences (${seqLen} tokens)`);
  const c = (name: string) => moduleConstant(engine, name);
  const layout = modelLayout(reference.model);
  const params = engine.allocF32(layout.padded);
  engine.f32(params, layout.padded).set(reference.weights);
  const refPlan = planModel(engine, reference.model, layout, params, 0, plan.maxBatch, seqLen, { keepPatterns: false });
  const refRow = engine.allocF32(model.d_vocab);
  const words = engine.i32(plan.address, c("TF_LAYER0"));
  // Both plans chunk the unembed by the same rule (same batch, T and d_vocab): the
  // reference's logits buffer holds exactly the chunk the model's loss reads.
  if (engine.i32(refPlan.address, c("TF_LAYER0"))[c("TF_CHUNK_SEQUENCES")] !== words[c("TF_CHUNK_SEQUENCES")])
    throw new Error("planKlReference: the two plans chunk the unembed differently");
  words[c("TF_KL_REFERENCE")] = refPlan.address;
  words[c("TF_KL_REF_ROW")] = refRow;
}
