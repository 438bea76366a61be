// The files a config names (src/io/inputs.ts over the hosts' read path): only
// regular files are read — /dev/zero, /dev/urandom, a FIFO or a directory is
// refused before a byte is read, naming the config field — and a safetensors
// file's size is checked against its header before the rest of it is read.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, openSync, closeSync, ftruncateSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scratchDir } from "../helpers.ts";
import { nodeHost } from "../../src/platform/node.ts";
import { FileError, type Host } from "../../src/platform/host.ts";
import { readSafetensorsInput } from "../../src/io/inputs.ts";
import { SafetensorsError, writeSafetensors } from "../../src/io/safetensors.ts";
import { InputError } from "../../src/estimator.ts";
import { runEstimateJob } from "../../src/job.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = scratchDir("llc-inputs-");
const fifo = join(dir, "fifo");
const hasFifo = spawnSync("mkfifo", [fifo]).status === 0;
const special: [string, RegExp][] = [
  ["/dev/zero", /a character device, not a regular file/],
  ["/dev/urandom", /a character device, not a regular file/],
  [dir, /a directory, not a regular file/],
  ...(hasFifo ? [[fifo, /a FIFO \(named pipe\), not a regular file/] as [string, RegExp]] : []),
];

test("the Node host reads regular files only: devices, FIFOs and directories are a FileError naming the path", async () => {
  for (const [path, why] of special) {
    for (const read of [nodeHost.readBytes, nodeHost.readText]) {
      await read(path).then(
        () => assert.unreachable(`${path} was read`),
        (e) => {
          assert.instance(e, FileError);
          assert.ok(e.message.startsWith(`cannot read ${path}: `), e.message);
          assert.match(e.message, why);
        },
      );
    }
  }
  writeFileSync(join(dir, "plain.txt"), "\uFEFFé\n");
  assert.is(await nodeHost.readText(join(dir, "plain.txt")), "\uFEFFé\n", "text as readFile gave it (the BOM kept)");
  assert.equal([...(await nodeHost.readRange!(join(dir, "plain.txt"), 3, 10))], [0xc3, 0xa9, 0x0a]);
});

test("the Deno host too", () => {
  const bin = join(root, "node_modules/.bin/deno");
  if (!existsSync(bin)) return;
  const script = join(dir, "deno-read.ts");
  writeFileSync(script, `
    import { denoHost } from ${JSON.stringify(join(root, "src/platform/deno.ts"))};
    for (const path of ${JSON.stringify(special.map(([p]) => p))}) {
      for (const read of [denoHost.readBytes, denoHost.readText]) {
        try { await read(path); console.log("read " + path); } catch (e) { console.log(e.name + " " + e.message); }
      }
    }
    console.log(String(await denoHost.readText(${JSON.stringify(join(dir, "plain.txt"))}) === "\\uFEFFé\\n"));`);
  const env = { ...process.env, NO_COLOR: "1", DENO_DIR: join(dir, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };
  const run = spawnSync(bin, ["run", "--allow-read", "--no-config", script], { encoding: "utf8", env, timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split("\n");
  special.forEach(([path, why], i) => {
    for (const line of lines.slice(2 * i, 2 * i + 2)) {
      assert.ok(line.startsWith(`FileError cannot read ${path}: `), line);
      assert.match(line, why);
    }
  });
  assert.is(lines.at(-1), "true");
});

test("estimate names the config field of a file that is not regular", async () => {
  const caseDir = join(dir, "rrr");
  const made = spawnSync(process.execPath, [join(root, "bin/llc.mjs"), "example", "rrr", "--dir", caseDir], { encoding: "utf8" });
  assert.is(made.status, 0, made.stderr);
  const config = JSON.parse(readFileSync(join(caseDir, "case.json"), "utf8"));
  for (const field of ["weights", "data"] as const) {
    for (const [path, why] of special) {
      const file = join(caseDir, `bad-${field}.json`);
      writeFileSync(file, JSON.stringify({ ...config, [field]: path }));
      await runEstimateJob(nodeHost, file).then(
        () => assert.unreachable(),
        (e) => {
          assert.instance(e, InputError);
          assert.is(e.field, field);
          assert.ok(e.message.startsWith(`${field}: cannot read ${path}: `), e.message);
          assert.match(e.message, why);
        },
      );
    }
  }
});

/** `host` counting what it reads: whole files, and bytes read by range. */
function countingHost(host: Host) {
  const counts = { whole: 0, rangeBytes: 0 };
  const counted: Host = {
    ...host,
    readBytes: (path) => (counts.whole++, host.readBytes(path)),
    readRange: async (path, start, length) => {
      const bytes = await host.readRange!(path, start, length);
      counts.rangeBytes += bytes.length;
      return bytes;
    },
  };
  return { counted, counts };
}

test("a safetensors file's size is checked against its header before the rest is read", async () => {
  const bytes = writeSafetensors(new Map([["w", { dtype: "F32", shape: [4], data: new Float32Array([1, 2, 3, 4]) }]]));
  const path = join(dir, "w.safetensors");
  writeFileSync(path, bytes);
  const good = countingHost(nodeHost);
  assert.equal(await readSafetensorsInput(good.counted, path, "weights"), bytes);
  assert.equal(good.counts, { whole: 1, rangeBytes: bytes.length - 16 }, "the prefix and header, then the file");
  // The same header on a (sparse) file of 6 GiB: refused from its first bytes, the rest never read.
  const big = join(dir, "big.safetensors");
  writeFileSync(big, bytes);
  const fd = openSync(big, "r+");
  ftruncateSync(fd, 6 * 2 ** 30);
  closeSync(fd);
  const bad = countingHost(nodeHost);
  await readSafetensorsInput(bad.counted, big, "weights").then(
    () => assert.unreachable(),
    (e) => {
      assert.instance(e, SafetensorsError);
      assert.match(e.message, /big\.safetensors: tensor "w": data_offsets \[0, 16\] end the tensor data at 16, but the data buffer holds 6442450880 bytes/);
    },
  );
  assert.equal(bad.counts, { whole: 0, rangeBytes: bytes.length - 16 });
  // A length prefix past the end of the file: refused from the prefix alone.
  const truncated = join(dir, "truncated.safetensors");
  writeFileSync(truncated, bytes.subarray(0, 20));
  const cut = countingHost(nodeHost);
  await readSafetensorsInput(cut.counted, truncated, "data").then(() => assert.unreachable(), (e) => assert.match(e.message, /header length prefix is \d+ bytes but only 12 bytes follow/));
  assert.equal(cut.counts, { whole: 0, rangeBytes: 8 });
});

test.run();
