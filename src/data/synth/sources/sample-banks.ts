/**
 * Turns the recorded sample libraries into SF2 sound banks, once per `synth` run (never per clip), so
 * they render through the same spessasynth path as the soundfonts (key zones, loops, envelopes,
 * vibrato, the transformations' controllers):
 * - `salamander`: Salamander Grand Piano V3, 30 notes a minor third apart (48 kHz stereo OGG,
 *   decoded with audio-decode), mixed to mono and cut to 8 s with a 0.3 s fade;
 * - `grandorgue`: the 7 stops of GrandOrgue's demo organ (a stored zip of WavPack pipes, two per
 *   octave, 44.1 kHz stereo, decoded with `wvunpack`), looped as their `smpl` chunks say and released
 *   through the recorded tail (SF2 loop mode 3), plus 4 registrations that sound stops together;
 * - `sonicpi`: Sonic Pi's four guitar recordings (FLAC phrases: E fifths, a slide, harmonics, an Em9
 *   chord), each one preset that holds one note near its recorded pitch.
 * The bank is written as SF2 bytes (16-bit samples) and loaded back, in the main thread and in every
 * worker alike, so a clip's bytes do not depend on `--jobs`.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  BasicInstrument,
  BasicPreset,
  BasicSample,
  BasicSoundBank,
  GeneratorTypes,
  SampleTypes,
} from "spessasynth_core";
import { decodeAudioFile, downmixToMono } from "../../../audio/index.js";
import { DataError } from "../../errors.js";
import type { SampleBankPreset } from "./catalogue.js";
import { decodeWavPack } from "./wavpack.js";
import { readStoredZip } from "./zip.js";

/** A sample library made into an SF2 bank. */
export interface BuiltBank {
  group: string;
  /** The SF2 file's bytes. */
  bytes: ArrayBuffer;
  presets: SampleBankPreset[];
}

/** One recorded note for the bank: mono audio and where it sits on the keyboard. */
interface NoteSample {
  name: string;
  audio: Float32Array;
  sampleRate: number;
  /** MIDI note the sample sounds at (unity pitch), and its offset in cents. */
  root: number;
  cents?: number;
  loop?: [number, number];
}

/** Seconds to timecents (SF2 envelope times). */
const timecents = (seconds: number): number => Math.round(1200 * Math.log2(seconds));
const NOTE_NAMES: Record<string, number> = {
  C: 0,
  "C#": 1,
  D: 2,
  "D#": 3,
  E: 4,
  F: 5,
  "F#": 6,
  G: 7,
  "G#": 8,
  A: 9,
  "A#": 10,
  B: 11,
};

