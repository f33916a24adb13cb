import { existsSync } from "node:fs";
import { basename, extname } from "node:path";
import { DataError } from "./errors.js";

/** An instrument class of `stemscope synth`: General MIDI programs and a playable pitch range. */
export interface InstrumentClass {
  name: string;
  /** GM program numbers (0-based) drawn from, e.g. piano: 0 (Acoustic Grand), 1 (Bright Acoustic). */
  programs: number[];
  /** Playable range as MIDI note numbers [lowest, highest] (per program where it differs). */
  range: [number, number];
  rangeByProgram?: Record<number, [number, number]>;
  /** Can play chords (adds the `chord` pattern). */
  polyphonic: boolean;
  /** Bowed/blown: vibrato (modulation wheel) and pitch bends are idiomatic. */
  sustained: boolean;
}

/**
 * The default classes. Ranges are the instruments' usual written ranges (sounding pitch), kept a
 * little inside the extremes where sampled soundfonts get thin.
 */
export const DEFAULT_CLASSES: readonly InstrumentClass[] = [
  { name: "piano", programs: [0, 1], range: [33, 96], polyphonic: true, sustained: false },
  { name: "guitar", programs: [24, 25], range: [40, 81], polyphonic: true, sustained: false },
  { name: "violin", programs: [40], range: [55, 96], polyphonic: false, sustained: true },
  { name: "cello", programs: [42], range: [36, 72], polyphonic: false, sustained: true },
  { name: "flute", programs: [73], range: [60, 93], polyphonic: false, sustained: true },
  { name: "clarinet", programs: [71], range: [50, 89], polyphonic: false, sustained: true },
  {
    name: "saxophone",
    programs: [64, 65, 66, 67],
    range: [36, 87],
    // soprano, alto, tenor, baritone
    rangeByProgram: { 64: [56, 87], 65: [49, 81], 66: [44, 76], 67: [36, 69] },
    polyphonic: false,
    sustained: true,
  },
  { name: "trumpet", programs: [56], range: [54, 82], polyphonic: false, sustained: true },
  { name: "organ", programs: [16, 17, 18, 19, 20], range: [36, 91], polyphonic: true, sustained: false },
  { name: "bass", programs: [32, 33], range: [28, 55], polyphonic: false, sustained: false },
];

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
