// The fused SGLD update over the parameter arena (Welling & Teh 2011, in the
// localized, tempered form of Lau et al. 2023 and devinterp's optim/sgld.py):
//
//   d  = M ⊙ [ nβ·g + γ·(w − w*) + λ_wd·w ]            (drift, "dws" in devinterp)
//   w ← w − (ε/2)·d + √ε·σ·M ⊙ ξ,   ξ ~ N(0, I)        then clamp to w* ± box
//
// and the RMSprop-preconditioned variant (devinterp SGMCMC.rmsprop_sgld):
//   V ← αV + (1−α)g⊙g,  G = 1/(√V + eps),  d = M ⊙ [G⊙(nβ·g + γ(w − w*)) + λ_wd·w],
//   noise scaled by √G.
//
// The same pass gathers the sums the diagnostics need (norms, and both MALA
// proposal densities, Furman & Lau 2024), so the arena is read once per step.
// Sums are f64 (the MALA proposal terms formed in f64 too) in four interleaved lanes (element i goes to lane i mod 4), then
// combined ((l0 + l1) + l2) + l3, which the SIMD and scalar builds share.

export const METHOD_SGLD: i32 = 0;
export const METHOD_RMSPROP_SGLD: i32 = 1;

// Step sums, read with sgldStat(i) after sgldStep().
export const STAT_GRAD_SQ: i32 = 0; // Σ (M⊙nβ·g)²
export const STAT_NOISE_SQ: i32 = 1; // Σ (M⊙ξ)²
export const STAT_DIST_SQ: i32 = 2; // Σ (w' − w*)² after the update
export const STAT_WEIGHT_SQ: i32 = 3; // Σ w'² after the update
export const STAT_LOCAL_SQ: i32 = 4; // Σ M⊙(w − w*)² before the update (localization potential)
export const STAT_DECAY_SQ: i32 = 5; // Σ M⊙w² before the update (weight-decay potential)
export const STAT_FORWARD_SQ: i32 = 6; // Σ (w − w_prev + (ε/2)·d_prev)²  (−log q(w | w_prev)·2ε)
export const STAT_BACKWARD_SQ: i32 = 7; // Σ (w_prev − w + (ε/2)·d)²      (−log q(w_prev | w)·2ε)
const STAT_COUNT: i32 = 8;
const statLanes = memory.data(STAT_COUNT * 4 * 8, 16);
const statSums = memory.data(STAT_COUNT * 8, 8);

export function sgldStat(i: i32): f64 {
  return load<f64>(statSums + (<usize>i << 3));
}

@inline function laneAddress(stat: i32, lane: i32): usize {
  return statLanes + (<usize>(stat * 4 + lane) << 3);
}
@inline function addSquare(stat: i32, lane: i32, x: f32): void {
  const p = laneAddress(stat, lane);
  store<f64>(p, load<f64>(p) + <f64>x * <f64>x);
}

/** Add ((a − b) + s·c)² per lane in f64: the MALA proposal terms need more than f32 (Σ over large n). */
@inline function addProposalSquare(stat: i32, lane: i32, a: f32, b: f32, s: f64, c: f32): void {
  const x = (<f64>a - <f64>b) + s * <f64>c;
  const p = laneAddress(stat, lane);
  store<f64>(p, load<f64>(p) + x * x);
}

// The SIMD loop's versions of addSquare / addProposalSquare: a stat's four f64
// lanes live in two f64x2 values (lanes 0–1, 2–3) instead of memory, the same
// additions in the same order. Against a read-modify-write of the 16 lane sums
// in memory per 4 elements: 85K parameters, best of 300, 361–367 → 314–345 µs.

/** Lanes 2, 3 of x moved to 0, 1 (for promote_low). */
// @ts-ignore: decorator
@inline function highHalf(x: v128): v128 {
  return v128.shuffle<i32>(x, x, 2, 3, 0, 1);
}

// @ts-ignore: decorator
@inline function squareAdd(acc: v128, x: v128): v128 {
  const d = f64x2.promote_low_f32x4(x);
  return f64x2.add(acc, f64x2.mul(d, d));
}

/** acc + ((a − b) + s·c)² on the low two lanes of a, b, c (f64, as addProposalSquare). */
// @ts-ignore: decorator
@inline function proposalAdd(acc: v128, a: v128, b: v128, s: v128, c: v128): v128 {
  const x = f64x2.add(f64x2.sub(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), f64x2.mul(s, f64x2.promote_low_f32x4(c)));
  return f64x2.add(acc, f64x2.mul(x, x));
}

/** Store a stat's two f64x2 lane pairs to its lanes in statLanes. */
// @ts-ignore: decorator
@inline function storeLanes(stat: i32, lo: v128, hi: v128): void {
  const p = laneAddress(stat, 0);
  v128.store(p, lo);
  v128.store(p, hi, 16);
}

