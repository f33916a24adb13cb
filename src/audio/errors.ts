import { StemscopeError } from "../errors.js";

/**
 * Audio could not be read, decoded or written. The message names the file (or the API call when
 * there is no file) and the problem, e.g. `song.wav: truncated WAV header (12 of 44 bytes)`.
 */
export class AudioError extends StemscopeError {}
