import { z } from "zod";
import { DEFAULT_CLASSES } from "./instruments.js";

/** How `stemscope synth` renders a raw_data library from soundfonts. */
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
    /** "all" (the four Debian soundfonts) or ids / .sf2 / .sf3 paths. */
    soundfonts: z.union([z.literal("all"), z.array(z.string().min(1)).min(1)]).default("all"),
    /** Seed of every random choice. */
    seed: z.number().int().default(0),
  })
  .strict();

export type SynthConfigInput = z.input<typeof SynthConfigSchema>;
export type SynthConfig = z.output<typeof SynthConfigSchema>;
