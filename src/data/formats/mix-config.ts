import { z } from "zod";

/**
 * How `stemscope mix` builds a train_data folder from a raw_data library. The defaults are the seed's
 * (01.py) where it had one: ./raw_data/ → ./train_data/, 2,000 samples per combination, seed 0,
 * two sources, 16 kHz, 2 s. The rest fixes the seed's defects (see README, "Data").
 */
export const MixConfigSchema = z
  .object({
    /** raw_data folder: one sub-folder of `.wav` clips per class. */
    data: z.string().min(1).default("./raw_data/"),
    /** Output train_data folder, also the prefix of every labels.txt path (kept exactly as given). */
    out: z.string().min(1).default("./train_data/"),
    /** Samples written for every combination of `sources` classes. */
    samplesPerCombination: z.number().int().min(1).default(2000),
    /** Seed of every random choice (clips, offsets, gains, split). */
    seed: z.number().int().default(0),
    /** Sources per mixture, K ≥ 2 (the seed: 2). One combination = K distinct classes. */
    sources: z.number().int().min(2).max(16).default(2),
    /** Output sample rate in Hz; clips at other rates are resampled (like librosa.load(sr=…)). */
    sampleRate: z.number().int().min(1000).max(192000).default(16000),
    /** Length of every output file in seconds (the seed: 2). */
    seconds: z.number().positive().max(600).default(2),
    /**
     * Level of sources 2…K relative to source 1, in dB, drawn uniformly from [min, max]
     * (after the `balance` step). [0, 0] keeps the levels.
     */
    gainDb: z
      .tuple([z.number().min(-60).max(60), z.number().min(-60).max(60)])
      .refine(([lo, hi]) => lo <= hi, { message: "gainDb: min must be ≤ max" })
      .default([-6, 6]),
    /** `none`: clips keep their recorded level; `rms`: every source is first scaled to the same RMS. */
    balance: z.enum(["none", "rms"]).default("none"),
    /** `random`: a random start inside clips longer than `seconds`; `start`: always the first `seconds` (the seed). */
    offset: z.enum(["random", "start"]).default("random"),
    /**
     * `peak`: scale mixture and sources together so the largest |sample| of any of them is `peak`;
     * `limit`: scale down only when that largest |sample| is above `peak` (quiet samples stay quiet).
     */
    normalize: z.enum(["peak", "limit"]).default("peak"),
    /** Target / ceiling of the peak normalisation, as a fraction of full scale. */
    peak: z.number().gt(0).max(0.99).default(0.9),
    /** Fraction of samples assigned to the test side in split.json, 0 ≤ f < 1. */
    testFraction: z.number().min(0).lt(1).default(0.2),
    /**
     * `clip`: each source clip belongs to train or test, mixtures combine clips of one side only;
     * `soundfont`: whole soundfonts are held out (needs raw_data/manifest.jsonl from `stemscope synth`);
     * `random`: the seed's per-sample split, which shares clips between train and test.
     */
    splitBy: z.enum(["clip", "soundfont", "random"]).default("clip"),
    /**
     * Use only the clips of these source groups of raw_data/manifest.jsonl (e.g. `a320u`), to make a
     * test set of timbres a model never heard; classes without such clips are left out.
     */
    groups: z.array(z.string().min(1)).min(1).optional(),
    /** `splitBy: "soundfont"`: the soundfonts to hold out for test (default: drawn from `seed`). */
    testSoundfonts: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

/**
 * Input of {@link MixConfigSchema}: every field optional. `dataDir` and `outputDir` are the names of
 * stemscope 0.1 for `data` and `out`, still accepted.
 */
export type MixConfigInput = z.input<typeof MixConfigSchema> & {
  /** @deprecated use `data` */
  dataDir?: string;
  /** @deprecated use `out` */
  outputDir?: string;
};
/** A complete mixing configuration (all defaults filled in). */
export type MixConfig = z.output<typeof MixConfigSchema>;
