/**
 * Presenting predictions: the JSON record of one file, a text summary and timeline, and a PNG of the
 * timeline.
 */
import { encodePngGray } from "../features/png.js";
import type { Prediction } from "./model.js";

/** Rounds probabilities for output (4 decimals are plenty and keep lines short). */
function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * The JSON record of one file, as `stemscope predict --json` prints it (one per line):
 * `{"file", "durationSeconds", "instruments": [{name, probability}…] (all classes, highest first;
 * none when no window was audible), "noInstrument": {reason, detail} | null,
 * "namingStatistics": {play, entropy} | null,
 * "windows": [{start, end, rmsDb, audibleDb, silent, flatness, noise, instruments, sources}…],
 * "warnings"}`.
 * A level of digital silence (−Infinity dBFS) is null.
 */
export function predictionRecord(file: string, prediction: Prediction): Record<string, unknown> {
  return {
    file,
    durationSeconds: round(prediction.durationSeconds, 3),
    sampleRate: prediction.sampleRate,
    windowSeconds: prediction.windowSeconds,
    hopSeconds: prediction.hopSeconds,
    instruments: prediction.instruments.map((i) => ({ name: i.name, probability: round(i.probability) })),
    noInstrument: prediction.noInstrument,
    namingStatistics:
      prediction.namingStatistics === null
        ? null
        : {
            play: round(prediction.namingStatistics.play),
            entropy: round(prediction.namingStatistics.entropy),
          },
    windows: prediction.windows.map((w) => ({
      start: round(w.start, 3),
      end: round(w.end, 3),
      rmsDb: Number.isFinite(w.rmsDb) ? round(w.rmsDb, 1) : null,
      audibleDb: Number.isFinite(w.audibleDb) ? round(w.audibleDb, 1) : null,
      silent: w.silent,
      flatness: round(w.flatness),
      noise: w.noise,
      instruments: w.instruments.map((i) => ({ name: i.name, probability: round(i.probability) })),
      sources: w.sources.map((i) => ({ name: i.name, probability: round(i.probability) })),
    })),
    warnings: prediction.warnings,
  };
}

/**
 * A human-readable summary (and, with `timeline`, one line per window). A file with no instrument
 * says so on its second line (`  no instrument: <detail>`), before any probabilities.
 */
export function formatPrediction(
  file: string,
  prediction: Prediction,
  options: { timeline?: boolean } = {},
): string {
  const silent = prediction.windows.filter((w) => w.silent).length;
  const noise = prediction.windows.filter((w) => w.noise).length;
  const excluded = [silent > 0 ? `${silent} silent` : "", noise > 0 ? `${noise} noise` : ""].filter(Boolean);
  const width = Math.max(0, ...prediction.instruments.map((i) => i.name.length));
  const none = prediction.noInstrument;
  const lines = [
    `${file}: ${prediction.durationSeconds.toFixed(1)} s, ${prediction.windows.length} window${prediction.windows.length === 1 ? "" : "s"}` +
      (excluded.length > 0 && none === null ? ` (${excluded.join(", ")}, not counted)` : ""),
    ...(none === null ? [] : [`  no instrument: ${none.detail}`]),
    ...prediction.instruments.map((i) => `  ${i.name.padEnd(width)}  ${i.probability.toFixed(3)}`),
  ];
  if (options.timeline === true) {
    lines.push("  timeline (seconds: instruments with probability ≥ 0.5, else the most likely one):");
    for (const w of prediction.windows) {
      const span = `${w.start.toFixed(1)}–${w.end.toFixed(1)}`.padStart(11);
      if (w.silent || w.noise) {
        lines.push(`  ${span}  (${w.silent ? "silent" : "noise"})`);
        continue;
      }
      const shown = w.instruments.filter((i, j) => j === 0 || i.probability >= 0.5);
      lines.push(`  ${span}  ${shown.map((i) => `${i.name} ${i.probability.toFixed(2)}`).join(", ")}`);
    }
  }
  return lines.join("\n");
}

/**
 * The timeline as a greyscale picture: one row band per class (in `classes` order, first at the top),
 * one column band per window; brightness = the window's play probability (black 0, white 1).
 * Silent and noise windows (not counted) are drawn as a grey checkerboard.
 * @param cell pixels per window and per class. Default 8 × 16 (width × height).
 */
export function timelinePng(
  prediction: Prediction,
  classes: readonly string[],
  cell: { width: number; height: number } = { width: 8, height: 16 },
): Uint8Array {
  const cols = Math.max(1, prediction.windows.length);
  const width = cols * cell.width;
  const height = classes.length * cell.height;
  const pixels = new Uint8Array(width * height);
  prediction.windows.forEach((w, x) => {
    const byName = new Map(w.instruments.map((i) => [i.name, i.probability]));
    classes.forEach((name, y) => {
      const v = Math.round(255 * Math.min(1, Math.max(0, byName.get(name) ?? 0)));
      for (let dy = 0; dy < cell.height; dy++) {
        for (let dx = 0; dx < cell.width; dx++) {
          const px = x * cell.width + dx;
          const py = y * cell.height + dy;
          pixels[py * width + px] = w.silent || w.noise ? (((dx >> 1) + (dy >> 1)) % 2 === 0 ? 96 : 160) : v;
        }
      }
    });
  });
  return encodePngGray(pixels, width, height);
}
