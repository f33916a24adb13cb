import { type JointModelConfig, JointModelConfigSchema } from "./joint.js";

/** Named architectures. Each is a full set of U-Net and ResNet arguments. */
export const PRESETS = {
  /** The seed: U-Net 64→1024 with Dropout2d(0.2), direct output; ResNet-50 with a 1-channel 7×7 stem. */
  seed: {
    unet: { depth: 5, baseChannels: 64, dropout: 0.2, output: "direct" },
    resnet: { depth: 50, width: 64, stemStride: 2, stemPool: true, dropout: 0 },
  },
  /** Sized for a 2-core CPU: a 4-level U-Net from 16 channels and a narrow ResNet-18. */
  fast: {
    unet: { depth: 4, baseChannels: 16, dropout: 0.1, output: "direct" },
    resnet: { depth: 18, width: 16, stemStride: 2, stemPool: true, dropout: 0 },
  },
  /** For tests: a few thousand parameters. */
  tiny: {
    unet: { depth: 2, baseChannels: 4, dropout: 0, output: "direct" },
    resnet: { depth: 18, width: 4, stemStride: 2, stemPool: true, dropout: 0 },
  },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/**
 * The full model config of a preset for `numClasses` classes and `sources` sources (the schema's
 * default when absent).
 */
export function presetConfig(preset: PresetName, numClasses: number, sources?: number): JointModelConfig {
  const p = PRESETS[preset];
  return JointModelConfigSchema.parse({
    preset,
    numClasses,
    unet: p.unet,
    resnet: p.resnet,
    ...(sources === undefined ? {} : { sources }),
  });
}

/**
 * The name of the preset whose architecture `config` is exactly (U-Net, ResNet, classifier input),
 * or "custom" when an override changed it: what a model folder records as `model.preset`.
 */
export function presetName(config: JointModelConfig): PresetName | "custom" {
  const architecture = (c: JointModelConfig): string =>
    JSON.stringify([c.unet, { ...c.resnet, inChannels: undefined }, c.classifierInput]);
  const own = architecture(config);
  const match = PRESET_NAMES.find(
    (name) => architecture(presetConfig(name, config.numClasses, config.sources)) === own,
  );
  return match ?? "custom";
}
