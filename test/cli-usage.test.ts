// The command table's machinery on a made-up command: one declaration gives the
// flags accepted, the required checks, --help and the usage line; and the sampler
// flags, read as JSON values and checked by the config's own validation.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  UsageError, SAMPLER_FLAGS, commandHelp, commandList, commandSynopsis, commandUsage, flagValue, knownFlags, parseCommandLine, samplerOverrides,
  type CommandSpec,
} from "../src/cli-usage.ts";
import { SAMPLER_DEFAULTS } from "../src/config.ts";

const spec: CommandSpec = {
  name: "demo",
  summary: "a command that exists only here",
  positional: { usage: "[NAME]", description: "what to demo", max: 1 },
  flags: [
    { name: "in", value: "FILE", required: true, description: "the input" },
    { name: "fast", description: "hurry" },
    SAMPLER_FLAGS.find((f) => f.name === "chains")!,
  ],
  reads: "nothing",
  example: "llc demo x --in a.json",
  run: async () => {},
};

test("flags, switches, positionals and required flags all come from the one declaration", () => {
  assert.equal(knownFlags(spec), { in: "value", fast: "flag", chains: "value" });
  assert.equal(parseCommandLine(spec, ["x", "--in=a.json", "--fast", "--chains", "3"]), { flags: { in: "a.json", fast: true, chains: "3" }, positional: ["x"] });
  const refused: [string[], RegExp][] = [
    [["--fast"], /^demo: --in FILE is required$/],
    [["--in"], /^--in: expected a value$/],
    [["--in", "a", "--fast=yes"], /^--fast takes no value/],
    [["x", "y", "--in", "a"], /^unknown argument "y"$/],
    [["--in", "a", "--draws", "5"], /^unknown argument "--draws"$/],
    [["--in", "a", "-f"], /^unknown argument "-f"$/],
    [["--in", "a", "--constructor"], /^unknown argument "--constructor"$/],
  ];
  for (const [args, message] of refused) assert.throws(() => parseCommandLine(spec, args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(" "));
});

test("help, synopsis, usage and the command list are rendered from the declaration", () => {
  assert.is(commandSynopsis(spec), "llc demo [NAME] --in FILE [--fast] [sampler flags]");
  assert.is(commandUsage(spec), "usage: llc demo [NAME] --in FILE [--fast] [sampler flags]\n(llc demo --help: every flag, with an example)");
  const help = commandHelp(spec);
  assert.ok(help.startsWith("llc demo: a command that exists only here\n\nusage: llc demo [NAME] --in FILE [--fast] [sampler flags]\n"), help);
  assert.match(help, /\n {2}--in FILE {2}the input \(required\)\n {2}--fast {5}hurry\n {2}--help {5}this text \(also -h\)\n/);
  assert.match(help, /\nsampler flags .*\n {2}--chains N {2}sampler\.chains: independent chains \(default 4\)\n/);
  assert.match(help, /\nreads: nothing\n\nexample:\n {2}llc demo x --in a\.json\n$/);
  assert.match(commandList([spec], "header"), /^header\n\nusage: llc COMMAND \[flags\]\n\ncommands:\n {2}demo {2}a command that exists only here\n/);
});

test("a sampler flag for every sampler field but workers, named field → flag, with its default", () => {
  const fields = Object.keys(SAMPLER_DEFAULTS).filter((k) => k !== "workers");
  assert.equal(SAMPLER_FLAGS.map((f) => f.name), fields.map((k) => k.replaceAll("_", "-")));
  assert.ok(SAMPLER_FLAGS.find((f) => f.name === "batch-size")!.description.endsWith("(default 64)"));
});

test("sampler flag values are read as a config's JSON would hold them, and checked by parseSamplerConfig", () => {
  assert.is(flagValue("3e-4"), 3e-4);
  assert.is(flagValue("-2"), -2);
  assert.is(flagValue("null"), null);
  assert.is(flagValue("default"), "default");
  assert.is(flagValue("0x10"), "0x10", "not JSON: a string, which the validator then refuses");
  assert.is(flagValue(".5"), ".5");
  assert.is(samplerOverrides({ in: "a" }), undefined, "no sampler flag: nothing to override");
  assert.equal(samplerOverrides({ chains: "8", nbeta: "default", "bounding-box": "null", "init-loss": "2.5" }), { nbeta: "default", chains: 8, bounding_box: null, init_loss: 2.5 });
  assert.throws(() => samplerOverrides({ "bounding-box": "0x10" }), /^--bounding-box: expected null or a positive finite number, got "0x10" \(sampler\.bounding_box\)$/);
  assert.throws(() => samplerOverrides({ seed: "4294967296" }), /^--seed: expected an integer in \[0, 4294967295\], got 4294967296 \(sampler\.seed\)$/);
});

test.run();
