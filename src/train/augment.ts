/**
 * Spectrogram augmentation for training: changes that a recording of the same instruments through
 * other gear or from another sample library could plausibly show, applied identically to a sample's
 * mixture and to each of its sources so the separation target stays consistent (mixture ≈ Σ sources
 * in power, and every change here is the same per-bin gain or the same move on all planes).
 *
 * Values are the 0..1 dB images of both feature modes (value = 1 + dB / topDb in `native` mode);
 * a change of g dB is g / topDb in value units. Zeros stay zero: they mean "topDb or more below the
 * reference", and no gain can say how far below.
 */
import { Random } from "../util/random.js";

/** Strengths of {@link augmentBatch}. */
export interface AugmentSettings {
  /** Largest gain of the random EQ curve, dB (a tilt plus one bell). */
  eqDb: number;
  /** Largest shift of all rows along the mel axis, bins (≈ a formant/pitch shift of up to a semitone or two). */
  shiftBins: number;
  /** Widest band of mel rows set to silence (SpecAugment frequency mask), bins; 0 = off. */
  freqMask: number;
  /** Widest stretch of frames set to silence (SpecAugment time mask), frames; 0 = off. */
  timeMask: number;
  /** The features' dynamic range, dB (topDb of the feature config). */
  topDb: number;
}

/** The strengths `--augment` uses. */
export const DEFAULT_AUGMENT: Omit<AugmentSettings, "topDb"> = {
  eqDb: 6,
  shiftBins: 3,
  freqMask: 8,
  timeMask: 12,
};

/**
 * The strengths `--augment-references` uses on what only the classifier sees: the strongest of the
 * classifier-alone measurements (EQ ±12 dB, shift ±8 bins named 64.8 % of an unheard soundfont's clean
 * sources against 62.3 % without augmentation and 62.1 % at `--augment`'s strengths; docs/quality.md).
 */
export const REFERENCE_AUGMENT: Omit<AugmentSettings, "topDb"> = {
  eqDb: 12,
  shiftBins: 8,
  freqMask: 8,
  timeMask: 12,
};

/**
 * Augmented copies of a batch's mixture and sources for the classifier's reference term (the batch
 * itself is left as it is, for the U-Net and the separated sources' classification).
 * @returns new arrays of the same shapes as `mixture` and `sources`
 */
export function augmentedCopies(
  mixture: Float32Array,
  sources: Float32Array,
  shape: { batch: number; k: number; rows: number; cols: number },
  settings: AugmentSettings,
  random: Random,
): { mixture: Float32Array; sources: Float32Array } {
  const copies = { mixture: mixture.slice(), sources: sources.slice() };
  augmentBatch(copies.mixture, copies.sources, shape, settings, random);
  return copies;
}

/**
 * Augments a batch in place.
 * @param mixture [batch, 1, rows, cols] values in [0, 1]
 * @param sources [batch, k, rows, cols] values in [0, 1]
 * @param random the only source of randomness (fork it per step for determinism)
 */
export function augmentBatch(
  mixture: Float32Array,
  sources: Float32Array,
  shape: { batch: number; k: number; rows: number; cols: number },
  settings: AugmentSettings,
  random: Random,
): void {
  const { batch, k, rows, cols } = shape;
  const plane = rows * cols;
  if (mixture.length !== batch * plane || sources.length !== batch * k * plane) {
    throw new Error(
      `augmentBatch: expected ${batch * plane} mixture and ${batch * k * plane} source values, got ${mixture.length} and ${sources.length}`,
    );
  }
  const gain = new Float32Array(rows);
  const scratch = new Float32Array(plane);
  for (let b = 0; b < batch; b++) {
    // EQ: a tilt across the mel axis plus one bell at a random centre, in value units.
    const tilt = random.uniform(-settings.eqDb, settings.eqDb) / 2;
    const bell = random.uniform(-settings.eqDb, settings.eqDb);
    const centre = random.uniform(0, rows - 1);
    const width = random.uniform(rows / 16, rows / 4);
    for (let r = 0; r < rows; r++) {
      const x = rows > 1 ? (r / (rows - 1)) * 2 - 1 : 0;
      const dB = tilt * x + bell * Math.exp(-0.5 * ((r - centre) / width) ** 2);
      gain[r] = dB / settings.topDb;
    }
    const shift = settings.shiftBins > 0 ? random.intBetween(-settings.shiftBins, settings.shiftBins) : 0;
    const f0 = random.intBetween(0, rows - 1);
    const fWidth = settings.freqMask > 0 ? random.intBetween(0, settings.freqMask) : 0;
    const t0 = random.intBetween(0, cols - 1);
    const tWidth = settings.timeMask > 0 ? random.intBetween(0, settings.timeMask) : 0;
    const planes: [Float32Array, number][] = [[mixture, b * plane]];
    for (let s = 0; s < k; s++) planes.push([sources, (b * k + s) * plane]);
    for (const [data, offset] of planes) {
      scratch.set(data.subarray(offset, offset + plane));
      for (let r = 0; r < rows; r++) {
        const from = r - shift; // row r shows what row r − shift held: a move of `shift` rows up
        const masked = r >= f0 && r < f0 + fWidth;
        const o = offset + r * cols;
        if (from < 0 || from >= rows || masked) {
          data.fill(0, o, o + cols);
          continue;
        }
        const g = gain[r]!;
        const i = from * cols;
        for (let c = 0; c < cols; c++) {
          const v = scratch[i + c]!;
          const w = v > 0 ? v + g : 0;
          data[o + c] = w < 0 ? 0 : w > 1 ? 1 : w;
        }
      }
      for (let r = 0; r < rows; r++) {
        const o = offset + r * cols;
        data.fill(0, o + Math.min(cols, t0), o + Math.min(cols, t0 + tWidth));
      }
    }
  }
}
