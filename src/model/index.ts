export { JointModel, type JointLoss, jointLoss, type JointModelConfig, JointModelConfigSchema, type JointOutput } from "./joint.js";
export { PRESET_NAMES, type PresetName, PRESETS, presetConfig } from "./presets.js";
export { ResNet, type ResNetConfig, ResNetConfigSchema } from "./resnet.js";
export { UNet, type UNetConfig, UNetConfigSchema } from "./unet.js";
