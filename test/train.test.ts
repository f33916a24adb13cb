// The trainer end to end on a tiny generated train_data folder: model folder contents, cache reuse,
// exact resume after an interruption, flat tensor count, every bad-input error, and the CLI.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { buildMixtures } from "../src/data/mix/mix.js";
import { createHash } from "node:crypto";
import {
  cpuHasNativeBf16,
  decodeSafetensors,
  encodeSafetensors,
  liveTensorCount,
  noGrad,
  rand,
  tidy,
} from "../src/engine/index.js";
import { disposeCheckpoint, readCheckpoint } from "../src/model/checkpoint.js";
import { PrecisionTrial } from "../src/model/precision.js";
import { loadModelFolder, readModelConfig } from "../src/model/folder.js";
import { type TrainConfigInput, train, TrainError } from "../src/train/index.js";
import { trainFlagsToConfig } from "../src/cli/train.js";
import { makeRawData, tempDir } from "./data-helpers.js";
import { type CliRun, runCli } from "./cli-helpers.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
function cli(args: string[], cwd: string): CliRun {
  return runCli(args, { cwd });
}

/** sha256 over the names and bytes of checkpoint.safetensors' tensors. */
function checkpointTensorsDigest(dir: string): string {
  const { tensors } = decodeSafetensors(readFileSync(join(dir, "checkpoint.safetensors")));
  const hash = createHash("sha256");
  for (const [name, t] of [...tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(name).update(t.bytesView());
    t.dispose();
  }
  return hash.digest("hex");
}

let root = "";
let data = "";
/** 3 classes × 3 combinations × 8 samples = 24 samples (18 train, 6 test by split.json), 2 s at 16 kHz. */
before(async () => {
  root = tempDir("stemscope-train-");
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 4, 16000);
  data = join(root, "train_data");
  await buildMixtures({ dataDir: join(root, "raw"), outputDir: data, samplesPerCombination: 8 }, { jobs: 1 });
});

const tiny = (out: string, extra: Partial<TrainConfigInput> = {}): TrainConfigInput => ({
  data,
  out: join(root, "runs", out),
  preset: "tiny",
  epochs: 2,
  batchSize: 6,
  // One libtorch thread: the test machines are shared, and OpenMP's barriers crawl when oversubscribed.
  threads: 1,
  cacheJobs: 1,
  ...extra,
});

/** Trains `config` and aborts it as its second epoch starts (one epoch done, a checkpoint to resume). */
async function trainInterruptedInEpoch2(config: TrainConfigInput) {
  const controller = new AbortController();
  return train(config, {
    signal: controller.signal,
    onProgress: (e) => {
      if (e.phase === "train" && e.epoch === 2) controller.abort();
    },
  });
}

