// Dense f32 matrix products on raw pointers: C[M,N] (+)= A·B, A·Bᵀ and Aᵀ·B.
//
// DETERMINISM CONTRACT. Every output element is computed as
//     acc = accumulate ? C[i,j] : 0
//     for k = 0 .. K-1 (ascending):  acc = acc + f32(a_ik * b_kj)
// with an f32-rounded multiply followed by an f32-rounded add: no FMA, no
// relaxed SIMD, and K is never split into partial sums. A SIMD lane holds one
// output element and walks k in the same order as the scalar loop, so the SIMD
// build, the scalar build and a JS reference using Math.fround after every
// multiply and add give bit-identical results on every engine (research notes
// §3.2). Tiling over M and N, the order in which tiles are visited and copying
// operands into packed layouts are free; anything that changes the sequence
// of additions into one element is not.
//
// One source serves both builds: `ASC_FEATURE_SIMD` is a compile-time constant,
// so in the scalar build every v128 branch is dropped and the scalar loop at
// the end of `product` computes all columns.
//
// Layout. Matrices are row-major f32; pointers are byte addresses. Inside this
// file each operand is described by byte strides, so one driver serves all
// three products:
//     A element (i,k) lives at  A + i*aRowStride + k*aKStride
//     B element (k,j) lives at  B + k*bKStride   + j*bColStride
// In every product one of A's strides and one of B's strides is 4 bytes.
//
// SIMD plan (research notes §1.1, §1.3). Columns are covered by 8-wide B
// panels, then one 4-wide panel if N%8 >= 4, then at most 3 scalar columns.
// The 4x8 microkernel keeps 8 f32x4 accumulators (4 rows × 2 vectors),
// broadcasts one A element per row with v128.load32_splat and loads two B
// vectors per k: 8 accumulators + 2 B + the splats stay within the 15 SIMD
// registers V8 allocates on x64. Leftover rows (M%4) use 1-row tiles.
// Two packed copies live in the caller's scratch:
//   - B, one K block of one group of panels at a time, as [panel][kc][8] (and
//     [kc][4] for the 4-wide panel): each k step reads 32 contiguous bytes, and
//     A·Bᵀ gets its transpose here. Packing just the block about to be used
//     keeps the copy in L2 (BLIS's B̃ block); packing all of B first wrote
//     K·N·4 bytes (3 MB for a weight gradient Xᵀ·∂Y of 2048 rows × 384) out to
//     L3 and read them back;
//   - A, 4 rows at a time, as [k][4] strips: the four splats of one k come from
//     one pointer with immediate offsets whatever the product's A layout, so
//     Aᵀ·B runs as fast as A·B (with four strided row pointers it measured
//     ~25% slower in Node 20; unrolling k instead made V8 hoist every load of
//     both halves and spill accumulators).
// K is walked in blocks (K_BLOCK) so a panel block and an A strip stay in L1;
// each block resumes from the running sums stored in C, which keeps the
// per-element order intact (see simdProduct).

/** Bytes per f32. */
const F32: usize = 4;

/**
 * Pack B for A·B / Aᵀ·B only when a packed panel is reused by at least this
 * many rows: a 4-row tile reads every B element once per k, so for M < 8 the
 * copy costs about as much as the product it would speed up. (A·Bᵀ always
 * packs: its B columns are not contiguous.)
 */
const PACK_B_MIN_ROWS: i32 = 8;

/**
 * Bytes of packed B panels (one K block of each) that every 4-row strip of A
 * visits before moving on to the next group of panels: a group that fits in L2
 * is read from there once per strip, while the strip itself stays in L1.
 */
const PANEL_GROUP_BYTES: i32 = 128 * 1024;

/**
 * Values of k per block (see simdProduct): a block of one 8-wide panel is
 * K_BLOCK·32 bytes and a packed A strip K_BLOCK·16, together well inside L1.
 */
