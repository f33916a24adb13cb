/**
 * One synthesized clip: the random choices (timbre, notes, expression, transformations; pure, from a
 * seeded stream) and their rendering — sound banks with spessasynth_core, our models with
 * sources/physical.ts — then resampling and the condition transformations. Used by synth.ts in the
 * main thread and in workers.
 */
import { readFileSync } from "node:fs";
import { BasicSoundBank, SoundBankLoader, SpessaLog, SpessaSynthProcessor } from "spessasynth_core";
import { fixLength, resample } from "../../audio/index.js";
import { Random } from "../../util/random.js";
import { DataError } from "../errors.js";
import type { InstrumentClass } from "./instruments.js";
import type { Pattern, TimbrePreset } from "./sources/catalogue.js";
import { drawModelParams, renderModel } from "./sources/physical.js";
import { applyChorus, applyReverb } from "./effects.js";
import {
  type EqBand,
  type RoomParams,
  applyEq,
  applyRoom,
  applySaturation,
  drawEq,
  drawRoom,
} from "./transforms.js";

/** Rendering rate; above 2 × 8 kHz so the resampler's low-pass, not aliasing, shapes the top octave. */
export const RENDER_RATE = 32000;
/** A render whose peak |x| is below this (−54 dBFS) is re-drawn as silent. */
export const SILENT_PEAK = 2e-3;
const BLOCK = 128;
/**
 * The 32 → 16 kHz filter: a half-band windowed sinc (cut-off exactly at 8 kHz, so every second tap
 * is zero and resample's integer-decimation path skips them; 24 zero crossings, Kaiser β = 10).
 * Measured on sines (32 → 16 kHz): 0.0 dB to 7 kHz, −0.6 dB at 7.5 kHz, −6 dB at 8 kHz, −24 dB at
 * 8.5 kHz, −76 dB at 9 kHz, ≤ −105 dB from 10 kHz; 2.7 ms CPU per 2 s clip (the earlier
 * {zeroCrossings: 16} filter: 4.0 ms, −5 dB at 7.5 kHz, −46 dB at 9 kHz).
 */
export const DECIMATION_FILTER = { zeroCrossings: 24, rolloff: 1, beta: 10 } as const;

SpessaLog.warnEnabled = false;
SpessaLog.infoEnabled = false;

/** A note event of a clip: MIDI note, start and length in seconds. */
export interface NoteEvent {
  note: number;
  start: number;
  duration: number;
}

/** The condition transformations drawn for a clip (all neutral when transforms are off). */
export interface ClipTransforms {
  /**
   * Sampler transposition, semitones: the sample zone meant for note + k is played k semitones down
   * (pitch unchanged; formants move down as in a larger instrument for k > 0, up as in a smaller one
   * for k < 0). 0 = none.
   */
  formantShift: number;
  /**
   * Sound controllers, 0–127, 64 = as recorded: CC73 attack, CC75 decay, CC72 release, CC74
   * brightness, CC71 resonance, CC76 vibrato rate (±1.9 Hz over 52–76; models likewise).
   */
  attack: number;
  decay: number;
  release: number;
  brightness: number;
  resonance: number;
  vibratoRate: number;
  /** Equaliser bands applied at the output rate. */
  eq: EqBand[];
  /** Soft-saturation drive (0 = none). */
  saturation: number;
  /** Synthetic room (undefined = dry or Freeverb per `reverb`). */
  room?: RoomParams;
}

/** Everything drawn for one clip; rendering it is deterministic. */
export interface ClipPlan {
  preset: TimbrePreset;
  velocity: number;
  notes: NoteEvent[];
  pattern: Pattern;
  /** CC1 modulation wheel (vibrato depth), 0–127; models: 50·v/127 cents at the model's rate. */
  vibrato: number;
  /** Pitch bend target in semitones (reached linearly over the bend span), 0 = none. */
  bendSemitones: number;
  bendStart: number;
  bendEnd: number;
  /** Freeverb and chorus amounts, 0–127 (0 and 0: effects off). */
  reverb: number;
  chorus: number;
  /** Peak level of the written clip in dBFS. */
  gainDb: number;
  transforms: ClipTransforms;
  /** A model's drawn instrument (kind `model`). */
  modelParams?: Record<string, number>;
  /** Seed label of a model's noise (breath, bow, pluck). */
  noiseSeed: string;
  /** A second timbre playing the same notes (absent: none; see {@link ClipLayer}). */
  layer?: ClipLayer;
}