test("tiny preset trains end to end: model folder, log, metrics, cache reuse, no leaks, exact resume", async () => {
  const live = liveTensorCount();
  const epochsSeen: number[] = [];
  const phases = new Set<string>();
  const a = await train(tiny("a"), {
    onEpoch: (r) => epochsSeen.push(r.epoch),
    onProgress: (e) => phases.add(e.phase),
  });
  assert.equal(liveTensorCount(), live, "train() leaked native tensors");
  assert.deepEqual(epochsSeen, [1, 2]);
  assert.deepEqual([...phases].sort(), ["cache", "eval", "train"]);
  assert.equal(a.stopReason, "epochs");
  assert.equal(a.trainSamples, 18);
  assert.equal(a.testSamples, 6);
  assert.equal(a.split, "split.json");
  assert.deepEqual(a.classes, ["bass", "flute", "piano"]);
  assert.equal(a.cache!.computed, 24);
  const out = join(root, "runs", "a");
  for (const f of [
    "config.json",
    "weights.safetensors",
    "last.safetensors",
    "checkpoint.json",
    "checkpoint.safetensors",
    "train_log.jsonl",
    "metrics.json",
  ]) {
    assert.ok(existsSync(join(out, f)), `${f} missing`);
  }
  const config = readModelConfig(out);
  assert.equal(config.formatVersion, 2);
  assert.equal(config.model.preset, "tiny");
  assert.equal(config.features.mode, "seed");
  assert.deepEqual(config.classes, ["bass", "flute", "piano"]);
  const log = readFileSync(join(out, "train_log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(log.length, 2);
  for (const r of log) {
    for (const key of [
      "trainLoss",
      "valLoss",
      "trainAcc",
      "valAcc",
      "valSepMse",
      "lr",
      "trainSeconds",
      "samplesPerSecond",
    ]) {
      assert.equal(typeof r[key], "number", `${key} in train_log.jsonl`);
      assert.ok(Number.isFinite(r[key]), `${key} finite`);
    }
    assert.ok(r.valAcc >= 0 && r.valAcc <= 1);
  }
  assert.equal(log[0].liveTensors, log[1].liveTensors, "live tensors grew between epochs");
  // The training loss falls (tiny model, same data, 2 epochs).
  assert.ok(log[1].trainLoss < log[0].trainLoss, `train loss ${log[0].trainLoss} → ${log[1].trainLoss}`);
  const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
  assert.equal(metrics.bestEpoch, a.bestEpoch);
  assert.equal(metrics.valAccuracy, log[a.bestEpoch - 1].valAcc);
  assert.equal(metrics.valSeparationMse, log[a.bestEpoch - 1].valSepMse);

  // loadModelFolder gives a working model.
  const loaded = await loadModelFolder(out);
  noGrad(() =>
    tidy(() => {
      const y = loaded.model.forward(rand([2, 1, 128, 128]).contiguous("channels_last"));
      assert.deepEqual(y.separated.shape, [2, 2, 128, 128]);
      assert.deepEqual(y.logits.shape, [2, 2, 3]);
    }),
  );
  loaded.model.dispose();

  // Interrupted in epoch 2, then resumed: the same weights, bytes for bytes, as the uninterrupted run.
  const b = await trainInterruptedInEpoch2(tiny("b"));
  assert.equal(b.stopReason, "aborted");
  assert.equal(b.epochs, 1);
  assert.equal(b.cache!.computed, 0, "features were not reused from the cache");
  assert.equal(b.cache!.hits, 24);
  const resumed = await train({ out: join(root, "runs", "b"), resume: true });
  assert.equal(resumed.epochs, 2);
  const outB = join(root, "runs", "b");
  assert.ok(
    readFileSync(join(outB, "last.safetensors")).equals(readFileSync(join(out, "last.safetensors"))),
    "resumed weights differ",
  );
  // The checkpoint's tensors (model + Adam moments) too; its metadata holds timings, so not its bytes.
  assert.equal(
    checkpointTensorsDigest(outB),
    checkpointTensorsDigest(out),
    "resumed optimizer state differs",
  );
  const logB = readFileSync(join(outB, "train_log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(logB.length, 2);
  // The checkpoint's loaded tensors are freed once copied: a resumed epoch holds no more than a fresh one.
  assert.equal(logB[1].liveTensors, log[1].liveTensors, "resume kept the loaded checkpoint tensors alive");
  assert.equal(liveTensorCount(), live, "train() leaked native tensors");

  // Starting over in a folder that holds a run is refused; resuming where there is none too.
  await assert.rejects(train(tiny("a")), {
    message: /runs\/a: already holds a training run; use `resume` to continue it, or choose another `out`/,
  });
  await assert.rejects(train({ out: join(root, "runs", "none"), resume: true }), {
    message: /checkpoint\.safetensors: not found; there is no run to resume/,
  });
});

test("resume after SIGKILL: a CLI run killed in epoch 2 and resumed equals the uninterrupted run", async () => {
  const outK = join(root, "runs", "killed");
  const child = spawn(
    process.execPath,
    [
      "--import",
      tsx,
      join(repo, "src/cli/main.ts"),
      "train",
      "--data",
      data,
      "--out",
      outK,
      "--preset",
      "tiny",
    ].concat(["--epochs", "2", "--batch-size", "6", "--threads", "1", "--quiet"]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  const killed = await new Promise<boolean>((resolve) => {
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("Epoch 01 |")) resolve(child.kill("SIGKILL"));
    });
    child.on("exit", () => resolve(false));
  });
  assert.ok(killed, `the run ended before it could be killed: ${stdout}`);
  await new Promise((resolve) => child.once("close", resolve));
  const resumed = await train({ out: outK, resume: true, cacheJobs: 1 });
  assert.equal(resumed.epochs, 2);
  const out = join(root, "runs", "a");
  assert.ok(
    readFileSync(join(outK, "last.safetensors")).equals(readFileSync(join(out, "last.safetensors"))),
    "weights after kill + resume differ from the uninterrupted run",
  );
  assert.equal(checkpointTensorsDigest(outK), checkpointTensorsDigest(out));
});

test("PIT, native features and bf16 train too", async () => {
  const r = await train(tiny("pit", { pit: true, features: "native", bf16: true, epochs: 1 }));
  assert.equal(r.epochs, 1);
  assert.equal(readModelConfig(join(root, "runs", "pit")).features.mode, "native");
  assert.ok(Number.isFinite(r.last!.valLoss));
});

test("bf16 auto: times the run's first steps in both, says which it chose, records it as a boolean", async () => {
  // batch 2: 9 steps an epoch, so the trial (2 warm-ups + 5 pairs) decides in the first epoch on
  // the 3 pairs it has; batch 6: 3 steps, too few for a pair.
  const cases = [
    {
      name: "auto",
      batchSize: 2,
      said: /measured: bf16 [\d.]+× float32's speed on the run's first training steps \(median of 3 step pairs; [\d.]+ vs [\d.]+ samples\/s\)/,
    },
    {
      name: "auto-short",
      batchSize: 6,
      said: /too few training steps to time bf16 against float32 \(3; it takes at least 4\)/,
    },
  ];
  for (const c of cases) {
    const warnings: string[] = [];
    await train(tiny(c.name, { bf16: "auto", epochs: 2, batchSize: c.batchSize }), {
      onWarning: (m) => warnings.push(m),
    });
    const said = warnings.filter((m) => m.startsWith("`bf16` auto: "));
    assert.equal(said.length, 1, `one bf16 choice among the warnings: ${warnings.join(" | ")}`);
    const out = join(root, "runs", c.name);
    const recorded = readModelConfig(out).training?.bf16;
    assert.equal(typeof recorded, "boolean");
    assert.ok(said[0]!.startsWith(`\`bf16\` auto: ${recorded ? "bf16" : "float32"} — `), said[0]);
    const checkpoint = readCheckpoint(out)!;
    assert.equal(checkpoint.state.config.bf16, recorded, "the checkpoint trains on as config.json says");
    disposeCheckpoint(checkpoint);
    // Without native bf16 it is float32 without a measurement.
    if (cpuHasNativeBf16() === false) assert.match(said[0]!, /no native bfloat16/);
    else assert.match(said[0]!, c.said);
  }
});

test('bf16 auto: a run killed before its trial decided says "auto" in config.json and measures again when started over', async () => {
  const out = join(root, "runs", "auto-killed");
  await train(tiny("auto-killed", { bf16: "auto", epochs: 1, batchSize: 2 }));
  // What a kill in the first steps leaves: config.json as written at the start, no checkpoint.
  const folder = readModelConfig(out);
  writeFileSync(
    join(out, "config.json"),
    JSON.stringify({ ...folder, training: { ...folder.training, bf16: "auto" } }),
  );
  rmSync(join(out, "checkpoint.json"), { force: true });
  rmSync(join(out, "checkpoint.safetensors"), { force: true });
  assert.equal(readModelConfig(out).training?.bf16, "auto");
  const warnings: string[] = [];
  await train({ out, resume: true, data }, { onWarning: (m) => warnings.push(m) });
  assert.ok(
    warnings.some((m) => m.includes("starting it over")),
    warnings.join(" | "),
  );
  const said = warnings.filter((m) => m.startsWith("`bf16` auto: "));
  assert.equal(said.length, 1, warnings.join(" | "));
  if (cpuHasNativeBf16() !== false) assert.match(said[0]!, /measured: bf16 .*\(median of 3 step pairs;/);
  assert.equal(typeof readModelConfig(out).training?.bf16, "boolean");
});

/** A copy of the generated train_data folder (without its cache) to break. */
function brokenCopy(name: string): string {
  const dir = join(root, `broken-${name}`);
  cpSync(data, dir, { recursive: true, filter: (src) => !src.includes(".stemscope-cache") });
  return dir;
}

test("bad input: missing or empty labels.txt, unknown labels, one class, batch too large", async () => {
  const missing = brokenCopy("missing");
  rmSync(join(missing, "labels.txt"));
  await assert.rejects(train(tiny("x1", { data: missing })), {
    message: new RegExp(`${missing}/labels.txt: not found; a train_data folder needs labels.txt`),
  });
  const empty = brokenCopy("empty");
  writeFileSync(join(empty, "labels.txt"), "\n\n");
  await assert.rejects(train(tiny("x2", { data: empty })), {
    message: /labels\.txt: empty; it lists no samples/,
  });

  const unknown = brokenCopy("unknown");
  const lines = readFileSync(join(unknown, "labels.txt"), "utf8").split("\n");
  lines[2] = lines[2]!.replace(/ piano$/, " banjo").replace(/ flute$/, " banjo");
  writeFileSync(join(unknown, "labels.txt"), lines.join("\n"));
  await assert.rejects(train(tiny("x3", { data: unknown })), {
    message: /labels\.txt:3: unknown label "banjo"; the classes of .*mix\.json are bass, flute, piano/,
  });

  const one = brokenCopy("one");
  rmSync(join(one, "mix.json"));
  rmSync(join(one, "split.json"));
  const oneLines = readFileSync(join(one, "labels.txt"), "utf8")
    .trim()
    .split("\n")
    .map((l) => l.replace(/ \S+ \S+$/, " bass bass"));
  writeFileSync(join(one, "labels.txt"), oneLines.join("\n"));
  await assert.rejects(train(tiny("x4", { data: one })), {
    message: /labels\.txt: only 1 class \(bass\); a classifier needs at least 2 classes/,
  });

  await assert.rejects(train(tiny("x5", { batchSize: 19 })), {
    message: /`batchSize` 19 is larger than the 18 training samples of .*; use `batchSize` 18 or less/,
  });
  assert.ok(!existsSync(join(root, "runs", "x5", "config.json")), "a failed start wrote a model folder");
});

test("bad input: a NaN loss stops training with a clear message and keeps the last good checkpoint", async () => {
  // From the start: an absurd learning rate blows the weights up within the first epoch.
  await assert.rejects(train(tiny("nan", { lr: 1e30, epochs: 1 })), (error: unknown) => {
    assert.ok(error instanceof TrainError, String(error));
    assert.match(
      error.message,
      /the loss became (NaN|Infinity|-Infinity) at epoch 1, step \d+; training stopped/,
    );
    assert.match(error.message, /has no checkpoint\. Try a lower `lr`\./);
    return true;
  });
  // During `bf16` auto's trial (config.json still "auto"): the advice names bf16 exactly when the
  // step that diverged ran in bf16 (the trial's order: a float32 warm-up, a bf16 one, then pairs).
  if (cpuHasNativeBf16() === true) {
    await assert.rejects(train(tiny("nan-auto", { lr: 1e30, epochs: 1, bf16: "auto" })), (error: unknown) => {
      assert.ok(error instanceof TrainError, String(error));
      const step = Number(/at epoch 1, step (\d+);/.exec(error.message)?.[1]);
      const order = new PrecisionTrial(1);
      for (let s = 1; s < step; s++) order.record(0);
      const advice = order.nextIsBf16() ? "Try a lower `lr` or train without `bf16`." : "Try a lower `lr`.";
      assert.ok(error.message.endsWith(advice), `step ${step}: ${error.message}`);
      return true;
    });
  }
  // After a good epoch: a NaN planted in the checkpoint's weights makes epoch 2's loss NaN; the
  // checkpoint of epoch 1 stays as it was.
  const out = join(root, "runs", "a");
  const copy = join(root, "runs", "nan2");
  cpSync(out, copy, { recursive: true });
  const path = join(copy, "checkpoint.safetensors");
  const { tensors, metadata } = decodeSafetensors(readFileSync(path));
  const state = JSON.parse(metadata.state!);
  state.epoch = 1;
  state.history = state.history.slice(0, 1);
  const fc = tensors.get("model.classifier.fc.bias")!;
  fc.fill(Number.NaN);
  writeFileSync(path, encodeSafetensors(tensors, { state: JSON.stringify(state) }));
  for (const t of tensors.values()) t.dispose();
  const before = readFileSync(path);
  await assert.rejects(train({ out: copy, resume: true, cacheJobs: 1, threads: 1 }), {
    message:
      /the loss became NaN at epoch 2, step 1; training stopped\. .*runs\/nan2 keeps the last good checkpoint \(epoch 1\)/,
  });
  assert.ok(readFileSync(path).equals(before), "the checkpoint changed after a NaN loss");
});

test("cli: stemscope train prints the seed's epoch lines and flag errors", () => {
  const r = cli(
    [
      "train",
      "--data",
      data,
      "--out",
      join(root, "runs", "cli"),
      "--preset",
      "tiny",
      "--epochs",
      "1",
      "--batch-size",
      "6",
      "--quiet",
      "--threads",
      "1",
    ],
    root,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^Epoch 01 \| Train Acc: \d\.\d{4} \| Test Acc: \d\.\d{4} \| LR: 0\.001500 \| Test Named: \d\.\d{4}$/m,
  );
  assert.match(r.stdout, /runs\/cli: 1 epochs, best epoch 1/);
  const bad = cli(
    ["train", "--data", join(root, "nowhere"), "--out", join(root, "runs", "cli2"), "--preset", "tiny"],
    root,
  );
  assert.equal(bad.code, 1);
  assert.equal(
    bad.stderr.trim(),
    `stemscope: ${join(root, "nowhere")}: folder not found; expected a train_data folder made by \`stemscope mix\``,
  );
  // The library's message names `batchSize`; the CLI shows the flag.
  const big = cli(
    ["train", "--data", data, "--out", join(root, "runs", "cli3"), "--preset", "tiny", "--batch-size", "19"],
    root,
  );
  assert.equal(big.code, 1);
  assert.match(
    big.stderr,
    /^stemscope: --batch-size 19 is larger than the 18 training samples of .*; use --batch-size 18 or less/,
  );
  assert.throws(() => trainFlagsToConfig({ data, out: "x", batchSize: "0" }), {
    message: "--batch-size must be ≥ 1, got 0",
  });
  assert.throws(() => trainFlagsToConfig({ data, out: "x", features: "mel" }), {
    message: '--features must be one of seed, native, got "mel"',
  });
  assert.throws(() => trainFlagsToConfig({ data }), { message: /--out <dir> is required/ });
  assert.throws(() => trainFlagsToConfig({ data, out: "x", resnetWidth: "0" }), {
    message: "--resnet-width must be ≥ 1, got 0",
  });
  assert.throws(() => trainFlagsToConfig({ data, out: "x", unetChannels: "wide" }), {
    message: /^--unet-channels must be an integer/,
  });
  const wide = trainFlagsToConfig({ data, out: "x", unetChannels: "24", resnetWidth: "32" });
  assert.equal(wide.unetChannels, 24);
  assert.equal(wide.resnetWidth, 32);
  const regularised = trainFlagsToConfig({ data, out: "x", resnetDropout: "0.2", labelSmoothing: "0.1" });
  assert.equal(regularised.resnetDropout, 0.2);
  assert.equal(regularised.labelSmoothing, 0.1);
  assert.throws(() => trainFlagsToConfig({ data, out: "x", labelSmoothing: "1" }), {
    message: /^--label-smoothing must be ≤ 0.99/,
  });
});

test("--optimizer adamw: other weights than Adam's L2 at the same decay, recorded in config.json, resumed exactly", async () => {
  assert.equal(trainFlagsToConfig({ data, out: "x", optimizer: "adamw" }).optimizer, "adamw");
  assert.throws(() => trainFlagsToConfig({ data, out: "x", optimizer: "sgd" }), {
    message: '--optimizer must be one of adam, adamw, got "sgd"',
  });
  const settings = { optimizer: "adamw", weightDecay: 0.5 } as const;
  const adamw = await train(tiny("adamw", settings));
  const adam = await train(tiny("adam-l2", { weightDecay: 0.5 }));
  const weights = (dir: string) => readFileSync(join(dir, "last.safetensors"));
  assert.ok(!weights(adamw.out).equals(weights(adam.out)), "adamw trained the same weights as adam");
  assert.equal(readModelConfig(adamw.out).training?.optimizer, "adamw");
  assert.equal(readModelConfig(adam.out).training?.optimizer, undefined, "adam (the seed's) is not recorded");

  // Interrupted in epoch 2 and resumed: the AdamW moments come back (a resume as Adam would refuse them).
  const out = join(root, "runs", "adamw-resumed");
  assert.equal((await trainInterruptedInEpoch2(tiny("adamw-resumed", settings))).epochs, 1);
  const resumed = await train({ out, resume: true });
  assert.equal(resumed.epochs, 2);
  assert.ok(weights(out).equals(weights(adamw.out)), "resumed adamw weights differ");
  assert.equal(checkpointTensorsDigest(out), checkpointTensorsDigest(adamw.out));
});

test("--schedule cosine: warm-up then cosine decay per step; --unet-output mask and --augment reach the model folder", async () => {
  // 18 training samples in batches of 6: 3 steps per epoch, 6 in all; warm-up floor(0.2 · 6) = 1 step.
  const lr = 0.002;
  const r = await train(
    tiny("cosine", { schedule: "cosine", warmup: 0.2, lr, unetOutput: "mask", augment: true }),
  );
  assert.equal(r.epochs, 2);
  const log = readFileSync(join(r.out, "train_log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  // The rate of the last step of each epoch (steps 2 and 5): lr · ½(1 + cos(π (s − 1) / 5)).
  const expected = (s: number) => lr * 0.5 * (1 + Math.cos((Math.PI * (s - 1)) / 5));
  assert.ok(Math.abs(log[0].lr - expected(2)) < 1e-12, `epoch 1 lr ${log[0].lr}`);
  assert.ok(Math.abs(log[1].lr - expected(5)) < 1e-12, `epoch 2 lr ${log[1].lr}`);
  const config = JSON.parse(readFileSync(join(r.out, "config.json"), "utf8"));
  assert.equal(config.model.unet.output, "mask");
  assert.equal(config.training.augment, true);
  // Augmentation is seeded: the same run again gives the same weights.
  const again = await train(
    tiny("cosine2", { schedule: "cosine", warmup: 0.2, lr, unetOutput: "mask", augment: true }),
  );
  assert.ok(
    readFileSync(join(again.out, "last.safetensors")).equals(readFileSync(join(r.out, "last.safetensors"))),
  );
});

test("--reference-weight changes what is learned, and so does --augment-references; --classifier-input, --unet-skips, the widths, --resnet-dropout and --label-smoothing reach the model folder, and it reloads", async () => {
  const base = await train(tiny("ref0", {}));
  const withRef = await train(
    tiny("ref1", {
      referenceWeight: 1,
      classifierInput: "source+mixture",
      unetSkips: "full",
      unetChannels: 6,
      resnetWidth: 5,
      resnetDropout: 0.3,
      labelSmoothing: 0.1,
    }),
  );
  const config = JSON.parse(readFileSync(join(withRef.out, "config.json"), "utf8"));
  assert.equal(config.training.referenceWeight, 1);
  assert.equal(config.model.classifierInput, "source+mixture");
  assert.equal(config.model.unet.skips, "full");
  assert.equal(config.model.unet.baseChannels, 6);
  assert.equal(config.model.resnet.width, 5);
  assert.equal(config.model.resnet.dropout, 0.3);
  assert.equal(config.training.labelSmoothing, 0.1);
  assert.equal(config.model.preset, "custom");
  // The folder describes itself: it reloads with a 2-channel classifier stem, a full-skip U-Net and
  // the widths asked for (tiny's own: 4 and 4).
  const loaded = await loadModelFolder(withRef.out);
  assert.equal(loaded.model.classifier.config.inChannels, 2);
  assert.equal(loaded.model.classifier.config.width, 5);
  assert.equal(loaded.model.classifier.config.dropout, 0.3);
  assert.equal(loaded.model.unet.config.baseChannels, 6);
  assert.notEqual(loaded.model.unet.head, null);
  loaded.model.dispose();
  // Same seed, same data, same architecture: the reference term alone changes the weights.
  const sameArch = await train(tiny("ref1b", { referenceWeight: 1 }));
  assert.ok(
    !readFileSync(join(sameArch.out, "last.safetensors")).equals(
      readFileSync(join(base.out, "last.safetensors")),
    ),
  );
  // Augmenting what the reference term sees changes the weights again, and is recorded.
  const augmented = await train(tiny("ref1c", { referenceWeight: 1, augmentReferences: true }));
  assert.ok(
    !readFileSync(join(augmented.out, "last.safetensors")).equals(
      readFileSync(join(sameArch.out, "last.safetensors")),
    ),
  );
  assert.equal(
    JSON.parse(readFileSync(join(augmented.out, "config.json"), "utf8")).training.augmentReferences,
    true,
  );
  assert.equal(
    JSON.parse(readFileSync(join(sameArch.out, "config.json"), "utf8")).training.augmentReferences,
    undefined,
  );
  // Without the reference term there is nothing for it to augment.
  await assert.rejects(train(tiny("ref0b", { augmentReferences: true })), {
    message: /augmentReferences.*needs `referenceWeight` > 0/,
  });
});
