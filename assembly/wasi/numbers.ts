// Exact decimal <-> binary64 conversions for the WASI command, so its JSON reads
// the config's numbers as JSON.parse does and writes numbers that parse back to
// the same bits (and, in fact, as the same text as JavaScript writes them):
//
//   parseDecimal   correctly rounded (round-to-nearest, ties-to-even) for every
//                  input: a first guess in f64, then corrected by comparing the
//                  decimal exactly (big integers) with the midpoints between
//                  neighbouring doubles. Digits past the 800th are folded into one
//                  sticky digit (767 significant digits always decide the rounding).
//   formatNumber   ECMAScript Number::toString(x): the shortest digit string that
//                  rounds back to x, the closest to x among those, ties to the even
//                  digit, laid out as JavaScript does (1e+21, 0.000001, 1e-7, ...).
//   toPrecision    ECMAScript Number.prototype.toPrecision(p) (progress lines).
//
// Both directions work on exact expansions, not on floating-point shortcuts
// (AssemblyScript's own dtoa is Grisu2, which is not always the shortest), so
// neither has a range or a class of inputs where it is only approximately right.

// ───────────────────────── base-2^32 big integers (parsing) ─────────────────────────

const BIG_LIMBS = 256; // 8192 bits; the largest product parseDecimal forms is < 4900 bits

class Big {
  limbs: StaticArray<u32> = new StaticArray<u32>(BIG_LIMBS);
  len: i32 = 0;
}

function bigSetU64(a: Big, v: u64): void {
  a.len = 0;
  while (v != 0) {
    unchecked((a.limbs[a.len++] = <u32>v));
    v >>= 32;
  }
}

function bigCopy(dst: Big, src: Big): void {
  for (let i = 0; i < src.len; i++) unchecked((dst.limbs[i] = src.limbs[i]));
  dst.len = src.len;
}

function bigMulSmall(a: Big, m: u32): void {
  let carry: u64 = 0;
  for (let i = 0; i < a.len; i++) {
    const t = <u64>unchecked(a.limbs[i]) * <u64>m + carry;
    unchecked((a.limbs[i] = <u32>t));
    carry = t >> 32;
  }
  if (carry != 0) unchecked((a.limbs[a.len++] = <u32>carry));
}

function bigAddSmall(a: Big, v: u32): void {
  let carry: u64 = v;
  for (let i = 0; i < a.len && carry != 0; i++) {
    const t = <u64>unchecked(a.limbs[i]) + carry;
    unchecked((a.limbs[i] = <u32>t));
    carry = t >> 32;
  }
  if (carry != 0) unchecked((a.limbs[a.len++] = <u32>carry));
}

function bigShl(a: Big, bits: i32): void {
  if (a.len == 0 || bits == 0) return;
  const words = bits >> 5, shift = bits & 31;
  if (shift == 0) {
    for (let i = a.len - 1; i >= 0; i--) unchecked((a.limbs[i + words] = a.limbs[i]));
    unchecked((a.limbs[a.len + words] = 0));
  } else {
    unchecked((a.limbs[a.len + words] = 0));
    for (let i = a.len - 1; i >= 0; i--) {
      const v = unchecked(a.limbs[i]);
      unchecked((a.limbs[i + words + 1] |= v >>> (32 - shift)));
      unchecked((a.limbs[i + words] = v << shift));
    }
  }
  for (let i = 0; i < words; i++) unchecked((a.limbs[i] = 0));
  a.len += words + 1;
  while (a.len > 0 && unchecked(a.limbs[a.len - 1]) == 0) a.len--;
}

function bigMulPow10(a: Big, e: i32): void {
  while (e >= 9) {
    bigMulSmall(a, 1000000000);
    e -= 9;
  }
  let m: u32 = 1;
  for (let i = 0; i < e; i++) m *= 10;
  if (m != 1) bigMulSmall(a, m);
}

/** dst = a · b (dst distinct from both). */
function bigMul(dst: Big, a: Big, b: Big): void {
  const n = a.len + b.len;
  for (let i = 0; i < n; i++) unchecked((dst.limbs[i] = 0));
  for (let i = 0; i < a.len; i++) {
    let carry: u64 = 0;
    const ai = <u64>unchecked(a.limbs[i]);
    for (let j = 0; j < b.len; j++) {
      const t = ai * <u64>unchecked(b.limbs[j]) + <u64>unchecked(dst.limbs[i + j]) + carry;
      unchecked((dst.limbs[i + j] = <u32>t));
      carry = t >> 32;
    }
    unchecked((dst.limbs[i + b.len] = <u32>carry));
  }
  dst.len = n;
  while (dst.len > 0 && unchecked(dst.limbs[dst.len - 1]) == 0) dst.len--;
}

