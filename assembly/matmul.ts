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
// §3.2). Tiling over M and N and the order in which tiles are visited are free;
// anything that changes the per-element sequence of additions is not.
//
// One source serves both builds: `ASC_FEATURE_SIMD` is a compile-time constant,
// so in the scalar build the v128 branch is dropped and the scalar loop at the
// end of `product` computes every column.
//
// Layout. Matrices are row-major f32; pointers are byte addresses. Inside this
// file every operand is described by byte strides, so one driver serves all
// three products:
//     A element (i,k) lives at  A + i*aRowStride + k*aKStride
//     B element (k,j) lives at  B + k*bKStride   + j*bColStride
//
// SIMD plan (research notes §1.1, §1.3). Columns are covered by 8-wide panels,
// then one 4-wide panel if N%8 >= 4, then at most 3 scalar columns. The 4x8
// microkernel keeps 8 f32x4 accumulators (4 rows × 2 vectors), broadcasts one A
// element per row with v128.load32_splat and loads two B vectors per k: 8
// accumulators + 2 B + 1 splat + 1 temporary = 12 of the 15 SIMD registers V8
// can allocate on x64, so nothing spills. Leftover rows (M%4) use 1-row tiles.
// B is packed into [panel][K][8] (and [K][4] for the 4-wide panel) in the
// caller's scratch, so each k step reads 32 contiguous bytes; A·Bᵀ always packs,
// because packing is where Bᵀ gets transposed.

/** Bytes per f32. */
const F32: usize = 4;

/**
 * Pack B for A·B / Aᵀ·B only when a packed panel is reused by at least this
 * many rows: a 4-row tile reads every B element once per k, so for M < 8 the
 * copy costs about as much as the product it would speed up.
 */
const PACK_MIN_ROWS: i32 = 8;

/**
 * Bytes of packed B panels visited together by every row tile before moving on
 * to the next group. Sized to stay in a 32–48 KiB L1 data cache next to one 4-row
 * strip of A, so a tall-skinny A streams from memory only once.
 */
const PANEL_GROUP_BYTES: i32 = 32 * 1024;

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
 * the packed B panels. The same value in both builds (the scalar build needs
 * none), so a caller can plan memory without knowing the variant.
 */
