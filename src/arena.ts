// One flat f32 parameter arena, described by named views (name, offset, shape).
// Weights, w*, gradients, optimizer state and masks are parallel arrays of the
// same layout, so a restriction, the SGLD update and the safetensors loader all
// address the same offsets.
import { ConfigError } from "./config.ts";

export interface TensorView {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset in floats from the start of the arena. */
  readonly offset: number;
  readonly size: number;
}

export interface Layout {
  readonly tensors: readonly TensorView[];
  /** Number of parameters (sum of tensor sizes). */
  readonly size: number;
  /** Arena length in floats: size rounded up to 8, so SIMD passes need no tail (padding has mask 0). */
  readonly padded: number;
}

export const ARENA_ALIGN_FLOATS = 8;

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function buildLayout(specs: readonly { name: string; shape: readonly number[] }[]): Layout {
  let offset = 0;
  const tensors = specs.map(({ name, shape }) => {
    const size = shapeSize(shape);
    const view = { name, shape: [...shape], offset, size };
    offset += size;
    return view;
  });
  return { tensors, size: offset, padded: Math.ceil(offset / ARENA_ALIGN_FLOATS) * ARENA_ALIGN_FLOATS || ARENA_ALIGN_FLOATS };
}

export function findTensor(layout: Layout, name: string): TensorView | undefined {
  return layout.tensors.find((t) => t.name === name);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** A run of arena floats a restriction frees: `size` floats of `tensor` from element `start`. */
export interface ArenaRange {
  tensor: TensorView;
  start: number;
  size: number;
}

export function wholeTensor(view: TensorView | undefined): ArenaRange[] | undefined {
  return view && [{ tensor: view, start: 0, size: view.size }];
}

/** Resolves a selector string ("l0h3", "embed", ...) of a model; undefined if unknown. */
export type SelectorResolver = (selector: string) => ArenaRange[] | undefined;

/**
 * The 0/1 mask of a weight restriction (Wang et al. 2024, weight-refined LLC):
 * null restricts nothing (every parameter moves); otherwise only the named
 * tensors, the elements whose mask entry is 1, or the ranges the selectors name
 * move, and the rest stay at w*.
 */
export function restrictionMask(
  layout: Layout,
  restrict: Record<string, "all" | readonly number[]> | readonly string[] | null,
  resolveSelector: SelectorResolver = () => undefined,
  selectorForms = "tensor names",
): Float32Array {
  const mask = new Float32Array(layout.padded);
  if (!restrict) {
    mask.fill(1, 0, layout.size);
    return mask;
  }
  if (Array.isArray(restrict)) {
    restrict.forEach((selector, i) => {
      const ranges = resolveSelector(selector) ?? wholeTensor(findTensor(layout, selector));
      if (!ranges) throw new ConfigError(`restrict[${i}]`, `unknown selector ${JSON.stringify(selector)} (expected ${selectorForms})`);
      for (const r of ranges) mask.fill(1, r.tensor.offset + r.start, r.tensor.offset + r.start + r.size);
    });
    return mask;
  }
  for (const [name, spec] of Object.entries(restrict as Record<string, "all" | readonly number[]>)) {
    const field = `restrict.${name}`;
    const view = findTensor(layout, name);
    if (!view) throw new ConfigError(field, `no such tensor in the model (tensors: ${layout.tensors.map((t) => t.name).join(", ")})`);
    if (spec === "all") {
      mask.fill(1, view.offset, view.offset + view.size);
      continue;
    }
    if (spec.length !== view.size)
      throw new ConfigError(field, `expected a flattened 0/1 mask of ${view.size} entries (shape ${formatShape(view.shape)}), got ${spec.length}`);
    spec.forEach((v, i) => {
      if (v !== 0 && v !== 1) throw new ConfigError(`${field}[${i}]`, `expected 0 or 1, got ${JSON.stringify(v)}`);
      mask[view.offset + i] = v;
    });
  }
  // Every mask entry 0 frees no parameter: the chains would sit at w* and λ̂ ≈ 0 say nothing.
  if (!mask.includes(1)) {
    const names = Object.keys(restrict);
    throw new ConfigError(names.length === 1 ? `restrict.${names[0]}` : "restrict", "every mask entry is 0, so no parameter moves; give at least one 1 (or \"all\")");
  }
  return mask;
}
