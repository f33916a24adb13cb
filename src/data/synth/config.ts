import { z } from "zod";
import { DEFAULT_CLASSES } from "./instruments.js";

/** How `stemscope synth` renders a raw_data library from the timbre sources (sources/groups.ts). */
export const SynthConfigSchema = z
  .object({
    /** Output raw_data folder: `<outDir>/<class>/<id>.wav` and `<outDir>/manifest.jsonl`. */
    outDir: z.string().min(1).default("raw_data"),
    /** Class names (see instruments.ts); default all ten. */
    classes: z
      .array(z.string().min(1))
      .min(1)
      .default(DEFAULT_CLASSES.map((c) => c.name)),
    /** Clips per class (the seed recommends ≥ 2,000). */
    perClass: z.number().int().min(1).default(2000),
    /** Clip length in seconds. */
    seconds: z.number().positive().max(60).default(2),
    /** Output sample rate in Hz (rendering happens at 32 kHz, then resampling). */
    sampleRate: z.number().int().min(8000).max(32000).default(16000),
    /**
     * Timbre sources: "all" (every group stemscope knows: the four Debian soundfonts, sonivox,
     * salamander, grandorgue, sonicpi, physical) or group ids and/or .sf2 / .sf3 paths.
     */
    sources: z.union([z.literal("all"), z.array(z.string().min(1)).min(1)]).default("all"),
    /** Groups left out of `sources` (e.g. ["a320u"] to hold A320U out of a training library). */
    exclude: z.array(z.string().min(1)).default([]),
    /** Relative group weights overriding the defaults (sonivox 0.3, sonicpi 0.5, others 1). */
    groupWeights: z.record(z.string(), z.number().min(0)).default({}),
    /**
     * The older way to choose sources, soundfonts only: "all" = the four Debian soundfonts, or ids /
     * paths. When set, it replaces `sources`.
     */
    soundfonts: z.union([z.literal("all"), z.array(z.string().min(1)).min(1)]).optional(),
    /** Condition transformations (formant shift, envelopes, EQ, saturation, rooms); false: dry timbres. */
    transforms: z.boolean().default(true),
    /**
     * Probability (0–1) that a clip is a layered patch: a second preset of its class and source group
     * plays the same notes, slightly detuned and late (render.ts, `ClipLayer`). 0: none.
     */
    layers: z.number().min(0).max(1).default(0),
    /** Seed of every random choice. */
    seed: z.number().int().default(0),
  })
  .strict();

export type SynthConfigInput = z.input<typeof SynthConfigSchema>;
export type SynthConfig = z.output<typeof SynthConfigSchema>;
