// Helpers of the ONNX tests: model folders with every architecture option and non-trivial batch-norm
// statistics, features of the example files, and onnxruntime-node runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { loadAudio } from "../src/audio/index.js";
import { GraphBuilder } from "../src/export/index.js";
import { manualSeed, noGrad, rand, randn, saveSafetensors, tidy } from "../src/engine/index.js";
import { type FeatureConfig, getExtractor, resolveFeatureConfig } from "../src/features/index.js";
import { type JointModelConfig, JointModel, MODEL_FORMAT_VERSION, presetConfig } from "../src/model/index.js";

/**
 * Writes a random-weight model folder of the `tiny` preset with `overrides` applied. Batch-norm
 * running means, variances and affine weights are random too (a fresh model has μ 0, σ² 1, γ 1,
 * β 0, which would make folding them into the convolutions untestable). Returns dir.
 */
export async function makeVariedModelFolder(
  dir: string,
  options: {
    classes?: string[];
    features?: Partial<FeatureConfig>;
    seed?: number;
    overrides?: (config: JointModelConfig) => JointModelConfig;
  } = {},
): Promise<string> {
  const classes = options.classes ?? ["cello", "flute", "piano"];
  manualSeed(options.seed ?? 7);
  const base = presetConfig("tiny", classes.length);
  const config = options.overrides?.(base) ?? base;
  const model = new JointModel(config);
  const state = model.stateDict();
  noGrad(() =>
    tidy(() => {
      for (const [name, t] of state) {
        if (!name.endsWith(".running_mean")) continue;
        const prefix = name.slice(0, -"running_mean".length);
        const n = t.shape[0]!;
        t.copyFrom(randn([n]).mul(0.2));
        state.get(`${prefix}running_var`)!.copyFrom(rand([n]).mul(1.5).add(0.25));
        state.get(`${prefix}weight`)!.copyFrom(rand([n]).add(0.5));
        state.get(`${prefix}bias`)!.copyFrom(randn([n]).mul(0.1));
      }
    }),
  );
  mkdirSync(dir, { recursive: true });
  await saveSafetensors(join(dir, "weights.safetensors"), state);
  model.dispose();
  const features = resolveFeatureConfig(options.features ?? { mode: "native" });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ formatVersion: MODEL_FORMAT_VERSION, model: config, features, classes, training: {} }),
  );
  return dir;
}

/** The example recordings shipped in examples/. */
export const EXAMPLE_FILES = ["piano+violin.wav", "bass+flute.wav", "guitar+trumpet.wav"].map((f) =>
  join("examples", f),
);

/**
 * Model inputs of the example files: each file's 2-s windows every `hopSeconds`, as one batch
 * [windows, 1, nMels, size] (row-major Float32Array) and its window count.
 */
export async function exampleFeatures(
  config: FeatureConfig,
  hopSeconds = 1,
): Promise<{ data: Float32Array; batch: number }> {
  const extractor = getExtractor(config);
  const clips: Float32Array[] = [];
  for (const file of EXAMPLE_FILES) {
    const { samples } = await loadAudio(file, { sampleRate: config.sampleRate });
    const hop = Math.round(hopSeconds * config.sampleRate);
    for (let start = 0; start + extractor.length <= samples.length; start += hop)
      clips.push(samples.subarray(start, start + extractor.length));
  }
  const data = new Float32Array(clips.length * extractor.outputSize);
  clips.forEach((clip, i) => extractor.compute(clip, data, i * extractor.outputSize));
  return { data, batch: clips.length };
}

/** Runs an ONNX model on `features` [batch, 1, nMels, size] with onnxruntime-node. */
export async function runOnnx(
  bytes: Uint8Array,
  features: Float32Array,
  shape: number[],
): Promise<{
  separated: Float32Array;
  logits: Float32Array;
  dims: { separated: number[]; logits: number[] };
}> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ features: new ort.Tensor("float32", features, shape) });
    const separated = out.separated!;
    const logits = out.logits!;
    return {
      separated: separated.data as Float32Array,
      logits: logits.data as Float32Array,
      dims: { separated: [...separated.dims], logits: [...logits.dims] },
    };
  } finally {
    await session.release();
  }
}

/** A valid ONNX model (one Relu) that `stemscope export` did not write: no stemscope metadata. */
export function foreignOnnx(): Uint8Array {
  const g = new GraphBuilder();
  const y = g.op("Relu", ["features"]);
  return g.encode({
    graphName: "foreign",
    opset: 17,
    producerVersion: "x",
    inputs: [{ name: "features", elementType: "float32", dims: [1] }],
    outputs: [{ name: y, elementType: "float32", dims: [1] }],
    metadata: {},
  });
}