function bigCmp(a: Big, b: Big): i32 {
  if (a.len != b.len) return a.len > b.len ? 1 : -1;
  for (let i = a.len - 1; i >= 0; i--) {
    const x = unchecked(a.limbs[i]), y = unchecked(b.limbs[i]);
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

// ───────────────────────────────── parsing ─────────────────────────────────

const MAX_DIGITS = 800;
const digitBuf = new StaticArray<u8>(MAX_DIGITS + 1);
const bigD = new Big(); // D · 10^max(E, 0)
const bigP = new Big(); // 10^max(−E, 0)
const bigL = new Big();
const bigN = new Big();
const bigR = new Big();

// @ts-ignore: decorator
@lazy const EXACT_POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/** Sign of (D·10^E) − N·2^g, with bigD, bigP prepared for E. */
function compareWith(N: u64, g: i32): i32 {
  bigCopy(bigL, bigD);
  if (g < 0) bigShl(bigL, -g);
  bigSetU64(bigN, N);
  bigMul(bigR, bigN, bigP);
  if (g > 0) bigShl(bigR, g);
  return bigCmp(bigL, bigR);
}

/** x · 10^k in f64, a few ulps from the exact product (only a first guess). */
function scaleGuess(x: f64, k: i32): f64 {
  while (k >= 22) {
    x *= 1e22;
    k -= 22;
  }
  while (k <= -22) {
    x /= 1e22;
    k += 22;
  }
  return k >= 0 ? x * unchecked(EXACT_POW10[k]) : x / unchecked(EXACT_POW10[-k]);
}

/**
 * The double nearest to the decimal number in s[start, end), which must match
 * JSON's number grammar -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? (the caller lexes it).
 */
export function parseDecimal(s: string, start: i32, end: i32): f64 {
  let i = start;
  let negative = false;
  if (s.charCodeAt(i) == 45) {
    negative = true;
    i++;
  }
  let n = 0; // kept significant digits
  let dropped = false; // a nonzero digit past MAX_DIGITS
  let exp10: i64 = 0; // the written exponent
  let pointShift: i64 = 0; // value = D · 10^(pointShift + exp10), D the kept digits as an integer
  let seenPoint = false;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c == 46) {
      seenPoint = true;
      continue;
    }
    if (c == 101 || c == 69) break;
    const d = c - 48;
    if (n == 0 && d == 0) {
      if (seenPoint) pointShift--;
      continue;
    }
    if (n < MAX_DIGITS) {
      unchecked((digitBuf[n++] = <u8>d));
      if (seenPoint) pointShift--;
    } else {
      if (d != 0) dropped = true;
      if (!seenPoint) pointShift++;
    }
  }
  if (i < end) {
    i++;
    let expNegative = false;
    const c = s.charCodeAt(i);
    if (c == 43 || c == 45) {
      expNegative = c == 45;
      i++;
    }
    for (; i < end; i++) {
      if (exp10 < 100000000) exp10 = exp10 * 10 + <i64>(s.charCodeAt(i) - 48);
    }
    if (expNegative) exp10 = -exp10;
  }
  const sign: f64 = negative ? -1 : 1;
  if (n == 0) return sign * 0;
  // Trailing zeros carry no information (unless a dropped tail follows them).
  while (!dropped && n > 1 && unchecked(digitBuf[n - 1]) == 0) {
    n--;
    pointShift++;
  }
  let E64 = pointShift + exp10;
  if (<i64>n + E64 > 310) return sign * Infinity; // ≥ 1e310
  if (<i64>n + E64 < -324) return sign * 0; // < 1e-324, below half the smallest subnormal
  if (dropped) {
    // Any nonzero tail beyond 800 digits only matters as "a bit more than the kept digits".
    unchecked((digitBuf[n++] = 1));
    E64--;
  }
  const E = <i32>E64;

  // First guess from the leading 19 digits.
  let lead: u64 = 0;
  const used = min(n, 19);
  for (let k = 0; k < used; k++) lead = lead * 10 + <u64>unchecked(digitBuf[k]);
  if (n <= 15 && E >= -22 && E <= 22) {
    // Exact significand and power: one IEEE operation, correctly rounded.
    const d = <f64>lead;
    return sign * (E >= 0 ? d * unchecked(EXACT_POW10[E]) : d / unchecked(EXACT_POW10[-E]));
  }
  let a = scaleGuess(<f64>lead, E + (n - used));
  if (a > f64.MAX_VALUE) a = f64.MAX_VALUE;

  // Exact operands: D·10^max(E,0) and 10^max(−E,0).
  bigSetU64(bigD, 0);
  for (let k = 0; k < n; k += 9) {
    let chunk: u32 = 0, scale: u32 = 1;
    for (let j = k; j < min(n, k + 9); j++) {
      chunk = chunk * 10 + <u32>unchecked(digitBuf[j]);
      scale *= 10;
    }
    bigMulSmall(bigD, scale);
    bigAddSmall(bigD, chunk);
  }
  if (E > 0) bigMulPow10(bigD, E);
  bigSetU64(bigP, 1);
  if (E < 0) bigMulPow10(bigP, -E);

  // Walk to the double whose rounding interval holds the decimal.
  for (;;) {
    const bits = reinterpret<u64>(a);
    const biased = <i32>(bits >> 52);
    const frac = bits & 0x000fffffffffffff;
    const M: u64 = biased == 0 ? frac : frac | 0x0010000000000000;
    const f: i32 = biased == 0 ? -1074 : biased - 1075;
    const even = (M & 1) == 0;
    const up = compareWith(2 * M + 1, f - 1);
    if (up > 0 || (up == 0 && !even)) {
      if (up == 0) return sign * reinterpret<f64>(bits + 1);
      a = reinterpret<f64>(bits + 1);
      if (a == Infinity) return sign * Infinity;
      continue;
    }
    if (a == 0) return sign * 0;
    const down = frac == 0 && biased > 1 ? compareWith(4 * M - 1, f - 2) : compareWith(2 * M - 1, f - 1);
    if (down < 0 || (down == 0 && !even)) {
      if (down == 0) return sign * reinterpret<f64>(bits - 1);
      a = reinterpret<f64>(bits - 1);
      continue;
    }
    return sign * a;
  }
}

