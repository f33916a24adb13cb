import { StemscopeError } from "../errors.js";

/**
 * Inference could not run on this input or with this model (no model, empty or silent audio, a
 * dataset the model does not fit); the message names the input and what was wrong.
 */
export class InferenceError extends StemscopeError {}
