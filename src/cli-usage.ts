// The command table's machinery: each `llc` command is one declarative CommandSpec
// (summary, flags, the config fields it reads, an example, its function), and from
// that one declaration come the flags parseFlags accepts, `llc CMD --help`, the
// usage line a usage error prints and the command list of `llc help`. A flag is
// declared once. Pure functions of the specs: the CLI (src/cli.ts) does the I/O.
//
// The sampler override flags (--chains, --epsilon, …) are derived from the config's
// own sampler fields (SAMPLER_DEFAULTS, SAMPLER_FIELD_DOCS) and validated by
// parseSamplerConfig, so names, types and limits have one source of truth.
import { ConfigError, SAMPLER_DEFAULTS, SAMPLER_FIELD_DOCS, parseSamplerConfig, type SamplerConfig } from "./config.ts";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface FlagSpec {
  /** Without the leading "--". */
  name: string;
  /** The value's form ("FILE", "N", "simd|scalar"); absent for a switch. */
  value?: string;
  required?: boolean;
  description: string;
}

export type Flags = Record<string, string | true>;

export interface CommandSpec {
  name: string;
  /** One line, for the command list. */
  summary: string;
  /** Positional arguments before the flags, e.g. "[NAME]" (none if absent). */
  positional?: { usage: string; description: string; max: number };
  flags: readonly FlagSpec[];
  /** The config fields (or files) it reads, for --help. */
  reads?: string;
  /** More to say in --help (a sentence or two). */
  notes?: string;
  example: string;
  run(flags: Flags, positional: string[]): Promise<void>;
}

/** What parseFlags accepts for `spec`: each flag's name and whether it takes a value. */
export function knownFlags(spec: Pick<CommandSpec, "flags">): Record<string, "value" | "flag"> {
  return Object.fromEntries(spec.flags.map((f) => [f.name, f.value === undefined ? "flag" : "value"]));
}

/** Parse `--name value`, `--name=value` and `--flag`, rejecting anything not in `known`; bare words go to `positional` (at most `maxPositional`). */
export function parseFlags(args: readonly string[], known: Record<string, "value" | "flag">, positional: string[] = [], maxPositional = 0): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("-") && positional.length < maxPositional) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (name === undefined || !Object.hasOwn(known, name)) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    if (known[name] === "flag") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value, got ${JSON.stringify(arg)}`);
      flags[name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`--${name}: expected a value`);
    flags[name] = value;
  }
  return flags;
}

/** Flags and positional arguments of `spec`'s command line; a missing required flag is a UsageError. */
export function parseCommandLine(spec: CommandSpec, args: readonly string[]): { flags: Flags; positional: string[] } {
  const positional: string[] = [];
  const flags = parseFlags(args, knownFlags(spec), positional, spec.positional?.max ?? 0);
  for (const f of spec.flags) if (f.required && flags[f.name] === undefined) throw new UsageError(`${spec.name}: ${flagForm(f)} is required`);
  return { flags, positional };
}

/** `--help` or `-h` anywhere among the arguments. */
export const wantsHelp = (args: readonly string[]) => args.includes("--help") || args.includes("-h");

const flagForm = (f: FlagSpec) => `--${f.name}${f.value === undefined ? "" : ` ${f.value}`}`;

/** "llc estimate --config FILE [--out FILE] … [sampler flags]": required flags bare, the rest in brackets. */
export function commandSynopsis(spec: CommandSpec, program = "llc"): string {
  const own = spec.flags.filter((f) => !isSamplerFlag(f));
  const parts = [`${program} ${spec.name}`, ...(spec.positional ? [spec.positional.usage] : []), ...own.map((f) => (f.required ? flagForm(f) : `[${flagForm(f)}]`))];
  if (own.length < spec.flags.length) parts.push("[sampler flags]");
  return parts.join(" ");
}

/** What a usage error prints after its message: this command's usage only. */
export function commandUsage(spec: CommandSpec, program = "llc"): string {
  return `usage: ${commandSynopsis(spec, program)}\n(${program} ${spec.name} --help: every flag, with an example)`;
}

function flagTable(flags: readonly FlagSpec[]): string[] {
  const width = Math.max(...flags.map((f) => flagForm(f).length));
  return flags.map((f) => `  ${flagForm(f).padEnd(width)}  ${f.description}${f.required ? " (required)" : ""}`);
}

/** `llc CMD --help`: what it does, its usage, flags, the config fields it reads, an example. */
export function commandHelp(spec: CommandSpec, program = "llc"): string {
  const own = spec.flags.filter((f) => !isSamplerFlag(f));
  const sampler = spec.flags.filter(isSamplerFlag);
  const lines = [`${program} ${spec.name}: ${spec.summary}`, "", `usage: ${commandSynopsis(spec, program)}`];
  if (spec.positional) lines.push("", `  ${spec.positional.usage}  ${spec.positional.description}`);
  lines.push("", "flags:", ...flagTable([...own, { name: "help", description: "this text (also -h)" }]));
  if (sampler.length)
    lines.push("", 'sampler flags (as if the "sampler" fields held them: validated alike, part of the job and of its results):', ...flagTable(sampler));
  if (spec.reads) lines.push("", `reads: ${spec.reads}`);
  if (spec.notes) lines.push("", spec.notes);
  lines.push("", "example:", `  ${spec.example}`);
  return lines.join("\n") + "\n";
}

/** `llc help`: every command with its summary. */
export function commandList(specs: readonly CommandSpec[], header: string, program = "llc"): string {
  const width = Math.max(...specs.map((s) => s.name.length));
  return [
    header, "", `usage: ${program} COMMAND [flags]`, "", "commands:",
    ...specs.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`),
    "", `${program} COMMAND --help (or -h): that command's flags, the config fields it reads, an example`,
    `${program} --version (or -V): the version`,
  ].join("\n") + "\n";
}