/**
 * A layered patch: a second preset of the clip's class and source group plays the clip's notes
 * (same velocity, expression and sound controllers), slightly detuned and late, as a doubled part or
 * a sampler's layered program. It is mixed in before the equaliser, saturation and room, which the
 * sum goes through together, so the layer sounds from the same place.
 */
export interface ClipLayer {
  /** The second preset (may be the first one: then its other sample zones, via `formantShift`). */
  preset: TimbrePreset;
  /** The layer's own sampler transposition, semitones (see {@link ClipTransforms.formantShift}). */
  formantShift: number;
  /** Its tuning against the main part, cents. */
  detuneCents: number;
  /** Its onsets' delay after the main part's, seconds. */
  delay: number;
  /** Its RMS level against the main part's RMS, dB. */
  gainDb: number;
  /** A model's drawn instrument (kind `model`). */
  modelParams?: Record<string, number>;
}

/** What {@link planClip} draws besides the timbre and notes. */
export interface PlanOptions {
  /** Draw condition transformations (default true). */
  transforms?: boolean;
  /** The output rate the transformations are drawn for (Hz, default 16000). */
  sampleRate?: number;
  /** The clip's seed label (names the room's and the model's noise streams). */
  label?: string;
  /** Probability that the clip is layered (see {@link ClipLayer}; default 0). */
  layers?: number;
}

/** A group's timbres of one class and the group's weight. */
export interface GroupTimbres {
  group: string;
  weight: number;
  presets: TimbrePreset[];
}

const MAJOR = [0, 2, 4, 5, 7, 9, 11, 12];
const MINOR = [0, 2, 3, 5, 7, 8, 10, 12];
const CHORDS = [
  [0, 4, 7],
  [0, 3, 7],
  [0, 4, 7, 10],
  [0, 3, 7, 10],
  [0, 4, 7, 11],
];

/** Draws an item by weight (weights ≥ 0, not all 0). */
function weighted<T>(rng: Random, items: readonly T[], weightOf: (item: T) => number): T {
  const total = items.reduce((s, x) => s + weightOf(x), 0);
  let u = rng.float() * total;
  for (const item of items) {
    u -= weightOf(item);
    if (u < 0) return item;
  }
  return items[items.length - 1]!;
}