const K_BLOCK: i32 = 256;

/** 4-row strips of A packed together: 16 rows of f32 span one 64-byte cache line in Aᵀ·B. */
const STRIPS_PER_PACK: i32 = 4;

/** Columns computed by SIMD panels: all 8-wide panels, plus one 4-wide panel if N%8 >= 4. */
// @ts-ignore: decorator
@inline function simdColumns(N: i32): i32 {
  return (N & ~7) + ((N & 7) >= 4 ? 4 : 0);
}

/** C[M,N] (+)= A[M,K] · B[K,N]. `accumulate` = 0 overwrites C, 1 adds to it. */
export function matmulAB(C: usize, A: usize, B: usize, M: i32, N: i32, K: i32, accumulate: i32, scratch: usize): void {
  product(C, A, <usize>K * F32, F32, B, <usize>N * F32, F32, M, N, K, accumulate, scratch);
}

/** C[M,N] (+)= A[M,K] · B[N,K]ᵀ. `accumulate` = 0 overwrites C, 1 adds to it. */
export function matmulABt(C: usize, A: usize, B: usize, M: i32, N: i32, K: i32, accumulate: i32, scratch: usize): void {
  product(C, A, <usize>K * F32, F32, B, F32, <usize>K * F32, M, N, K, accumulate, scratch);
}

/** C[M,N] (+)= A[K,M]ᵀ · B[K,N]. `accumulate` = 0 overwrites C, 1 adds to it. */
export function matmulAtB(C: usize, A: usize, B: usize, M: i32, N: i32, K: i32, accumulate: i32, scratch: usize): void {
  product(C, A, F32, <usize>M * F32, B, <usize>N * F32, F32, M, N, K, accumulate, scratch);
}

/**
 * Scratch bytes that matmulAB, matmulABt or matmulAtB may use for this shape:
 * one K block of one group of packed B panels (at most PANEL_GROUP_BYTES) plus
 * STRIPS_PER_PACK packed 4-row strips of A, one K block long. The same value in
 * both builds (the scalar build uses none), so a caller can plan memory without
 * knowing the variant.
 */
export function matmulScratchBytes(M: i32, N: i32, K: i32): i32 {
  if (M <= 0 || N <= 0 || K <= 0) return 0;
  const columns = simdColumns(N);
  const kc = min(K, K_BLOCK);
  return columns > 0 ? min(columns * kc * <i32>F32, PANEL_GROUP_BYTES) + 4 * STRIPS_PER_PACK * kc * <i32>F32 : 0;
}

/** Panels per group for a K block of kc: as many 8-wide panels as fit PANEL_GROUP_BYTES. */
// @ts-ignore: decorator
@inline function panelsPerGroup(kc: i32): i32 {
  return max(1, PANEL_GROUP_BYTES / (kc * 32));
}

/** The shared driver; see the layout comment at the top of the file. */
function product(
  C: usize, A: usize, aRowStride: usize, aKStride: usize,
  B: usize, bKStride: usize, bColStride: usize,
  M: i32, N: i32, K: i32, accumulate: i32, scratch: usize,
): void {
  if (M <= 0 || N <= 0) return;
  const cRowStride = <usize>N * F32;
  let firstScalarColumn = 0;
  if (ASC_FEATURE_SIMD) {
    const vectorColumns = simdColumns(N);
    if (vectorColumns > 0 && K > 0) {
      simdProduct(C, cRowStride, A, aRowStride, aKStride, B, bKStride, bColStride, M, N, K, accumulate, scratch);
      firstScalarColumn = vectorColumns;
    }
  }
  if (firstScalarColumn < N) {
    const first = <usize>firstScalarColumn;
    scalarProduct(
      C + first * F32, cRowStride, A, aRowStride, aKStride,
      B + first * bColStride, bKStride, bColStride, M, N - firstScalarColumn, K, accumulate,
    );
  }
}