function finishStats(): void {
  for (let s = 0; s < STAT_COUNT; s++) {
    const total = load<f64>(laneAddress(s, 0)) + load<f64>(laneAddress(s, 1)) + load<f64>(laneAddress(s, 2)) + load<f64>(laneAddress(s, 3));
    store<f64>(statSums + (<usize>s << 3), total);
  }
}

/**
 * One SGLD (or RMSprop-SGLD) step over n parameters (n a multiple of 4; padding
 * has mask 0). Reads w, w*, g, mask, noise; updates w (and V); stores this
 * step's w and d into wPrev/dPrev for the next MALA term.
 */
export function sgldStep(
  method: i32, n: i32, w: usize, wStar: usize, grad: usize, mask: usize, noise: usize,
  precond: usize, wPrev: usize, dPrev: usize,
  epsilon: f64, nbeta: f64, gamma: f64, weightDecay: f64, noiseLevel: f64, box: f64, alpha: f64, rmsEps: f64,
): void {
  memory.fill(statLanes, 0, STAT_COUNT * 4 * 8);
  const halfEps = <f32>(epsilon * 0.5);
  const halfEps64 = epsilon * 0.5;
  const noiseScale = <f32>(Math.sqrt(epsilon) * noiseLevel);
  const nb = <f32>nbeta, gm = <f32>gamma, wd = <f32>weightDecay;
  const a = <f32>alpha, oneMinusA = <f32>(1.0 - alpha), reps = <f32>rmsEps;
  const boxF = <f32>box;
  const rms = method == METHOD_RMSPROP_SGLD;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vHalfEps = f32x4.splat(halfEps), vNoise = f32x4.splat(noiseScale);
    const vNb = f32x4.splat(nb), vGm = f32x4.splat(gm), vWd = f32x4.splat(wd);
    const vA = f32x4.splat(a), vOneMinusA = f32x4.splat(oneMinusA), vReps = f32x4.splat(reps), one = f32x4.splat(1);
    const vBox = f32x4.splat(boxF);
    const vHalfEps64 = f64x2.splat(halfEps64);
    const zero = f64x2.splat(0);
    let gradLo = zero, gradHi = zero, noiseLo = zero, noiseHi = zero, distLo = zero, distHi = zero;
    let weightLo = zero, weightHi = zero, localLo = zero, localHi = zero, decayLo = zero, decayHi = zero;
    let forwardLo = zero, forwardHi = zero, backwardLo = zero, backwardHi = zero;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const wi = v128.load(w + o), ws = v128.load(wStar + o), g = v128.load(grad + o), m = v128.load(mask + o);
      const delta = f32x4.sub(wi, ws);
      const nbg = f32x4.mul(vNb, g);
      let drift: v128, noiseFactor: v128;
      if (rms) {
        const vOld = v128.load(precond + o);
        const vNew = f32x4.add(f32x4.mul(vA, vOld), f32x4.mul(vOneMinusA, f32x4.mul(g, g)));
        v128.store(precond + o, vNew);
        const G = f32x4.div(one, f32x4.add(f32x4.sqrt(vNew), vReps));
        drift = f32x4.add(f32x4.mul(G, f32x4.add(nbg, f32x4.mul(vGm, delta))), f32x4.mul(vWd, wi));
        noiseFactor = f32x4.mul(f32x4.sqrt(G), f32x4.mul(m, v128.load(noise + o)));
      } else {
        drift = f32x4.add(f32x4.add(nbg, f32x4.mul(vGm, delta)), f32x4.mul(vWd, wi));
        noiseFactor = f32x4.mul(m, v128.load(noise + o));
      }
      const d = f32x4.mul(m, drift);
      let wNew = f32x4.add(f32x4.sub(wi, f32x4.mul(vHalfEps, d)), f32x4.mul(vNoise, noiseFactor));
      if (boxF > 0) wNew = f32x4.min(f32x4.max(wNew, f32x4.sub(ws, vBox)), f32x4.add(ws, vBox));
      const wp = v128.load(wPrev + o), dp = v128.load(dPrev + o);
      const gradV = f32x4.mul(m, nbg), noiseV = f32x4.mul(m, v128.load(noise + o)), distV = f32x4.sub(wNew, ws);
      const localV = f32x4.mul(m, delta), decayV = f32x4.mul(m, wi);
      gradLo = squareAdd(gradLo, gradV); gradHi = squareAdd(gradHi, highHalf(gradV));
      noiseLo = squareAdd(noiseLo, noiseV); noiseHi = squareAdd(noiseHi, highHalf(noiseV));
      distLo = squareAdd(distLo, distV); distHi = squareAdd(distHi, highHalf(distV));
      weightLo = squareAdd(weightLo, wNew); weightHi = squareAdd(weightHi, highHalf(wNew));
      localLo = squareAdd(localLo, localV); localHi = squareAdd(localHi, highHalf(localV));
      decayLo = squareAdd(decayLo, decayV); decayHi = squareAdd(decayHi, highHalf(decayV));
      forwardLo = proposalAdd(forwardLo, wi, wp, vHalfEps64, dp);
      forwardHi = proposalAdd(forwardHi, highHalf(wi), highHalf(wp), vHalfEps64, highHalf(dp));
      backwardLo = proposalAdd(backwardLo, wp, wi, vHalfEps64, d);
      backwardHi = proposalAdd(backwardHi, highHalf(wp), highHalf(wi), vHalfEps64, highHalf(d));
      v128.store(wPrev + o, wi);
      v128.store(dPrev + o, d);
      v128.store(w + o, wNew);
    }
    // The tail below (n % 4) continues each lane's sum from memory.
    storeLanes(STAT_GRAD_SQ, gradLo, gradHi);
    storeLanes(STAT_NOISE_SQ, noiseLo, noiseHi);
    storeLanes(STAT_DIST_SQ, distLo, distHi);
    storeLanes(STAT_WEIGHT_SQ, weightLo, weightHi);
    storeLanes(STAT_LOCAL_SQ, localLo, localHi);
    storeLanes(STAT_DECAY_SQ, decayLo, decayHi);
    storeLanes(STAT_FORWARD_SQ, forwardLo, forwardHi);
    storeLanes(STAT_BACKWARD_SQ, backwardLo, backwardHi);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const lane = i & 3;
    const wi = load<f32>(w + o), ws = load<f32>(wStar + o), g = load<f32>(grad + o), m = load<f32>(mask + o);
    const delta = wi - ws;
    const nbg = nb * g;
    let drift: f32, noiseFactor: f32;
    if (rms) {
      const vNew = a * load<f32>(precond + o) + oneMinusA * (g * g);
      store<f32>(precond + o, vNew);
      const G = <f32>1 / (Mathf.sqrt(vNew) + reps);
      drift = G * (nbg + gm * delta) + wd * wi;
      noiseFactor = Mathf.sqrt(G) * (m * load<f32>(noise + o));
    } else {
      drift = nbg + gm * delta + wd * wi;
      noiseFactor = m * load<f32>(noise + o);
    }
    const d = m * drift;
    let wNew = wi - halfEps * d + noiseScale * noiseFactor;
    // min/max (not comparisons) so NaN and ±0 behave as the f32x4 lanes do.
    if (boxF > 0) wNew = min<f32>(max<f32>(wNew, ws - boxF), ws + boxF);
    const wp = load<f32>(wPrev + o), dp = load<f32>(dPrev + o);
    addSquare(STAT_GRAD_SQ, lane, m * nbg);
    addSquare(STAT_NOISE_SQ, lane, m * load<f32>(noise + o));
    addSquare(STAT_DIST_SQ, lane, wNew - ws);
    addSquare(STAT_WEIGHT_SQ, lane, wNew);
    addSquare(STAT_LOCAL_SQ, lane, m * delta);
    addSquare(STAT_DECAY_SQ, lane, m * wi);
    addProposalSquare(STAT_FORWARD_SQ, lane, wi, wp, halfEps64, dp);
    addProposalSquare(STAT_BACKWARD_SQ, lane, wp, wi, halfEps64, d);
    store<f32>(wPrev + o, wi);
    store<f32>(dPrev + o, d);
    store<f32>(w + o, wNew);
  }
  finishStats();
}

/**
 * MALA acceptance probability of the move w_prev → w (Furman & Lau 2024; devinterp
 * slt/mala.py): min(1, exp(log q(w_prev|w) − log q(w|w_prev) + U(w_prev) − U(w)))
 * with Gaussian proposals of variance ε·σ², log q(a|b) = −‖a − b + (ε/2)·d_b‖²/(2εσ²).
 */
export function malaAcceptance(forwardSq: f64, backwardSq: f64, epsilon: f64, noiseLevel: f64, potentialPrev: f64, potential: f64): f64 {
  const logRatio = (forwardSq - backwardSq) / (2.0 * epsilon * noiseLevel * noiseLevel) + potentialPrev - potential;
  return logRatio >= 0 ? 1.0 : Math.exp(logRatio);
}

/** Plain SGD, w ← w − lr·g: the reference SGLD must reduce to (ε = 2·lr, σ = 0, nβ = 1, γ = 0). */
export function sgdStep(n: i32, w: usize, grad: usize, lr: f64): void {
  const step = <f32>lr;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(w + o, load<f32>(w + o) - step * load<f32>(grad + o));
  }
}
