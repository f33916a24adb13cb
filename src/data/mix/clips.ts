import { loadAudio } from "../../audio/index.js";

/**
 * Loads a clip as mono at `sampleRate` Hz (decode, mix down, resample: like
 * `librosa.load(path, sr=sampleRate)`) into a SharedArrayBuffer, so worker threads can read it
 * without copies. The buffer holds `length` float32 samples.
 * @throws AudioError naming the file when it cannot be decoded
 */
export async function loadClipShared(path: string, sampleRate: number): Promise<SharedArrayBuffer> {
  const { samples } = await loadAudio(path, { sampleRate });
  const shared = new SharedArrayBuffer(samples.length * 4);
  new Float32Array(shared).set(samples);
  return shared;
}
