import { join } from "node:path";
import { encodeWav } from "../../audio/index.js";
import { writeFileAtomicSync } from "../../util/atomic.js";
import { Random } from "../../util/random.js";
import { DataError } from "../errors.js";
import type { InstrumentClass } from "./instruments.js";
import type { ManifestEntry } from "../formats/manifest.js";
import type { LoadedSources } from "./sources/load.js";
import { type ClipLayer, ClipRenderer, type ClipPlan, SILENT_PEAK, peakOf, planClip } from "./render.js";

/** Attempts before a class/source combination is declared unable to sound. */
export const MAX_ATTEMPTS = 20;

/** One clip to make: class and index within the class. */
export interface SynthTask {
  classIndex: number;
  index: number;
}

/** What a clip's rendering depends on besides its task. */
export interface ClipSettings {
  outDir: string;
  seconds: number;
  sampleRate: number;
  seed: number;
  /** Draw condition transformations (formant shift, envelopes, EQ, saturation, rooms). */
  transforms: boolean;
  /** Probability that a clip is layered (a second timbre of its class and group). */
  layers: number;
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
  sources: LoadedSources,
  settings: ClipSettings,
  renderer: ClipRenderer = new ClipRenderer(),
): ManifestEntry {
  const cls = classes[task.classIndex]!;
  const label = `synth:${cls.name}:${task.index}`;
  const stream = new Random(settings.seed).fork(label);
  const groups = sources.timbres[task.classIndex]!;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const seed = `${settings.seed}/${label}/attempt:${attempt}`;
    const plan = planClip(stream.fork(`attempt:${attempt}`), cls, groups, settings.seconds, {
      transforms: settings.transforms,
      layers: settings.layers,
      sampleRate: settings.sampleRate,
      label: seed,
    });
    const bank = plan.preset.kind === "model" ? undefined : sources.banks.get(plan.preset.group)!;
    const audio = renderer.render(bank, plan, settings.seconds, settings.sampleRate);
    const peak = peakOf(audio);
    if (!(peak >= SILENT_PEAK && Number.isFinite(peak))) continue;
    const scale = 10 ** (plan.gainDb / 20) / peak;
    for (let i = 0; i < audio.length; i++) audio[i] = audio[i]! * scale;
    const file = `${cls.name}/${clipFileName(task.index)}`;
    writeFileAtomicSync(
      join(settings.outDir, cls.name, clipFileName(task.index)),
      encodeWav(audio, settings.sampleRate, { encoding: "pcm16", clipMode: "error" }).bytes,
    );
    return manifestEntry(file, cls.name, plan, attempt, seed);
  }
  throw new DataError(
    `class ${cls.name}, clip ${task.index}: ${MAX_ATTEMPTS} renders in a row were silent; check the sources (${groups.map((g) => g.group).join(", ")})`,
  );
}

/** The manifest line of a rendered clip (see manifest.ts for the fields). */
export function manifestEntry(
  file: string,
  className: string,
  plan: ClipPlan,
  attempt: number,
  seed: string,
): ManifestEntry {
  const { preset, transforms: t } = plan;
  const transforms: Record<string, string | number | boolean> = {};
  if (t.formantShift !== 0) transforms.formantShift = t.formantShift;
  for (const key of ["attack", "decay", "release", "brightness", "resonance", "vibratoRate"] as const) {
    if (t[key] !== 64) transforms[key] = t[key];
  }
  if (t.eq.length > 0) transforms.eq = t.eq.map((b) => `${b.type}:${b.freq}:${b.gainDb}:${b.q}`).join(" ");
  if (t.saturation > 0) transforms.saturation = t.saturation;
  if (t.room !== undefined) {
    transforms.roomRt60 = t.room.rt60;
    transforms.roomDrrDb = t.room.drrDb;
  }
  return {
    file,
    class: className,
    soundfont: preset.group,
    program: preset.gm,
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
    seed,
    source: preset.kind,
    group: preset.group,
    preset: { bank: preset.bank, program: preset.program, name: preset.name },
    transforms,
    ...(plan.modelParams !== undefined ? { model: { kind: preset.model!, ...plan.modelParams } } : {}),
    ...(plan.layer !== undefined ? { layer: layerEntry(plan.layer) } : {}),
  };
}

/** The manifest's record of a clip's layer. */
function layerEntry(layer: ClipLayer): NonNullable<ManifestEntry["layer"]> {
  const { preset } = layer;
  return {
    preset: { bank: preset.bank, program: preset.program, name: preset.name },
    formantShift: layer.formantShift,
    detuneCents: layer.detuneCents,
    delay: layer.delay,
    gainDb: layer.gainDb,
    ...(layer.modelParams !== undefined ? { model: { kind: preset.model!, ...layer.modelParams } } : {}),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
