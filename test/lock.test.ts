// Output-folder locks: a second run into a folder in use fails at once naming the folder and the
// owner's pid; a lock left by a killed run is taken over with a note.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildMixtures } from "../src/data/mix/mix.js";
import { train } from "../src/train/index.js";
import { FolderLockedError, LOCK_NAME, lockFolder } from "../src/util/lock.js";
import { makeRawData, tempDir } from "./data-helpers.js";
import { type CliRun, runCli } from "./cli-helpers.js";

function cli(args: string[]): CliRun {
  return runCli(args);
}

let root = "";
let owner: ChildProcess;
/** A folder locked by another, live process (as a second `train` would find it). */
function lockedByOwner(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, LOCK_NAME), JSON.stringify({ pid: owner.pid, command: "train" }));
  return dir;
}

before(() => {
  root = tempDir("stemscope-lock-");
  owner = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
});
after(() => {
  owner.kill();
});

test("lockFolder: exclusive while held, free after release, a dead owner's lock is taken over with a note", () => {
  const dir = join(root, "unit");
  mkdirSync(dir);
  const lock = lockFolder(dir, "mix");
  const recorded = JSON.parse(readFileSync(join(dir, LOCK_NAME), "utf8")) as { pid: number };
  assert.equal(recorded.pid, process.pid);
  assert.throws(() => lockFolder(dir, "mix"), {
    name: "FolderLockedError",
    message: new RegExp(`^${dir}: in use by another stemscope mix \\(pid ${process.pid}, this process`),
  });
  lock.release();
  assert.ok(!existsSync(join(dir, LOCK_NAME)), "release removes the lock file");
  lock.release(); // idempotent

  // A run killed with SIGKILL leaves its lock: its pid no longer runs.
  const dead = spawnSync(process.execPath, ["-e", ""]).pid;
  writeFileSync(join(dir, LOCK_NAME), JSON.stringify({ pid: dead, command: "train" }));
  const notes: string[] = [];
  const taken = lockFolder(dir, "train", (m) => notes.push(m));
  assert.deepEqual(notes, [
    `${dir}: took over a stale lock of stemscope train (pid ${dead}, no longer running)`,
  ]);
  taken.release();
});

test("train and mix into a folder locked by a running process fail at once, touching nothing", async () => {
  const raw = makeRawData(join(root, "raw"), ["bass", "flute"], 2, 8000);
  const out = lockedByOwner("train-out");
  const data = join(root, "data");
  await buildMixtures({ data: raw, out: data, samplesPerCombination: 2, seconds: 0.5 }, { jobs: 1 });
  await assert.rejects(train({ data, out, preset: "tiny", epochs: 1, batchSize: 1 }), (error: unknown) => {
    assert.ok(error instanceof FolderLockedError);
    assert.match(
      error.message,
      new RegExp(`^${out}: in use by another stemscope train \\(pid ${owner.pid};`),
    );
    return true;
  });
  assert.ok(!existsSync(join(out, "config.json")), "the refused run wrote config.json");

  const mixOut = lockedByOwner("mix-out");
  await assert.rejects(buildMixtures({ data: raw, out: mixOut, samplesPerCombination: 2 }, { jobs: 1 }), {
    name: "FolderLockedError",
    message: new RegExp(`^${mixOut}: in use by another stemscope train \\(pid ${owner.pid};`),
  });
  assert.ok(!existsSync(join(mixOut, "mix.json")));

  // A run that fails before writing anything leaves neither its lock nor an empty folder.
  const fresh = join(root, "fresh-out");
  await assert.rejects(train({ data: join(root, "no-such-data"), out: fresh, preset: "tiny" }), {
    name: "DataError",
  });
  assert.ok(!existsSync(fresh), "a failed start left its output folder");
});

test("cli: synth, separate and eval --out into a locked folder exit 1 naming the folder and pid", () => {
  const cases: [string, string[]][] = [
    ["synth-out", ["synth", "--classes", "bass,flute", "--per-class", "1", "--out"]],
    ["separate-out", ["separate", join(root, "missing.wav"), "--out"]],
    ["eval-out", ["eval", "--data", join(root, "data"), "--out"]],
  ];
  for (const [name, args] of cases) {
    const dir = lockedByOwner(name);
    const r = cli([...args, dir]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`^stemscope: ${dir}: in use by another stemscope train \\(pid ${owner.pid};`),
    );
  }
});