// ─────────────────── exact decimal expansions (formatting) ───────────────────

const DEC_LIMBS = 140; // base 1e9: 1260 digits; the longest expansion needed is ~770
class Dec {
  limbs: StaticArray<u32> = new StaticArray<u32>(DEC_LIMBS);
  len: i32 = 0;
}

function decSet(a: Dec, v: u64): void {
  a.len = 0;
  while (v != 0) {
    unchecked((a.limbs[a.len++] = <u32>(v % 1000000000)));
    v /= 1000000000;
  }
}

function decMulSmall(a: Dec, m: u32): void {
  let carry: u64 = 0;
  for (let i = 0; i < a.len; i++) {
    const t = <u64>unchecked(a.limbs[i]) * <u64>m + carry;
    unchecked((a.limbs[i] = <u32>(t % 1000000000)));
    carry = t / 1000000000;
  }
  while (carry != 0) {
    unchecked((a.limbs[a.len++] = <u32>(carry % 1000000000)));
    carry /= 1000000000;
  }
}

const DIGITS_CAP = DEC_LIMBS * 9 + 2;
const vDigits = new StaticArray<u8>(DIGITS_CAP);
const loDigits = new StaticArray<u8>(DIGITS_CAP);
const hiDigits = new StaticArray<u8>(DIGITS_CAP);
const candidate = new StaticArray<u8>(DIGITS_CAP);
const decS = new Dec(); // 2^q or 5^−q
const decV = new Dec();
const decLo = new Dec();
const decHi = new Dec();

/** dst += a · m · 10^(9·shift), m < 10^9. */
function decAddMul(dst: Dec, a: Dec, m: u32, shift: i32): void {
  const top = max(dst.len, a.len + shift) + 2;
  for (let i = dst.len; i < top; i++) unchecked((dst.limbs[i] = 0));
  let carry: u64 = 0;
  let i = shift;
  for (let j = 0; j < a.len; j++, i++) {
    const t = <u64>unchecked(dst.limbs[i]) + <u64>unchecked(a.limbs[j]) * <u64>m + carry;
    unchecked((dst.limbs[i] = <u32>(t % 1000000000)));
    carry = t / 1000000000;
  }
  while (carry != 0) {
    const t = <u64>unchecked(dst.limbs[i]) + carry;
    unchecked((dst.limbs[i] = <u32>(t % 1000000000)));
    carry = t / 1000000000;
    i++;
  }
  dst.len = max(dst.len, i);
  while (dst.len > 0 && unchecked(dst.limbs[dst.len - 1]) == 0) dst.len--;
}

