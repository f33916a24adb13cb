import { z } from "zod";

/**
 * Feature settings. Defaults (here and nowhere else) are the seed paper's: 2-s clips at 16 kHz,
 * 2048-point STFT with hop 512, 128 Slaney mel bands 0–8 kHz, power_to_db(ref=max, top_db=80),
 * resized to 128 × 128.
 *
 * - `seed`: librosa melspectrogram → power_to_db(ref=np.max) → min-max to [0, 1] →
 *   skimage.transform.resize to [nMels, size] (63 → 128 frames at the defaults).
 * - `native`: the hop is chosen so the clip gives exactly `size` frames (251 at the defaults), no
 *   resize; values are dB relative to a reference power (the mixture's peak) mapped linearly from
 *   [-topDb, 0] dB to [0, 1], so a separated spectrogram can be turned back into audio.
 */
export const FeatureConfigSchema = z
  .object({
    mode: z.enum(["seed", "native"]).default("seed"),
    /** Hz. */
    sampleRate: z.number().int().positive().default(16000),
    /** Clip length in seconds; clips are zero-padded / trimmed to round(seconds · sampleRate) samples. */
    seconds: z.number().positive().default(2),
    /** FFT size (= window length), a power of two. */
    nFft: z
      .number()
      .int()
      .min(16)
      .refine((n) => (n & (n - 1)) === 0, "nFft must be a power of two")
      .default(2048),
    /** STFT hop in samples (`seed` mode; `native` derives its own from seconds and size). */
    hopLength: z.number().int().positive().default(512),
    nMels: z.number().int().positive().default(128),
    /** Lowest mel band edge, Hz. */
    fmin: z.number().nonnegative().default(0),
    /** Highest mel band edge, Hz (≤ sampleRate / 2). */
    fmax: z.number().positive().default(8000),
    /** Dynamic range kept below the reference, dB. */
    topDb: z.number().positive().default(80),
    /** Number of time columns of the output. */
    size: z.number().int().min(2).default(128),
  })
  .strict()
  .refine((c) => c.fmax <= c.sampleRate / 2, {
    message: "fmax must be at most sampleRate / 2",
    path: ["fmax"],
  })
  .refine((c) => c.fmin < c.fmax, { message: "fmin must be below fmax", path: ["fmin"] });

/** Parsed feature settings (every field present). */
export type FeatureConfig = z.infer<typeof FeatureConfigSchema>;