/** Draws the notes of a clip: pattern, pitches within [lo, hi], onsets and lengths in `seconds`. */
function drawNotes(rng: Random, pattern: Pattern, lo: number, hi: number, seconds: number): NoteEvent[] {
  const usable = seconds * 0.92; // leave a short tail for the release
  const notes: NoteEvent[] = [];
  // Note length as a fraction of its step: staccato (0.15) to overlapping legato (1.0).
  const legato = rng.uniform(0.15, 1);
  const clamp = (n: number): number => Math.max(lo, Math.min(hi, n));
  if (pattern === "held") {
    notes.push({ note: rng.intBetween(lo, hi), start: 0, duration: usable * rng.uniform(0.3, 1) });
  } else if (pattern === "repeated" || pattern === "staccato") {
    const note = rng.intBetween(lo, hi);
    const count = rng.intBetween(2, Math.max(2, Math.round(seconds * (pattern === "staccato" ? 6 : 4))));
    const step = usable / count;
    const length = pattern === "staccato" ? rng.uniform(0.05, 0.35) : legato;
    for (let i = 0; i < count; i++) notes.push({ note, start: i * step, duration: step * length });
  } else if (pattern === "scale") {
    const steps = rng.bool() ? MAJOR : MINOR;
    const count = rng.intBetween(3, 8);
    const span = steps[count - 1]!;
    const root = rng.intBetween(lo, Math.max(lo, hi - span));
    const down = rng.bool();
    const step = usable / count;
    for (let i = 0; i < count; i++) {
      notes.push({
        note: clamp(root + steps[down ? count - 1 - i : i]!),
        start: i * step,
        duration: step * legato,
      });
    }
  } else if (pattern === "arpeggio" || pattern === "chord") {
    const chord = rng.choice(CHORDS);
    if (pattern === "chord") {
      const root = rng.intBetween(lo, Math.max(lo, hi - 12));
      const strikes = rng.intBetween(1, 3);
      const step = usable / strikes;
      for (let s = 0; s < strikes; s++) {
        for (const interval of chord)
          notes.push({ note: clamp(root + interval), start: s * step, duration: step * legato });
      }
    } else {
      const count = rng.intBetween(3, 8);
      const tones = Array.from(
        { length: count },
        (_, i) => chord[i % chord.length]! + 12 * Math.floor(i / chord.length),
      );
      const root = rng.intBetween(lo, Math.max(lo, hi - tones[tones.length - 1]!));
      const step = usable / count;
      const sustainAll = rng.bool(0.3);
      for (let i = 0; i < count; i++) {
        const start = i * step;
        notes.push({
          note: clamp(root + tones[i]!),
          start,
          duration: sustainAll ? usable - start : step * legato,
        });
      }
    }
  } else if (pattern === "melody") {
    // A random walk in a scale with uneven note lengths (1–3 units) and the odd rest.
    const steps = rng.bool() ? MAJOR : MINOR;
    const units: number[] = [];
    let total = 0;
    while (total < 8) {
      const u = rng.choice([1, 1, 2, 2, 3]);
      units.push(u);
      total += u;
    }
    const unit = usable / total;
    let degree = rng.intBetween(0, 7);
    const root = rng.intBetween(lo, Math.max(lo, hi - 12));
    let t = 0;
    for (const u of units) {
      if (!rng.bool(0.15))
        notes.push({ note: clamp(root + steps[degree]!), start: t, duration: u * unit * legato });
      t += u * unit;
      degree = Math.max(0, Math.min(7, degree + rng.intBetween(-2, 2)));
    }
    if (notes.length === 0) notes.push({ note: clamp(root), start: 0, duration: usable * legato });
  } else {
    // trill: two neighbouring notes alternating fast
    const a = rng.intBetween(lo, Math.max(lo, hi - 2));
    const b = clamp(a + rng.intBetween(1, 2));
    const rate = rng.uniform(6, 12);
    const count = Math.max(2, Math.floor(usable * rate));
    const step = usable / count;
    for (let i = 0; i < count; i++)
      notes.push({ note: i % 2 === 0 ? a : b, start: i * step, duration: step * 0.95 });
  }
  return notes;
}

/** Draws the condition transformations (neutral when `enabled` is false). */
function drawTransforms(
  rng: Random,
  preset: TimbrePreset,
  sampleRate: number,
  label: string,
  enabled: boolean,
): ClipTransforms {
  const neutral: ClipTransforms = {
    formantShift: 0,
    attack: 64,
    decay: 64,
    release: 64,
    brightness: 64,
    resonance: 64,
    vibratoRate: 64,
    eq: [],
    saturation: 0,
  };
  if (!enabled) return neutral;
  const sampler = preset.kind !== "model";
  // Sound controllers 71–75 act on sound banks only: a model's are drawn (the stream stays the same)
  // but left neutral, so the manifest lists only what was applied.
  const cc = (p: number, lo: number, hi: number, banksOnly = true): number => {
    const value = rng.bool(p) ? rng.intBetween(lo, hi) : 64;
    return sampler || !banksOnly ? value : 64;
  };
  const room = drawRoom(rng.fork("room"), `${label}/room`);
  const shift = rng.bool(0.5) ? rng.choice([-4, -3, -2, -1, 1, 2, 3, 4]) : 0;
  return {
    formantShift: sampler && preset.singleSample !== true ? shift : 0,
    attack: cc(0.3, 40, 100),
    decay: cc(0.2, 30, 100),
    release: cc(0.3, 30, 100),
    brightness: cc(0.35, 30, 90),
    resonance: cc(0.15, 64, 100),
    eq: rng.bool(0.75) ? drawEq(rng.fork("eq"), sampleRate) : [],
    saturation: rng.bool(0.15) ? Math.round(rng.uniform(0.5, 4) * 1000) / 1000 : 0,
    ...(room !== undefined ? { room } : {}),
    vibratoRate: cc(0.4, 52, 76, false),
  };
}

