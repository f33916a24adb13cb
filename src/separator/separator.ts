/**
 * The Separator: one loaded model folder — its featurizer (the feature mode, chosen once), its model
 * behind a pluggable {@link ModelRunner}, and its class names — with the one batched forward that
 * predict, separate and eval all call. It knows nothing of windows, files or datasets; infer and
 * eval build those on top.
 *
 * ```ts
 * const separator = await loadSeparator("runs/fast");
 * const out = await separator.analyse(clips, { planes: true }); // clips: 2-s mono Float32Arrays
 * out.probabilitiesOf(0); // [K, classes] softmax of the first clip's K sources
 * separator.dispose();
 * ```
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ParameterError, parseSettings } from "../errors.js";
import { type FeatureConfig } from "../features/config.js";
import { MODEL_FILES, ModelFolderError, type ModelFolderConfig, readModelConfig } from "../model/folder.js";
import { InferenceError } from "./errors.js";
import { Featurizer } from "./featurizer.js";
import { softmaxRows } from "./naming.js";
import { BACKENDS, type ModelRunner } from "./runner.js";

/** Where the packaged models live: `<package root>/models`. */
function packagedModelsDir(): string {
  // src/separator/separator.ts and dist/separator/separator.js both sit two folders below the root.
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "models");
}

/** Where the packaged default model lives: `<package root>/models/default`. */
export function defaultModelDir(): string {
  return join(packagedModelsDir(), "default");
}

/**
 * The folder a `model` argument names: a path, or where no such path exists, the name of a model
 * packaged with stemscope (`general` → `<package root>/models/general`).
 * @throws ModelFolderError for a plain name that is neither a folder here nor a packaged model
 */
export function resolveModelDir(model: string): string {
  if (existsSync(model) || !/^[\w.-]+$/.test(model)) return model;
  const root = packagedModelsDir();
  const isModel = (name: string): boolean => existsSync(join(root, name, MODEL_FILES.config));
  if (isModel(model)) return join(root, model);
  const names = existsSync(root) ? readdirSync(root).filter(isModel) : [];
  throw new ModelFolderError(
    `${model}: model folder not found, and no packaged model has that name (packaged: ${names.join(", ") || "none"})`,
  );
}

/** Whether every value is finite (no NaN, no ±infinity). */
function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}

/** Options of one batched forward. */
export interface AnalyseOptions {
  /** Also return the separated planes (needed for stems). Default false. */
  planes?: boolean;
  /** bfloat16 arithmetic where the backend has it. Default false. */
  bf16?: boolean;
}

/** The outputs of one batch: class probabilities of every source, and optionally the planes. */
export class BatchOutputs {
  constructor(
    /** Clips in the batch. */
    readonly batch: number,
    /** Sources per clip (K). */
    readonly sources: number,
    /** Classes. */
    readonly classes: number,
    /** [batch, K, classes] softmax probabilities. */
    readonly probabilities: Float64Array,
    /** [batch, K, nMels, size] separated planes, or null when not asked for. */
    readonly planes: Float32Array | null,
  ) {}

  /** Clip i's [K, classes] probabilities (a view). */
  probabilitiesOf(i: number): Float64Array {
    const n = this.sources * this.classes;
    return this.probabilities.subarray(i * n, (i + 1) * n);
  }

  /** Clip i's K separated planes [nMels, size] (views). */
  planesOf(i: number): Float32Array[] {
    const planes = this.planes;
    if (planes === null) throw new RangeError("planesOf: the forward pass was run without planes");
    const cell = planes.length / (this.batch * this.sources);
    return Array.from({ length: this.sources }, (_, s) =>
      planes.subarray((i * this.sources + s) * cell, (i * this.sources + s + 1) * cell),
    );
  }
}

/** A model folder loaded for inference: featurizer + model runner + class names. Call {@link dispose}. */
export class Separator {
  readonly featurizer: Featurizer;
  /** Class names; logit i is classes[i]. */
  readonly classes: string[];
  readonly features: FeatureConfig;

