/**
 * A trained model is a folder (the seed's single `logs/m2.pth` becomes `runs/<name>/`):
 *
 * ```
 * runs/<name>/
 *   config.json          {formatVersion: 1, model: JointModelConfig, features: FeatureConfig, classes, training}
 *   weights.safetensors  the best weights by validation accuracy (PyTorch state_dict names)
 *   last.safetensors     the weights after the last finished epoch
 *   checkpoint.json      epoch, scheduler, best scores, optimizer hyper-parameters (for --resume)
 *   checkpoint.safetensors  Adam's moments and step counts
 *   train_log.jsonl      one JSON line per epoch
 *   metrics.json         final validation accuracy and separation MSE
 * ```
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { dispose, loadSafetensors } from "../engine/index.js";
import { StemscopeError } from "../errors.js";
import { type FeatureConfig, FeatureConfigSchema } from "../features/config.js";
import { JointModel, type JointModelConfig, JointModelConfigSchema } from "./joint.js";

/** The config.json format version this code writes and reads. */
export const MODEL_FORMAT_VERSION = 1;

/** A model folder that cannot be used: the message names the file and what was expected. */
export class ModelFolderError extends StemscopeError {}

/** config.json of a model folder. */
export const ModelFolderConfigSchema = z.object({
  formatVersion: z.literal(MODEL_FORMAT_VERSION),
  /** Architecture: rebuild with `new JointModel(model)`. */
  model: JointModelConfigSchema,
  /** The feature settings the model was trained on (inference must use the same). */
  features: FeatureConfigSchema,
  /** Class names; logit i is classes[i]. Sorted by code point, as the seed's labels. */
  classes: z.array(z.string().min(1)).min(2),
  /** The training settings and data summary (informational). */
  training: z.record(z.string(), z.unknown()).default({}),
});
export type ModelFolderConfig = z.infer<typeof ModelFolderConfigSchema>;

/** A loaded model folder. */
export interface LoadedModelFolder {
  /** In eval mode, channels-last, weights loaded. The caller disposes it. */
  model: JointModel;
  config: ModelFolderConfig;
  classes: string[];
  features: FeatureConfig;
}

/**
 * Reads and validates `<dir>/config.json`.
 * @throws ModelFolderError for a missing folder or file, bad JSON, an unknown formatVersion or a config
 *   that does not validate (the message names the field)
 */
export function readModelConfig(dir: string): ModelFolderConfig {
  const path = join(dir, "config.json");
  if (!existsSync(dir)) throw new ModelFolderError(`${dir}: model folder not found`);
  if (!existsSync(path)) {
    throw new ModelFolderError(`${path}: not found; expected a model folder written by \`stemscope train\``);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ModelFolderError(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (version !== MODEL_FORMAT_VERSION) {
    throw new ModelFolderError(
      `${path}: formatVersion ${JSON.stringify(version)} is not supported; this stemscope reads formatVersion ${MODEL_FORMAT_VERSION}`,
    );
  }
  const parsed = ModelFolderConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFolderError(`${path}: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  if (parsed.data.classes.length !== parsed.data.model.numClasses) {
    throw new ModelFolderError(
      `${path}: ${parsed.data.classes.length} class names but the model has ${parsed.data.model.numClasses} outputs`,
    );
  }
  return parsed.data;
}

/**
 * Builds the model of a folder and loads its weights.
 * @param options.weights which weights file (default `weights.safetensors`, the best epoch)
 * @throws ModelFolderError (see {@link readModelConfig}) or SafetensorsError for a missing/corrupt weights
 *   file, or when the weights do not fit the architecture
 */
export async function loadModelFolder(
  dir: string,
  options: { weights?: string } = {},
): Promise<LoadedModelFolder> {
  const config = readModelConfig(dir);
  const weightsPath = join(dir, options.weights ?? "weights.safetensors");
  const { tensors } = await loadSafetensors(weightsPath);
  const model = new JointModel(config.model as JointModelConfig);
  try {
    model.loadStateDict(tensors);
  } catch (error) {
    model.dispose();
    throw new ModelFolderError(
      `${weightsPath}: does not fit the architecture in config.json (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  } finally {
    dispose([...tensors.values()]);
  }
  model.toChannelsLast().eval();
  return { model, config, classes: config.classes, features: config.features };
}
