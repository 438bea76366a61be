// Convergence diagnostics (assembly/diagnostics.ts through src/diagnostics.ts) on
// fixed sequences with known answers: AR(1) chains for ESS (≈ n(1−ρ)/(1+ρ)),
// i.i.d. normals for R̂ ≈ 1, shifted chains for R̂ ≫ 1, a linear drift for the
// trend and Geweke tests; rank-normalised R̂ and bulk/tail ESS and MCSE against an
// independent, straightforward f64 reimplementation of ArviZ's definitions (its
// Φ⁻¹ by bisection on a power series, not Acklam's); the verdict made to fail each way.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { malaCheck } from "../src/web/diagnostics.ts";
import { loadEngine, mulberry32 } from "./helpers.ts";
import { diagnose, diagnosticsWords, type DiagnosticsInput } from "../src/diagnostics.ts";
import { verdictLine } from "../src/web/diagnostics.ts";

const engine = await loadEngine("simd");
const k = engine.kernels;
const G = 6, K = 14; // DG_GLOBAL_WORDS, PC_WORDS
const PC = { geweke: 0, stationary: 1, passed: 6, slope: 7, se: 8, t: 9, rl: 12 };

/** Standard normals by Box–Muller from a seeded uniform (test inputs only). */
function normals(n: number, seed: number): number[] {
  const u = mulberry32(seed);
  const out: number[] = [];
  while (out.length < n) {
    const a = u() || 1e-12, b = u();
    out.push(Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b));
  }
  return out;
}
const ar1 = (n: number, rho: number, seed: number) => {
  const e = normals(n, seed);
  const x = [e[0]];
  for (let t = 1; t < n; t++) x.push(rho * x[t - 1] + Math.sqrt(1 - rho * rho) * e[t]);
  return x;
};
const words = (chains: number[][]) => diagnosticsWords(engine, chains, chains.map((c) => c.map(() => null)), 0, 1);

