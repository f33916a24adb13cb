export {
  JointModel,
  type JointLoss,
  jointLoss,
  type JointModelConfig,
  JointModelConfigSchema,
  type JointOutput,
  referenceClassLoss,
} from "./joint.js";
export { PRESET_NAMES, type PresetName, PRESETS, presetConfig } from "./presets.js";
export { ResNet, type ResNetConfig, ResNetConfigSchema } from "./resnet.js";
export { UNet, type UNetConfig, UNetConfigSchema } from "./unet.js";
export {
  type LoadedModelFolder,
  loadModelFolder,
  MODEL_FORMAT_VERSION,
  type ModelFolderConfig,
  ModelFolderConfigSchema,
  ModelFolderError,
  readModelConfig,
} from "./folder.js";
