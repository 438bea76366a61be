// Linear-memory planning. The host plans every buffer once (parameter arena,
// data, activations, scratch) and asks for it here; the stub runtime's bump
// allocator never frees, so a step loop that allocates nothing stays flat.

/** Reserve `bytes` of zeroed, 16-byte-aligned memory and return its address. */
export function alloc(bytes: usize): usize {
  const ptr = heap.alloc(bytes);
  memory.fill(ptr, 0, bytes);
  return ptr;
}

/** Forget every allocation (stub runtime only): the next plan starts at __heap_base. */
export function resetHeap(): void {
  __reset();
}