  constructor(
    readonly runner: ModelRunner,
    readonly config: ModelFolderConfig,
    /** The folder it was loaded from. */
    readonly dir: string,
  ) {
    this.classes = config.classes;
    this.features = config.features;
    this.featurizer = new Featurizer(config.features);
  }

  /** Sources the model separates (K). */
  get sources(): number {
    return this.config.model.sources;
  }

  /** Clip length, seconds (what one model input covers). */
  get clipSeconds(): number {
    return this.featurizer.clipLength / this.features.sampleRate;
  }

  /**
   * The batched forward: model input [batch, 1, nMels, size] → per-source class probabilities
   * (softmax of the logits, float64) and, when asked, the separated planes.
   */
  async forward(features: Float32Array, batch: number, options: AnalyseOptions = {}): Promise<BatchOutputs> {
    const out = await this.runner.forward(features, batch, {
      planes: options.planes === true,
      bf16: options.bf16 === true,
    });
    // Broken weights (or an input the model cannot take) must not become names, stems or scores.
    if (!allFinite(out.logits) || (out.planes !== null && !allFinite(out.planes))) {
      throw new InferenceError(
        `${this.dir}: the model's outputs are not finite (NaN or infinity)${features.every(Number.isFinite) ? "" : " for non-finite input features"}; its weights may be broken (a diverged run?): retrain it, or use another model`,
      );
    }
    const c = this.classes.length;
    return new BatchOutputs(batch, this.sources, c, softmaxRows(out.logits, c), out.planes);
  }

  /** {@link forward} on audio clips (clipLength samples each at the model's rate), features first. */
  async analyse(clips: Float32Array[], options: AnalyseOptions = {}): Promise<BatchOutputs> {
    return this.forward(this.featurizer.modelInput(clips), clips.length, options);
  }

  /** Frees the model. */
  dispose(): void {
    this.runner.dispose();
  }
}

/** Options of {@link loadSeparator} and their defaults. */
export const LoadOptionsSchema = z
  .object({
    /** Which backend runs the model (a key of BACKENDS). */
    backend: z.string().min(1).default("libtorch"),
  })
  .strict();
export type LoadOptions = z.input<typeof LoadOptionsSchema>;

/**
 * Reads a model folder (see src/model/folder.ts) and loads its model with the chosen backend.
 * @param dir the folder, or a packaged model's name ({@link resolveModelDir}); default: the packaged
 *   `models/default`
 * @throws ModelFolderError / SafetensorsError naming the file; InferenceError when the default model
 *   is not installed; ParameterError for an unknown backend
 */
export async function loadSeparator(dir?: string, options: LoadOptions = {}): Promise<Separator> {
  return new Separator(...(await openModelFolder(dir, options)));
}

/**
 * What a Separator (or a subclass) is built from: the runner of the folder's model, its config and
 * the folder. See {@link loadSeparator} for the arguments and errors.
 */
export async function openModelFolder(
  dir: string | undefined,
  options: LoadOptions = {},
): Promise<[ModelRunner, ModelFolderConfig, string]> {
  const folder = dir === undefined ? defaultModelDir() : resolveModelDir(dir);
  if (dir === undefined && !existsSync(join(folder, MODEL_FILES.config))) {
    throw new InferenceError(
      `no default model: ${folder} is missing (this installation has no trained default model); pass \`model\` with a folder written by \`stemscope train\``,
    );
  }
  const config = readModelConfig(folder);
  const { backend } = parseSettings(LoadOptionsSchema, options, "load options");
  const factory = BACKENDS[backend];
  if (factory === undefined) {
    throw new ParameterError(
      "backend",
      `\`backend\` "${backend}" is not available; choose one of ${Object.keys(BACKENDS).join(", ")}`,
    );
  }
  return [await factory(folder, config), config, folder];
}