/**
 * The reference loop: the whole product in the scalar build, the last N%4
 * columns in the SIMD build. Same per-element order as the SIMD tiles. When
 * B's rows are contiguous (A·B, Aᵀ·B) it runs i-k-j, adding one product at a
 * time into a row of C: the running sums live in C (an f32 store is exact), so
 * each element still sees acc + a·b for k = 0, 1, … in order, while the inner
 * loop reads B contiguously and its additions are independent. For A·Bᵀ the
 * dot-product form (i-j-k) is the one that reads both operands contiguously.
 */
function scalarProduct(
  C: usize, cRowStride: usize, A: usize, aRowStride: usize, aKStride: usize,
  B: usize, bKStride: usize, bColStride: usize,
  rows: i32, cols: i32, K: i32, accumulate: i32,
): void {
  if (bColStride == F32) {
    for (let i = 0; i < rows; i++) {
      const cRow = C + <usize>i * cRowStride;
      if (!accumulate) {
        // acc starts at +0, as the contract says (not at the first product).
        for (let j = 0; j < cols; j++) store<f32>(cRow + <usize>j * F32, 0);
      }
      let a = A + <usize>i * aRowStride;
      let bRow = B;
      for (let k = 0; k < K; k++) {
        const aik = load<f32>(a);
        for (let j = 0; j < cols; j++) {
          const c = cRow + <usize>j * F32;
          store<f32>(c, load<f32>(c) + aik * load<f32>(bRow + <usize>j * F32));
        }
        a += aKStride;
        bRow += bKStride;
      }
    }
  } else {
    for (let i = 0; i < rows; i++) {
      const aRow = A + <usize>i * aRowStride;
      const cRow = C + <usize>i * cRowStride;
      for (let j = 0; j < cols; j++) {
        const c = cRow + <usize>j * F32;
        let acc: f32 = accumulate ? load<f32>(c) : 0;
        let a = aRow;
        let b = B + <usize>j * bColStride;
        for (let k = 0; k < K; k++) {
          acc += load<f32>(a) * load<f32>(b);
          a += aKStride;
          b += bKStride;
        }
        store<f32>(c, acc);
      }
    }
  }
}

// Everything from here on is reached only through the `if (ASC_FEATURE_SIMD)`
// branch in `product`, so the scalar build never compiles it.

/**
 * Columns 0 .. simdColumns(N)-1 with SIMD tiles. Scratch holds the packed B
 * panels, then the packed strips of A ([kc][4] each) being multiplied.
 *
 * K is processed in blocks of K_BLOCK so that a panel's block and the A strip
 * stay in L1. This is not a split of K into partial sums: after a block, each
 * element's running sum is stored in C (exactly, as an f32) and the next block
 * resumes from it with accumulate = 1, so every element still sees one
 * sequence acc + a·b for k = 0, 1, …, K-1.
 */
