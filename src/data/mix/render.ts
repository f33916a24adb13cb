/**
 * The arithmetic of one mixture, as a pure function of the clips and the sample's random draws, so
 * any thread computes the same bytes.
 *
 * For K sources and an output of L samples:
 * 1. crop: source j is L samples of its clip starting at `floor(u_j · (n_j − L + 1))` (u_j ∈ [0, 1)
 *    drawn per sample; 0 with `offset: "start"`), or the whole clip zero-padded when n_j ≤ L
 *    (librosa.util.fix_length);
 * 2. balance: with `rms`, each crop is scaled to RMS {@link RMS_REFERENCE} (silent crops stay silent);
 * 3. gain: source j is multiplied by 10^(g_j / 20) (g_1 = 0 dB, g_j drawn for j ≥ 2);
 * 4. peak normalisation: every source and their float sum are multiplied by one factor s so that
 *    max(|mix|, |source_j|) becomes `peak` (`normalize: "peak"`) or at most `peak` (`"limit"`);
 * 5. quantisation: q_j = round(32767 · s · source_j) in 16-bit integers and **mixed = Σ_j q_j**, so
 *    the written mixture is exactly the sum of the written sources (no rounding error at all), and
 *    |mixed| ≤ 32767 · peak + K/2 < 32767, so nothing clips.
 */

/** RMS that `balance: "rms"` gives every source before the gains (−20 dBFS). */
export const RMS_REFERENCE = 0.1;

/** The per-sample random draws of one mixture (made by the planner, see mix.ts). */
export interface MixTask {
  /** Global sample index: the output folder is `sample_<index>`. */
  index: number;
  /** For each source j (in label order), the id of its clip in the clip table. */
  clipIds: number[];
  /** For each source, u ∈ [0, 1) choosing the start offset inside a longer clip. */
  offsets: number[];
  /** For each source, its gain in dB (source 1: 0). */
  gainsDb: number[];
}

/** The settings of {@link renderMixture} (from the mixing config). */
export interface MixRenderSettings {
  /** Output length in samples. */
  length: number;
  balance: "none" | "rms";
  offset: "random" | "start";
  normalize: "peak" | "limit";
  /** Peak target / ceiling, fraction of full scale, in (0, 0.99]. */
  peak: number;
}

/** A rendered mixture in 16-bit integers: `mixed[i] === Σ_j sources[j][i]` exactly. */
export interface RenderedMixture {
  mixed: Int16Array;
  sources: Int16Array[];
  /** The common normalisation factor s that was applied (0 when everything was silent). */
  scale: number;
}

/** Start of the crop of a clip of `clipLength` samples for output `length` and draw `u` ∈ [0, 1). */
export function cropStart(clipLength: number, length: number, u: number, mode: "random" | "start"): number {
  if (mode === "start" || clipLength <= length) return 0;
  const span = clipLength - length + 1;
  return Math.min(span - 1, Math.floor(u * span));
}

/** Scratch buffers reused across calls (one set per thread): the float sum and the integer mixture. */
let sumScratch = new Float64Array(0);
let mixScratch = new Int32Array(0);

/**
 * Renders one mixture from its clips (mono, at the output rate; float samples, or 16-bit integers,
 * which give the same result with `balance: "none"` since the peak normalisation cancels the scale). Two passes over each source and no
 * per-call float buffers: the gained sample v = clip[start + i] · gain is recomputed in the second
 * pass (the same float64 product, so the same bytes as keeping it).
 * @param clips clip table (indexed by `task.clipIds`)
 */
export function renderMixture(
  clips: readonly ArrayLike<number>[],
  task: MixTask,
  settings: MixRenderSettings,
): RenderedMixture {
  const { length } = settings;
  const k = task.clipIds.length;
  if (sumScratch.length < length) {
    sumScratch = new Float64Array(length);
    mixScratch = new Int32Array(length);
  }
  const sum = sumScratch;
  const starts: number[] = [];
  const counts: number[] = [];
  const gains: number[] = [];
  const sources: ArrayLike<number>[] = [];
  let peak = 0;
  for (let j = 0; j < k; j++) {
    const clip = clips[task.clipIds[j]!];
    if (clip === undefined) throw new Error(`renderMixture: clip ${task.clipIds[j]} is not loaded`);
    const start = cropStart(clip.length, length, task.offsets[j]!, settings.offset);
    const n = Math.min(length, clip.length - start);
    let gain = 10 ** (task.gainsDb[j]! / 20);
    if (settings.balance === "rms") {
      let sq = 0;
      for (let i = 0; i < n; i++) {
        const v = clip[start + i]!;
        sq += v * v;
      }
      const rms = Math.sqrt(sq / length);
      gain = rms > 0 ? (gain * RMS_REFERENCE) / rms : 0;
    }
    if (j === 0) {
      for (let i = 0; i < n; i++) {
        const v = clip[start + i]! * gain;
        sum[i] = v; // = 0 + v
        const a = v < 0 ? -v : v;
        if (a > peak) peak = a;
      }
      sum.fill(0, n, length);
    } else {
      for (let i = 0; i < n; i++) {
        const v = clip[start + i]! * gain;
        sum[i] = sum[i]! + v;
        const a = v < 0 ? -v : v;
        if (a > peak) peak = a;
      }
    }
    starts.push(start);
    counts.push(n);
    gains.push(gain);
    sources.push(clip);
  }
  for (let i = 0; i < length; i++) {
    const v = sum[i]!;
    const a = v < 0 ? -v : v;
    if (a > peak) peak = a;
  }
  let scale = 0;
  if (peak > 0) scale = settings.normalize === "peak" || peak > settings.peak ? settings.peak / peak : 1;
  const f = scale * 32767;
  const mixed = mixScratch;
  mixed.fill(0, 0, length);
  const quantised: Int16Array[] = [];
  for (let j = 0; j < k; j++) {
    const clip = sources[j]!;
    const start = starts[j]!;
    const n = counts[j]!;
    const gain = gains[j]!;
    const q = new Int16Array(length); // zero beyond n
    for (let i = 0; i < n; i++) {
      const v = Math.round(clip[start + i]! * gain * f);
      q[i] = v;
      mixed[i] = mixed[i]! + v;
    }
    quantised.push(q);
  }
  const mixed16 = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    const v = mixed[i]!;
    if (v > 32767 || v < -32767)
      throw new Error(`renderMixture: sample ${task.index} overflows 16 bits at ${i}`);
    mixed16[i] = v;
  }
  return { mixed: mixed16, sources: quantised, scale };
}

/**
 * 16-bit integers as floats that `encodeWav` (pcm16: round(x · 32767)) turns back into exactly the
 * same integers: x = q / 32767 in float32 is within 1e-7 relative of q / 32767.
 */
export function int16ToUnitFloat(q: Int16Array): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i]! / 32767;
  return out;
}
