import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { makeRawData, tempDir } from "./data-helpers.js";
import { type CliRun, runCli } from "./cli-helpers.js";

function cli(args: string[], cwd: string): CliRun {
  return runCli(args, { cwd });
}

test("cli: mix then check, with the seed's relative paths; check --json and exit codes", () => {
  const root = tempDir();
  makeRawData(join(root, "raw_data"), ["cello", "piano", "violin"], 3, 16000);
  let r = cli(
    [
      "mix",
      "--data-dir",
      "./raw_data/",
      "--samples-per-combination",
      "4",
      "--seconds",
      "0.5",
      "--jobs",
      "2",
      "--quiet",
    ],
    root,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\.\/train_data\/: 12 samples \(3 combinations of 2 of 3 classes × 4\); wrote 12/);
  const first = readFileSync(join(root, "train_data", "labels.txt"), "utf8").split("\n")[0];
  assert.equal(
    first,
    "./train_data/sample_0/mixed.wav ./train_data/sample_0/source1.wav ./train_data/sample_0/source2.wav cello piano",
  );
  r = cli(["check", "train_data", "--json"], root);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true);
  assert.equal(report.dataset.lines, 12);
  // raw_data with warnings only: exit 0.
  r = cli(["check", "raw_data", "--seconds", "0.3"], root);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /raw_data raw_data: 3 classes, 9 clips/);
  assert.match(r.stdout, /ok \(4 warnings\)/);
  // An error: exit 1, the report on stdout, one line on stderr.
  writeFileSync(join(root, "train_data", "labels.txt"), "a b c\n");
  r = cli(["check", "train_data", "--json"], root);
  assert.equal(r.code, 1);
  assert.equal(
    JSON.parse(r.stdout).issues[0].message,
    "train_data/labels.txt:1: expected 1 + 2K fields (mixed, K sources, K labels; 5 for two sources), got 3: a b c",
  );
  assert.equal(r.stderr, "stemscope: check: 2 error(s) in train_data\n");
});

test("cli: mix usage errors name the flag", () => {
  const root = tempDir();
  makeRawData(join(root, "raw"), ["cello", "piano"], 2, 16000);
  for (const [args, expected] of [
    [["--samples-per-combination", "0"], "--samples-per-combination must be ≥ 1, got 0"],
    [["--gain-db", "6"], '--gain-db must be 2 comma-separated numbers, got "6"'],
    [["--split-by", "class"], '--split-by must be one of clip, soundfont, random, got "class"'],
    [["--test-fraction", "x"], '--test-fraction must be a number, got "x"'],
    [["--jobs", "0"], "--jobs must be ≥ 1, got 0"],
    [["--data-dir", "missing"], "missing: folder not found"],
    [["--data", "missing"], "missing: folder not found"],
    // A library message names its parameters; the CLI shows them as this command's flags.
    [["--data", "raw", "--test-soundfonts", "a320u"], "--test-soundfonts needs --split-by soundfont"],
  ] as const) {
    const r = cli(["mix", "--quiet", ...args], root);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`stemscope: ${expected}`), `${args.join(" ")} → ${r.stderr}`);
  }
  assert.ok(!existsSync(join(root, "train_data")));
});