function simdProduct(
  C: usize, cRowStride: usize, A: usize, aRowStride: usize, aKStride: usize,
  B: usize, bKStride: usize, bColStride: usize,
  M: i32, N: i32, K: i32, accumulate: i32, scratch: usize,
): void {
  const fullPanels = N >> 3;
  const panelCount = fullPanels + ((N & 7) >= 4 ? 1 : 0);
  // B is packed (block by block, into scratch) unless its rows are contiguous
  // and too few rows would reuse a packed copy; then tiles read B in place.
  const packing = bColStride != F32 || M >= PACK_B_MIN_ROWS;
  const strips = scratch + <usize>min(simdColumns(N) * min(K, K_BLOCK) * <i32>F32, PANEL_GROUP_BYTES);
  const fullStripRows = M & ~3;
  for (let k0 = 0; k0 < K; k0 += K_BLOCK) {
    const kc = min(K_BLOCK, K - k0);
    const addToC = k0 > 0 ? 1 : accumulate;
    const blockA = A + <usize>k0 * aKStride;
    const blockB = B + <usize>k0 * bKStride;
    const stripBytes = <usize>kc * 16;
    const groupSize = panelsPerGroup(kc);
    for (let first = 0; first < panelCount; first += groupSize) {
      const end = min(panelCount, first + groupSize);
      // Panel p of the group starts at panels + (p − first)·panelStep and advances
      // panelKStride bytes per k (quadKStride for the 4-wide panel).
      let panels: usize, panelStep: usize, panelKStride: usize, quadKStride: usize;
      if (packing) {
        packB(scratch, blockB, bKStride, bColStride, first, end, fullPanels, kc);
        panels = scratch;
        panelStep = <usize>kc * 32;
        panelKStride = 32;
        quadKStride = 16;
      } else {
        panels = blockB + <usize>first * 32;
        panelStep = 32;
        panelKStride = bKStride;
        quadKStride = bKStride;
      }
      for (let i0 = 0; i0 < fullStripRows; i0 += 4 * STRIPS_PER_PACK) {
        const stripCount = min(STRIPS_PER_PACK, (fullStripRows - i0) >> 2);
        packAStrips(strips, blockA + <usize>i0 * aRowStride, aRowStride, aKStride, kc, stripCount);
        for (let s = 0; s < stripCount; s++) {
          const strip = strips + <usize>s * stripBytes;
          const c = C + <usize>(i0 + 4 * s) * cRowStride;
          for (let p = first; p < end; p++) {
            const panel = panels + <usize>(p - first) * panelStep;
            if (p < fullPanels) tile4x8(c + <usize>p * 32, cRowStride, strip, panel, panelKStride, kc, addToC);
            else tile4x4(c + <usize>p * 32, cRowStride, strip, panel, quadKStride, kc, addToC);
          }
        }
      }
      for (let i = fullStripRows; i < M; i++) {
        const a = blockA + <usize>i * aRowStride;
        const c = C + <usize>i * cRowStride;
        for (let p = first; p < end; p++) {
          const panel = panels + <usize>(p - first) * panelStep;
          if (p < fullPanels) tile1x8(c + <usize>p * 32, a, aKStride, panel, panelKStride, kc, addToC);
          else tile1x4(c + <usize>p * 32, a, aKStride, panel, quadKStride, kc, addToC);
        }
      }
    }
  }
}

/**
 * Copy panels first..end−1 of B's SIMD-covered columns, rows k = 0..kc−1 of the
 * block starting at B, into dst: panel p as [kc][8] at dst + (p − first)·kc·32, the
 * 4-wide panel (p = fullPanels, when N%8 >= 4) as [kc][4]. Values are copied,
 * never combined, so packing cannot change any result bit.
 */
function packB(dst: usize, B: usize, bKStride: usize, bColStride: usize, first: i32, end: i32, fullPanels: i32, kc: i32): void {
  const panelBytes = <usize>kc * 32;
  const lastFull = min(end, fullPanels);
  if (bColStride == F32) {
    // Rows of B are contiguous: move 8 (or 4) columns per k as whole vectors.
    for (let p = first; p < lastFull; p++) {
      let src = B + <usize>p * 32;
      let out = dst + <usize>(p - first) * panelBytes;
      for (let k = 0; k < kc; k++) {
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        src += bKStride;
        out += 32;
      }
    }
    if (end > fullPanels) {
      let src = B + <usize>fullPanels * 32;
      let out = dst + <usize>(fullPanels - first) * panelBytes;
      for (let k = 0; k < kc; k++) {
        v128.store(out, v128.load(src));
        src += bKStride;
        out += 16;
      }
    }
  } else {
    // A·Bᵀ: B is [N,K], so product column j is the contiguous row j of B.
    // Transpose 4 such rows at a time into the lanes of the panel.
    for (let p = first; p < lastFull; p++) {
      const rows = B + <usize>(p * 8) * bColStride;
      const out = dst + <usize>(p - first) * panelBytes;
      transposeRows4(out, 32, rows, bColStride, kc);
      transposeRows4(out + 16, 32, rows + 4 * bColStride, bColStride, kc);
    }
    if (end > fullPanels) {
      transposeRows4(dst + <usize>(fullPanels - first) * panelBytes, 16, B + <usize>(fullPanels * 8) * bColStride, bColStride, kc);
    }
  }
}

