import { existsSync } from "node:fs";
import { basename, extname } from "node:path";
import { DataError } from "../errors.js";

/** A physical or additive model of ours (src/data/synth/sources/physical.ts). */
export type ModelKind = "plucked" | "bowed" | "clarinet" | "flute" | "saxophone" | "brass" | "organ";

/** An instrument class of `stemscope synth`: General MIDI programs and a playable pitch range. */
export interface InstrumentClass {
  name: string;
  /**
   * GM program numbers (0-based) of the class's family drawn from, with their relative weight within
   * a bank, e.g. piano: 0 (Acoustic Grand) 1, 2 (Electric Grand) 0.5. Every bank of a GM soundfont
   * (MSB 0–126: GM, GS variations, MuseScore's expressive banks) is searched for them.
   */
  programs: Readonly<Record<number, number>>;
  /** Programs of the MT-32 layout (A320U's bank 127) that are this class, with weights. */
  mt32Programs?: Readonly<Record<number, number>>;
  /** Playable range as MIDI note numbers [lowest, highest] (per GM program where it differs). */
  range: [number, number];
  rangeByProgram?: Record<number, [number, number]>;
  /** Can play chords (adds the `chord` pattern). */
  polyphonic: boolean;
  /** Bowed/blown: vibrato (modulation wheel) and pitch bends are idiomatic. */
  sustained: boolean;
  /** Our own models of the class (group `physical`); none for piano. */
  models: readonly ModelKind[];
}

/**
 * The default classes. Ranges are the instruments' usual written ranges (sounding pitch), kept a
 * little inside the extremes where sampled soundfonts get thin. Family members that are a different
 * instrument than the class (trombone for trumpet, oboe for clarinet, harpsichord for piano) are
 * left out; close relatives (viola and fiddle for violin, contrabass for cello, piccolo and recorder
 * for flute) come with a lower weight, electric and distorted variants lower still.
 */
export const DEFAULT_CLASSES: readonly InstrumentClass[] = [
  {
    name: "piano",
    programs: { 0: 1, 1: 1, 2: 0.4, 3: 0.4 },
    mt32Programs: { 0: 1, 1: 1, 2: 1, 7: 0.4 },
    range: [33, 96],
    polyphonic: true,
    sustained: false,
    models: [],
  },
  {
    name: "guitar",
    programs: { 24: 1, 25: 1, 26: 0.7, 27: 0.7, 28: 0.4, 29: 0.3, 30: 0.3, 31: 0.15 },
    mt32Programs: { 59: 1, 60: 1, 61: 0.7, 62: 0.7 },
    range: [40, 81],
    polyphonic: true,
    sustained: false,
    models: ["plucked"],
  },
  {
    name: "violin",
    programs: { 40: 1, 110: 0.6, 41: 0.4 },
    mt32Programs: { 52: 1, 53: 1 },
    range: [55, 96],
    polyphonic: false,
    sustained: true,
    models: ["bowed"],
  },
  {
    name: "cello",
    programs: { 42: 1, 43: 0.3 },
    mt32Programs: { 54: 1, 55: 1, 56: 0.3 },
    range: [36, 72],
    polyphonic: false,
    sustained: true,
    models: ["bowed"],
  },
  {
    name: "flute",
    programs: { 73: 1, 72: 0.5, 74: 0.3, 75: 0.2 },
    mt32Programs: { 72: 1, 73: 1, 74: 0.5, 75: 0.5, 76: 0.3, 77: 0.2 },
    range: [60, 93],
    polyphonic: false,
    sustained: true,
    models: ["flute"],
  },
  {
    name: "clarinet",
    programs: { 71: 1 },
    mt32Programs: { 82: 1, 83: 1 },
    range: [50, 89],
    polyphonic: false,
    sustained: true,
    models: ["clarinet"],
  },
  {
    name: "saxophone",
    programs: { 64: 1, 65: 1, 66: 1, 67: 1 },
    mt32Programs: { 78: 1, 79: 1, 80: 1, 81: 1 },
    range: [36, 87],
    // soprano, alto, tenor, baritone
    rangeByProgram: { 64: [56, 87], 65: [49, 81], 66: [44, 76], 67: [36, 69] },
    polyphonic: false,
    sustained: true,
    models: ["saxophone"],
  },
  {
    name: "trumpet",
    programs: { 56: 1, 59: 0.5 },
    mt32Programs: { 88: 1, 89: 1 },
    range: [54, 82],
    polyphonic: false,
    sustained: true,
    models: ["brass"],
  },
  {
    name: "organ",
    programs: { 16: 1, 17: 0.6, 18: 0.6, 19: 1, 20: 0.6 },
    mt32Programs: { 8: 0.6, 9: 0.6, 10: 0.6, 11: 0.6, 12: 1, 13: 1, 14: 1 },
    range: [36, 91],
    polyphonic: true,
    sustained: false,
    models: ["organ"],
  },
  {
    name: "bass",
    programs: { 32: 1, 33: 1, 34: 1, 35: 0.7, 36: 0.5, 37: 0.5, 38: 0.15, 39: 0.15 },
    mt32Programs: { 64: 1, 65: 1, 66: 1, 67: 1, 68: 0.5, 69: 0.5, 70: 0.7, 71: 0.7 },
    range: [28, 55],
    polyphonic: false,
    sustained: false,
    models: ["plucked"],
  },
];

