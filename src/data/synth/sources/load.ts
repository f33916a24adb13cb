/**
 * Getting a run's sources ready to render, in two steps: `prepareSources` (main thread, once per run)
 * builds the sample libraries' SF2 banks; `loadSources` (main thread or each worker) loads every bank
 * and lists, per class, the timbres of each group.
 */
import type { BasicSoundBank } from "spessasynth_core";
import type { InstrumentClass } from "../instruments.js";
import { type GroupTimbres, loadSoundBank, loadSoundBankBytes } from "../render.js";
import { type SampleBankPreset, modelPresets, sampleBankPresets, soundfontPresets } from "./catalogue.js";
import type { SourceKind, SourceRef } from "./groups.js";
import { buildSampleBank } from "./sample-banks.js";

/** A source ready to be sent to a worker: a file to load, built SF2 bytes, or a model group. */
export interface SourceSpec {
  group: string;
  kind: SourceKind;
  weight: number;
  path: string;
  /** Sample libraries: the SF2 bytes built from them and their declared presets. */
  built?: { bytes: ArrayBuffer; presets: SampleBankPreset[] };
}

/** Loaded sources: each group's bank (none for models) and, per class index, the groups' timbres. */
export interface LoadedSources {
  banks: Map<string, BasicSoundBank>;
  timbres: GroupTimbres[][];
}

/** Builds the SF2 banks of the sample-library sources (see sample-banks.ts); others pass through. */
export async function prepareSources(refs: readonly SourceRef[]): Promise<SourceSpec[]> {
  const out: SourceSpec[] = [];
  for (const ref of refs) {
    if (ref.kind === "samples") {
      const built = await buildSampleBank(ref.group, ref.path);
      out.push({ ...ref, built: { bytes: built.bytes, presets: built.presets } });
    } else {
      out.push({ ...ref });
    }
  }
  return out;
}

/** Loads the banks of `specs` and lists each class's timbres per group (groups in `specs` order). */
export async function loadSources(
  specs: readonly SourceSpec[],
  classes: readonly InstrumentClass[],
  onLoaded: (done: number) => void = () => undefined,
): Promise<LoadedSources> {
  const banks = new Map<string, BasicSoundBank>();
  for (const spec of specs) {
    if (spec.built !== undefined)
      banks.set(spec.group, await loadSoundBankBytes(spec.built.bytes, spec.group));
    else if (spec.kind === "soundfont") banks.set(spec.group, await loadSoundBank(spec.path));
    onLoaded(banks.size);
  }
  const timbres = classes.map((cls) =>
    specs.map((spec) => {
      const bank = banks.get(spec.group);
      const presets =
        spec.kind === "model"
          ? modelPresets(cls, spec.group)
          : spec.built !== undefined
            ? sampleBankPresets(spec.built.presets, spec.group, cls)
            : soundfontPresets(bank!, spec.group, cls);
      return { group: spec.group, weight: spec.weight, presets };
    }),
  );
  return { banks, timbres };
}
