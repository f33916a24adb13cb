/**
 * Audio in the browser: decoding by the browser's own decoders (WAV, MP3, FLAC, OGG, … whatever
 * this browser reads), resampled to the model's rate by the browser, mixed to mono; and the memory
 * check that keeps a long file from exhausting the tab.
 */

/** A file the page cannot use; the message names the file and says why. */
export class AudioInputError extends Error {}

/**
 * Bytes the analysis needs per second of audio at `sampleRate` with K sources: the mono signal,
 * one model output per 1-s window (K planes of `cells` float32), and per stem its signal and two
 * float64 overlap-add accumulators.
 */
export function bytesPerSecond(sampleRate: number, sources: number, cells: number): number {
  return 4 * sampleRate + sources * 4 * cells + sources * (4 + 16) * sampleRate;
}

/**
 * The memory budget of one analysis, bytes: `?memory-mib=N` in the page's address when given (for
 * small devices, or to try the limit), else a quarter of the device's memory as the browser reports
 * it (navigator.deviceMemory, GiB, capped at 8 by browsers), else 1 GiB.
 */
export function memoryBudget(): number {
  const asked = Number(new URLSearchParams(location.search).get("memory-mib"));
  if (Number.isFinite(asked) && asked > 0) return asked * 2 ** 20;
  const gib = (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4;
  return (gib * 2 ** 30) / 4;
}

/** "m:ss" */
export function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Decodes an audio file with the browser's decoders, resampled to `sampleRate` and mixed to mono
 * (the mean of the channels, as the CLI's loader).
 * @param limits.maxSeconds longer audio is refused after decoding, before the analysis allocates
 * @param limits.maxBytes larger files are refused before reading them
 * @throws AudioInputError for an empty file, one the browser cannot decode, or one that is too long
 */
export async function decodeAudioFile(
  file: File,
  sampleRate: number,
  limits: { maxSeconds: number; maxBytes: number },
): Promise<Float32Array> {
  const { maxSeconds } = limits;
  if (file.size === 0) throw new AudioInputError(`${file.name}: the file is empty`);
  if (file.size > limits.maxBytes) {
    throw new AudioInputError(
      `${file.name}: ${(file.size / 2 ** 20).toFixed(0)} MiB is too large for this tab's memory (at most ${(limits.maxBytes / 2 ** 20).toFixed(0)} MiB); cut it into shorter pieces`,
    );
  }
  const bytes = await file.arrayBuffer();
  const context = new OfflineAudioContext(1, 1, sampleRate);
  let decoded: AudioBuffer;
  try {
    decoded = await context.decodeAudioData(bytes);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new AudioInputError(`${file.name}: too long for this tab's memory; cut it into shorter pieces`);
    }
    throw new AudioInputError(
      `${file.name}: cannot decode it as audio (${(error as Error).message || (error as Error).name}); this browser reads WAV, MP3, FLAC, OGG/Vorbis/Opus and AAC`,
    );
  }
  if (decoded.length === 0) throw new AudioInputError(`${file.name}: the file holds no audio samples`);
  if (decoded.duration > maxSeconds) {
    throw new AudioInputError(
      `${file.name}: ${clock(decoded.duration)} is too long for this tab's memory (at most about ${clock(maxSeconds)}); cut it into shorter pieces`,
    );
  }
  if (decoded.numberOfChannels === 1) return decoded.getChannelData(0).slice();
  const mono = new Float32Array(decoded.length);
  for (let ch = 0; ch < decoded.numberOfChannels; ch++) {
    const data = decoded.getChannelData(ch);
    for (let i = 0; i < mono.length; i++) mono[i] = mono[i]! + data[i]!;
  }
  const inv = 1 / decoded.numberOfChannels;
  for (let i = 0; i < mono.length; i++) mono[i] = mono[i]! * inv;
  return mono;
}
