// The U-Net's `ratio` output (softmax ratio masks on the mixture's mel power, written as native
// feature values): its gradient against central finite differences, the forward against the formula
// computed here from the same network's logits, the power invariants (sources sum to the mixture,
// none louder than it), resynthesis shares equal to the masks, the config rules, model folders old
// and new, and the trainer's `unetOutput` ratio.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildMixtures } from "../src/data/mix/mix.js";
import {
  manualSeed,
  noGrad,
  rand,
  saveSafetensors,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
} from "../src/engine/index.js";
import { ParameterError, UsageError } from "../src/errors.js";
import { getExtractor, resolveFeatureConfig } from "../src/features/index.js";
import {
  JointModel,
  type JointModelConfig,
  loadModelFolder,
  MODEL_FORMAT_VERSION,
  presetConfig,
  readModelConfig,
  ratioOutput,
  UNet,
  UNetConfigSchema,
  writeModelConfig,
} from "../src/model/index.js";
import { melShares } from "../src/separator/masks.js";
import { trainFlagsToConfig } from "../src/cli/train.js";
import { train } from "../src/train/index.js";
import { Random } from "../src/util/random.js";
import { makeRawData, tempDir } from "./data-helpers.js";
import { engineTest } from "./engine-helpers.js";
import { harmonicTone } from "./infer-helpers.js";

// One libtorch thread: the test machines are shared.
setNumThreads(1);

const TOP_DB = 80;
/** Feature-value offset per unit of ln(mask): 10 / (ln 10 · topDb). */
const PER_LOG_MASK = 10 / (Math.LN10 * TOP_DB);

const root = tempDir("stemscope-ratio-");
after(() => rmSync(root, { recursive: true, force: true }));
/** A train_data folder for the trainer test: 3 classes, 4 clips each, 9 mixtures. */
let data = "";
before(async () => {
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 4, 16000);
  data = join(root, "train_data");
  await buildMixtures({ dataDir: join(root, "raw"), outputDir: data, samplesPerCombination: 3 }, { jobs: 1 });
});

/** log-softmax over the K values of each cell: logits [batch, K, cells] row-major, in float64. */
function logSoftmaxCells(logits: ArrayLike<number>, batch: number, k: number, cells: number): Float64Array {
  const out = new Float64Array(batch * k * cells);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < cells; i++) {
      let max = -Infinity;
      for (let s = 0; s < k; s++) max = Math.max(max, logits[(b * k + s) * cells + i]!);
      let sum = 0;
      for (let s = 0; s < k; s++) sum += Math.exp(logits[(b * k + s) * cells + i]! - max);
      const logSum = max + Math.log(sum);
      for (let s = 0; s < k; s++) out[(b * k + s) * cells + i] = logits[(b * k + s) * cells + i]! - logSum;
    }
  return out;
}

/**
 * A ratio U-Net and a `direct` twin with the same weights (its output is the ratio U-Net's logits).
 * `logitScale` scales the last layer (pooled skips), so a random network's masks spread from 1/K.
 */
function ratioTwins(
  k: number,
  seed: number,
  skips: "pooled" | "full" = "pooled",
  logitScale = 1,
): { ratio: UNet; logits: UNet; dispose: () => void } {
  manualSeed(seed);
  const base = { depth: 2, baseChannels: 4, dropout: 0, skips };
  const ratio = new UNet(UNetConfigSchema.parse({ ...base, output: "ratio", topDb: TOP_DB }), k);
  const logits = new UNet(UNetConfigSchema.parse({ ...base, output: "direct" }), k);
  const state = ratio.stateDict();
  if (logitScale !== 1) {
    noGrad(() =>
      tidy(() => {
        for (const name of ["dec.1.2.weight", "dec.1.2.bias"])
          state.get(name)!.copyFrom(state.get(name)!.mul(logitScale));
      }),
    );
  }
  logits.loadStateDict(state);
  ratio.eval();
  logits.eval();
  return {
    ratio,
    logits,
    dispose: () => {
      ratio.dispose();
      logits.dispose();
    },
  };
}

