/**
 * How many timbres a run can draw from: per class and group, the presets, and the distinct recorded
 * timbres — presets de-duplicated by the set of samples they play (name, rate, root key, loop), so
 * MuseScore's reuse of FluidR3's samples, GM programs that share one sample set and bank variations
 * that only change an envelope count once. Models are parametric (a new instrument per clip): counted
 * as their number of models.
 */
import type { BasicPreset, BasicSoundBank } from "spessasynth_core";
import type { InstrumentClass } from "../instruments.js";
import type { TimbrePreset } from "./catalogue.js";
import type { LoadedSources } from "./load.js";

/** One class's counts. */
export interface ClassInventory {
  className: string;
  /** Presets per group (groups with none left out). */
  presetsByGroup: Record<string, number>;
  presets: number;
  /** Distinct sample sets over all groups (recorded timbres), models not included. */
  recordedTimbres: number;
  /** Our models of the class (each a continuum of instruments). */
  models: number;
}

function sampleSetKey(preset: BasicPreset): string {
  const keys = new Set<string>();
  for (const zone of preset.zones) {
    for (const iz of zone.instrument.zones) {
      const s = iz.sample;
      keys.add(`${s.name.trim()}|${s.sampleRate}|${s.originalKey}|${s.loopStart}|${s.loopEnd}`);
    }
  }
  return [...keys].sort().join(";");
}

function bankPreset(bank: BasicSoundBank, p: TimbrePreset): BasicPreset | undefined {
  return bank.presets.find(
    (x) => x.bankMSB === p.bank && x.program === p.program && !x.isGMGSDrum && x.bankLSB === 0,
  );
}

/** Counts the timbres of `sources` per class (see the module comment). */
export function timbreInventory(
  sources: LoadedSources,
  classes: readonly InstrumentClass[],
): ClassInventory[] {
  return classes.map((cls, c) => {
    const presetsByGroup: Record<string, number> = {};
    const sets = new Set<string>();
    let models = 0;
    let presets = 0;
    for (const g of sources.timbres[c]!) {
      if (g.presets.length === 0) continue;
      presetsByGroup[g.group] = g.presets.length;
      presets += g.presets.length;
      const bank = sources.banks.get(g.group);
      for (const p of g.presets) {
        if (p.kind === "model") {
          models++;
          continue;
        }
        const found = bank === undefined ? undefined : bankPreset(bank, p);
        sets.add(found === undefined ? `${g.group}:${p.bank}:${p.program}` : sampleSetKey(found));
      }
    }
    return { className: cls.name, presetsByGroup, presets, recordedTimbres: sets.size, models };
  });
}

/** The inventory as a plain-text table: class, presets per group, total, distinct recorded, models. */
export function formatInventory(rows: readonly ClassInventory[], groups: readonly string[]): string {
  const header = ["class", ...groups, "presets", "recorded", "models"];
  const lines = rows.map((r) => [
    r.className,
    ...groups.map((g) => String(r.presetsByGroup[g] ?? 0)),
    String(r.presets),
    String(r.recordedTimbres),
    String(r.models),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [fmt(header), ...lines.map(fmt)].join("\n");
}