export function matmulScratchBytes(M: i32, N: i32, K: i32): i32 {
  if (M <= 0 || N <= 0 || K <= 0) return 0;
  return simdColumns(N) * K * <i32>F32;
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
    if (vectorColumns > 0) {
      // Where each panel starts, the distance between panels, and the byte step
      // per k inside a panel: either packed in scratch, or B itself when its
      // rows are contiguous and too few rows of A would reuse a packed copy.
      let panels: usize, panelStep: usize, panelKStride: usize;
      let quadPanel: usize, quadKStride: usize;
      const fullPanels = N >> 3;
      if (bColStride != F32 || M >= PACK_MIN_ROWS) {
        packB(scratch, B, bKStride, bColStride, N, K);
        panels = scratch;
        panelStep = <usize>K * 32;
        panelKStride = 32;
        quadPanel = scratch + <usize>fullPanels * panelStep;
        quadKStride = 16;
      } else {
        panels = B;
        panelStep = 32;
        panelKStride = bKStride;
        quadPanel = B + <usize>fullPanels * 32;
        quadKStride = bKStride;
      }
      simdPanels(C, cRowStride, A, aRowStride, aKStride, panels, panelStep, panelKStride, fullPanels, M, K, accumulate);
      if ((N & 7) >= 4) {
        simdQuadPanel(C + <usize>fullPanels * 32, cRowStride, A, aRowStride, aKStride, quadPanel, quadKStride, M, K, accumulate);
      }
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
 * The reference loop, used for the whole product in the scalar build and for
 * the last N%4 columns in the SIMD build. Same per-element order as the SIMD
 * tiles. When B's rows are contiguous (A·B, Aᵀ·B) it runs i-k-j, adding one
 * product at a time into a C row: the partial sums live in C (an f32 store is
 * exact), so each element still sees acc, +a·b for k = 0, 1, …; contiguous B
 * rows and independent additions make it several times faster than dot
 * products with a strided B column. For A·Bᵀ the dot-product form reads both
 * operands contiguously, so it runs i-j-k.
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
        // acc starts at +0, exactly as the contract says (not at the first product).
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

/**
 * Copy the SIMD-covered columns of B into [panel][K][8] panels followed by one
 * [K][4] panel when N%8 >= 4. Values are copied, never combined, so packing
 * cannot change any result bit.
 */
function packB(dst: usize, B: usize, bKStride: usize, bColStride: usize, N: i32, K: i32): void {
  if (!ASC_FEATURE_SIMD) return;
  const fullPanels = N >> 3;
  const hasQuad = (N & 7) >= 4;
  const panelBytes = <usize>K * 32;
  const quad = dst + <usize>fullPanels * panelBytes;
  if (bColStride == F32) {
    // Rows of B are contiguous: move 8 (or 4) columns per k as whole vectors.
    for (let p = 0; p < fullPanels; p++) {
      let src = B + <usize>p * 32;
      let out = dst + <usize>p * panelBytes;
      for (let k = 0; k < K; k++) {
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        src += bKStride;
        out += 32;
      }
    }
    if (hasQuad) {
      let src = B + <usize>fullPanels * 32;
      let out = quad;
      for (let k = 0; k < K; k++) {
        v128.store(out, v128.load(src));
        src += bKStride;
        out += 16;
      }
    }
  } else {
    // B is stored as [N,K] (A·Bᵀ): each column j of the product is a contiguous
    // row of B; read it in order and scatter it into its lane of the panel.
    for (let j = 0; j < fullPanels * 8; j++) {
      let src = B + <usize>j * bColStride;
      let out = dst + <usize>(j >> 3) * panelBytes + <usize>(j & 7) * F32;
      for (let k = 0; k < K; k++) {
        store<f32>(out, load<f32>(src));
        src += bKStride;
        out += 32;
      }
    }
    if (hasQuad) {
      for (let lane = 0; lane < 4; lane++) {
        let src = B + <usize>(fullPanels * 8 + lane) * bColStride;
        let out = quad + <usize>lane * F32;
        for (let k = 0; k < K; k++) {
          store<f32>(out, load<f32>(src));
          src += bKStride;
          out += 16;
        }
      }
    }
  }
}

/**
 * All 8-wide panels. Panels are visited in groups that fit in L1 together; every
 * row tile sweeps the whole group before the next group starts.
 */
function simdPanels(
  C: usize, cRowStride: usize, A: usize, aRowStride: usize, aKStride: usize,
  panels: usize, panelStep: usize, panelKStride: usize, fullPanels: i32,
  M: i32, K: i32, accumulate: i32,
): void {
  if (!ASC_FEATURE_SIMD) return;
  const groupSize = max(1, PANEL_GROUP_BYTES / max(1, K * 32));
  const fullRowTiles = M & ~3;
  for (let first = 0; first < fullPanels; first += groupSize) {
    const end = min(fullPanels, first + groupSize);
    for (let i = 0; i < M; ) {
      const a = A + <usize>i * aRowStride;
      const c = C + <usize>i * cRowStride;
      if (i < fullRowTiles) {
        for (let p = first; p < end; p++) {
          tile4x8(c + <usize>p * 32, cRowStride, a, aRowStride, aKStride, panels + <usize>p * panelStep, panelKStride, K, accumulate);
        }
        i += 4;
      } else {
        for (let p = first; p < end; p++) {
          tile1x8(c + <usize>p * 32, a, aKStride, panels + <usize>p * panelStep, panelKStride, K, accumulate);
        }
        i += 1;
      }
    }
  }
}

/** The single 4-wide panel (N%8 >= 4): 4x4 tiles, then 1x4 for leftover rows. */
function simdQuadPanel(
  C: usize, cRowStride: usize, A: usize, aRowStride: usize, aKStride: usize,
  panel: usize, panelKStride: usize, M: i32, K: i32, accumulate: i32,
): void {
  if (!ASC_FEATURE_SIMD) return;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    tile4x4(C + <usize>i * cRowStride, cRowStride, A + <usize>i * aRowStride, aRowStride, aKStride, panel, panelKStride, K, accumulate);
  }
  for (; i < M; i++) {
    tile1x4(C + <usize>i * cRowStride, A + <usize>i * aRowStride, aKStride, panel, panelKStride, K, accumulate);
  }
}

// Microkernels. Each lane of each accumulator is one element of C; the loop
// over k adds f32x4.mul(a, b) to it in ascending k, as the contract requires.
// Accumulators start from C (accumulate) or +0, never from the first product.

/** C[4 rows, 8 columns] from 4 rows of A and one 8-wide B panel. */
function tile4x8(
  c: usize, cRowStride: usize, a: usize, aRowStride: usize, aKStride: usize,
  b: usize, bKStride: usize, K: i32, accumulate: i32,
): void {
  if (!ASC_FEATURE_SIMD) return;
  const c1 = c + cRowStride, c2 = c1 + cRowStride, c3 = c2 + cRowStride;
  let a0 = a, a1 = a + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride;
  let acc00 = f32x4.splat(0), acc01 = acc00, acc10 = acc00, acc11 = acc00;
  let acc20 = acc00, acc21 = acc00, acc30 = acc00, acc31 = acc00;
  if (accumulate) {
    acc00 = v128.load(c); acc01 = v128.load(c, 16);
    acc10 = v128.load(c1); acc11 = v128.load(c1, 16);
    acc20 = v128.load(c2); acc21 = v128.load(c2, 16);
    acc30 = v128.load(c3); acc31 = v128.load(c3, 16);
  }
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let ak = v128.load32_splat(a0);
    acc00 = f32x4.add(acc00, f32x4.mul(ak, b0));
    acc01 = f32x4.add(acc01, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a1);
    acc10 = f32x4.add(acc10, f32x4.mul(ak, b0));
    acc11 = f32x4.add(acc11, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a2);
    acc20 = f32x4.add(acc20, f32x4.mul(ak, b0));
    acc21 = f32x4.add(acc21, f32x4.mul(ak, b1));
    ak = v128.load32_splat(a3);
    acc30 = f32x4.add(acc30, f32x4.mul(ak, b0));
    acc31 = f32x4.add(acc31, f32x4.mul(ak, b1));
    a0 += aKStride; a1 += aKStride; a2 += aKStride; a3 += aKStride;
    b += bKStride;
  }
  v128.store(c, acc00); v128.store(c, acc01, 16);
  v128.store(c1, acc10); v128.store(c1, acc11, 16);
  v128.store(c2, acc20); v128.store(c2, acc21, 16);
  v128.store(c3, acc30); v128.store(c3, acc31, 16);
}

