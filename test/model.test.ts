// Model presets (shapes, the loss falls on a fixed batch), the model folder loader's errors, and
// `stemscope model info`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  Adam,
  liveTensorCount,
  manualSeed,
  noGrad,
  rand,
  randint,
  setNumThreads,
  cat,
  tensor,
  tidy,
} from "../src/engine/index.js";
import {
  JointModel,
  jointLoss,
  pairedSpeedup,
  PrecisionTrial,
  type PresetName,
  presetConfig,
  UNet,
  UNetConfigSchema,
} from "../src/model/index.js";
import { loadModelFolder, readModelConfig } from "../src/model/folder.js";
import { tempDir } from "./data-helpers.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const slow = process.env.STEMSCOPE_SLOW_TESTS === "1";
// One libtorch thread: the test machines are shared, and OpenMP's barriers crawl when oversubscribed.
setNumThreads(1);

/** Forward shapes, and the joint loss falls over `steps` Adam steps on one fixed batch. */
function checkPreset(preset: PresetName, batch: number, steps: number, lr: number): void {
  const live = liveTensorCount();
  manualSeed(0);
  const model = new JointModel(presetConfig(preset, 4)).toChannelsLast();
  const optimizer = new Adam(model.parameters(), { lr, weightDecay: 1e-4 });
  const x = tidy(() => rand([batch, 1, 128, 128]).contiguous("channels_last"));
  const sources = rand([batch, 2, 128, 128]);
  const labels = randint(0, 4, [batch, 2]);
  try {
    noGrad(() =>
      tidy(() => {
        model.eval();
        const y = model.forward(x);
        assert.deepEqual(y.separated.shape, [batch, 2, 128, 128]);
        assert.deepEqual(y.logits.shape, [batch, 2, 4]);
        model.train();
      }),
    );
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      optimizer.zeroGrad();
      losses.push(
        tidy(() => {
          const loss = jointLoss(
            model.forward(x),
            { sources, labels },
            { lossWeight: 0.7, referenceWeight: 0 },
          ).total;
          loss.backward();
          return loss.item();
        }),
      );
      optimizer.step();
    }
    assert.ok(losses[losses.length - 1]! < losses[0]!, `${preset}: loss did not fall: ${losses.join(", ")}`);
  } finally {
    for (const t of [x, sources, labels]) t.dispose();
    optimizer.dispose();
    model.dispose();
  }
  assert.equal(liveTensorCount(), live, `${preset}: leaked tensors`);
}

test("tiny: shapes, and the loss falls on a fixed batch", () => checkPreset("tiny", 4, 5, 0.01));
test("fast: shapes, and the loss falls on a fixed batch", () => checkPreset("fast", 2, 3, 0.0015));
test(
  "seed (49M parameters, STEMSCOPE_SLOW_TESTS=1): shapes, and the loss falls on a fixed batch",
  { skip: !slow },
  () => checkPreset("seed", 2, 3, 0.0015),
);