/**
 * Copy `stripCount` strips of 4 rows of A (k = 0..kc-1) into dst, strip s as
 * [kc][4] at dst + s*kc*16: element (4s + r, k) goes to dst[s][k][r].
 */
function packAStrips(dst: usize, A: usize, aRowStride: usize, aKStride: usize, kc: i32, stripCount: i32): void {
  const stripBytes = <usize>kc * 16;
  if (aRowStride == F32) {
    // Aᵀ·B: the rows' elements of one k are adjacent, so one pass reads whole
    // cache lines (16 rows = 64 bytes) instead of revisiting each line per strip.
    for (let k = 0; k < kc; k++) {
      const src = A + <usize>k * aKStride, out = dst + <usize>k * 16;
      for (let s = 0; s < stripCount; s++) {
        v128.store(out + <usize>s * stripBytes, v128.load(src + <usize>s * 16));
      }
    }
  } else {
    for (let s = 0; s < stripCount; s++) {
      transposeRows4(dst + <usize>s * stripBytes, 16, A + <usize>(4 * s) * aRowStride, aRowStride, kc);
    }
  }
}

/**
 * For 4 contiguous f32 rows of length K starting at src, src + srcRowStride, …,
 * write dst + k*dstKStride = [row0[k], row1[k], row2[k], row3[k]] for every k.
 */
function transposeRows4(dst: usize, dstKStride: usize, src: usize, srcRowStride: usize, K: i32): void {
  const r1 = src + srcRowStride, r2 = r1 + srcRowStride, r3 = r2 + srcRowStride;
  let k = 0;
  let offset: usize = 0;
  for (; k + 4 <= K; k += 4) {
    // 4x4 block transpose: rows (r, k..k+3) → columns (k, r0..r3).
    const x0 = v128.load(src + offset), x1 = v128.load(r1 + offset);
    const x2 = v128.load(r2 + offset), x3 = v128.load(r3 + offset);
    const lo01 = i32x4.shuffle(x0, x1, 0, 4, 1, 5), hi01 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
    const lo23 = i32x4.shuffle(x2, x3, 0, 4, 1, 5), hi23 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
    v128.store(dst, i32x4.shuffle(lo01, lo23, 0, 1, 4, 5));
    v128.store(dst + dstKStride, i32x4.shuffle(lo01, lo23, 2, 3, 6, 7));
    v128.store(dst + 2 * dstKStride, i32x4.shuffle(hi01, hi23, 0, 1, 4, 5));
    v128.store(dst + 3 * dstKStride, i32x4.shuffle(hi01, hi23, 2, 3, 6, 7));
    offset += 16;
    dst += 4 * dstKStride;
  }
  for (; k < K; k++) {
    store<f32>(dst, load<f32>(src + offset));
    store<f32>(dst, load<f32>(r1 + offset), 4);
    store<f32>(dst, load<f32>(r2 + offset), 8);
    store<f32>(dst, load<f32>(r3 + offset), 12);
    offset += 4;
    dst += dstKStride;
  }
}

// Microkernels. Each lane of each accumulator is one element of C; the loop
// over k adds f32x4.mul(a, b) to it in ascending k, as the contract requires.
// Accumulators start from C (accumulate) or +0, never from the first product.

