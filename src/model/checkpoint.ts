/**
 * Training checkpoints of a model folder: `checkpoint.safetensors` (the model's weights as
 * `model.<name>`, the optimizer's moments as `optimizer.<name>`, and the training state as JSON in its
 * metadata, key `state`) is the commit point of an epoch; `checkpoint.json` is the same state without
 * the epoch history, for people to read. Only this module reads and writes them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeSafetensors,
  dispose,
  encodeSafetensors,
  type OptimizerState,
  type PlateauState,
  type Tensor,
} from "../engine/index.js";
import { writeFileAtomic } from "../util/atomic.js";
import { fromJson, toJson } from "../util/json.js";
import { type EpochRecord, MODEL_FILES, ModelFolderError } from "./folder.js";

/** What a checkpoint stores besides tensors. `config` is the trainer's (validated by it on resume). */
export interface CheckpointState {
  formatVersion: 1;
  /** Finished epochs. */
  epoch: number;
  globalStep: number;
  /** The training config of the run (the trainer's TrainConfig as saved; older runs may differ). */
  config: Record<string, unknown>;
  optimizer: OptimizerState["hyper"];
  scheduler: PlateauState;
  bestEpoch: number;
  bestValAcc: number;
  epochsWithoutImprovement: number;
  history: EpochRecord[];
}

/** A checkpoint as read: its state and tensors. The caller disposes the tensors. */
export interface Checkpoint {
  state: CheckpointState;
  /** The model's state dict (PyTorch names). */
  model: Map<string, Tensor>;
  /** The optimizer's tensors (see OptimizerState.tensors). */
  optimizer: Map<string, Tensor>;
}

/**
 * Reads `<dir>/checkpoint.safetensors`.
 * @returns null when the folder has none
 * @throws ModelFolderError when it was not written by the trainer; SafetensorsError when it is corrupt
 */
export function readCheckpoint(dir: string): Checkpoint | null {
  const path = join(dir, MODEL_FILES.checkpoint);
  if (!existsSync(path)) return null;
  const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
  const text = metadata.state;
  if (text === undefined) {
    dispose([...tensors.values()]);
    throw new ModelFolderError(`${path}: has no training state; it was not written by \`stemscope train\``);
  }
  const pick = (prefix: string): Map<string, Tensor> =>
    new Map([...tensors].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
  return { state: fromJson(text) as CheckpointState, model: pick("model."), optimizer: pick("optimizer.") };
}

/** Frees a checkpoint's tensors. */
export function disposeCheckpoint(checkpoint: Checkpoint): void {
  dispose([...checkpoint.model.values(), ...checkpoint.optimizer.values()]);
}

/**
 * Writes checkpoint.safetensors (atomically: the commit point of an epoch), then checkpoint.json.
 * @param model the model's state dict
 * @param optimizer the optimizer's tensors
 */
export async function writeCheckpoint(
  dir: string,
  state: CheckpointState,
  model: Map<string, Tensor>,
  optimizer: Map<string, Tensor>,
): Promise<void> {
  const tensors = new Map<string, Tensor>();
  for (const [n, t] of model) tensors.set(`model.${n}`, t);
  for (const [n, t] of optimizer) tensors.set(`optimizer.${n}`, t);
  await writeFileAtomic(
    join(dir, MODEL_FILES.checkpoint),
    encodeSafetensors(tensors, { state: toJson(state) }),
  );
  const { history: _history, ...summary } = state;
  await writeFileAtomic(join(dir, MODEL_FILES.checkpointSummary), `${toJson(summary, 2)}\n`);
}
