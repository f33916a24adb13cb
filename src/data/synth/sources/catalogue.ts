/**
 * Which presets of which source play which class: the timbres a clip is drawn from.
 *
 * - GM soundfonts: every melodic preset of any bank MSB 0–126 (GM, GS variations, MuseScore's
 *   expressive and section banks) whose program is in the class's family (`InstrumentClass.programs`);
 *   A320U's bank 127 holds the MT-32 layout, matched by `mt32Programs`. Presets named as effects
 *   (feedback) are left out.
 * - Sample libraries: the presets their builder declares (sample-banks.ts).
 * - Models: one preset per model of the class.
 *
 * Weights: a program's weight is shared by the presets of that program within a group (so a
 * program with four bank variants does not count four times); groups are drawn first (by group
 * weight), then a preset of the drawn group.
 */
import type { BasicPreset, BasicSoundBank } from "spessasynth_core";
import { type InstrumentClass, type ModelKind, mainProgram } from "../instruments.js";
import type { SourceKind } from "./groups.js";

/** Playing patterns of a clip. */
export const PATTERNS = [
  "held",
  "repeated",
  "scale",
  "arpeggio",
  "chord",
  "melody",
  "staccato",
  "trill",
] as const;
export type Pattern = (typeof PATTERNS)[number];

/** One timbre a clip can be rendered with. */
export interface TimbrePreset {
  group: string;
  kind: SourceKind;
  /** Bank MSB (0 for models). */
  bank: number;
  /** Program number within the bank. */
  program: number;
  /** The equivalent General MIDI program (pitch range; the manifest's `program`). */
  gm: number;
  name: string;
  /** Relative weight within its group. */
  weight: number;
  /** Playable range, MIDI notes [lowest, highest]. */
  range: [number, number];
  /** Our model (kind `model`). */
  model?: ModelKind;
  /** Patterns this preset may play (default: all of the class); phrase recordings hold one note. */
  patterns?: readonly Pattern[];
  /** One sample for every key (a phrase recording): a formant shift would play the same sample. */
  singleSample?: boolean;
}

/** A preset a sample-library builder declares (sample-banks.ts). */
export interface SampleBankPreset {
  className: string;
  bank: number;
  program: number;
  gm: number;
  name: string;
  weight: number;
  range?: [number, number];
  patterns?: readonly Pattern[];
  singleSample?: boolean;
}

/** The MT-32 bank of A320U. */
export const MT32_BANK = 127;
const EXCLUDED_NAMES = /feedback/i;

function rangeOf(cls: InstrumentClass, gm: number): [number, number] {
  return cls.rangeByProgram?.[gm] ?? cls.range;
}

/**
 * The keys a preset has samples for: the union over its zones of the preset zone's key range
 * intersected with its instrument zones' ranges (a zone without a range covers 0–127).
 */
export function presetKeyCoverage(preset: BasicPreset): [number, number] | undefined {
  let lo = 128;
  let hi = -1;
  const rangeOf = (r: { min: number; max: number }): [number, number] =>
    r.min < 0 ? [0, 127] : [r.min, r.max];
  for (const pz of preset.zones) {
    const [plo, phi] = rangeOf(pz.keyRange);
    for (const iz of pz.instrument.zones) {
      const [ilo, ihi] = rangeOf(iz.keyRange);
      const a = Math.max(plo, ilo);
      const b = Math.min(phi, ihi);
      if (a <= b) {
        lo = Math.min(lo, a);
        hi = Math.max(hi, b);
      }
    }
  }
  return hi < 0 ? undefined : [lo, hi];
}

/** The class's range for `gm`, narrowed to the preset's key coverage (undefined: no overlap). */
function playableRange(cls: InstrumentClass, gm: number, preset: BasicPreset): [number, number] | undefined {
  const [lo, hi] = rangeOf(cls, gm);
  const cover = presetKeyCoverage(preset);
  if (cover === undefined) return undefined;
  const a = Math.max(lo, cover[0]);
  const b = Math.min(hi, cover[1]);
  // A preset covering less than an octave of the class's range is a fragment, not an instrument.
  return b - a >= 12 ? [a, b] : undefined;
}

/** Shares each key's weight among the presets with that key. */
function shareWeights(presets: TimbrePreset[], keyOf: (p: TimbrePreset) => string): TimbrePreset[] {
  const counts = new Map<string, number>();
  for (const p of presets) counts.set(keyOf(p), (counts.get(keyOf(p)) ?? 0) + 1);
  return presets.map((p) => ({ ...p, weight: p.weight / counts.get(keyOf(p))! }));
}

/**
 * The presets of a GM soundfont that play class `cls`, sorted by bank then program.
 * @param group the group id recorded for them
 */
export function soundfontPresets(bank: BasicSoundBank, group: string, cls: InstrumentClass): TimbrePreset[] {
  const found: TimbrePreset[] = [];
  for (const p of bank.presets) {
    if (p.isGMGSDrum || p.bankLSB !== 0 || p.zones.length === 0 || EXCLUDED_NAMES.test(p.name)) continue;
    let weight: number | undefined;
    let gm = p.program;
    if (p.bankMSB === MT32_BANK) {
      weight = cls.mt32Programs?.[p.program];
      gm = mainProgram(cls);
    } else if (p.bankMSB < MT32_BANK) {
      weight = cls.programs[p.program];
    }
    if (weight === undefined || weight <= 0) continue;
    const range = playableRange(cls, gm, p);
    if (range === undefined) continue;
    found.push({
      group,
      kind: "soundfont",
      bank: p.bankMSB,
      program: p.program,
      gm,
      name: p.name.trim(),
      weight,
      range,
    });
  }
  found.sort((a, b) => a.bank - b.bank || a.program - b.program);
  return shareWeights(found, (p) => `${p.bank === MT32_BANK ? "mt32:" : ""}${p.program}`);
}

/** The presets of a sample library (declared by its builder) that play class `cls`. */
export function sampleBankPresets(
  declared: readonly SampleBankPreset[],
  group: string,
  cls: InstrumentClass,
): TimbrePreset[] {
  return declared
    .filter((d) => d.className === cls.name)
    .map((d) => ({
      group,
      kind: "samples" as const,
      bank: d.bank,
      program: d.program,
      gm: d.gm,
      name: d.name,
      weight: d.weight,
      range: d.range ?? rangeOf(cls, d.gm),
      ...(d.patterns !== undefined ? { patterns: d.patterns } : {}),
      ...(d.singleSample === true ? { singleSample: true } : {}),
    }));
}

/**
 * Notes where a model plays reliably, where narrower than the class: the brass model's lips only
 * sustain the bore's second mode from about F#4 up at the render rate (measured).
 */
const MODEL_RANGES: Partial<Record<ModelKind, [number, number]>> = { brass: [66, 82] };

/** Our models of class `cls` (group `physical`). */
export function modelPresets(cls: InstrumentClass, group = "physical"): TimbrePreset[] {
  const gm = mainProgram(cls);
  return cls.models.map((model, i) => ({
    group,
    kind: "model" as const,
    bank: 0,
    program: i,
    gm,
    name: `${model} model`,
    weight: 1,
    range: MODEL_RANGES[model] ?? rangeOf(cls, gm),
    model,
  }));
}
