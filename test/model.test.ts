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
  type PrecisionChoice,
  PrecisionTrial,
  type PresetName,
  presetConfig,
  UNet,
  UNetConfigSchema,
} from "../src/model/index.js";
import { loadModelFolder, readModelConfig } from "../src/model/folder.js";
import { type CpuSample, otherCpuShare, sampleCpu } from "../src/util/cpu-load.js";
import { readProcText } from "../src/util/proc.js";
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

test("label smoothing ε: every cross entropy scores against (1 − ε)·one-hot + ε/C, by hand", () => {
  const live = liveTensorCount();
  noGrad(() =>
    tidy(() => {
      // Two samples, two sources, three classes; logits and labels chosen by hand.
      const values = [2, -1, 0.5, 0, 0, 3, -2, 1, 1, 0.3, 0.2, -0.7];
      const labelValues = [0, 2, 1, 1];
      const logits = tensor(Float32Array.from(values), [2, 2, 3]);
      const referenceLogits = logits.mul(0.5);
      const labels = tensor(
        BigInt64Array.from(labelValues, (v) => BigInt(v)),
        [2, 2],
      );
      const separated = tensor(new Float32Array(2 * 2 * 4 * 4), [2, 2, 4, 4]);
      const eps = 0.2;
      // Σ_k mean_b [(1 − ε)(log Σ e^x − x_label) + ε · mean_c(log Σ e^x − x_c)]
      const smoothed = (scale: number): number => {
        let sum = 0;
        for (let row = 0; row < 4; row++) {
          const x = values.slice(row * 3, row * 3 + 3).map((v) => v * scale);
          const logSum = Math.log(x.reduce((s, v) => s + Math.exp(v), 0));
          const nll = logSum - x[labelValues[row]!]!;
          const uniform = x.reduce((s, v) => s + (logSum - v), 0) / 3;
          sum += ((1 - eps) * nll + eps * uniform) / 2; // mean over the 2 samples
        }
        return sum;
      };
      const [lossWeight, referenceWeight] = [0.5, 1.5];
      const loss = jointLoss(
        { separated, logits },
        { sources: separated, labels, referenceLogits },
        { lossWeight, referenceWeight, labelSmoothing: eps },
      );
      assert.ok(Math.abs(loss.classification.item() - smoothed(1)) < 1e-5);
      const reference = (loss.objective.item() - loss.total.item()) / ((1 - lossWeight) * referenceWeight);
      assert.ok(Math.abs(reference - smoothed(0.5)) < 1e-5, `${reference} vs ${smoothed(0.5)}`);
      // ε = 0 is the plain cross entropy, and smoothing changes it.
      const plain = jointLoss(
        { separated, logits },
        { sources: separated, labels },
        { lossWeight, referenceWeight },
      );
      assert.ok(Math.abs(plain.classification.item() - smoothed(1)) > 1e-3);
    }),
  );
  assert.equal(liveTensorCount(), live);
});

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
  const trial = new PrecisionTrial(32, 5, () => null); // no CPU-load sample: the reason is the timing's alone
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
  const close = new PrecisionTrial(8, 2, () => null);
  for (const t of [5, 5, 1.05, 1, 1, 1.05]) close.record(t);
  assert.equal(close.choice().speedup, 1.05);
  assert.equal(close.choice().bf16, false);
  assert.match(close.choice().reason, /not 1\.1× faster here/);
  const short = new PrecisionTrial(8, 5, () => null);
  for (const t of [1, 1, 1]) short.record(t);
  assert.equal(short.done, false);
  assert.deepEqual(short.choice(), {
    bf16: false,
    reason: "too few training steps to time bf16 against float32 (3; it takes at least 4)",
  });
});