/** dst −= a · m (m ≤ 2; the result is not negative). */
function decSubMul(dst: Dec, a: Dec, m: u32): void {
  let borrow: i64 = 0;
  for (let i = 0; i < dst.len; i++) {
    let t = <i64>unchecked(dst.limbs[i]) - (i < a.len ? <i64>unchecked(a.limbs[i]) * <i64>m : 0) - borrow;
    borrow = 0;
    while (t < 0) {
      t += 1000000000;
      borrow++;
    }
    unchecked((dst.limbs[i] = <u32>t));
  }
  while (dst.len > 0 && unchecked(dst.limbs[dst.len - 1]) == 0) dst.len--;
}

function decCopy(dst: Dec, src: Dec): void {
  for (let i = 0; i < src.len; i++) unchecked((dst.limbs[i] = src.limbs[i]));
  dst.len = src.len;
}

function decDigitCount(a: Dec): i32 {
  if (a.len == 0) return 0;
  let top = unchecked(a.limbs[a.len - 1]);
  let d = 0;
  while (top != 0) {
    d++;
    top /= 10;
  }
  return (a.len - 1) * 9 + d;
}

/** The digits of `a`, right-aligned in out[0, width). */
function writeDigits(out: StaticArray<u8>, width: i32, a: Dec): void {
  let pos = width - 1;
  for (let l = 0; l < a.len && pos >= 0; l++) {
    let v = unchecked(a.limbs[l]);
    for (let d = 0; d < 9 && pos >= 0; d++) {
      unchecked((out[pos--] = <u8>(v % 10)));
      v /= 10;
    }
  }
  while (pos >= 0) unchecked((out[pos--] = 0));
}

let expWidth: i32 = 0; // digits in the aligned arrays
let expScale: i32 = 0; // the arrays hold value · 10^expScale
let expEven: bool = false;

/** Exact expansions of |x|, and of the bounds of its rounding interval, aligned. */
function expand(x: f64): void {
  const bits = reinterpret<u64>(x) & 0x7fffffffffffffff;
  const biased = <i32>(bits >> 52);
  const frac = bits & 0x000fffffffffffff;
  const M: u64 = biased == 0 ? frac : frac | 0x0010000000000000;
  const e: i32 = biased == 0 ? -1074 : biased - 1075;
  expEven = (M & 1) == 0;
  // At the common scale 2^(e−2): v = 4M, hi = 4M + 2, lo = 4M − 2 (or 4M − 1 below a power of two),
  // each times S = 2^(e−2), or times 5^(2−e) with the decimal point 2 − e digits from the right.
  const q = e - 2;
  expScale = q < 0 ? -q : 0;
  decSet(decS, 1);
  if (q >= 0) {
    let k = q;
    while (k >= 29) {
      decMulSmall(decS, 1 << 29);
      k -= 29;
    }
    if (k > 0) decMulSmall(decS, 1 << k);
  } else {
    let k = -q;
    while (k >= 13) {
      decMulSmall(decS, 1220703125); // 5^13
      k -= 13;
    }
    let m: u32 = 1;
    for (let i = 0; i < k; i++) m *= 5;
    if (m != 1) decMulSmall(decS, m);
  }
  const v4 = 4 * M;
  decV.len = 0;
  decAddMul(decV, decS, <u32>(v4 % 1000000000), 0);
  decAddMul(decV, decS, <u32>(v4 / 1000000000), 1);
  decCopy(decHi, decV);
  decAddMul(decHi, decS, 2, 0);
  decCopy(decLo, decV);
  decSubMul(decLo, decS, frac == 0 && biased > 1 ? 1 : 2);
  // The upper bound has the most digits; one spare digit in front for carries.
  const width = decDigitCount(decHi) + 1;
  expWidth = width;
  writeDigits(hiDigits, width, decHi);
  writeDigits(vDigits, width, decV);
  writeDigits(loDigits, width, decLo);
}