// ── sampler overrides ───────────────────────────────────────────────────────

type OverridableField = Exclude<keyof SamplerConfig, "workers">;

/** Every sampler field but workers (its own --workers flag never changes a bit, so it is not part of the job). */
const OVERRIDABLE = (Object.keys(SAMPLER_DEFAULTS) as (keyof SamplerConfig)[]).filter((k): k is OverridableField => k !== "workers");

/** The flag of a sampler field: batch_size → batch-size. */
export const samplerFlagName = (field: string) => field.replaceAll("_", "-");

const SAMPLER_FLAG_FIELDS: ReadonlyMap<string, OverridableField> = new Map(OVERRIDABLE.map((k) => [samplerFlagName(k), k]));

const isSamplerFlag = (f: FlagSpec) => SAMPLER_FLAG_FIELDS.has(f.name);

/** --method, --epsilon, --gamma, --nbeta, --chains, --draws, … : one per sampler field, with its default. */
export const SAMPLER_FLAGS: readonly FlagSpec[] = OVERRIDABLE.map((field) => {
  const [value, description] = SAMPLER_FIELD_DOCS[field];
  return { name: samplerFlagName(field), value, description: `sampler.${field}: ${description} (default ${JSON.stringify(SAMPLER_DEFAULTS[field])})` };
});

/** A flag's text as the JSON value a config would hold: a JSON number, null, true, false, or else the string itself. */
export function flagValue(text: string): number | string | boolean | null {
  if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(text)) return Number(text);
  if (text === "true" || text === "false") return text === "true";
  return text === "null" ? null : text;
}

/**
 * The sampler fields given as flags, checked exactly as the config's would be
 * (parseSamplerConfig) with the error naming the flag: `--chains: expected an
 * integer >= 1, got 0 (sampler.chains)`. Undefined when no such flag was given.
 */
export function samplerOverrides(flags: Flags): Partial<Record<OverridableField, unknown>> | undefined {
  const overrides: Partial<Record<OverridableField, unknown>> = {};
  for (const [flag, field] of SAMPLER_FLAG_FIELDS) {
    const text = flags[flag];
    if (typeof text === "string") overrides[field] = flagValue(text);
  }
  if (Object.keys(overrides).length === 0) return undefined;
  try {
    parseSamplerConfig(overrides, "sampler");
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const field = e.field.replace(/^sampler\./, "");
    throw new UsageError(`--${samplerFlagName(field)}: ${e.detail} (sampler.${field})`);
  }
  return overrides;
}