/** The GM program numbers of a class (keys of `programs`), ascending. */
export function classPrograms(cls: InstrumentClass): number[] {
  return Object.keys(cls.programs)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The class's main GM program: the highest weight, the lowest number among equals (flute: 73). */
export function mainProgram(cls: InstrumentClass): number {
  let best = -1;
  for (const p of classPrograms(cls)) if (best < 0 || cls.programs[p]! > cls.programs[best]!) best = p;
  return best;
}

/** Looks up classes by name. @throws DataError naming the unknown class and the known ones */
export function resolveClasses(names: readonly string[] | undefined): InstrumentClass[] {
  if (names === undefined) return DEFAULT_CLASSES.slice();
  return names.map((name) => {
    const found = DEFAULT_CLASSES.find((c) => c.name === name);
    if (found === undefined) {
      throw new DataError(
        `unknown class "${name}"; known classes: ${DEFAULT_CLASSES.map((c) => c.name).join(", ")}`,
      );
    }
    return found;
  });
}

/** A soundfont stemscope knows, with the Debian package that installs it. */
export interface SoundfontInfo {
  id: string;
  /** Candidate paths, first existing wins. */
  paths: string[];
  debianPackage: string;
  description: string;
}

/** The soundfonts of Debian's packages (scripts/setup.sh installs them). */
export const KNOWN_SOUNDFONTS: readonly SoundfontInfo[] = [
  {
    id: "fluidr3",
    paths: ["/usr/share/sounds/sf2/FluidR3_GM.sf2"],
    debianPackage: "fluid-soundfont-gm",
    description: "Fluid R3 General MIDI (148 MB)",
  },
  {
    id: "musescore",
    paths: [
      "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
      "/usr/share/sounds/sf3/MuseScore_General.sf3",
    ],
    debianPackage: "musescore-general-soundfont",
    description: "MuseScore General (SF3, 86 MB)",
  },
  {
    id: "timgm6mb",
    paths: ["/usr/share/sounds/sf2/TimGM6mb.sf2"],
    debianPackage: "timgm6mb-soundfont",
    description: "TimGM6mb (6 MB)",
  },
  {
    id: "a320u",
    paths: ["/usr/share/sounds/sf2/A320U.sf2"],
    debianPackage: "denemo-data",
    description: "A320U, from Denemo (10 MB)",
  },
];

/** A soundfont to render with: its id (as written to manifest.jsonl) and file. */
export interface SoundfontRef {
  id: string;
  path: string;
}

/**
 * Resolves `--soundfonts`: "all" (the four Debian soundfonts), or a list of known ids and/or paths
 * to `.sf2`/`.sf3` files (id = file name without extension).
 * @param registry the known soundfonts (tests pass their own)
 * @throws DataError for a missing soundfont, naming the Debian package that installs it
 */
export function resolveSoundfonts(
  spec: readonly string[] | "all",
  registry: readonly SoundfontInfo[] = KNOWN_SOUNDFONTS,
): SoundfontRef[] {
  const items = spec === "all" ? registry.map((s) => s.id) : spec;
  const out: SoundfontRef[] = [];
  for (const item of items) {
    const known = registry.find((s) => s.id === item);
    if (known !== undefined) {
      const path = known.paths.find((p) => existsSync(p));
      if (path === undefined) {
        throw new DataError(
          `soundfont "${known.id}" (${known.description}) not found at ${known.paths.join(" or ")}; install the Debian package ${known.debianPackage} (sudo apt-get install ${known.debianPackage}, or run scripts/setup.sh), or leave it out of --soundfonts`,
        );
      }
      out.push({ id: known.id, path });
    } else if (/\.sf[23]$/i.test(item)) {
      if (!existsSync(item)) throw new DataError(`soundfont file ${item} not found`);
      out.push({ id: basename(item, extname(item)), path: item });
    } else {
      throw new DataError(
        `unknown soundfont "${item}"; use all, ${registry.map((s) => s.id).join(", ")}, or a path to a .sf2/.sf3 file`,
      );
    }
  }
  const ids = out.map((s) => s.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new DataError(`soundfont "${dup}" is listed twice in --soundfonts`);
  return out;
}