/**
 * Draws a clip of `seconds` for instrument `cls` from `rng`: a group (by group weight), a preset of
 * it (by preset weight), the notes, expression, effects and transformations.
 * A layer is drawn from its own stream (`rng.fork("layer")`), so with `layers` 0 every other
 * choice is what it was before layers existed.
 * @param groups the class's timbres per group (see catalogue.ts); at least one preset
 */
export function planClip(
  rng: Random,
  cls: InstrumentClass,
  groups: readonly GroupTimbres[],
  seconds: number,
  options: PlanOptions = {},
): ClipPlan {
  const usable = groups.filter((g) => g.weight > 0 && g.presets.length > 0);
  if (usable.length === 0) {
    throw new DataError(
      `class ${cls.name}: none of the sources (${groups.map((g) => g.group).join(", ")}) has a preset of it`,
    );
  }
  const group = weighted(rng, usable, (g) => g.weight);
  const preset = weighted(rng, group.presets, (p) => p.weight);
  const [lo, hi] = preset.range;
  const velocity = rng.intBetween(30, 127);
  const allowed: Pattern[] = ["held", "repeated", "scale", "arpeggio", "melody", "staccato", "trill"];
  if (cls.polyphonic) allowed.push("chord");
  const patterns = allowed.filter((p) => preset.patterns === undefined || preset.patterns.includes(p));
  const pattern = rng.choice(patterns);
  const notes = drawNotes(rng.fork("notes"), pattern, lo, hi, seconds);
  const vibrato = cls.sustained && rng.bool(0.6) ? rng.intBetween(10, 100) : 0;
  const bend = cls.sustained && rng.bool(0.25);
  const bendSemitones = bend ? rng.uniform(-2, 2) : 0;
  const bendStart = bend ? rng.uniform(0, seconds * 0.5) : 0;
  const bendEnd = bend ? bendStart + rng.uniform(0.05, seconds * 0.4) : 0;
  const label = options.label ?? "clip";
  const transforms = drawTransforms(
    rng.fork("transforms"),
    preset,
    options.sampleRate ?? 16000,
    label,
    options.transforms ?? true,
  );
  const wet = transforms.room === undefined && rng.bool(0.5);
  const reverb = wet ? rng.intBetween(0, 110) : 0;
  const chorus = rng.bool(0.25) ? rng.intBetween(5, 90) : 0;
  const gainDb = rng.uniform(-18, -1);
  const layers = options.layers ?? 0;
  const layer = layers > 0 ? drawLayer(rng.fork("layer"), layers, cls, group, pattern, notes) : undefined;
  return {
    preset,
    velocity,
    notes,
    pattern,
    vibrato,
    bendSemitones: Math.round(bendSemitones * 100) / 100,
    bendStart,
    bendEnd,
    reverb,
    chorus,
    gainDb,
    transforms,
    ...(preset.model !== undefined
      ? { modelParams: drawModelParams(rng.fork("model"), preset.model, cls.name) }
      : {}),
    noiseSeed: `${label}/noise`,
    ...(layer !== undefined ? { layer } : {}),
  };
}

/**
 * Draws a clip's layer with probability `probability`: a preset of the same group (by weight) that
 * can play the clip's pattern and every one of its notes (the main preset always can), its own formant
 * shift (samplers), a detune of 4–20 cents either way, an onset delay of 0–30 ms and a level of
 * −12…0 dB against the main part.
 */