function cmpDigits(a: StaticArray<u8>, b: StaticArray<u8>, width: i32): i32 {
  for (let i = 0; i < width; i++) {
    const x = unchecked(a[i]), y = unchecked(b[i]);
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

function inside(c: StaticArray<u8>): bool {
  const lo = cmpDigits(c, loDigits, expWidth), hi = cmpDigits(c, hiDigits, expWidth);
  if (expEven) return lo >= 0 && hi <= 0;
  return lo > 0 && hi < 0;
}

/** candidate = v truncated after index `last`, plus `bump` units at `last`. */
function makeCandidate(last: i32, bump: bool): void {
  for (let i = 0; i < expWidth; i++) unchecked((candidate[i] = i <= last ? vDigits[i] : 0));
  if (!bump) return;
  let i = last;
  for (;;) {
    const d = unchecked(candidate[i]) + 1;
    if (d < 10) {
      unchecked((candidate[i] = <u8>d));
      return;
    }
    unchecked((candidate[i] = 0));
    i--;
  }
}

// Result of the digit search: shortDigits[0, shortK), value = 0.d1…dk · 10^shortN.
const shortDigits = new StaticArray<u8>(24);
let shortK: i32 = 0;
let shortN: i32 = 0;

function takeCandidate(last: i32): void {
  let j = 0;
  while (unchecked(candidate[j]) == 0) j++;
  let t = last;
  while (t > j && unchecked(candidate[t]) == 0) t--;
  shortK = t - j + 1;
  for (let i = 0; i < shortK; i++) unchecked((shortDigits[i] = candidate[j + i]));
  shortN = expWidth - j - expScale;
}

/** Shortest round-tripping digits of finite, nonzero |x| (ECMAScript Number::toString steps). */
function shortest(x: f64): void {
  expand(x);
  let start = 0;
  while (unchecked(vDigits[start]) == 0) start++;
  // No candidate can fit before the first digit where v parts from lo or from hi,
  // or where v (or, when the bounds count, lo) ends: start the search there.
  let first = expWidth - 1;
  for (let i = 0; i < expWidth; i++) {
    if (unchecked(vDigits[i]) != unchecked(loDigits[i]) || unchecked(vDigits[i]) != unchecked(hiDigits[i])) {
      first = i;
      break;
    }
  }
  let vLast = expWidth - 1;
  while (vLast > 0 && unchecked(vDigits[vLast]) == 0) vLast--;
  first = min(first, vLast);
  if (expEven) {
    let loLast = expWidth - 1;
    while (loLast > 0 && unchecked(loDigits[loLast]) == 0) loLast--;
    first = min(first, loLast);
  }
  for (let p = max(1, first - start + 1); ; p++) {
    const last = start + p - 1;
    let exact = true;
    for (let i = last + 1; i < expWidth; i++) {
      if (unchecked(vDigits[i]) != 0) {
        exact = false;
        break;
      }
    }
    makeCandidate(last, false);
    if (exact) {
      takeCandidate(last);
      return;
    }
    const floorIn = inside(candidate);
    makeCandidate(last, true);
    const ceilIn = inside(candidate);
    if (!floorIn && !ceilIn) continue;
    let useCeil = ceilIn;
    if (floorIn && ceilIn) {
      // Closest to x; on an exact tie, the even last digit.
      let tail = 0;
      const first = unchecked(vDigits[last + 1]);
      if (first != 5) tail = first > 5 ? 1 : -1;
      else {
        for (let i = last + 2; i < expWidth; i++) {
          if (unchecked(vDigits[i]) != 0) {
            tail = 1;
            break;
          }
        }
      }
      useCeil = tail > 0 || (tail == 0 && (unchecked(vDigits[last]) & 1) == 1);
    }
    makeCandidate(last, useCeil);
    takeCandidate(last);
    return;
  }
}

// ───────────────────────────────── output ─────────────────────────────────

/** Appends UTF-16 code units to a growable buffer; see text.ts for the users. */
export class CharSink {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
  push(c: i32): void {
    if (this.len == this.cap) {
      const cap = max(64, this.cap * 2);
      const next = heap.alloc(<usize>cap << 1);
      if (this.len) memory.copy(next, this.ptr, <usize>this.len << 1);
      this.ptr = next;
      this.cap = cap;
    }
    store<u16>(this.ptr + (<usize>this.len << 1), <u16>c);
    this.len++;
  }
  pushString(s: string): void {
    for (let i = 0; i < s.length; i++) this.push(s.charCodeAt(i));
  }
  pushInt(v: i64): void {
    this.pushString(v.toString());
  }
  toString(): string {
    return String.UTF16.decodeUnsafe(this.ptr, <usize>this.len << 1);
  }
}

const scratch = new CharSink();

/** ECMAScript Number::toString(x) (radix 10), appended to `out`. */
export function appendNumber(out: CharSink, x: f64): void {
  if (isNaN(x)) {
    out.pushString("NaN");
    return;
  }
  if (x == 0) {
    out.push(48);
    return;
  }
  if (x < 0) out.push(45);
  if (!isFinite(x)) {
    out.pushString("Infinity");
    return;
  }
  shortest(x);
  const k = shortK, n = shortN;
  if (k <= n && n <= 21) {
    for (let i = 0; i < k; i++) out.push(48 + unchecked(shortDigits[i]));
    for (let i = k; i < n; i++) out.push(48);
  } else if (0 < n && n <= 21) {
    for (let i = 0; i < n; i++) out.push(48 + unchecked(shortDigits[i]));
    out.push(46);
    for (let i = n; i < k; i++) out.push(48 + unchecked(shortDigits[i]));
  } else if (-6 < n && n <= 0) {
    out.push(48);
    out.push(46);
    for (let i = 0; i < -n; i++) out.push(48);
    for (let i = 0; i < k; i++) out.push(48 + unchecked(shortDigits[i]));
  } else {
    out.push(48 + unchecked(shortDigits[0]));
    if (k > 1) {
      out.push(46);
      for (let i = 1; i < k; i++) out.push(48 + unchecked(shortDigits[i]));
    }
    out.push(101);
    const e = n - 1;
    out.push(e >= 0 ? 43 : 45);
    out.pushInt(e >= 0 ? e : -e);
  }
}

export function formatNumber(x: f64): string {
  scratch.len = 0;
  appendNumber(scratch, x);
  return scratch.toString();
}

/** ECMAScript Number.prototype.toPrecision(p), 1 ≤ p ≤ 21, for finite x. */
export function toPrecision(x: f64, p: i32): string {
  scratch.len = 0;
  if (!isFinite(x)) {
    appendNumber(scratch, x);
    return scratch.toString();
  }
  if (x < 0) scratch.push(45);
  let digits = new StaticArray<u8>(p);
  let e = 0;
  if (x != 0) {
    expand(x);
    let start = 0;
    while (unchecked(vDigits[start]) == 0) start++;
    // Round half up (the larger n on a tie), as the spec says.
    const last = start + p - 1;
    let up = false;
    if (last + 1 < expWidth) up = unchecked(vDigits[last + 1]) >= 5;
    if (last >= expWidth) {
      // Fewer digits than asked: pad (cannot happen for the widths used here, kept for safety).
      for (let i = 0; i < p; i++) unchecked((digits[i] = start + i < expWidth ? vDigits[start + i] : 0));
      e = expWidth - start - expScale - 1;
    } else {
      makeCandidate(last, up);
      let j = 0;
      while (unchecked(candidate[j]) == 0) j++;
      for (let i = 0; i < p; i++) unchecked((digits[i] = candidate[j + i]));
      e = expWidth - j - expScale - 1;
    }
  }
  if (e < -6 || e >= p) {
    scratch.push(48 + unchecked(digits[0]));
    if (p > 1) {
      scratch.push(46);
      for (let i = 1; i < p; i++) scratch.push(48 + unchecked(digits[i]));
    }
    scratch.push(101);
    scratch.push(e >= 0 ? 43 : 45);
    scratch.pushInt(e >= 0 ? e : -e);
  } else if (e == p - 1) {
    for (let i = 0; i < p; i++) scratch.push(48 + unchecked(digits[i]));
  } else if (e >= 0) {
    for (let i = 0; i <= e; i++) scratch.push(48 + unchecked(digits[i]));
    scratch.push(46);
    for (let i = e + 1; i < p; i++) scratch.push(48 + unchecked(digits[i]));
  } else {
    scratch.push(48);
    scratch.push(46);
    for (let i = 0; i < -(e + 1); i++) scratch.push(48);
    for (let i = 0; i < p; i++) scratch.push(48 + unchecked(digits[i]));
  }
  return scratch.toString();
}
