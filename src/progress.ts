// Progress on a terminal: one line per job, redrawn in place with "\r" on a TTY,
// plain lines now and then otherwise (a log file or a pipe should not fill with
// redraws). Host-neutral: it writes through `write` and reads the clock it is given.
// A few dozen lines of our own rather than a library: the npm progress bars
// (cli-progress, progress) write to a Node stream and read process.stdout's columns,
// which Deno's Node layer and a browser do not all offer; and what is printed has to
// be one pure function (formatProgress) so that tests can pin it.
import { formatProgress } from "./format.ts";
import type { Progress } from "./sampler.ts";

export interface ProgressOutput {
  write(text: string): void;
  /** A terminal: the line is redrawn in place; otherwise a plain line every PLAIN_LINE_MS. */
  tty: boolean;
  /** Milliseconds (Host.now). */
  now(): number;
  /** Terminal width, to keep the line from wrapping (a wrapped line cannot be redrawn by "\r"). */
  columns?: number;
}

/** Nothing is shown before a job has run this long: short runs stay quiet. */
export const QUIET_START_MS = 1000;
export const TTY_REDRAW_MS = 100;
export const PLAIN_LINE_MS = 5000;
/** Cells of the bar drawn on a terminal. */
export const BAR_WIDTH = 20;

/** The line of the job under way, and lines of their own (row results, notices) printed above it. */
export class ProgressLine {
  private shown = ""; // what the TTY line holds now
  private last = -Infinity;
  private started: number;

  constructor(private readonly out: ProgressOutput) {
    this.started = out.now();
  }

  /** A terminal: the line is redrawn in place, so it may carry a bar. */
  get tty(): boolean {
    return this.out.tty;
  }

  /** A new job: its line waits QUIET_START_MS again. */
  restart(): void {
    this.clear();
    this.started = this.out.now();
    this.last = -Infinity;
  }

  /** Show `text` as the job's line (dropped if the last one was too recent); `force`: now, even in the quiet start. */
  show(text: string, force = false): void {
    const now = this.out.now();
    const gap = this.out.tty ? TTY_REDRAW_MS : PLAIN_LINE_MS;
    if (!force && (now - this.started < QUIET_START_MS || now - this.last < gap)) return;
    this.last = now;
    if (!this.out.tty) return this.out.write(text + "\n");
    const width = this.out.columns && this.out.columns > 1 ? this.out.columns - 1 : Infinity;
    const line = text.length > width ? text.slice(0, width) : text;
    this.out.write(`\r${line.padEnd(this.shown.length)}`);
    this.shown = line;
  }

  /** A line of its own; on a TTY the job's line is cleared first and drawn again below it. */
  log(text: string): void {
    if (!this.shown) return this.out.write(text + "\n");
    const line = this.shown;
    this.clear();
    this.out.write(text + "\n");
    this.out.write(line);
    this.shown = line;
  }

  /** Remove the job's line (TTY). */
  clear(): void {
    if (!this.shown) return;
    this.out.write(`\r${" ".repeat(this.shown.length)}\r`);
    this.shown = "";
  }
}

/**
 * The progress of one estimate over all its chains, from the engine's Progress
 * events (serial or from workers: they arrive on one thread, so lines never
 * interleave). Counts SGLD steps (burn-in included), called "draws" when every step
 * is a draw (burnin 0, thin 1). Chains resumed from a file count as done, not in the rate.
 */
export function estimateProgress(line: ProgressLine, now: () => number, label?: string) {
  const steps = new Map<number, number>();
  let resumed = 0;
  // The rate counts from the first report, so loading, L0 and starting workers do not lower it.
  let first: { steps: number; at: number } | undefined;
  return {
    /** `chains` finished by an earlier run were taken from the result file. */
    resume(chains: number) {
      resumed = chains;
    },
    update(p: Progress) {
      steps.set(p.chain, p.chainStep);
      let thisRun = 0;
      for (const s of steps.values()) thisRun += s;
      const t = now();
      first ??= { steps: thisRun, at: t };
      const unit = p.chainSteps === p.draws ? "draws" : "steps";
      line.show(formatProgress({
        label, unit, done: resumed * p.chainSteps + thisRun, total: p.chains * p.chainSteps,
        doneThisRun: thisRun - first.steps, elapsedSeconds: (t - first.at) / 1000, barWidth: line.tty ? BAR_WIDTH : undefined,
      }));
    },
  };
}
