// Limits the engine checks before any work, declared once. This file is read by
// TypeScript (src/config.ts, src/io/json.ts, src/engine.ts) and by AssemblyScript
// (assembly/wasi/config.ts, assembly/wasi/json.ts), so it holds only untyped numeric
// literals, valid in both languages (each infers its own number type).

/**
 * chains × draws at most: a result holds that many numbers in each of its seven
 * traces (llc, loss, mala_accept, gradient_norm, noise_norm, distance, weight_norm).
 * A number takes up to ~31 characters of indented JSON, so 10^6 draws make at most
 * ~220 MB of text, under the 2^29 − 24 ≈ 537 M characters V8 allows a string
 * (Node 20): a result this size can always be written and read back to resume.
 */
export const MAX_RESULT_DRAWS = 1000000;

/**
 * burnin + draws × thin at most: the chain's step index is an i32 word of its plan
 * (assembly/chain.ts CH_STEP) and the Philox counter of its noise, 2^31 − 1 steps.
 */
export const MAX_CHAIN_STEPS = 2147483647;

/** Nesting levels any JSON the engine reads may have (no config, header or state file needs more than 5). */
export const MAX_JSON_DEPTH = 512;

/**
 * Bytes of any text file (config, result, state file, log, tokenizer) and characters
 * of any JSON the engine reads: 256 MiB, room for the largest result MAX_RESULT_DRAWS
 * allows, and half of V8's string limit.
 */
export const MAX_TEXT_BYTES = 268435456;

/**
 * Bytes of any binary input file (weights, data, checkpoints, token files): twice a
 * wasm32 memory, since F64 tensors become f32 ones in it; larger could never be used.
 */
export const MAX_INPUT_BYTES = 8589934592;

/** Pages of 64 KiB a wasm32 memory can address (2^32 bytes): the WebAssembly spec's limit. */
export const WASM32_MAX_PAGES = 65536;

/**
 * Mean MALA acceptance below which ε is too large: the verdict says "ε too large" and
 * the CLI and the page warn, by this one number. Furman & Lau (2024) aim near 0.9;
 * measured on the rrr example (true λ 6.5, src/web/diagnostics.ts), λ̂ is biased by +5 %
 * at MALA 0.87, +16 % at 0.78 and +45 % at 0.60, so below 0.8 the bias is past the
 * chains' spread. (Issue 13 proposed 0.5; with two numbers a verdict would call
 * "healthy" an estimate the warning beside it calls biased.)
 */
export const MALA_TOO_LOW = 0.8;
