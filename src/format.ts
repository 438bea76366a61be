// Number formatting for what the CLI prints (tables, progress lines): small pure
// functions, host-neutral. Display only: nothing here reaches a result.

/**
 * x.toFixed(digits), except that a value which rounds to zero prints as zero:
 * toFixed keeps the sign of −0 and of tiny negatives (−1e−6 → "-0.0000"), which in a
 * table reads as a meaningful negative. NaN and ±Infinity print as "–".
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return "–";
  const text = x.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

/** formatFixed with an explicit sign: "+0.0123", "-0.0500", and "+0.0000" for values that round to zero. */
export function formatSigned(x: number, digits: number): string {
  const text = formatFixed(x, digits);
  return text.startsWith("-") || text === "–" ? text : `+${text}`;
}

/** A duration for an ETA or an elapsed time: "42 s", "3 min 05 s", "2 h 07 min"; "–" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A rate with three significant figures ("1.23", "45.6", "789", "12345"); "–" when unknown. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "–";
  return perSecond >= 100 ? formatFixed(perSecond, 0) : perSecond >= 10 ? formatFixed(perSecond, 1) : formatFixed(perSecond, 2);
}

export interface ProgressState {
  /** Units done so far (finished before this run too, e.g. chains resumed from a file). */
  done: number;
  total: number;
  /** What is counted ("draws", "steps"): shown with the counts and the rate. */
  unit: string;
  /** Units done in this run and the time they took: the rate and the ETA come from these. */
  doneThisRun: number;
  elapsedSeconds: number;
  /** Text before the counts ("estimate", "[3/16] step 6000 l0h3"). */
  label?: string;
  /** Characters of a drawn bar after the percentage (none if absent: plain log lines need none). */
  barWidth?: number;
}

/** "█████░░░░░": `fraction` of `width` cells filled, rounded down (full only when done). */
export function progressBar(fraction: number, width: number): string {
  const filled = Math.min(width, Math.max(0, Math.floor(fraction * width)));
  return "█".repeat(filled) + "░".repeat(width - filled);
}

/**
 * One progress line: "label  37.5%  1234/3300 draws  412 draws/s  ETA 5 s" (with a
 * bar after the percentage when barWidth is given). The
 * percentage is floored (100.0% only when done), the rate is units of this run per
 * second, the ETA the units left at that rate ("–" before any unit was timed).
 */
export function formatProgress(s: ProgressState): string {
  const fraction = s.total > 0 ? Math.min(1, Math.max(0, s.done / s.total)) : 0;
  const percent = s.done >= s.total ? "100.0" : formatFixed(Math.floor(fraction * 1000) / 10, 1);
  const rate = s.elapsedSeconds > 0 && s.doneThisRun > 0 ? s.doneThisRun / s.elapsedSeconds : NaN;
  const eta = s.done >= s.total ? 0 : (s.total - s.done) / rate;
  const parts = [
    `${percent.padStart(5)}%`,
    ...(s.barWidth ? [progressBar(s.done >= s.total ? 1 : fraction, s.barWidth)] : []),
    `${s.done}/${s.total} ${s.unit}`,
    `${formatRate(rate)} ${s.unit}/s`,
    `ETA ${formatDuration(eta)}`,
  ];
  return (s.label ? `${s.label}  ` : "") + parts.join("  ");
}
