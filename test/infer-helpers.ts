// Helpers for the inference / evaluation tests: a random-weight tiny model saved as a model folder.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { liveTensorCount, manualSeed, saveSafetensors } from "../src/engine/index.js";
import { loadModel, type StemscopeModel } from "../src/infer/index.js";
import { type FeatureConfig, resolveFeatureConfig } from "../src/features/index.js";
import { JointModel, MODEL_FORMAT_VERSION, presetConfig, writeModelConfig } from "../src/model/index.js";

/**
 * Writes `dir/config.json` + `dir/weights.safetensors` of the `tiny` preset with random weights
 * (seeded), written by src/model/folder.ts. Returns dir.
 */
export async function makeModelFolder(
  dir: string,
  options: { classes?: string[]; mode?: FeatureConfig["mode"]; seed?: number; trainLog?: object[] } = {},
): Promise<string> {
  const classes = options.classes ?? ["cello", "flute", "piano"];
  manualSeed(options.seed ?? 1);
  const config = presetConfig("tiny", classes.length);
  const model = new JointModel(config);
  mkdirSync(dir, { recursive: true });
  await saveSafetensors(join(dir, "weights.safetensors"), model.stateDict());
  model.dispose();
  const features = resolveFeatureConfig({ mode: options.mode ?? "seed" });
  await writeModelConfig(dir, { formatVersion: MODEL_FORMAT_VERSION, model: config, features, classes });
  if (options.trainLog !== undefined) {
    writeFileSync(
      join(dir, "train_log.jsonl"),
      options.trainLog.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
  }
  return dir;
}

/** A harmonic tone: `seconds` at `rate` Hz, fundamental `freq`, amplitude `amp`. */
export function harmonicTone(seconds: number, rate: number, freq: number, amp = 0.3): Float32Array {
  const n = Math.round(seconds * rate);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    out[i] =
      amp *
      (Math.sin(2 * Math.PI * freq * t) +
        0.4 * Math.sin(4 * Math.PI * freq * t) +
        0.2 * Math.sin(6 * Math.PI * freq * t));
  }
  return out;
}

/**
 * A temp folder and two tiny models loaded once for a test file — one on `seed` features, one on
 * `native` — freed after its tests, which must not have leaked tensors. Call at the file's top level.
 */
export function tinyModelPair(prefix: string): { dir: string; seed: StemscopeModel; native: StemscopeModel } {
  const pair = { dir: mkdtempSync(join(tmpdir(), prefix)) } as {
    dir: string;
    seed: StemscopeModel;
    native: StemscopeModel;
  };
  let startCount = 0;
  before(async () => {
    startCount = liveTensorCount();
    pair.seed = await loadModel(await makeModelFolder(join(pair.dir, "seed"), { mode: "seed" }));
    pair.native = await loadModel(
      await makeModelFolder(join(pair.dir, "native"), { mode: "native", seed: 2 }),
    );
  });
  after(() => {
    pair.seed.dispose();
    pair.native.dispose();
    assert.equal(liveTensorCount(), startCount, "tensors leaked");
    rmSync(pair.dir, { recursive: true, force: true });
  });
  return pair;
}