for (const classifierInput of ["source", "source+mixture"] as const) {
  test(`the reference term (${classifierInput}) = (1 − λ)·β·Σ_k cross-entropy of the classifier on each reference source`, () => {
    const live = liveTensorCount();
    manualSeed(3);
    const model = new JointModel({ ...presetConfig("tiny", 5), classifierInput }).toChannelsLast().eval();
    noGrad(() =>
      tidy(() => {
        const sources = rand([3, 2, 128, 128]);
        const mixture = rand([3, 1, 128, 128]);
        const labelValues = [4, 0, 1, 3, 2, 2];
        const labels = tensor(
          BigInt64Array.from(labelValues, (v) => BigInt(v)),
          [3, 2],
        );
        let expected = 0;
        for (let k = 0; k < 2; k++) {
          const source = sources.slice(1, k, k + 1);
          // What the classifier is meant to see: the source, then (optionally) the mixture channel.
          const input = classifierInput === "source" ? source : cat([source, mixture], 1);
          assert.equal(input.shape[1], classifierInput === "source" ? 1 : 2);
          const rows = model.classifier.forward(input.contiguous("channels_last")).toArray();
          for (let b = 0; b < 3; b++) {
            const row = rows.slice(b * 5, b * 5 + 5);
            const max = Math.max(...row);
            const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
            expected += (logSum - row[labelValues[b * 2 + k]!]!) / 3;
          }
        }
        // The joint forward pass feeds the classifier the same way.
        const output = model.forward(mixture.contiguous("channels_last"));
        assert.deepEqual(output.logits.shape, [3, 2, 5]);
        const referenceLogits = model.classifySources(sources, mixture);
        assert.deepEqual(referenceLogits.shape, [3, 2, 5]);
        const [lossWeight, referenceWeight] = [0.6, 2];
        const loss = jointLoss(output, { sources, labels, referenceLogits }, { lossWeight, referenceWeight });
        const got = (loss.objective.item() - loss.total.item()) / ((1 - lossWeight) * referenceWeight);
        assert.ok(Math.abs(got - expected) < 1e-4, `${got} vs ${expected}`);
        // Without reference logits (validation) the objective is the seed's loss.
        const seedLoss = jointLoss(output, { sources, labels }, { lossWeight, referenceWeight });
        assert.equal(seedLoss.objective.item(), seedLoss.total.item());
      }),
    );
    model.dispose();
    assert.equal(liveTensorCount(), live);
  });
}

test("UNet with full skips: shapes, parameter names, and it fits a fixed target", () => {
  const live = liveTensorCount();
  manualSeed(1);
  const unet = new UNet(UNetConfigSchema.parse({ depth: 2, baseChannels: 4, dropout: 0, skips: "full" }), 3);
  const names = unet.namedParameters().map(([n]) => n);
  for (const name of ["enc.1.3.weight", "mid.0.weight", "up.0.weight", "dec.1.0.3.weight", "head.weight"]) {
    assert.ok(names.includes(name), `${name} missing from ${names.join(", ")}`);
  }
  const optimizer = new Adam(unet.parameters(), { lr: 0.01 });
  const x = rand([2, 1, 32, 16]);
  const target = rand([2, 3, 32, 16]);
  const losses: number[] = [];
  for (let i = 0; i < 20; i++) {
    optimizer.zeroGrad();
    losses.push(
      tidy(() => {
        const y = unet.forward(x);
        assert.deepEqual(y.shape, [2, 3, 32, 16]);
        const loss = y.sub(target).square().mean();
        loss.backward();
        return loss.item();
      }),
    );
    optimizer.step();
  }
  assert.ok(losses[19]! < 0.5 * losses[0]!, `loss did not halve: ${losses[0]} → ${losses[19]}`);
  for (const t of [x, target]) t.dispose();
  optimizer.dispose();
  unet.dispose();
  assert.equal(liveTensorCount(), live);
});

test("preset parameter counts: seed is the seed's 49M-parameter model; fast and tiny are small", () => {
  const counts = Object.fromEntries(
    (["seed", "fast", "tiny"] as const).map((p) => {
      const m = new JointModel(presetConfig(p, 10));
      const n = m.parameterCount();
      m.dispose();
      return [p, n];
    }),
  );
  assert.ok(counts.seed! > 45e6 && counts.seed! < 55e6, `seed: ${counts.seed}`);
  assert.ok(counts.fast! < 5e6, `fast: ${counts.fast}`);
  assert.ok(counts.tiny! < 1e5, `tiny: ${counts.tiny}`);
});