// ── an independent reference (ArviZ stats/diagnostics.py, written out plainly) ──
function phi(x: number): number {
  // Φ(x) = 1/2 + φ(x) Σ_k x^(2k+1)/(2k+1)!!  (converges for every x; |x| < 6 here)
  let term = x, sum = x;
  for (let k = 1; k < 300; k++) (term *= (x * x) / (2 * k + 1)), (sum += term);
  return 0.5 + (Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI)) * sum;
}
function ppf(p: number): number {
  let lo = -10, hi = 10;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (phi(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
const split = (a: number[][]) => a.flatMap((c) => { const h = Math.floor(c.length / 2); return [c.slice(0, h), c.slice(c.length - h)]; });
const avg = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const variance = (x: number[]) => { const m = avg(x); return x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1); };
function zScale(a: number[][]): number[][] {
  const flat = a.flat(), n = flat.length;
  const sorted = [...flat].sort((p, q) => p - q);
  const rank = (v: number) => { const first = sorted.indexOf(v), last = sorted.lastIndexOf(v); return (first + last) / 2 + 1; };
  return a.map((c) => c.map((v) => ppf((rank(v) - 0.375) / (n + 0.25))));
}
function rhat(a: number[][]): number {
  const n = a[0].length;
  const b = n * variance(a.map(avg)), w = avg(a.map(variance));
  return Math.sqrt((b / w + n - 1) / n);
}
function ess(a: number[][]): number {
  const m = a.length, n = a[0].length;
  const acov = (c: number[], lag: number) => { const mu = avg(c); let s = 0; for (let t = 0; t + lag < n; t++) s += (c[t] - mu) * (c[t + lag] - mu); return s / n; };
  const meanAcov = (lag: number) => avg(a.map((c) => acov(c, lag)));
  const meanVar = (meanAcov(0) * n) / (n - 1);
  const varPlus = (meanVar * (n - 1)) / n + (m > 1 ? variance(a.map(avg)) : 0);
  const rho = new Array(n).fill(0);
  rho[0] = 1;
  let even = 1, odd = 1 - (meanVar - meanAcov(1)) / varPlus;
  rho[1] = odd;
  let t = 1;
  while (t < n - 3 && even + odd > 0) {
    even = 1 - (meanVar - meanAcov(t + 1)) / varPlus;
    odd = 1 - (meanVar - meanAcov(t + 2)) / varPlus;
    if (even + odd >= 0) (rho[t + 1] = even), (rho[t + 2] = odd);
    t += 2;
  }
  const maxT = t - 2;
  if (even > 0) rho[maxT + 1] = even;
  for (t = 1; t <= maxT - 2; t += 2)
    if (rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]) rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2;
  const tau = Math.max(-1 + 2 * rho.slice(0, maxT + 1).reduce((s, v) => s + v, 0) + rho[maxT + 1], 1 / Math.log10(m * n));
  return (m * n) / tau;
}
function quantile(x: number[], p: number): number {
  const s = [...x].sort((a, b) => a - b), h = (s.length - 1) * p, lo = Math.floor(h);
  return s[lo] + (h - lo) * (s[Math.min(lo + 1, s.length - 1)] - s[lo]);
}
function reference(a: number[][]) {
  const sp = split(a);
  const bulk = rhat(zScale(sp));
  const med = quantile(sp.flat(), 0.5);
  const tail = rhat(zScale(sp.map((c) => c.map((v) => Math.abs(v - med)))));
  const essQ = (p: number) => { const q = quantile(a.flat(), p); return ess(split(a.map((c) => c.map((v) => (v <= q ? 1 : 0))))); };
  return { rhat: Math.max(bulk, tail), bulk, tail, essBulk: ess(zScale(sp)), essTail: Math.min(essQ(0.05), essQ(0.95)), mcse: Math.sqrt(variance(a.flat())) / Math.sqrt(ess(sp)) };
}

test("Φ⁻¹ (Acklam) at known quantiles, within its stated relative error 1.15e−9", () => {
  const known: [number, number][] = [[0.975, 1.959963984540054], [0.9, 1.2815515655446004], [0.001, -3.090232306167813], [0.02, -2.053748910631823], [0.6, 0.2533471031357997]];
  for (const [p, x] of known) assert.ok(Math.abs(k.normalQuantile(p) - x) <= 1.2e-9 * Math.abs(x), `Φ⁻¹(${p}) = ${k.normalQuantile(p)}, expected ${x}`);
  assert.is(k.normalQuantile(0.5), 0);
});

test("R̂, bulk/tail ESS and MCSE equal an independent f64 implementation of ArviZ's definitions", () => {
  // Relative 1e−7: the two differ only in Φ⁻¹ (Acklam's 1.15e−9 relative error vs bisection) and summation rounding.
  const cases = [[0, 1, 2, 3].map((c) => ar1(301, 0.6, 10 + c)), [0, 1, 2].map((c) => ar1(200, 0.2, 20 + c).map((v) => v + 0.3 * c))];
  for (const chains of cases) {
    const w = words(chains), r = reference(chains);
    const got = { rhat: w[0], bulk: w[1], tail: w[2], essBulk: w[3], essTail: w[4], mcse: w[5] };
    for (const key of Object.keys(r) as (keyof typeof r)[])
      assert.ok(Math.abs(got[key] - r[key]) <= 1e-7 * Math.abs(r[key]), `${key}: ${got[key]} vs reference ${r[key]}`);
  }
});

test("ESS of AR(1) chains ≈ n(1−ρ)/(1+ρ)", () => {
  // 4 chains × 4000: τ̂ (Geyer, windows of a few dozen lags) has a relative s.d. of about
  // sqrt(2(2M+1)/N) ≈ 5 % (ρ 0.5) and 9 % (ρ 0.9, M larger); 3 s.d. allowed.
  for (const [rho, tol] of [[0.5, 0.15], [0.9, 0.27]]) {
    const chains = [0, 1, 2, 3].map((c) => ar1(4000, rho, 100 + c));
    const expected = (16000 * (1 - rho)) / (1 + rho);
    const w = words(chains);
    assert.ok(Math.abs(w[3] / expected - 1) < tol, `ρ ${rho}: bulk ESS ${w[3]}, expected ≈ ${expected}`);
    // MCSE = sd/√ESS of the mean: sd 1 here.
    assert.ok(Math.abs(w[5] / (1 / Math.sqrt(expected)) - 1) < tol, `ρ ${rho}: MCSE ${w[5]}`);
  }
});

test("R̂ ≈ 1 for i.i.d. normals, ≫ 1 for shifted chains", () => {
  // 4 × 1000 i.i.d.: R̂ − 1 is O(1/n) with s.d. ≈ 0.002; 0.01 is the field's threshold.
  const iid = [0, 1, 2, 3].map((c) => normals(1000, 200 + c));
  assert.ok(Math.abs(words(iid)[0] - 1) < 0.01, `R̂ ${words(iid)[0]}`);
  const shifted = iid.map((c, i) => c.map((v) => v + (i === 3 ? 2 : 0)));
  assert.ok(words(shifted)[0] > 1.3, `R̂ ${words(shifted)[0]}`);
});

test("a linear drift: trend slope found within 4 s.e., Geweke |z| large, Heidelberger–Welch fails; i.i.d. passes", () => {
  const n = 1000, slope = 0.01;
  const drift = normals(n, 300).map((e, t) => slope * t + e);
  const iid = normals(n, 301).map((e) => 10 + e);
  const w = words([drift, iid]);
  const d = (c: number, i: number) => w[G + c * K + i];
  assert.ok(Math.abs(d(0, PC.slope) - slope) < 4 * d(0, PC.se), `slope ${d(0, PC.slope)} ± ${d(0, PC.se)}`);
  assert.ok(Math.abs(d(0, PC.t)) > 3.29);
  // First 10 % averages ≈ 0.5, the last half ≈ 7.5; the drift inside the last half makes its
  // draws look autocorrelated (S(0) several times its variance), so z is near −9, not −70.
  assert.ok(d(0, PC.geweke) < -5, `Geweke z ${d(0, PC.geweke)}`);
  assert.ok(Math.abs(d(1, PC.t)) < 3.29 && Math.abs(d(1, PC.geweke)) < 3.29, `i.i.d. t ${d(1, PC.t)}, z ${d(1, PC.geweke)}`);
  assert.is(d(1, PC.stationary), 1);
  assert.is(d(1, PC.passed), 1); // half-width 1.96/√1000 ≈ 0.06 is < 0.1 × mean 10
});

test("Heidelberger–Welch discards a transient: stationary only after dropping its start", () => {
  // 5·e^(−t/100) + N(0, 1): at t = 0 the bridge is far off (S(0) from the flat second half ≈ 1);
  // by 30 % of 1000 draws the transient is 5e^(−3) ≈ 0.25, a fifth of the noise.
  const transient = normals(1000, 310).map((e, t) => 5 * Math.exp(-t / 100) + e);
  const w = words([transient]);
  assert.is(w[G + PC.stationary], 1);
  assert.ok(w[G + 2] >= 100, `start ${w[G + 2]}`);
  assert.is(words([normals(1000, 311)])[G + 2], 0);
});

test("Raftery–Lewis on i.i.d. draws ≈ N_min = 937 (+1 burn-in); null below N_min", () => {
  // i.i.d.: α̂ ≈ q, β̂ ≈ 1 − q, so N ≈ nmin; α̂ from ~125 transitions has ≈ 9 % s.d., 3 s.d. allowed.
  const w = words([normals(5000, 400)]);
  assert.ok(Math.abs(w[G + PC.rl] / 938 - 1) < 0.3, `N ${w[G + PC.rl]}`);
  assert.ok(Number.isNaN(words([normals(900, 402)])[G + PC.rl]));
});

function input(loss: number[][], over: Partial<DiagnosticsInput> = {}): DiagnosticsInput {
  return { loss, mala: loss.map((c) => c.map(() => 0.9)), healthy: loss.map(() => true), initLoss: 0, nbeta: 1, initLossSe: 0, llcMean: 10, mala_accept_mean: 0.9, diverged: [], ...over };
}

test("the verdict: healthy, and each way to fail with its reason", () => {
  const iid = [0, 1, 2, 3].map((c) => normals(1000, 500 + c).map((v) => 10 + v));
  const healthy = diagnose(engine, input(iid));
  assert.is(healthy["diagnostics/verdict"], "healthy");
  assert.is(healthy["diagnostics/reasons"], "");

  const shifted = diagnose(engine, input(iid.map((c, i) => c.map((v) => v + (i === 3 ? 2 : 0)))));
  assert.is(shifted["diagnostics/verdict"], "not converged");
  assert.match(shifted["diagnostics/reasons"], /^R̂ = 1\.\d+ > 1\.01/);

  const trending = diagnose(engine, input(iid.map((c, i) => c.map((v, t) => v + (i === 2 ? 0.01 * t : 0)))));
  assert.match(trending["diagnostics/verdict"], /not converged/);
  assert.match(trending["diagnostics/reasons"], /chain 2 trends/);

  // One threshold for the verdict and the CLI/page warning (src/limits.ts MALA_TOO_LOW): at 0.6 the
  // warning says λ̂ is biased upwards, so the verdict may not say healthy (it did at a threshold of 0.5).
  assert.is(malaCheck(0.6), "low");
  assert.is(diagnose(engine, input(iid, { mala_accept_mean: 0.6 }))["diagnostics/verdict"], "ε too large");
  const lowMala = diagnose(engine, input(iid, { mala_accept_mean: 0.3 }));
  assert.is(lowMala["diagnostics/verdict"], "ε too large");
  assert.is(lowMala["diagnostics/reasons"], "MALA acceptance 0.300 < 0.800");

  const spiky = diagnose(engine, input(iid.map((c, i) => c.map((v, t) => (i === 1 && t % 50 === 7 ? v + 100 : v)))));
  assert.match(spiky["diagnostics/verdict"], /ε too large/);
  assert.match(spiky["diagnostics/reasons"], /chain 1 has 20 loss spikes in 1000 draws/);

  const l0 = diagnose(engine, input(iid, { initLossSe: 0.02, nbeta: 100, llcMean: 10 }));
  assert.is(l0["diagnostics/verdict"], "L0 uncertain");
  assert.is(l0["diagnostics/reasons"], 's.e.(L0)·nβ = 2.00 > |λ̂|/10 = 1.00: try init_loss: "full"');

  const bad = iid.map((c, i) => (i === 1 ? [...c.slice(0, 37), NaN] : c));
  const diverged = diagnose(engine, input(bad, { healthy: [true, false, true, true], diverged: [{ chain: 1, draw: 37 }] }));
  assert.is(diverged["diagnostics/verdict"], "diverged");
  assert.is(diverged["diagnostics/reasons"], "chain(s) diverged: 1 at draw 37");
  assert.is(diverged["diagnostics/geweke_z"][1], null);
  assert.ok(Math.abs(diverged["diagnostics/rhat"]! - 1) < 0.01); // over the three healthy chains
});

test("verdictLine: the CLI's and the page's one line", () => {
  assert.is(verdictLine({ "diagnostics/verdict": "healthy", "diagnostics/reasons": "", "diagnostics/rhat": 1.0041, "diagnostics/ess_bulk": 903.2, "diagnostics/mcse": 0.08021 }),
    "healthy (R̂ 1.004, bulk ESS 903, MCSE 0.0802)");
  assert.is(verdictLine({ "diagnostics/verdict": "not converged", "diagnostics/reasons": "R̂ = 1.022 > 1.01", "diagnostics/rhat": 1.0219, "diagnostics/ess_bulk": null, "diagnostics/mcse": 0.156 }),
    "not converged (R̂ 1.022, bulk ESS n/a, MCSE 0.156): R̂ = 1.022 > 1.01");
  assert.is(verdictLine({}), "no diagnostics in this result");
});

test("repeated diagnostics reuse one block: the heap stops growing (the estimator runs them after every chain)", async () => {
  const random = mulberry32(11);
  const loss = Array.from({ length: 4 }, () => Array.from({ length: 2000 }, () => random()));
  const mala = loss.map((c) => c.map(() => 0.9));
  const first = diagnosticsWords(engine, loss, mala, 0.5, 10);
  const top = engine.kernels.heapTop() >>> 0;
  for (let i = 0; i < 5; i++) assert.equal(diagnosticsWords(engine, loss, mala, 0.5, 10), first, "the same words every call");
  // What still grows is small objects of the stub runtime (the Scratch record, per-chain count
  // arrays, heapTop's 16-byte probe): ~470 B a run here. A fresh block per run grew ~465 KB a run
  // (the traces' 56 B × 8000 draws), so 1 KiB a run tells the two apart with room either side.
  assert.ok((engine.kernels.heapTop() >>> 0) - top <= 5 * 1024, `heap grew by ${(engine.kernels.heapTop() >>> 0) - top} bytes over 5 runs`);
});

test.run();
