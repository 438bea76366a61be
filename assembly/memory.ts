// Linear-memory planning. The host plans every buffer once (parameter arena,
// data, activations, scratch) and asks for it here; the stub runtime's bump
// allocator never frees, so a step loop that allocates nothing stays flat.
//
// Blocks are carved from the stub runtime's heap (so the WASI build's own
// strings and arrays, which use the same heap, never overlap them) but this
// file grows the memory itself, by what is asked: every address sum is formed
// in u64 and checked against MEMORY_TOP before anything is grown or written,
// so no request wraps around 2^32, and a request that does not fit returns 0
// (the host reports it) instead of trapping.

/** The stub allocator's largest block, about 1 GiB: larger blocks are made of consecutive ones. */
const MAX_BLOCK: u64 = (1 << 30) - 16; // BLOCK_MAXSIZE is 2^30 − 4; payloads here are 16-byte multiples

/**
 * Bytes each stub block adds to its payload: a 4-byte header, with the payload
 * rounded to 16 bytes (payloads here are multiples of 16, so exactly 16).
 */
const BLOCK_HEADER: u64 = 16;

/**
 * Highest address the heap may reach: 65535 of wasm32's 65536 pages. At 65536
 * pages the stub runtime's end-of-memory (pages << 16, in u32) wraps to 0 and its
 * next allocation traps, so the last page is never grown into.
 */
export const MEMORY_TOP: u64 = <u64>65535 << 16;

/** Bytes past a block that are kept grown: the next block's header and the stub's probe. */
const SLACK: u64 = 64;

/** Payload bytes a request of `bytes` is given: 16-byte multiples, at least 16 (src/engine.ts rounds the same way). */
@inline function rounded(bytes: u64): u64 {
  return max<u64>(16, (bytes + 15) & ~(<u64>15));
}

/**
 * Address the next block's payload will start at. The stub hands out a block at
 * its offset + 4; a 0-byte probe block moves the offset by 16 (wasting 16 bytes,
 * once per allocation) and tells where.
 */
function nextBlock(): u64 {
  return <u64>heap.alloc(0) + BLOCK_HEADER;
}

/**
 * Heap bytes a request of `bytes` takes: its rounded payload, the probe (16) and
 * the block's header and padding (16). Larger blocks' extra headers lie inside the
 * payload. src/engine.ts blockBytes mirrors this, so a plan's total is known
 * before it is made.
 */
export const ALLOC_OVERHEAD: i32 = 32;

/** Grow the memory (never past MEMORY_TOP) so that it holds address `end`; false if it cannot. */
function growTo(end: u64): bool {
  if (end > MEMORY_TOP) return false;
  const have = <u64>memory.size() << 16;
  return end <= have || memory.grow(<i32>((end - have + 0xffff) >> 16)) >= 0;
}

/**
 * Reserve `bytes` of zeroed, 16-byte-aligned memory and return its address, or 0
 * (nothing reserved, memory unchanged) if it does not fit below MEMORY_TOP or the
 * host refuses to grow the memory.
 */
export function alloc(bytes: usize): usize {
  const size = rounded(<u64>bytes);
  const start = nextBlock();
  const target = start + size;
  if (!growTo(target + SLACK)) return 0;
  // Consecutive stub blocks of at most 1 GiB cover [start, target): each next
  // payload begins 16 bytes past the last (its padding and header, inside the range).
  let at = start;
  while (at < target) {
    const payload = min<u64>(MAX_BLOCK, target - at);
    at = <u64>heap.alloc(<usize>payload) + payload + BLOCK_HEADER;
  }
  memory.fill(<usize>start, 0, <usize>size);
  return <usize>start;
}

/** Address the next allocation would start at (a probe: it moves the heap by 16 bytes). */
export function heapTop(): usize {
  return <usize>nextBlock();
}

/** Forget every allocation (stub runtime only): the next plan starts at __heap_base. */
export function resetHeap(): void {
  __reset();
}
