import { join } from "node:path";
import type { BasicSoundBank } from "spessasynth_core";
import { encodeWav } from "../audio/index.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { Random } from "../util/random.js";
import { DataError } from "./errors.js";
import type { InstrumentClass } from "./instruments.js";
import type { ManifestEntry } from "./manifest.js";
import { ClipRenderer, SILENT_PEAK, bankHasProgram, peakOf, planClip } from "./synth-render.js";

/** Attempts before a class/soundfont combination is declared unable to sound. */
export const MAX_ATTEMPTS = 20;

/** One clip to make: class and index within the class. */
export interface SynthTask {
  classIndex: number;
  index: number;
}

/** The file name of clip `index` of a class: zero-padded to 6 digits. */
export function clipFileName(index: number): string {
  return `${String(index).padStart(6, "0")}.wav`;
}

/**
 * Draws, renders and writes clip `task` (`<outDir>/<class>/<id>.wav`, 16-bit mono) and returns its
 * manifest line. A render that is (nearly) silent is re-drawn from the next attempt's stream
 * (`…/attempt:<a>`), so the result stays deterministic. Its peak is set to the drawn gain (−18…−1
 * dBFS), so no clip is clipped. Pass one `renderer` for many clips (it keeps a synthesizer per sound
 * bank); the bytes do not depend on it.
 */
export function makeClip(
  task: SynthTask,
  classes: readonly InstrumentClass[],
  banks: ReadonlyMap<string, BasicSoundBank>,
  settings: { outDir: string; seconds: number; sampleRate: number; seed: number },
  renderer: ClipRenderer = new ClipRenderer(),
): ManifestEntry {
  const cls = classes[task.classIndex]!;
  const label = `synth:${cls.name}:${task.index}`;
  const stream = new Random(settings.seed).fork(label);
  const ids = [...banks.keys()];
  const has = (sf: string, program: number): boolean => bankHasProgram(banks.get(sf)!, program);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const plan = planClip(stream.fork(`attempt:${attempt}`), cls, ids, has, settings.seconds);
    const audio = renderer.render(banks.get(plan.soundfont)!, plan, settings.seconds, settings.sampleRate);
    const peak = peakOf(audio);
    if (peak < SILENT_PEAK) continue;
    const scale = 10 ** (plan.gainDb / 20) / peak;
    for (let i = 0; i < audio.length; i++) audio[i] = audio[i]! * scale;
    const file = `${cls.name}/${clipFileName(task.index)}`;
    writeFileAtomicSync(
      join(settings.outDir, cls.name, clipFileName(task.index)),
      encodeWav(audio, settings.sampleRate, { encoding: "pcm16", clipMode: "error" }).bytes,
    );
    return {
      file,
      class: cls.name,
      soundfont: plan.soundfont,
      program: plan.program,
      notes: plan.notes.map((n) => ({ note: n.note, start: round(n.start), duration: round(n.duration) })),
      velocity: plan.velocity,
      effects: {
        pattern: plan.pattern,
        reverb: plan.reverb,
        chorus: plan.chorus,
        vibrato: plan.vibrato,
        bendSemitones: plan.bendSemitones,
        bendStart: round(plan.bendStart),
        bendEnd: round(plan.bendEnd),
        gainDb: round(plan.gainDb),
        attempt,
      },
      seed: `${settings.seed}/${label}/attempt:${attempt}`,
    };
  }
  throw new DataError(
    `class ${cls.name}, clip ${task.index}: ${MAX_ATTEMPTS} renders in a row were silent; check the soundfonts (${ids.join(", ")})`,
  );
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