test("precision trial: other work's share of the CPUs while the pairs ran is sampled at their start and end, and from a fifth on the choice says it may be off", () => {
  // Fake samples: 2 CPUs; between the pairs' start and end 10 s of wall time pass, the machine is
  // busy for `busy` of its 2000 ticks and this process used 12 CPU seconds (0.6 of the machine).
  const run = (busy: number): { choice: PrecisionChoice; samples: number[] } => {
    const samples: number[] = [];
    let steps = 0;
    const cpu = (): CpuSample => {
      samples.push(steps);
      const end = samples.length > 1;
      return {
        machineBusy: end ? busy : 0,
        machineTotal: end ? 2000 : 0,
        cpus: 2,
        ownSeconds: end ? 12 : 0,
        wallSeconds: end ? 10 : 0,
      };
    };
    const trial = new PrecisionTrial(32, 2, cpu);
    while (!trial.done) {
      steps++;
      trial.record(trial.nextIsBf16() ? 1 : 2);
    }
    trial.record(5); // after the trial: no further sample
    return { choice: trial.choice(), samples };
  };
  const quiet = run(1300); // machine 0.65 busy, this process 0.6: other work 0.05
  assert.deepEqual(quiet.samples, [2, 6]); // at the 2nd step's record (the warm-ups done), at the last pair's
  assert.equal(quiet.choice.bf16, true);
  assert.ok(Math.abs(quiet.choice.otherCpuShare! - 0.05) < 1e-12);
  assert.match(quiet.choice.reason, /\(≥ 1\.1×\)$/);
  const busy = run(1800); // machine 0.9 busy: other work 0.3
  assert.ok(Math.abs(busy.choice.otherCpuShare! - 0.3) < 1e-12);
  assert.equal(busy.choice.bf16, true);
  assert.match(
    busy.choice.reason,
    /\(≥ 1\.1×\); other work kept 30 % of the machine's CPU time busy meanwhile, so this may be off \(set `bf16` on or off to choose without measuring\)$/,
  );
  // Where the machine cannot be sampled (not Linux), the choice says nothing of the load.
  const unsampled = new PrecisionTrial(32, 1, () => null);
  for (const t of [1, 1, 2, 1]) unsampled.record(t);
  assert.equal(unsampled.choice().otherCpuShare, undefined);
});

test("CPU samples: /proc/stat's busy and total ticks and CPU count; other work's share is the machine's busy share less this process's", () => {
  const stat = [
    "cpu  100 5 50 800 20 3 2 10 7 0",
    "cpu0 50 2 25 400 10 1 1 5 3 0",
    "cpu1 50 3 25 400 10 2 1 5 4 0",
    "intr 12345 0 0",
    "ctxt 999",
  ].join("\n");
  // Busy: user 100 + nice 5 + system 50 + irq 3 + softirq 2 + steal 10 (guest is inside user).
  assert.deepEqual(sampleCpu(stat, { ownSeconds: 4, wallSeconds: 9 }), {
    machineBusy: 170,
    machineTotal: 990,
    cpus: 2,
    ownSeconds: 4,
    wallSeconds: 9,
  });
  assert.equal(sampleCpu("intr 1 2 3\n"), null);
  assert.equal(sampleCpu("cpu  1 2 x 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\n"), null);
  // A /proc file that is not there reads as unknown, not as an error.
  assert.equal(readProcText("/proc/no-such-file"), null);
  assert.match(readProcText("/proc/stat") ?? "", /^cpu\s/);

  const at = (busy: number, total: number, own: number, wall: number): CpuSample => ({
    machineBusy: busy,
    machineTotal: total,
    cpus: 2,
    ownSeconds: own,
    wallSeconds: wall,
  });
  // 1 s on 2 CPUs: the machine 150 of 200 ticks busy (0.75), this process 1 CPU second (0.5).
  assert.equal(otherCpuShare(at(0, 0, 0, 0), at(150, 200, 1, 1)), 0.25);
  // This process counted busier than the machine (sampling jitter): no other work, not negative.
  assert.equal(otherCpuShare(at(0, 0, 0, 0), at(50, 200, 1, 1)), 0);
  assert.equal(otherCpuShare(at(5, 10, 0, 1), at(5, 10, 0, 2)), null); // no ticks passed
  assert.equal(otherCpuShare(at(0, 0, 0, 1), at(5, 10, 0, 1)), null); // no wall time passed

  // This machine's own /proc/stat (Linux, as every test machine): while this process spins for
  // 0.2 CPU seconds (however long a busy machine makes that take), the machine is counted at least
  // that busy, and the other share is a share.
  const before = sampleCpu();
  assert.ok(before !== null && before.cpus >= 1 && before.machineTotal >= before.machineBusy);
  const deadline = performance.now() + 30_000;
  let after = sampleCpu()!;
  while (after.ownSeconds - before.ownSeconds < 0.2 && performance.now() < deadline) after = sampleCpu()!;
  const own = after.ownSeconds - before.ownSeconds;
  assert.ok(own >= 0.2, `own CPU time grew by ${own} s in 30 s`);
  const machineBusySeconds =
    ((after.machineBusy - before.machineBusy) / (after.machineTotal - before.machineTotal)) *
    (after.wallSeconds - before.wallSeconds) *
    after.cpus;
  assert.ok(machineBusySeconds >= 0.8 * own, `machine busy ${machineBusySeconds} s, this process ${own} s`);
  const share = otherCpuShare(before, after);
  assert.ok(share !== null && share >= 0 && share <= 1, String(share));
});
