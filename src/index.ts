// The public library API of stemscope. Each stage exports its public functions and types here.
export { StemscopeError, UsageError } from "./errors.js";
export * from "./engine/index.js";
export * from "./model/index.js";
export * from "./audio/index.js";
export * from "./features/index.js";