function drawLayer(
  rng: Random,
  probability: number,
  cls: InstrumentClass,
  group: GroupTimbres,
  pattern: Pattern,
  notes: readonly NoteEvent[],
): ClipLayer | undefined {
  if (!rng.bool(probability)) return undefined;
  const lowest = Math.min(...notes.map((n) => n.note));
  const highest = Math.max(...notes.map((n) => n.note));
  const fits = group.presets.filter(
    (p) =>
      p.range[0] <= lowest &&
      p.range[1] >= highest &&
      (p.patterns === undefined || p.patterns.includes(pattern)),
  );
  if (fits.length === 0) return undefined;
  const preset = weighted(rng, fits, (p) => p.weight);
  const sampler = preset.kind !== "model" && preset.singleSample !== true;
  const detune = rng.uniform(4, 20) * (rng.bool() ? 1 : -1);
  return {
    preset,
    formantShift: sampler ? rng.choice([-3, -2, -1, 0, 1, 2, 3]) : 0,
    detuneCents: Math.round(detune * 10) / 10,
    delay: Math.round(rng.uniform(0, 0.03) * 1000) / 1000,
    gainDb: Math.round(rng.uniform(-12, 0) * 10) / 10,
    ...(preset.model !== undefined
      ? { modelParams: drawModelParams(rng.fork("model"), preset.model, cls.name) }
      : {}),
  };
}

/**
 * Loads a soundfont file. Waits first for spessasynth's Ogg Vorbis decoder (a WebAssembly module that
 * starts asynchronously): SF3 banks such as MuseScore_General.sf3 hold compressed samples, and a
 * sample decoded before the decoder is ready comes out as silence, so MuseScore clips were silent or
 * not, depending on timing.
 * @throws DataError naming the file when it cannot be parsed or its compressed samples cannot be decoded
 */
export async function loadSoundBank(path: string): Promise<BasicSoundBank> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new DataError(`${path}: cannot read soundfont (${(error as Error).message})`, { cause: error });
  }
  return loadSoundBankBytes(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    path,
  );
}

/** {@link loadSoundBank} from a file's bytes; `name` names it in errors. */
export async function loadSoundBankBytes(bytes: ArrayBuffer, name: string): Promise<BasicSoundBank> {
  await BasicSoundBank.isSF3DecoderReady;
  try {
    return SoundBankLoader.fromArrayBuffer(bytes);
  } catch (error) {
    throw new DataError(`${name}: cannot load soundfont (${(error as Error).message})`, { cause: error });
  }
}

/** The private engine field we reset (spessasynth_core 4.3: `SpessaSynthProcessor.synthCore`). */
interface SynthCoreAccess {
  synthCore?: { currentTime: number };
}

/**
 * Renders planned clips, reusing one dry spessasynth processor per sound bank (creating one took
 * ~6 ms, a third of a dry clip). Between clips the processor is returned to its initial state: all
 * voices killed (`stopAllChannels(true)`), `reset()` (controllers, program, pitch wheel), and its
 * clock set back to 0, so a clip renders to the same bytes whatever was rendered before it
 * (test/synth.test.ts checks this against a fresh renderer), hence the same bytes for any --jobs.
 */
export class ClipRenderer {
  readonly #synths = new Map<BasicSoundBank, SpessaSynthProcessor>();
  #left = new Float32Array(0);
  #right = new Float32Array(0);