/** C[1 row, 8 columns]: leftover rows (M%4) against an 8-wide panel. */
function tile1x8(c: usize, a: usize, aKStride: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  if (!ASC_FEATURE_SIMD) return;
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

/** C[4 rows, 4 columns] against the 4-wide panel (N%8 >= 4). */
function tile4x4(
  c: usize, cRowStride: usize, a: usize, aRowStride: usize, aKStride: usize,
  b: usize, bKStride: usize, K: i32, accumulate: i32,
): void {
  if (!ASC_FEATURE_SIMD) return;
  const c1 = c + cRowStride, c2 = c1 + cRowStride, c3 = c2 + cRowStride;
  let a0 = a, a1 = a + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride;
  let acc0 = f32x4.splat(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  if (accumulate) {
    acc0 = v128.load(c); acc1 = v128.load(c1); acc2 = v128.load(c2); acc3 = v128.load(c3);
  }
  for (let k = 0; k < K; k++) {
    const bk = v128.load(b);
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load32_splat(a0), bk));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load32_splat(a1), bk));
    acc2 = f32x4.add(acc2, f32x4.mul(v128.load32_splat(a2), bk));
    acc3 = f32x4.add(acc3, f32x4.mul(v128.load32_splat(a3), bk));
    a0 += aKStride; a1 += aKStride; a2 += aKStride; a3 += aKStride;
    b += bKStride;
  }
  v128.store(c, acc0); v128.store(c1, acc1); v128.store(c2, acc2); v128.store(c3, acc3);
}

/** C[1 row, 4 columns]: leftover rows against the 4-wide panel. */
function tile1x4(c: usize, a: usize, aKStride: usize, b: usize, bKStride: usize, K: i32, accumulate: i32): void {
  if (!ASC_FEATURE_SIMD) return;
  let acc = accumulate ? v128.load(c) : f32x4.splat(0);
  for (let k = 0; k < K; k++) {
    acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(a), v128.load(b)));
    a += aKStride;
    b += bKStride;
  }
  v128.store(c, acc);
}
