// File-system errors as one-line messages naming the path, what was expected and the flag (never a
// stack trace), and `train` on a read-only dataset caching its features in the user's cache folder.
// The permission cases run the CLI as the unprivileged user 65534 (root may write anywhere).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { buildMixtures } from "../src/data/mix/mix.js";
import { makeRawData, tempDir } from "./data-helpers.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
/** The CLI, as this user or (with `asUser`) as the unprivileged user 65534 through setpriv. */
function cli(
  args: string[],
  env: Record<string, string> = {},
  asUser = false,
): { code: number | null; stderr: string } {
  const node = [process.execPath, "--import", tsx, join(repo, "src/cli/main.ts"), ...args];
  const command = asUser ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...node] : node;
  const r = spawnSync(command[0]!, command.slice(1), { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, stderr: r.stderr };
}

/** Why the permission cases cannot run here, or null when they can. */
function noUnprivilegedUser(): string | null {
  if (process.getuid?.() !== 0) return "needs root to switch to an unprivileged user";
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "true"]);
  if (r.status !== 0) return "setpriv cannot switch to user 65534 here";
  // A checkout inside a private folder (e.g. made by mktemp -d) is out of that user's reach.
  const readable = spawnSync("setpriv", [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "test",
    "-r",
    fileURLToPath(tsx),
    "-a",
    "-r",
    join(repo, "src/cli/main.ts"),
  ]);
  return readable.status === 0
    ? null
    : `user 65534 cannot read this checkout (${repo}): a folder above it is private`;
}

let root = "";
let data = "";
before(async () => {
  root = tempDir("stemscope-fs-");
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 2, 16000);
  data = join(root, "train_data");
  await buildMixtures(
    { data: join(root, "raw"), out: data, samplesPerCombination: 4, seconds: 1 },
    { jobs: 1 },
  );
  chmodSync(root, 0o755);
});

test("an output path that is a file, a path through a file, labels.txt that is a folder: one line naming path and flag", () => {
  const file = join(root, "a-file");
  writeFileSync(file, "x");
  const cases: [string[], string][] = [
    [
      ["train", "--data", data, "--out", file, "--preset", "tiny"],
      `${file}: is a file, but a folder was expected here; remove it or choose another path (--out)`,
    ],
    [
      ["eval", "--data", data, "--out", join(file, "report")],
      `${join(file, "report")}: a part of this path is a file, but a folder was expected there; choose another path (--out)`,
    ],
  ];
  const folderLabels = join(root, "folder-labels");
  cpSync(data, folderLabels, { recursive: true });
  rmSync(join(folderLabels, "labels.txt"));
  mkdirSync(join(folderLabels, "labels.txt"));
  const isFolder = `${join(folderLabels, "labels.txt")}: is a folder, but a file was expected`;
  cases.push([["train", "--data", folderLabels, "--out", join(root, "r"), "--preset", "tiny"], isFolder]);
  cases.push([["check", folderLabels], isFolder]);
  for (const [args, message] of cases) {
    const r = cli(args);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `stemscope: ${message}\n`);
  }
});

test("as an unprivileged user: read-only output folders are named; train on a read-only dataset caches in the user's cache", (t) => {
  const skip = noUnprivilegedUser();
  if (skip !== null) {
    t.skip(skip);
    return;
  }
  const readOnly = join(root, "read-only");
  mkdirSync(readOnly, { mode: 0o755 });
  const home = join(root, "home");
  mkdirSync(home);
  chmodSync(home, 0o777);
  const env = { HOME: home, XDG_CACHE_HOME: join(home, "cache") };
  for (const args of [
    ["mix", "--data", join(root, "raw"), "--out", join(readOnly, "x")],
    ["separate", join(root, "none.wav"), "--out", join(readOnly, "x")],
  ]) {
    const r = cli(args, env, true);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `stemscope: ${join(readOnly, "x")}: permission denied (mkdir): you cannot write here (--out)\n`,
    );
  }

  // The dataset belongs to root: user 65534 may read it but not write its cache beside it.
  const out = join(home, "run");
  const r = cli(
    [
      "train",
      "--data",
      data,
      "--out",
      out,
      "--preset",
      "tiny",
      "--epochs",
      "1",
      "--batch-size",
      "4",
      "--threads",
      "1",
      "--quiet",
    ],
    env,
    true,
  );
  assert.equal(r.code, 0, r.stderr);
  const cacheRoot = join(home, "cache", "stemscope");
  const [key] = readdirSync(cacheRoot);
  assert.match(
    r.stderr,
    new RegExp(
      `stemscope: warning: ${data}: not writable \\(EACCES\\), so the feature cache is ${join(cacheRoot, key!)} instead of ${join(data, ".stemscope-cache")} \\(set --cache-dir to choose\\)`,
    ),
  );
  assert.ok(readdirSync(join(cacheRoot, key!)).length > 0, "nothing was cached in the user's cache");
  assert.ok(!existsSync(join(data, ".stemscope-cache")));
  assert.ok(existsSync(join(out, "weights.safetensors")));
});
