// The module's export surface: every kernel family, one file each.
export * from "./memory";
export * from "./matmul";
export * from "./elementwise";
export * from "./rng";
export * from "./sgld";
export * from "./adamw";
export * from "./models";
export * from "./chain";
export * from "./selftest";
export * from "./attention";
export * from "./layernorm";
export * from "./embedding";
export * from "./crossentropy";
export * from "./transformer";
export * from "./diagnostics";
