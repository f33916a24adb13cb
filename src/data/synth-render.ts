/**
 * One synthesized clip: the random musical choices (pure, from a seeded stream) and their rendering
 * with spessasynth_core. Used by synth.ts in the main thread and in workers.
 */
import { readFileSync } from "node:fs";
import { BasicSoundBank, SoundBankLoader, SpessaLog, SpessaSynthProcessor } from "spessasynth_core";
import { fixLength, resample } from "../audio/index.js";
import type { Random } from "../util/random.js";
import { DataError } from "./errors.js";
import { applyChorus, applyReverb } from "./synth-effects.js";
import type { InstrumentClass } from "./instruments.js";

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

/** Everything drawn for one clip; rendering it is deterministic. */
export interface ClipPlan {
  soundfont: string;
  program: number;
  velocity: number;
  notes: NoteEvent[];
  pattern: "held" | "repeated" | "scale" | "arpeggio" | "chord";
  /** CC1 modulation wheel (vibrato depth), 0–127. */
  vibrato: number;
  /** Pitch bend target in semitones (reached linearly over the bend span), 0 = none. */
  bendSemitones: number;
  bendStart: number;
  bendEnd: number;
  /** CC91 reverb send and CC93 chorus send, 0–127 (0 and 0: effects off). */
  reverb: number;
  chorus: number;
  /** Peak level of the written clip in dBFS. */
  gainDb: number;
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

/**
 * Draws a clip of `seconds` for instrument `cls` from `rng`. `soundfonts` are the ids available;
 * `hasProgram(sf, program)` says whether a soundfont has that GM preset (missing ones are re-drawn).
 */
export function planClip(
  rng: Random,
  cls: InstrumentClass,
  soundfonts: readonly string[],
  hasProgram: (soundfont: string, program: number) => boolean,
  seconds: number,
): ClipPlan {
  const pairs = soundfonts.flatMap((sf) =>
    cls.programs.filter((p) => hasProgram(sf, p)).map((p) => [sf, p] as const),
  );
  if (pairs.length === 0) {
    throw new DataError(
      `class ${cls.name}: none of the soundfonts (${soundfonts.join(", ")}) has GM program ${cls.programs.join("/")}`,
    );
  }
  const [soundfont, program] = rng.choice(pairs);
  const [lo, hi] = cls.rangeByProgram?.[program] ?? cls.range;
  const velocity = rng.intBetween(30, 127);
  const patterns: ClipPlan["pattern"][] = ["held", "repeated", "scale", "arpeggio"];
  if (cls.polyphonic) patterns.push("chord");
  const pattern = rng.choice(patterns);
  const usable = seconds * 0.92; // leave a short tail for the release
  const notes: NoteEvent[] = [];
  const legato = rng.uniform(0.5, 0.98);
  if (pattern === "held") {
    notes.push({ note: rng.intBetween(lo, hi), start: 0, duration: usable * rng.uniform(0.55, 1) });
  } else if (pattern === "repeated") {
    const note = rng.intBetween(lo, hi);
    const count = rng.intBetween(2, Math.max(2, Math.round(seconds * 4)));
    const step = usable / count;
    for (let i = 0; i < count; i++) notes.push({ note, start: i * step, duration: step * legato });
  } else if (pattern === "scale") {
    const steps = rng.bool() ? MAJOR : MINOR;
    const count = rng.intBetween(3, 8);
    const span = steps[count - 1]!;
    const root = rng.intBetween(lo, Math.max(lo, hi - span));
    const down = rng.bool();
    const step = usable / count;
    for (let i = 0; i < count; i++) {
      const note = root + steps[down ? count - 1 - i : i]!;
      notes.push({ note: Math.min(hi, note), start: i * step, duration: step * legato });
    }
  } else if (pattern === "arpeggio") {
    const chord = rng.choice(CHORDS);
    const count = rng.intBetween(3, 8);
    const tones = Array.from(
      { length: count },
      (_, i) => chord[i % chord.length]! + 12 * Math.floor(i / chord.length),
    );
    const span = tones[tones.length - 1]!;
    const root = rng.intBetween(lo, Math.max(lo, hi - span));
    const step = usable / count;
    const sustainAll = cls.polyphonic && rng.bool(0.5);
    for (let i = 0; i < count; i++) {
      const start = i * step;
      notes.push({
        note: Math.min(hi, root + tones[i]!),
        start,
        duration: sustainAll ? usable - start : step * legato,
      });
    }
  } else {
    const chord = rng.choice(CHORDS);
    const root = rng.intBetween(lo, Math.max(lo, hi - 12));
    const strikes = rng.intBetween(1, 3);
    const step = usable / strikes;
    for (let s = 0; s < strikes; s++) {
      for (const interval of chord)
        notes.push({ note: Math.min(hi, root + interval), start: s * step, duration: step * legato });
    }
  }
  const vibrato = cls.sustained && rng.bool(0.6) ? rng.intBetween(10, 100) : 0;
  const bend = cls.sustained && rng.bool(0.25);
  const bendSemitones = bend ? rng.uniform(-2, 2) : 0;
  const bendStart = bend ? rng.uniform(0, seconds * 0.5) : 0;
  const bendEnd = bend ? bendStart + rng.uniform(0.05, seconds * 0.4) : 0;
  const wet = rng.bool(0.5);
  const reverb = wet ? rng.intBetween(0, 110) : 0;
  const chorus = wet && rng.bool(0.5) ? rng.intBetween(5, 90) : 0;
  const gainDb = rng.uniform(-18, -1);
  return {
    soundfont,
    program,
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
  await BasicSoundBank.isSF3DecoderReady;
  try {
    const bytes = readFileSync(path);
    return SoundBankLoader.fromArrayBuffer(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
  } catch (error) {
    throw new DataError(`${path}: cannot load soundfont (${(error as Error).message})`, { cause: error });
  }
}

/** True when `bank` has the melodic GM preset `program` in bank 0. */
export function bankHasProgram(bank: BasicSoundBank, program: number): boolean {
  return bank.presets.some((p) => p.program === program && p.bankMSB === 0 && !p.isGMGSDrum);
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
   * Renders a planned clip: events at 128-sample block boundaries (4 ms), dry stereo at 32 kHz, then
   * mono, resampled to `sampleRate`, cut to `seconds`, then our chorus and reverb (synth-effects.ts)
   * at the plan's CC93 / CC91 amounts. Returns the unnormalised mono signal, `seconds · sampleRate`
   * samples.
   */
  render(bank: BasicSoundBank, plan: ClipPlan, seconds: number, sampleRate: number): Float32Array {
    const synth = this.#synthFor(bank);
    synth.programChange(0, plan.program);
    synth.controllerChange(0, 1, plan.vibrato);
    type Ev = { at: number; run: () => void };
    const events: Ev[] = [];
    for (const n of plan.notes) {
      events.push({
        at: Math.round(n.start * RENDER_RATE),
        run: () => synth.noteOn(0, n.note, plan.velocity),
      });
      events.push({
        at: Math.round((n.start + n.duration) * RENDER_RATE),
        run: () => synth.noteOff(0, n.note),
      });
    }
    if (plan.bendSemitones !== 0) {
      const a = Math.round(plan.bendStart * RENDER_RATE);
      const b = Math.max(a + BLOCK, Math.round(plan.bendEnd * RENDER_RATE));
      for (let t = a; t <= b; t += BLOCK * 4) {
        const frac = Math.min(1, (t - a) / (b - a));
        const value = Math.max(0, Math.min(16383, Math.round(8192 + (plan.bendSemitones / 2) * 8191 * frac)));
        events.push({ at: t, run: () => synth.pitchWheel(0, value) });
      }
    }
    events.sort((x, y) => x.at - y.at); // stable: equal times keep their order
    const frames = Math.round(seconds * RENDER_RATE);
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
    const out = fixLength(
      sampleRate === RENDER_RATE ? mono : resample(mono, RENDER_RATE, sampleRate, DECIMATION_FILTER),
      Math.round(seconds * sampleRate),
    );
    applyChorus(out, sampleRate, plan.chorus);
    applyReverb(out, sampleRate, plan.reverb);
    return out;
  }
}

/** Renders one clip with a fresh {@link ClipRenderer} (see there). */
export function renderClip(
  bank: BasicSoundBank,
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
