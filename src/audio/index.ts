// Audio in and out: decoding (WAV by hand, other formats via audio-decode, with checks for corrupt
// sample rates and truncated streams), mono mix-down, anti-aliased resampling, fix_length, and
// deterministic atomic WAV writing.
export { AudioError } from "./errors.js";
export {
  type DecodedAudio,
  type WavEncoding,
  type ClipMode,
  type EncodeReport,
  type WavLayout,
  decodeWav,
  encodeWav,
  LITTLE_ENDIAN,
  looksLikeWav,
  readWavLayout,
} from "./wav.js";
export { type ResampleOptions, resample } from "./resample.js";
export { MAX_FILE_SAMPLE_RATE, MIN_FILE_SAMPLE_RATE } from "./file-checks.js";
export {
  type LoadedAudio,
  decodeAudioFile,
  downmixToMono,
  fixLength,
  loadAudio,
  prepareDecoded,
  writeWav,
} from "./load.js";
