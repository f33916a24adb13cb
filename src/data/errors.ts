import { StemscopeError } from "../errors.js";

/**
 * A problem with a dataset folder or a data-building run (raw_data, train_data, soundfonts): the
 * message names the folder, file or line and what was expected.
 */
export class DataError extends StemscopeError {}