  #synthFor(bank: BasicSoundBank): SpessaSynthProcessor {
    let synth = this.#synths.get(bank);
    if (synth === undefined) {
      synth = new SpessaSynthProcessor(RENDER_RATE, {
        maxBufferSize: BLOCK,
        effectsEnabled: false,
        eventsEnabled: false,
      });
      synth.soundBankManager.addSoundBank(bank, "main");
      this.#synths.set(bank, synth);
    } else {
      synth.stopAllChannels(true);
      synth.reset();
      const core = (synth as unknown as SynthCoreAccess).synthCore;
      if (core === undefined || typeof core.currentTime !== "number") {
        throw new Error("ClipRenderer: spessasynth_core changed (no synthCore.currentTime); pin 4.3.x");
      }
      core.currentTime = 0;
    }
    return synth;
  }

  /**
   * Renders a planned clip at 32 kHz — a sound bank's preset through spessasynth (events at
   * 128-sample block boundaries, 4 ms; dry stereo, then mono), or our model (`bank` undefined), plus
   * the plan's layer when it has one (the same bank: the layer is of the clip's group) — then
   * resamples to `sampleRate`, cuts to `seconds`, and applies chorus, equaliser, saturation and the
   * room or Freeverb (effects.ts, transforms.ts). Returns the unnormalised mono signal,
   * `seconds · sampleRate` samples.
   * @throws Error when the bank lacks the plan's preset (a catalogue bug, not user input)
   */
  render(
    bank: BasicSoundBank | undefined,
    plan: ClipPlan,
    seconds: number,
    sampleRate: number,
  ): Float32Array {
    const frames = Math.round(seconds * RENDER_RATE);
    const mono = this.#renderPart(bank, plan, seconds, frames, 0);
    const layer = plan.layer;
    if (layer !== undefined) {
      addAtLevel(
        mono,
        this.#renderPart(bank, layerPart(plan, layer), seconds, frames, layer.detuneCents),
        layer.gainDb,
      );
    }
    const out = fixLength(
      sampleRate === RENDER_RATE ? mono : resample(mono, RENDER_RATE, sampleRate, DECIMATION_FILTER),
      Math.round(seconds * sampleRate),
    );
    const t = plan.transforms;
    applyChorus(out, sampleRate, plan.chorus);
    applyEq(out, sampleRate, t.eq);
    applySaturation(out, t.saturation);
    if (t.room !== undefined) applyRoom(out, sampleRate, t.room);
    else applyReverb(out, sampleRate, plan.reverb);
    return out;
  }

  /** One part at 32 kHz, `frames` long: the plan's preset playing its notes, `cents` detuned. */
  #renderPart(
    bank: BasicSoundBank | undefined,
    plan: ClipPlan,
    seconds: number,
    frames: number,
    cents: number,
  ): Float32Array {
    // A model renders round(seconds · 32 kHz) = `frames` samples, as a bank does.
    return bank === undefined
      ? this.#renderModel(plan, seconds, cents)
      : this.#renderBank(bank, plan, frames, cents);
  }

  #renderModel(plan: ClipPlan, seconds: number, cents: number): Float32Array {
    const model = plan.preset.model;
    const params = plan.modelParams;
    if (model === undefined || params === undefined)
      throw new Error(`plan for ${plan.preset.name} has no model`);
    const depth = (0.5 * plan.vibrato) / 127; // semitones, as the SF2 default CC1 → 50 cents
    // CC76 as spessasynth maps it: (v/64 − 1) · 10 Hz added to the vibrato rate.
    const rate = (params.vibratoHz ?? 5.5) + (plan.transforms.vibratoRate / 64 - 1) * 10;
    return renderModel(
      {
        model,
        notes: plan.notes,
        velocity: plan.velocity,
        pitchAt: (t) =>
          cents / 100 + depth * Math.sin(2 * Math.PI * rate * t) * Math.min(1, t / 0.3) + bendAt(plan, t),
        params,
      },
      seconds,
      RENDER_RATE,
      new Random(plan.noiseSeed),
    );
  }

  #renderBank(bank: BasicSoundBank, plan: ClipPlan, frames: number, cents: number): Float32Array {
    const synth = this.#synthFor(bank);
    const { preset, transforms: t } = plan;
    synth.controllerChange(0, 0, preset.bank);
    synth.programChange(0, preset.program);
    const channel = synth.midiChannels[0]!;
    if (channel.preset?.bankMSB !== preset.bank || channel.preset.program !== preset.program) {
      throw new Error(
        `ClipRenderer: asked for bank ${preset.bank} program ${preset.program} (${preset.name}), got ${channel.preset?.name ?? "none"}`,
      );
    }
    synth.controllerChange(0, 1, plan.vibrato);
    // CC2 (breath) at the velocity: MuseScore's expressive banks (17, 18) take their loudness and
    // brightness from it and are silent at 0; other presets ignore it.
    synth.controllerChange(0, 2, plan.velocity);
    synth.controllerChange(0, 73, t.attack);
    synth.controllerChange(0, 75, t.decay);
    synth.controllerChange(0, 72, t.release);
    synth.controllerChange(0, 74, t.brightness);
    synth.controllerChange(0, 71, t.resonance);
    synth.controllerChange(0, 76, t.vibratoRate);
    // The zone of note + k, tuned k semitones down: the same pitch from a differently sized sample.
    channel.setSystemParameter("fineTune", cents - 100 * t.formantShift);
    type Ev = { at: number; run: () => void };
    const events: Ev[] = [];
    for (const n of plan.notes) {
      const key = Math.max(0, Math.min(127, n.note + t.formantShift));
      events.push({ at: Math.round(n.start * RENDER_RATE), run: () => synth.noteOn(0, key, plan.velocity) });
      events.push({ at: Math.round((n.start + n.duration) * RENDER_RATE), run: () => synth.noteOff(0, key) });
    }
    if (plan.bendSemitones !== 0) {
      const a = Math.round(plan.bendStart * RENDER_RATE);
      const b = Math.max(a + BLOCK, Math.round(plan.bendEnd * RENDER_RATE));
      for (let at = a; at <= b; at += BLOCK * 4) {
        const frac = Math.min(1, (at - a) / (b - a));
        const value = Math.max(0, Math.min(16383, Math.round(8192 + (plan.bendSemitones / 2) * 8191 * frac)));
        events.push({ at, run: () => synth.pitchWheel(0, value) });
      }
    }
    events.sort((x, y) => x.at - y.at); // stable: equal times keep their order
    if (this.#left.length < frames) {
      this.#left = new Float32Array(frames);
      this.#right = new Float32Array(frames);
    }
    const left = this.#left.subarray(0, frames);
    const right = this.#right.subarray(0, frames);
    left.fill(0); // process() adds into its outputs
    right.fill(0);
    let e = 0;
    for (let i = 0; i < frames; i += BLOCK) {
      while (e < events.length && events[e]!.at < i + BLOCK) events[e++]!.run();
      synth.process(left, right, i, Math.min(BLOCK, frames - i));
    }
    const mono = new Float32Array(frames);
    for (let i = 0; i < frames; i++) mono[i] = 0.5 * (left[i]! + right[i]!);
    return mono;
  }
}

