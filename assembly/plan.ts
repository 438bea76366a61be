// The words every model plan starts with (i32 in linear memory, written by
// src/models.ts): shared by models.ts and transformer.ts.

export const MODEL_POLYNOMIAL: i32 = 0;
export const MODEL_MLP: i32 = 1;
export const MODEL_TRANSFORMER: i32 = 2;

export const PLAN_KIND: i32 = 0;
export const PLAN_MAX_BATCH: i32 = 1;
export const PLAN_D_IN: i32 = 2; // row width of X: features, or the sequence length T
export const PLAN_D_OUT: i32 = 3; // row width of Y (0 for the transformer: targets are X shifted)
export const PLAN_PARAMS: i32 = 4; // address of w in the arena
export const PLAN_GRADS: i32 = 5; // address of ∂L/∂w (same layout)
export const PLAN_SCRATCH: i32 = 6;
export const PLAN_PRED: i32 = 7; // [batch, d_out]
export const PLAN_DPRED: i32 = 8; // [batch, d_out]
export const PLAN_ARENA_FLOATS: i32 = 9; // arena length in floats
export const PLAN_WORDS_FIXED: i32 = 16;

@inline export function planWord(plan: usize, i: i32): i32 {
  return load<i32>(plan + (<usize>i << 2));
}
