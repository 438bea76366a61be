// Linear-memory planning. The host plans every buffer once (parameter arena,
// data, activations, scratch) and asks for it here; the stub runtime's bump
// allocator never frees, so a step loop that allocates nothing stays flat.

/**
 * Bytes past a block's payload that the stub allocator may also take: its block
 * header and the rounding of the next block to 16 bytes.
 */
const BLOCK_SLACK: usize = 64;

/** The stub allocator's largest block (BLOCK_MAXSIZE, 1 GiB): it refuses larger ones before growing. */
const MAX_BLOCK: usize = 1 << 30;

/** End of the last block handed out here since the last reset (0: none yet). */
let heapEnd: usize = 0;

/** Reserve `bytes` of zeroed, 16-byte-aligned memory and return its address. */
export function alloc(bytes: usize): usize {
  growFor(bytes);
  const ptr = heap.alloc(bytes);
  heapEnd = ptr + bytes;
  memory.fill(ptr, 0, bytes);
  return ptr;
}

/**
 * Grow memory by just the pages the next block needs. Left to itself the stub
 * runtime grows by at least the current size (it doubles), so the paper-size
 * transformer's 757 MiB plan sat in 1640 MiB of memory; after this there is
 * nothing left for it to grow. If this grow fails, the stub's own attempt
 * fails too and traps, which the host reports as out of memory.
 */
function growFor(bytes: usize): void {
  if (bytes > MAX_BLOCK) return; // refused anyway: do not leave memory grown behind
  const end = max(heapEnd, __heap_base) + bytes + BLOCK_SLACK;
  const have = <usize>memory.size() << 16;
  if (end > have) memory.grow(<i32>((end - have + 0xffff) >>> 16));
}

/** Forget every allocation (stub runtime only): the next plan starts at __heap_base. */
export function resetHeap(): void {
  __reset();
  heapEnd = 0;
}