/** MIDI note of a name such as "F#4" or "A0" (C4 = 60). */
export function noteNumber(name: string): number | undefined {
  const m = /^([A-G]#?)(-?\d)$/.exec(name);
  if (m === null) return undefined;
  return 12 * (Number(m[2]) + 1) + NOTE_NAMES[m[1]!]!;
}

/** Cuts `x` to `seconds` with a linear fade over its last `fade` seconds (no cut when shorter). */
function cutWithFade(x: Float32Array, rate: number, seconds: number, fade: number): Float32Array {
  const n = Math.round(seconds * rate);
  if (x.length <= n) return x;
  const out = x.slice(0, n);
  const f = Math.round(fade * rate);
  for (let i = 0; i < f; i++) out[n - f + i] = out[n - f + i]! * (1 - (i + 1) / f);
  return out;
}

/**
 * Builds an instrument whose zones split the keyboard between `notes` (each from halfway to its
 * neighbours), with a release time and an SF2 sample mode.
 */
function addInstrument(
  bank: BasicSoundBank,
  name: string,
  notes: NoteSample[],
  options: { release: number; loopMode: 0 | 1 | 3; keyShift?: number },
): BasicInstrument {
  const sorted = notes.slice().sort((a, b) => a.root - b.root);
  // One gain for the whole instrument, its loudest sample peaking at 0.9: the recordings' levels
  // differ by up to 40 dB between libraries (GrandOrgue's Gamba rendered at −60 dBFS), while the
  // voicing across the keyboard stays as recorded.
  let peak = 0;
  for (const note of sorted) for (const v of note.audio) peak = Math.max(peak, Math.abs(v));
  const gain = peak > 0 ? 0.9 / peak : 1;
  const instrument = new BasicInstrument();
  instrument.name = name;
  sorted.forEach((note, i) => {
    const sample = new BasicSample(
      `${name} ${note.name}`.slice(0, 20),
      note.sampleRate,
      note.root,
      -Math.round(note.cents ?? 0),
      SampleTypes.monoSample,
      note.loop?.[0] ?? 0,
      note.loop?.[1] ?? note.audio.length - 1,
    );
    sample.setAudioData(
      note.audio.map((v) => v * gain),
      note.sampleRate,
    );
    bank.addSamples(sample);
    const zone = instrument.createZone(sample);
    const shift = options.keyShift ?? 0;
    const prev = sorted[i - 1];
    const next = sorted[i + 1];
    zone.keyRange = {
      min: prev === undefined ? 0 : Math.floor((prev.root + note.root) / 2) + 1 - shift,
      max: next === undefined ? 127 : Math.floor((note.root + next.root) / 2) - shift,
    };
    // A stop sounding above its keys (a 2' stop: +24): key k plays the sample at unity note k + shift.
    if (shift !== 0) zone.setGenerator(GeneratorTypes.overridingRootKey, note.root - shift);
    zone.setGenerator(GeneratorTypes.releaseVolEnv, timecents(options.release));
    zone.setGenerator(GeneratorTypes.sampleModes, note.loop === undefined ? 0 : options.loopMode);
  });
  bank.addInstruments(instrument);
  return instrument;
}

function addPreset(
  bank: BasicSoundBank,
  name: string,
  bankMSB: number,
  program: number,
  instruments: BasicInstrument[],
): void {
  const preset = new BasicPreset(bank);
  preset.name = name;
  preset.bankMSB = bankMSB;
  preset.program = program;
  for (const instrument of instruments) preset.createZone(instrument);
  bank.addPresets(preset);
}

function newBank(name: string): BasicSoundBank {
  const bank = new BasicSoundBank();
  bank.soundBankInfo.name = name;
  bank.soundBankInfo.creationDate = new Date(0); // the same bytes on every run
  return bank;
}

function finish(group: string, bank: BasicSoundBank, presets: SampleBankPreset[]): BuiltBank {
  bank.flush();
  return {
    group,
    bytes: bank.writeSF2({ writeDefaultModulators: false, writeExtendedLimits: false }),
    presets,
  };
}

async function decodeMono(path: string): Promise<{ audio: Float32Array; sampleRate: number }> {
  try {
    const decoded = await decodeAudioFile(path);
    return { audio: downmixToMono(decoded.channels), sampleRate: decoded.sampleRate };
  } catch (error) {
    throw new DataError(`${path}: cannot decode (${(error as Error).message})`, { cause: error });
  }
}

/** Salamander Grand Piano: `dir` holds `<note>v10.ogg` (A0 … C8). */
export async function buildSalamander(dir: string): Promise<BuiltBank> {
  const files = readdirSync(dir)
    .filter((f) => /^[A-G]#?\d+v\d+\.ogg$/.test(f))
    .sort();
  if (files.length === 0) throw new DataError(`${dir}: no Salamander samples (<note>v10.ogg) found`);
  const notes: NoteSample[] = [];
  for (const file of files) {
    const root = noteNumber(file.replace(/v\d+\.ogg$/, ""))!;
    const { audio, sampleRate } = await decodeMono(join(dir, file));
    notes.push({
      name: file.replace(/\.ogg$/, ""),
      audio: cutWithFade(audio, sampleRate, 8, 0.3),
      sampleRate,
      root,
    });
  }
  const bank = newBank("Salamander Grand Piano V3 (stemscope)");
  addPreset(bank, "Salamander Grand", 0, 0, [
    addInstrument(bank, "Salamander", notes, { release: 0.6, loopMode: 0 }),
  ]);
  return finish("salamander", bank, [
    { className: "piano", bank: 0, program: 0, gm: 0, name: "Salamander Grand", weight: 1 },
  ]);
}

/** Sounding pitch above the key of each GrandOrgue demo stop (its foot length: 8' = 0, 2' = +24). */
const ORGAN_STOPS: Record<string, number> = {
  Bourdon8: 0,
  FlHarm8: 0,
  Gamba8: 0,
  Hautbois8: 0,
  Montre8: 0,
  Octavin2: 24,
  Trompette8: 0,
};
/** Registrations: stops drawn together, as an organist would. */
const ORGAN_REGISTRATIONS: string[][] = [
  ["Montre8", "Octavin2"],
  ["Bourdon8", "FlHarm8"],
  ["Montre8", "Trompette8"],
  ["Bourdon8", "Gamba8", "Octavin2"],
];

/** GrandOrgue's demo organ: `path` is its `.orgue` package (a stored zip). */
export function buildGrandOrgue(path: string): BuiltBank {
  const members = readStoredZip(readFileSync(path), path);
  const bank = newBank("GrandOrgue demo organ (stemscope)");
  const presets: SampleBankPreset[] = [];
  const instruments = new Map<string, BasicInstrument>();
  for (const [stop, shift] of Object.entries(ORGAN_STOPS)) {
    const notes: NoteSample[] = [];
    for (const m of members.filter((x) => x.name.startsWith(`${stop}/`) && x.name.endsWith(".wav"))) {
      const decoded = decodeWavPack(m.data, `${path}:${m.name}`);
      const number = Number(/\/(\d+)-/.exec(m.name)?.[1]);
      const root = decoded.unityNote ?? number;
      if (!(root >= 0 && root < 128))
        throw new DataError(`${path}:${m.name}: no pitch (no smpl chunk, no note number)`);
      notes.push({
        name: m.name.slice(stop.length + 1, -4),
        audio: downmixToMono(decoded.channels),
        sampleRate: decoded.sampleRate,
        root,
        ...(decoded.unityCents !== undefined ? { cents: decoded.unityCents } : {}),
        ...(decoded.loop !== undefined ? { loop: decoded.loop } : {}),
      });
    }
    if (notes.length === 0) throw new DataError(`${path}: stop ${stop} has no pipes`);
    instruments.set(stop, addInstrument(bank, stop, notes, { release: 0.25, loopMode: 3, keyShift: shift }));
  }
  const stops = Object.keys(ORGAN_STOPS);
  const registrations = [...stops.map((s) => [s]), ...ORGAN_REGISTRATIONS];
  registrations.forEach((reg, i) => {
    const name = reg.join("+");
    addPreset(
      bank,
      name.slice(0, 20),
      i,
      19,
      reg.map((s) => instruments.get(s)!),
    );
    // A 2' stop alone sounds two octaves up: keep its keys lower.
    const high = reg.every((s) => ORGAN_STOPS[s]! > 0);
    presets.push({
      className: "organ",
      bank: i,
      program: 19,
      gm: 19,
      name,
      weight: 1,
      ...(high ? { range: [36, 72] as [number, number] } : {}),
    });
  });
  return finish("grandorgue", bank, presets);
}

/** Sonic Pi's guitar recordings: file, sounding root (MIDI), and a display name. */
const SONIC_PI_GUITARS = [
  { file: "guit_e_fifths.flac", root: 52, name: "E fifths" },
  { file: "guit_e_slide.flac", root: 52, name: "E slide" },
  { file: "guit_harmonics.flac", root: 71, name: "harmonics" },
  { file: "guit_em9.flac", root: 52, name: "Em9 chord" },
] as const;

/** Sonic Pi's guitars: `dir` is its samples folder. Each preset holds one note within ±4 semitones. */
export async function buildSonicPi(dir: string): Promise<BuiltBank> {
  const bank = newBank("Sonic Pi guitars (stemscope)");
  const presets: SampleBankPreset[] = [];
  let program = 0;
  for (const g of SONIC_PI_GUITARS) {
    const { audio, sampleRate } = await decodeMono(join(dir, g.file));
    const inst = addInstrument(
      bank,
      `Sonic Pi ${g.name}`,
      [{ name: g.name, audio, sampleRate, root: g.root }],
      {
        release: 0.4,
        loopMode: 0,
      },
    );
    addPreset(bank, `Sonic Pi ${g.name}`, 0, program, [inst]);
    presets.push({
      className: "guitar",
      bank: 0,
      program,
      gm: 25,
      name: `Sonic Pi ${g.name}`,
      weight: 1,
      range: [g.root - 4, g.root + 4],
      patterns: ["held", "repeated"],
      singleSample: true,
    });
    program++;
  }
  return finish("sonicpi", bank, presets);
}

/** Builds the bank of a sample-library group (see the module comment). */
export async function buildSampleBank(group: string, path: string): Promise<BuiltBank> {
  if (group === "salamander") return buildSalamander(path);
  if (group === "grandorgue") return buildGrandOrgue(path);
  if (group === "sonicpi") return buildSonicPi(path);
  throw new DataError(`no sample-library builder for group "${group}"`);
}