test("loadModelFolder: clear errors for a missing folder, missing files, an unknown formatVersion and a class named twice", async () => {
  const root = tempDir("stemscope-model-");
  await assert.rejects(loadModelFolder(join(root, "nope")), {
    message: `${join(root, "nope")}: model folder not found`,
  });
  mkdirSync(join(root, "empty"));
  await assert.rejects(loadModelFolder(join(root, "empty")), {
    message: `${join(root, "empty", "config.json")}: not found; expected a model folder written by \`stemscope train\``,
  });
  const config = {
    formatVersion: 1,
    model: presetConfig("tiny", 3),
    features: { mode: "seed" },
    classes: ["a", "b", "c"],
  };
  mkdirSync(join(root, "v3"));
  writeFileSync(join(root, "v3", "config.json"), JSON.stringify({ ...config, formatVersion: 3 }));
  await assert.rejects(loadModelFolder(join(root, "v3")), {
    message: `${join(root, "v3", "config.json")}: formatVersion 3 is not supported; this stemscope reads formatVersion 1 and 2`,
  });
  mkdirSync(join(root, "noweights"));
  writeFileSync(join(root, "noweights", "config.json"), JSON.stringify(config));
  assert.deepEqual(readModelConfig(join(root, "noweights")).classes, ["a", "b", "c"]);
  await assert.rejects(loadModelFolder(join(root, "noweights")), {
    message: `${join(root, "noweights", "weights.safetensors")}: no such weights file`,
  });
  mkdirSync(join(root, "mismatch"));
  writeFileSync(join(root, "mismatch", "config.json"), JSON.stringify({ ...config, classes: ["a", "b"] }));
  await assert.rejects(loadModelFolder(join(root, "mismatch")), {
    message: /2 class names but the model has 3 outputs/,
  });
  mkdirSync(join(root, "twice"));
  writeFileSync(join(root, "twice", "config.json"), JSON.stringify({ ...config, classes: ["a", "b", "a"] }));
  await assert.rejects(loadModelFolder(join(root, "twice")), {
    name: "ModelFolderError",
    message: `${join(root, "twice", "config.json")}: class name "a" appears twice in "classes" (entries 0 and 2); each output needs its own name`,
  });
});

test("a formatVersion 1 folder reads as version 2: no machine paths, no ignored fields, the true preset", () => {
  const root = tempDir("stemscope-model-v1-");
  // config.json as stemscope 0.1 wrote it for the shipped model: the `fast` preset with a mask output.
  const fast = presetConfig("fast", 3);
  const v1 = {
    formatVersion: 1,
    model: { ...fast, unet: { ...fast.unet, output: "mask" } },
    features: { mode: "native", sampleRate: 16000, seconds: 2, nFft: 2048, hopLength: 512, nMels: 128 },
    classes: ["a", "b", "c"],
    training: {
      data: "/work/data/all2",
      out: "/work/data/exp4/run",
      preset: "fast",
      featureMode: "native",
      batchSize: 32,
      epochs: 1,
      lr: 0.003,
      weightDecay: 0.0001,
      schedule: "cosine",
      warmup: 0.05,
      unetOutput: "mask",
      plateauPatience: 2,
      plateauFactor: 0.5,
      lossWeight: 0.9,
      augment: false,
      referenceWeight: 1,
      pit: false,
      bf16: true,
      seed: 0,
      split: { mode: "auto", source: "split.json", train: 21600, test: 5400 },
      testFraction: 0.2,
      resume: false,
      sources: 2,
    },
  };
  mkdirSync(join(root, "v1"));
  writeFileSync(join(root, "v1", "config.json"), JSON.stringify(v1));
  const c = readModelConfig(join(root, "v1"));
  assert.equal(c.formatVersion, 2);
  assert.equal(c.model.preset, "custom"); // a mask output is not the fast preset's
  assert.equal(c.model.unet.output, "mask");
  assert.equal(c.features.mode, "native");
  assert.deepEqual(c.training, {
    preset: "fast",
    batchSize: 32,
    epochs: 1,
    lr: 0.003,
    weightDecay: 0.0001,
    schedule: "cosine",
    warmup: 0.05,
    lossWeight: 0.9,
    referenceWeight: 1,
    pit: false,
    augment: false,
    bf16: true,
    seed: 0,
    split: { mode: "auto", source: "split.json", train: 21600, test: 5400 },
  });
  // A preset's own architecture keeps its name; a folder without a training record loads too.
  writeFileSync(
    join(root, "v1", "config.json"),
    JSON.stringify({
      formatVersion: 1,
      model: fast,
      features: { mode: "seed" },
      classes: ["a", "b", "c"],
      training: {},
    }),
  );
  const plain = readModelConfig(join(root, "v1"));
  assert.equal(plain.model.preset, "fast");
  assert.equal(plain.training, undefined);
});

