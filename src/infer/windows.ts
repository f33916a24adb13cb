/**
 * The pure parts of sliding-window inference: where the windows go, which are silent, and the
 * file-level summary of the windows' play probabilities.
 *
 * Definitions (also in the README):
 * - a window is `windowSeconds` long (the model's clip length, 2 s) and they start every
 *   `hopSeconds` (1 s); the last one is moved back to end exactly at the end of the audio, so every
 *   window is full audio unless the whole file is shorter than one window (then it is zero-padded);
 * - a window is silent when its RMS is below `silenceDb` dBFS (−60 by default);
 * - per window, source k's class probabilities are p_k = softmax(logits_k), and the probability that
 *   class c plays in the window is 1 − Π_k (1 − p_k(c));
 * - per file, an instrument's probability is the mean (or maximum) of that over the non-silent
 *   windows (see {@link summarise}).
 * The per-window naming rules themselves are in src/separator/naming.ts.
 */

/** A window of the input: samples [start, start + length) (past the end reads as zeros). */
export interface WindowPlan {
  /** First sample. */
  start: number;
  /** Samples (the model's clip length). */
  length: number;
}

/**
 * Window positions for `total` samples.
 * @param total audio length in samples (≥ 1)
 * @param length window length in samples
 * @param hop samples between window starts (≥ 1)
 * @returns starts 0, hop, 2·hop, … and a last window ending at `total` (one window at 0 when total ≤ length)
 */
export function planWindows(total: number, length: number, hop: number): WindowPlan[] {
  if (!(Number.isInteger(total) && total >= 1))
    throw new RangeError(`planWindows: total must be ≥ 1, got ${total}`);
  if (!(Number.isInteger(length) && length >= 1))
    throw new RangeError(`planWindows: length must be ≥ 1, got ${length}`);
  if (!(Number.isInteger(hop) && hop >= 1)) throw new RangeError(`planWindows: hop must be ≥ 1, got ${hop}`);
  if (total <= length) return [{ start: 0, length }];
  const out: WindowPlan[] = [];
  let start = 0;
  for (; start + length < total; start += hop) out.push({ start, length });
  const last = total - length;
  if (out.length === 0 || (out[out.length - 1] as WindowPlan).start !== last)
    out.push({ start: last, length });
  return out;
}

/** The samples of a window (a zero-padded copy when it runs past the end). */
export function windowSamples(samples: Float32Array, window: WindowPlan): Float32Array {
  const end = window.start + window.length;
  if (end <= samples.length) return samples.subarray(window.start, end);
  const out = new Float32Array(window.length);
  out.set(samples.subarray(window.start, Math.min(samples.length, end)));
  return out;
}

/**
 * RMS level in dBFS (a full-scale sine is −3 dB) of `samples[start, end)`; −Infinity when all zero.
 * Zero padding is not counted, so a padded short file is judged by its real samples.
 */
export function rmsDb(samples: Float32Array, start = 0, end = samples.length): number {
  const e = Math.min(end, samples.length);
  if (e <= start) return -Infinity;
  let s = 0;
  for (let i = start; i < e; i++) s += (samples[i] as number) * (samples[i] as number);
  const rms = Math.sqrt(s / (e - start));
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

/** How per-window play probabilities become a file-level one. */
export type SummaryMode = "mean" | "max";

/**
 * The file-level probability of each class over the windows not marked silent: `mean` (default) —
 * the average play probability, robust to a class that fires in one window by mistake; `max` — the
 * highest, for an instrument that plays only briefly in a long file. NaN for every class when all
 * windows are silent.
 * @param perWindow one [classes] array per window (from {@link playProbabilities})
 * @param silent whether each window is silent
 */
export function summarise(
  perWindow: readonly ArrayLike<number>[],
  silent: readonly boolean[],
  classes: number,
  mode: SummaryMode = "mean",
): Float64Array {
  const out = new Float64Array(classes).fill(Number.NaN);
  let counted = 0;
  perWindow.forEach((p, w) => {
    if (silent[w] === true) return;
    counted++;
    for (let c = 0; c < classes; c++) {
      const v = p[c] as number;
      const current = out[c] as number;
      if (Number.isNaN(current)) out[c] = v;
      else out[c] = mode === "max" ? Math.max(current, v) : current + v;
    }
  });
  if (mode === "mean" && counted > 0) for (let c = 0; c < classes; c++) out[c] = (out[c] as number) / counted;
  return out;
}