engineTest(
  "ratioOutput: gradients of logits and mixture match central finite differences (float64, ε 1e-6, tol 1e-6)",
  () => {
    const EPS = 1e-6;
    const TOL = 1e-6;
    const r = new Random("ratio-grad");
    const [batch, k, h, w] = [2, 3, 2, 3];
    const cells = h * w;
    // Spread logits (masks down to ~1e-4) and mixtures from 0.05 to 1, so some cells are floored.
    const logits = Array.from({ length: batch * k * cells }, () => r.normal() * 3);
    const mixture = Array.from({ length: batch * cells }, () => r.uniform(0.05, 1));
    const weights = Array.from({ length: batch * k * cells }, () => r.normal());
    // Away from relu's kink: every pre-activation is at least 1e-3 from 0, and both sides occur.
    const logMasks = logSoftmaxCells(logits, batch, k, cells);
    const pre = Array.from(logMasks, (l, j) => {
      const b = Math.floor(j / (k * cells));
      return mixture[b * cells + (j % cells)]! + PER_LOG_MASK * l;
    });
    assert.ok(Math.min(...pre.map(Math.abs)) > 1e-3, "a pre-activation sits on relu's kink");
    assert.ok(pre.some((v) => v < 0) && pre.some((v) => v > 0), "both floored and open cells");

    const f64 = (values: number[], shape: number[]): Tensor => tensor(values, shape, { dtype: "float64" });
    const lossAt = (x: number[], m: number[]): number =>
      noGrad(() =>
        tidy(() =>
          ratioOutput(f64(x, [batch, k, h, w]), f64(m, [batch, 1, h, w]), TOP_DB)
            .mul(f64(weights, [batch, k, h, w]))
            .sum()
            .item(),
        ),
      );
    tidy(() => {
      const x = f64(logits, [batch, k, h, w]).setRequiresGrad(true);
      const m = f64(mixture, [batch, 1, h, w]).setRequiresGrad(true);
      const out = ratioOutput(x, m, TOP_DB);
      assert.equal(out.dtype, "float64");
      out
        .mul(f64(weights, [batch, k, h, w]))
        .sum()
        .backward();
      for (const [name, input, values] of [
        ["logits", x, logits],
        ["mixture", m, mixture],
      ] as const) {
        const analytic = input.grad!.toArray();
        assert.ok(
          analytic.some((g) => Math.abs(g) > 1e-3),
          `${name}: gradient is (almost) zero`,
        );
        for (let j = 0; j < values.length; j++) {
          const shifted = (delta: number): number[] => values.map((v, i) => (i === j ? v + delta : v));
          const numeric =
            name === "logits"
              ? (lossAt(shifted(EPS), mixture) - lossAt(shifted(-EPS), mixture)) / (2 * EPS)
              : (lossAt(logits, shifted(EPS)) - lossAt(logits, shifted(-EPS))) / (2 * EPS);
          const err = Math.abs(analytic[j]! - numeric) / Math.max(1, Math.abs(numeric));
          assert.ok(err <= TOL, `d/d${name}[${j}]: analytic ${analytic[j]} vs numeric ${numeric}`);
        }
      }
    });
  },
);

engineTest(
  "a ratio U-Net's gradients match finite differences through its last layers (float32, ε 1e-2, tol 2e-2)",
  () => {
    // The layers after the last ReLU (transposed conv, conv, ratio head): smooth in their weights, as
    // long as no source is floored (mixtures ≥ 0.2, masks near 1/K), so float32 differences suffice.
    const { ratio, dispose } = ratioTwins(2, 5);
    try {
      tidy(() => {
        const x = rand([1, 1, 16, 8]).mul(0.8).add(0.2);
        const w = rand([1, 2, 16, 8]).sub(0.5);
        const loss = (): Tensor => ratio.forward(x).mul(w).sum();
        assert.ok(ratio.forward(x).min().item() > 0, "a floored source");
        loss().backward();
        const params = new Map(ratio.namedParameters());
        for (const [name, index] of [
          ["dec.1.0.weight", 3],
          ["dec.1.0.bias", 1],
          ["dec.1.2.weight", 7],
          ["dec.1.2.bias", 1],
        ] as const) {
          const p = params.get(name)!;
          const analytic = p.grad!.contiguous().toFloat32Array()[index]!;
          const values = p.contiguous().toFloat32Array();
          const at = (delta: number): number =>
            noGrad(() =>
              tidy(() => {
                const moved = Float32Array.from(values);
                moved[index] = moved[index]! + delta;
                p.copyFrom(tensor(moved, p.shape));
                return loss().item();
              }),
            );
          const EPS = 1e-2;
          const numeric = (at(EPS) - at(-EPS)) / (2 * EPS);
          noGrad(() => p.copyFrom(tensor(values, p.shape)));
          assert.ok(Math.abs(analytic) > 1e-3, `${name}[${index}]: gradient ${analytic} is (almost) zero`);
          const err = Math.abs(analytic - numeric) / Math.abs(numeric);
          assert.ok(
            err < 2e-2,
            `${name}[${index}]: analytic ${analytic} vs numeric ${numeric} (error ${err})`,
          );
        }
      });
    } finally {
      dispose();
    }
  },
);