/**
 * The plan of a clip's layer as a part of its own: the layer's preset, formant shift and model, the
 * clip's notes and bend `layer.delay` later, its own noise stream.
 */
function layerPart(plan: ClipPlan, layer: ClipLayer): ClipPlan {
  const { layer: _, modelParams: __, ...main } = plan;
  const later = (t: number): number => t + layer.delay;
  return {
    ...main,
    preset: layer.preset,
    notes: plan.notes.map((n) => ({ ...n, start: later(n.start) })),
    bendStart: later(plan.bendStart),
    bendEnd: later(plan.bendEnd),
    transforms: { ...plan.transforms, formantShift: layer.formantShift },
    ...(layer.modelParams !== undefined ? { modelParams: layer.modelParams } : {}),
    noiseSeed: `${plan.noiseSeed}/layer`,
  };
}

/**
 * Adds `part` into `main` (same length) at `gainDb` relative to main's RMS. A silent main part stays
 * as it is (the clip is re-drawn as silent), and so does main when the part is silent.
 */
export function addAtLevel(main: Float32Array, part: Float32Array, gainDb: number): void {
  const rms = (x: Float32Array): number => {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
    return Math.sqrt(sum / Math.max(1, x.length));
  };
  const [a, b] = [rms(main), rms(part)];
  if (!(a > 0 && b > 0)) return;
  const scale = (a / b) * 10 ** (gainDb / 20);
  for (let i = 0; i < main.length; i++) main[i] = main[i]! + scale * part[i]!;
}

/** The plan's pitch bend at `t` seconds, semitones (linear over the bend span, then held). */
function bendAt(plan: ClipPlan, t: number): number {
  if (plan.bendSemitones === 0 || t < plan.bendStart) return 0;
  const span = Math.max(1e-3, plan.bendEnd - plan.bendStart);
  return plan.bendSemitones * Math.min(1, (t - plan.bendStart) / span);
}

/** Renders one clip with a fresh {@link ClipRenderer} (see there). */
export function renderClip(
  bank: BasicSoundBank | undefined,
  plan: ClipPlan,
  seconds: number,
  sampleRate: number,
): Float32Array {
  return new ClipRenderer().render(bank, plan, seconds, sampleRate);
}

/** Peak |x| of a signal. */
export function peakOf(x: Float32Array): number {
  let p = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > p) p = a;
  }
  return p;
}