test("cli: stemscope model info --preset prints parameter counts", () => {
  const r = spawnSync(
    process.execPath,
    ["--import", tsx, join(repo, "src/cli/main.ts"), "model", "info", "--preset", "tiny", "--classes", "3"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const m = new JointModel(presetConfig("tiny", 3));
  const total = m.parameterCount();
  m.dispose();
  assert.match(r.stdout, /^preset tiny: 2 sources, 3 classes$/m);
  assert.match(r.stdout, new RegExp(`total +${total.toLocaleString("en-US")} parameters`));
});

test("bf16 speed-up: the median of per-pair ratios, which a burst of load on one pair does not move", () => {
  // Five pairs where B is twice as fast, but pair 4's A step and pair 5's B step were slowed 5× by
  // other work: the per-pair ratios are 2, 2, 2, 10, 0.4 → median 2 (their mean would say 3.3×).
  assert.equal(pairedSpeedup([2, 2, 2, 10, 2], [1, 1, 1, 1, 5]), 2);
  assert.equal(pairedSpeedup([3, 1], [1, 1]), 2); // even count: the mean of the middle two
  assert.throws(() => pairedSpeedup([1, 2], [1]), /as many A as B times/);
  assert.throws(() => pairedSpeedup([], []), /as many A as B times/);
});

test("precision trial: float32 and bf16 warm-ups, then pairs alternating which goes first; the median pair decides", () => {
  const trial = new PrecisionTrial(32, 5);
  const order: string[] = [];
  // bf16 steps take 1 s, float32 steps 2 s, except a burst of other work that slows one bf16 step 10×.
  while (!trial.done) {
    const bf16 = trial.nextIsBf16();
    order.push(bf16 ? "b" : "f");
    trial.record(order.length === 5 ? 10 : bf16 ? 1 : 2);
  }
  assert.equal(order.join(""), "fb" + "fb" + "bf" + "fb" + "bf" + "fb");
  const choice = trial.choice();
  assert.equal(choice.bf16, true);
  assert.equal(choice.speedup, 2); // per-pair ratios 2, 0.2, 2, 2, 2
  assert.equal(choice.bf16Rate, 32);
  assert.equal(choice.float32Rate, 16);
  assert.match(
    choice.reason,
    /^measured: bf16 2\.00× float32's speed on the run's first training steps \(median of 5 step pairs; 32\.0 vs 16\.0 samples\/s\) \(≥ 1\.1×\)$/,
  );
  trial.record(100); // steps after the trial do not count
  assert.equal(trial.choice().speedup, 2);

  // Barely faster is not enough (bf16 also costs accuracy); too few steps is float32, said why.
  const close = new PrecisionTrial(8, 2);
  for (const t of [5, 5, 1.05, 1, 1, 1.05]) close.record(t);
  assert.equal(close.choice().speedup, 1.05);
  assert.equal(close.choice().bf16, false);
  assert.match(close.choice().reason, /not 1\.1× faster here/);
  const short = new PrecisionTrial(8);
  for (const t of [1, 1, 1]) short.record(t);
  assert.equal(short.done, false);
  assert.deepEqual(short.choice(), {
    bf16: false,
    reason: "too few training steps to time bf16 against float32 (3; it takes at least 4)",
  });
});