for (const skips of ["pooled", "full"] as const) {
  engineTest(
    `a ratio U-Net (${skips} skips) writes relu(v_mix + ln(softmax(logits))·10/(ln 10·topDb)); source powers sum to the mixture's, none louder`,
    () => {
      const k = 3;
      const { ratio, logits, dispose } = ratioTwins(k, 2, skips);
      try {
        const [batch, h, w] = [2, 32, 16];
        const cells = h * w;
        const { mix, out, raw } = noGrad(() =>
          tidy(() => {
            const x = rand([batch, 1, h, w]);
            return {
              mix: x.toFloat32Array(),
              out: ratio.forward(x).contiguous().toFloat32Array(),
              raw: logits.forward(x).contiguous().toFloat32Array(),
            };
          }),
        );
        const logMasks = logSoftmaxCells(raw, batch, k, cells);
        let open = 0;
        for (let b = 0; b < batch; b++)
          for (let i = 0; i < cells; i++) {
            const v = mix[b * cells + i]!;
            let power = 0;
            let floored = false;
            for (let s = 0; s < k; s++) {
              const j = (b * k + s) * cells + i;
              const expected = Math.max(0, v + PER_LOG_MASK * logMasks[j]!);
              assert.ok(Math.abs(out[j]! - expected) < 1e-5, `cell ${j}: ${out[j]} vs ${expected}`);
              assert.ok(out[j]! <= v + 1e-6, `cell ${j}: a source above the mixture`);
              if (out[j]! <= 0) floored = true;
              power += 10 ** (((out[j]! - v) * TOP_DB) / 10);
            }
            if (floored) continue;
            open++;
            assert.ok(
              Math.abs(power - 1) < 1e-4,
              `sample ${b} cell ${i}: source powers sum to ${power}× the mixture's`,
            );
          }
        assert.ok(open > 0.5 * batch * cells, `only ${open} of ${batch * cells} cells had no floored source`);
      } finally {
        dispose();
      }
    },
  );
}

