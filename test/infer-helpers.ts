// Helpers for the inference / evaluation tests: a random-weight tiny model saved as a model folder.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { manualSeed, saveSafetensors } from "../src/engine/index.js";
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
