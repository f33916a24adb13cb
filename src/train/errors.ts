import { StemscopeError } from "../errors.js";

/** Training could not start or had to stop; the message says why and what to do. */
export class TrainError extends StemscopeError {}
