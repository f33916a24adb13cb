import { StemscopeError } from "../errors.js";

/** Feature extraction was given a configuration or input it cannot use; the message says which. */
export class FeatureError extends StemscopeError {}