engineTest(
  "resynthesis: melShares of a ratio U-Net's outputs on real native features equal its softmax masks within 1e-4 where v_mix > 0.5; shares sum to 1 everywhere",
  () => {
    const config = resolveFeatureConfig({ mode: "native", topDb: TOP_DB });
    const extractor = getExtractor(config);
    const [nMels, size] = [config.nMels, config.size];
    const cells = nMels * size;
    // Two tones and a little noise: loud bands, quiet bands and floored ones.
    const a = harmonicTone(config.seconds, config.sampleRate, 220, 0.3);
    const b = harmonicTone(config.seconds, config.sampleRate, 1250, 0.1);
    const r = new Random("ratio-shares");
    const clip = a.map((v, i) => v + b[i]! + 0.001 * r.normal());
    const features = extractor.compute(clip);
    for (const k of [2, 3]) {
      const { ratio, logits, dispose } = ratioTwins(k, 10 + k, "pooled", 12);
      try {
        const { out, raw } = noGrad(() =>
          tidy(() => {
            const x = tensor(features, [1, 1, nMels, size]);
            return {
              out: ratio.forward(x).contiguous().toFloat32Array(),
              raw: logits.forward(x).contiguous().toFloat32Array(),
            };
          }),
        );
        const logMasks = logSoftmaxCells(raw, 1, k, cells);
        // Every mask is above e^(−0.5 / PER_LOG_MASK) ≈ 1e-4, so v_mix > 0.5 leaves no source floored.
        assert.ok(Math.min(...logMasks) > -0.5 / PER_LOG_MASK, `K=${k}: a mask is below 1e-4`);
        // …and far from 1/K, so a wrong scale between log-mask and feature value would show.
        const spread = logMasks.reduce((a, l) => a + Math.abs(Math.exp(l) - 1 / k), 0) / logMasks.length;
        assert.ok(spread > 0.1, `K=${k}: masks stay near 1/K (mean |m − 1/K| ${spread})`);
        const planes = Array.from({ length: k }, (_, s) => out.slice(s * cells, (s + 1) * cells));
        const shares = melShares(planes, clip, config);
        let checked = 0;
        for (let i = 0; i < cells; i++) {
          const total = shares.reduce((sum, sh) => sum + sh[i]!, 0);
          assert.ok(Math.abs(total - 1) < 1e-9, `K=${k} cell ${i}: shares sum to ${total}`);
          if (!(features[i]! > 0.5)) continue;
          checked++;
          for (let s = 0; s < k; s++) {
            const mask = Math.exp(logMasks[s * cells + i]!);
            const share = shares[s]![i]!;
            assert.ok(
              Math.abs(share - mask) < 1e-4,
              `K=${k} cell ${i} source ${s}: share ${share} vs mask ${mask}`,
            );
          }
        }
        assert.ok(checked > 0.1 * cells && checked < cells, `K=${k}: ${checked} of ${cells} cells above 0.5`);
      } finally {
        dispose();
      }
    }
  },
);

test("config: ratio needs topDb, topDb is for ratio only, both with clear messages", () => {
  const ratio = UNetConfigSchema.safeParse({ output: "ratio" });
  assert.equal(ratio.success, false);
  assert.deepEqual(ratio.error!.issues[0]!.path, ["topDb"]);
  assert.match(ratio.error!.issues[0]!.message, /output `ratio` needs `topDb`/);
  const mask = UNetConfigSchema.safeParse({ output: "mask", topDb: 80 });
  assert.equal(mask.success, false);
  assert.match(mask.error!.issues[0]!.message, /`topDb` is used only by output `ratio`/);
  assert.equal(UNetConfigSchema.safeParse({ output: "ratio", topDb: -3 }).success, false);
  assert.equal(UNetConfigSchema.parse({ output: "ratio", topDb: 60 }).topDb, 60);
});

/** A model folder of the tiny preset whose config.json is `json` as given (written by hand). */
async function handWrittenFolder(name: string, model: JointModelConfig, json: object): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  manualSeed(4);
  const m = new JointModel(model);
  await saveSafetensors(join(dir, "weights.safetensors"), m.stateDict());
  m.dispose();
  writeFileSync(join(dir, "config.json"), JSON.stringify(json));
  return dir;
}

