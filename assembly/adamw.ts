// AdamW (Loshchilov & Hutter 2019) in PyTorch's torch.optim.AdamW form, used to
// train w* before sampling:
//   w ← w − lr·λ·w;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   w ← w − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)
// Element-wise with one operation sequence, so SIMD and scalar builds agree.

export function adamwStep(
  n: i32, w: usize, grad: usize, m: usize, v: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64, t: i32,
): void {
  const decay = <f32>(1.0 - lr * weightDecay);
  const b1 = <f32>beta1, c1 = <f32>(1.0 - beta1);
  const b2 = <f32>beta2, c2 = <f32>(1.0 - beta2);
  const stepSize = <f32>(lr / (1.0 - Math.pow(beta1, <f64>t)));
  const bc2Sqrt = <f32>Math.sqrt(1.0 - Math.pow(beta2, <f64>t));
  const epsF = <f32>eps;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vDecay = f32x4.splat(decay), vb1 = f32x4.splat(b1), vc1 = f32x4.splat(c1), vb2 = f32x4.splat(b2), vc2 = f32x4.splat(c2);
    const vStep = f32x4.splat(stepSize), vBc2 = f32x4.splat(bc2Sqrt), vEps = f32x4.splat(epsF);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const g = v128.load(grad + o);
      const mNew = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vc1, g));
      const vNew = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vc2, f32x4.mul(g, g)));
      const denom = f32x4.add(f32x4.div(f32x4.sqrt(vNew), vBc2), vEps);
      const wDecayed = f32x4.mul(v128.load(w + o), vDecay);
      v128.store(w + o, f32x4.sub(wDecayed, f32x4.div(f32x4.mul(vStep, mNew), denom)));
      v128.store(m + o, mNew);
      v128.store(v + o, vNew);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o);
    const mNew = b1 * load<f32>(m + o) + c1 * g;
    const vNew = b2 * load<f32>(v + o) + c2 * (g * g);
    const denom = Mathf.sqrt(vNew) / bc2Sqrt + epsF;
    const wDecayed = load<f32>(w + o) * decay;
    store<f32>(w + o, wDecayed - (stepSize * mNew) / denom);
    store<f32>(m + o, mNew);
    store<f32>(v + o, vNew);
  }
}

/** Σ g² over n floats in f64, lanes as in sgld.ts: for gradient-norm clipping. */
export function sumOfSquares(x: usize, n: i32): f64 {
  let l0: f64 = 0, l1: f64 = 0, l2: f64 = 0, l3: f64 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = <f64>load<f32>(x + (<usize>i << 2)), b = <f64>load<f32>(x + (<usize>(i + 1) << 2));
    const c = <f64>load<f32>(x + (<usize>(i + 2) << 2)), d = <f64>load<f32>(x + (<usize>(i + 3) << 2));
    l0 += a * a; l1 += b * b; l2 += c * c; l3 += d * d;
  }
  for (let lane = 0; i < n; i++, lane++) {
    const a = <f64>load<f32>(x + (<usize>i << 2));
    if (lane == 0) l0 += a * a; else if (lane == 1) l1 += a * a; else l2 += a * a;
  }
  return l0 + l1 + l2 + l3;
}

/** x ⊙= s over n floats (gradient clipping's rescale). */
export function scaleInPlace(x: usize, n: i32, s: f32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * s);
  }
}