/** C[4 rows, 8 columns] from a packed A strip ([K][4]) and (a K block of) one 8-wide B panel. */
function tile4x8(c: usize, cRowStride: usize, strip: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  const c1 = c + cRowStride, c2 = c1 + cRowStride, c3 = c2 + cRowStride;
  let acc00 = f32x4.splat(0), acc01 = acc00, acc10 = acc00, acc11 = acc00;
  let acc20 = acc00, acc21 = acc00, acc30 = acc00, acc31 = acc00;
  if (accumulate) {
    acc00 = v128.load(c); acc01 = v128.load(c, 16);
    acc10 = v128.load(c1); acc11 = v128.load(c1, 16);
    acc20 = v128.load(c2); acc21 = v128.load(c2, 16);
    acc30 = v128.load(c3); acc31 = v128.load(c3, 16);
  }
  const stripEnd = strip + <usize>K * 16;
  for (let a = strip; a < stripEnd; a += 16) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let ak = v128.load32_splat(a);
    acc00 = f32x4.add(acc00, f32x4.mul(ak, b0));
    acc01 = f32x4.add(acc01, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a, 4);
    acc10 = f32x4.add(acc10, f32x4.mul(ak, b0));
    acc11 = f32x4.add(acc11, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a, 8);
    acc20 = f32x4.add(acc20, f32x4.mul(ak, b0));
    acc21 = f32x4.add(acc21, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a, 12);
    acc30 = f32x4.add(acc30, f32x4.mul(ak, b0));
    acc31 = f32x4.add(acc31, f32x4.mul(ak, b1));
    b += bKStride;
  }
  v128.store(c, acc00); v128.store(c, acc01, 16);
  v128.store(c1, acc10); v128.store(c1, acc11, 16);
  v128.store(c2, acc20); v128.store(c2, acc21, 16);
  v128.store(c3, acc30); v128.store(c3, acc31, 16);
}

/** C[4 rows, 4 columns] from a packed A strip and the 4-wide panel (N%8 >= 4). */
function tile4x4(c: usize, cRowStride: usize, strip: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  const c1 = c + cRowStride, c2 = c1 + cRowStride, c3 = c2 + cRowStride;
  let acc0 = f32x4.splat(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  if (accumulate) {
    acc0 = v128.load(c); acc1 = v128.load(c1); acc2 = v128.load(c2); acc3 = v128.load(c3);
  }
  const stripEnd = strip + <usize>K * 16;
  for (let a = strip; a < stripEnd; a += 16) {
    const bk = v128.load(b);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load32_splat(a), bk));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load32_splat(a, 4), bk));
    acc2 = f32x4.add(acc2, f32x4.mul(v128.load32_splat(a, 8), bk));
    acc3 = f32x4.add(acc3, f32x4.mul(v128.load32_splat(a, 12), bk));
    b += bKStride;
  }
  v128.store(c, acc0); v128.store(c1, acc1); v128.store(c2, acc2); v128.store(c3, acc3);
}

/** C[1 row, 8 columns]: a leftover row (M%4), read from A in place, against an 8-wide panel. */
function tile1x8(c: usize, a: usize, aKStride: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  let acc0 = f32x4.splat(0), acc1 = acc0;
  if (accumulate) {
    acc0 = v128.load(c); acc1 = v128.load(c, 16);
  }
  for (let k = 0; k < K; k++) {
    const ak = v128.load32_splat(a);
    acc0 = f32x4.add(acc0, f32x4.mul(ak, v128.load(b)));
    acc1 = f32x4.add(acc1, f32x4.mul(ak, v128.load(b, 16)));
    a += aKStride;
    b += bKStride;
  }
  v128.store(c, acc0); v128.store(c, acc1, 16);
}

/** C[1 row, 4 columns]: a leftover row against the 4-wide panel. */
function tile1x4(c: usize, a: usize, aKStride: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  let acc = accumulate ? v128.load(c) : f32x4.splat(0);
  for (let k = 0; k < K; k++) {
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a), v128.load(b)));
    a += aKStride;
    b += bKStride;
  }
  v128.store(c, acc);
}