engineTest(
  "model folders: direct and mask folders as written before ratio still load; a ratio folder round-trips; mismatched features are refused",
  async () => {
    const classes = ["a", "b", "c"];
    const features = resolveFeatureConfig({ mode: "native" });
    for (const output of ["direct", "mask"] as const) {
      const base = presetConfig("tiny", 3);
      const model = { ...base, unet: { ...base.unet, output } };
      // config.json exactly as stemscope wrote it before ratio: no topDb key anywhere.
      const json = { formatVersion: 2, model: { ...model, preset: "custom" }, features, classes };
      assert.equal(JSON.stringify(json.model).includes("topDb"), false);
      const dir = await handWrittenFolder(`old-${output}`, model, json);
      const loaded = await loadModelFolder(dir);
      assert.equal(loaded.model.unet.config.output, output);
      assert.equal(loaded.model.unet.config.topDb, undefined);
      loaded.model.dispose();
    }

    const base = presetConfig("tiny", 3);
    const ratioModel: JointModelConfig = { ...base, unet: { ...base.unet, output: "ratio", topDb: 80 } };
    const dir = join(root, "ratio-folder");
    mkdirSync(dir, { recursive: true });
    manualSeed(6);
    const m = new JointModel(ratioModel).eval();
    await saveSafetensors(join(dir, "weights.safetensors"), m.stateDict());
    await writeModelConfig(dir, {
      formatVersion: MODEL_FORMAT_VERSION,
      model: ratioModel,
      features,
      classes,
    });
    const config = readModelConfig(dir);
    assert.equal(config.model.unet.output, "ratio");
    assert.equal(config.model.unet.topDb, 80);
    assert.equal(config.model.preset, "custom");
    const loaded = await loadModelFolder(dir);
    noGrad(() =>
      tidy(() => {
        const x = rand([2, 1, 128, 128]);
        const want = m.forward(x).separated.toFloat32Array();
        const got = loaded.model
          .forward(x.contiguous("channels_last"))
          .separated.contiguous()
          .toFloat32Array();
        const worst = want.reduce((a, v, i) => Math.max(a, Math.abs(v - got[i]!)), 0);
        assert.ok(worst < 1e-5, `reloaded ratio model differs by ${worst}`);
      }),
    );
    loaded.model.dispose();
    m.dispose();

    const seedFeatures = resolveFeatureConfig({ mode: "seed" });
    await assert.rejects(
      writeModelConfig(dir, { formatVersion: 2, model: ratioModel, features: seedFeatures, classes }),
      /model\.unet\.output "ratio" needs native features .* features\.mode is "seed"/,
    );
    const other = await handWrittenFolder("ratio-60", ratioModel, {
      formatVersion: 2,
      model: ratioModel,
      features: { ...features, topDb: 60 },
      classes,
    });
    assert.throws(
      () => readModelConfig(other),
      /config\.json: model\.unet\.topDb 80 differs from features\.topDb 60/,
    );
    const missing = await handWrittenFolder("ratio-no-topdb", ratioModel, {
      formatVersion: 2,
      model: { ...ratioModel, unet: { ...ratioModel.unet, topDb: undefined } },
      features,
      classes,
    });
    assert.throws(
      () => readModelConfig(missing),
      /config\.json: model\.unet\.topDb: output `ratio` needs `topDb`/,
    );
  },
);

test("train: unetOutput ratio with native features records topDb from the features and trains; with seed features it is refused before any feature is computed", async () => {
  const settings = {
    data,
    preset: "tiny",
    batchSize: 2,
    epochs: 1,
    maxSteps: 2,
    threads: 1,
    cacheJobs: 1,
  } as const;
  const cacheDir = join(root, "cache-seed");
  await assert.rejects(
    train({ ...settings, out: join(root, "runs", "seed"), features: "seed", unetOutput: "ratio", cacheDir }),
    (e: Error) => {
      assert.ok(e instanceof ParameterError, String(e));
      assert.equal(e.parameter, "unetOutput");
      assert.match(e.message, /^`unetOutput` ratio needs `features` native/);
      return true;
    },
  );
  assert.equal(existsSync(cacheDir), false, "the refused run built a feature cache");

  const r = await train({
    ...settings,
    out: join(root, "runs", "ratio"),
    features: "native",
    unetOutput: "ratio",
    cacheDir: join(root, "cache-native"),
  });
  assert.ok(Number.isFinite(r.last!.valLoss));
  const config = readModelConfig(r.out);
  assert.equal(config.model.unet.output, "ratio");
  assert.equal(config.model.unet.topDb, config.features.topDb);
  const loaded = await loadModelFolder(r.out);
  assert.equal(loaded.model.unet.config.output, "ratio");
  loaded.model.dispose();
});

test("cli: --unet-output takes ratio and lists it when the value is wrong", () => {
  assert.equal(trainFlagsToConfig({ out: "x", data: "d", unetOutput: "ratio" }).unetOutput, "ratio");
  assert.throws(
    () => trainFlagsToConfig({ out: "x", data: "d", unetOutput: "softmax" }),
    (e: Error) => e instanceof UsageError && /--unet-output.*direct.*mask.*ratio/.test(e.message),
  );
});
