// The public library API of stemscope. Each stage exports its public functions and types here.
export { StemscopeError, UsageError } from "./errors.js";
export * from "./engine/index.js";
export * from "./model/index.js";
export * from "./audio/index.js";
export * from "./features/index.js";
export * from "./data/index.js";
export { Random, hash32, hashUnit } from "./util/random.js";
export {
  type Progress,
  type ProgressOptions,
  type ProgressPayload,
  createProgress,
} from "./util/progress.js";
export * from "./train/index.js";
export * from "./infer/index.js";
export * from "./eval/index.js";
