// Every failure of the WASI command ends here: one line on stderr in the words
// of the JavaScript CLI ("llc: ConfigError: sampler.epsilon: …"), then exit 1
// (2 for a usage error). AssemblyScript has no exceptions, so nothing unwinds:
// the process ends inside fail().

import { writeText, exit } from "./io";

export function fail(kind: string, message: string): void {
  writeText(2, "llc: " + (kind.length ? kind + ": " : "") + message + "\n");
  exit(kind == "UsageError" ? 2 : 1);
}
