/**
 * Condition transformations of `stemscope synth`, applied to the mono clip at the output rate after
 * the instrument is rendered: a random equaliser (the instrument's and microphone's colour), soft
 * saturation, and a synthetic room (dry to wet). All deterministic functions of the clip and the
 * drawn parameters (the room's noise comes from the parameters' seed), float64 inside.
 *
 * Biquads follow the RBJ Audio EQ Cookbook (Bristow-Johnson); the room is an exponentially decaying
 * noise tail (RT60 per the drawn time, brighter early and darker late, as air and walls absorb highs),
 * after a few early reflections, convolved by FFT.
 */
import { RealFft } from "../../features/fft.js";
import { Random } from "../../util/random.js";

/** One equaliser band. */
export interface EqBand {
  type: "peak" | "lowshelf" | "highshelf" | "highpass" | "lowpass";
  /** Hz. */
  freq: number;
  /** dB (peak and shelves). */
  gainDb: number;
  q: number;
}

/** The drawn room: RT60 and direct-to-reverberant ratio; undefined = dry. */
export interface RoomParams {
  /** Seconds for the tail to fall 60 dB. */
  rt60: number;
  /** Direct-to-reverberant energy ratio, dB. */
  drrDb: number;
  /** Seconds before the first reflection. */
  predelay: number;
  /** High-frequency damping of the tail, 0 (none) … 1 (strong). */
  damping: number;
  /** Seed label of the tail's noise. */
  seed: string;
}

/** Draws an equaliser: 0–4 peaks, maybe a shelf pair and band limits (a cheap or distant microphone). */
export function drawEq(rng: Random, sampleRate: number): EqBand[] {
  const nyquist = sampleRate / 2;
  const bands: EqBand[] = [];
  const peaks = rng.intBetween(0, 4);
  for (let i = 0; i < peaks; i++) {
    bands.push({
      type: "peak",
      freq: round(Math.exp(rng.uniform(Math.log(80), Math.log(nyquist * 0.85)))),
      gainDb: round(rng.uniform(-10, 10)),
      q: round(rng.uniform(0.5, 4)),
    });
  }
  if (rng.bool(0.5))
    bands.push({
      type: "lowshelf",
      freq: round(rng.uniform(100, 400)),
      gainDb: round(rng.uniform(-8, 8)),
      q: 0.707,
    });
  if (rng.bool(0.5))
    bands.push({
      type: "highshelf",
      freq: round(rng.uniform(2000, nyquist * 0.7)),
      gainDb: round(rng.uniform(-10, 6)),
      q: 0.707,
    });
  if (rng.bool(0.2)) bands.push({ type: "highpass", freq: round(rng.uniform(40, 250)), gainDb: 0, q: 0.707 });
  if (rng.bool(0.2))
    bands.push({ type: "lowpass", freq: round(rng.uniform(2500, nyquist * 0.9)), gainDb: 0, q: 0.707 });
  return bands;
}

/** Draws a room (or none, 30 %): RT60 0.15–2.5 s, DRR −4…+18 dB. */
export function drawRoom(rng: Random, label: string): RoomParams | undefined {
  if (rng.bool(0.3)) return undefined;
  return {
    rt60: round(Math.exp(rng.uniform(Math.log(0.15), Math.log(2.5)))),
    drrDb: round(rng.uniform(-4, 18)),
    predelay: round(rng.uniform(0.002, 0.03)),
    damping: round(rng.uniform(0, 1)),
    seed: label,
  };
}

/** RBJ cookbook coefficients [b0, b1, b2, a1, a2] (a0 normalised to 1). */
export function biquadCoefficients(
  band: EqBand,
  sampleRate: number,
): [number, number, number, number, number] {
  const w = (2 * Math.PI * Math.min(band.freq, sampleRate * 0.49)) / sampleRate;
  const cos = Math.cos(w);
  const alpha = Math.sin(w) / (2 * band.q);
  const a = 10 ** (band.gainDb / 40);
  let b0: number, b1: number, b2: number, a0: number, a1: number, a2: number;
  switch (band.type) {
    case "peak":
      [b0, b1, b2, a0, a1, a2] = [
        1 + alpha * a,
        -2 * cos,
        1 - alpha * a,
        1 + alpha / a,
        -2 * cos,
        1 - alpha / a,
      ];
      break;
    case "lowshelf": {
      const s = 2 * Math.sqrt(a) * alpha;
      [b0, b1, b2] = [
        a * (a + 1 - (a - 1) * cos + s),
        2 * a * (a - 1 - (a + 1) * cos),
        a * (a + 1 - (a - 1) * cos - s),
      ];
      [a0, a1, a2] = [a + 1 + (a - 1) * cos + s, -2 * (a - 1 + (a + 1) * cos), a + 1 + (a - 1) * cos - s];
      break;
    }
    case "highshelf": {
      const s = 2 * Math.sqrt(a) * alpha;
      [b0, b1, b2] = [
        a * (a + 1 + (a - 1) * cos + s),
        -2 * a * (a - 1 + (a + 1) * cos),
        a * (a + 1 + (a - 1) * cos - s),
      ];
      [a0, a1, a2] = [a + 1 - (a - 1) * cos + s, 2 * (a - 1 - (a + 1) * cos), a + 1 - (a - 1) * cos - s];
      break;
    }
    case "highpass":
      [b0, b1, b2, a0, a1, a2] = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha];
      break;
    case "lowpass":
      [b0, b1, b2, a0, a1, a2] = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha];
      break;
  }
  return [b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0];
}

/** Applies the bands in order to `x` (mono, `sampleRate` Hz) in place. */
export function applyEq(x: Float32Array, sampleRate: number, bands: readonly EqBand[]): void {
  for (const band of bands) {
    const [b0, b1, b2, a1, a2] = biquadCoefficients(band, sampleRate);
    let x1 = 0;
    let x2 = 0;
    let y1 = 0;
    let y2 = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      const y = b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
      x2 = x1;
      x1 = v;
      y2 = y1;
      y1 = y;
      x[i] = y;
    }
  }
}

/**
 * Soft saturation in place: x ← tanh(drive·x/peak)/tanh(drive)·peak, so the clip's peak keeps its
 * level and lower levels are raised (compressed) and gain odd harmonics. `drive` ≤ 0: unchanged.
 */
export function applySaturation(x: Float32Array, drive: number): void {
  if (drive <= 0) return;
  let peak = 0;
  for (let i = 0; i < x.length; i++) peak = Math.max(peak, Math.abs(x[i]!));
  if (peak === 0) return;
  const norm = Math.tanh(drive);
  for (let i = 0; i < x.length; i++) x[i] = (Math.tanh((drive * x[i]!) / peak) / norm) * peak;
}

/**
 * The room's impulse response at `sampleRate`: a unit direct impulse at 0, early reflections and a
 * decaying noise tail, scaled to the DRR. Length min(1.2·RT60, 2 s).
 * @returns Float64Array, response[0] = 1
 */
export function roomImpulseResponse(room: RoomParams, sampleRate: number): Float64Array {
  const rng = new Random(room.seed);
  const n = Math.max(2, Math.round(Math.min(1.2 * room.rt60, 2) * sampleRate));
  const h = new Float64Array(n);
  const start = Math.max(1, Math.round(room.predelay * sampleRate));
  const decayPerSample = Math.log(1000) / (room.rt60 * sampleRate);
  // Tail: noise under exp decay, low-passed by a one-pole whose pole grows with time (damping).
  let lp = 0;
  for (let i = start; i < n; i++) {
    const t = (i - start) / n;
    const pole = Math.min(0.95, room.damping * (0.2 + 0.75 * t));
    lp = (1 - pole) * rng.uniform(-1, 1) + pole * lp;
    h[i] = lp * Math.exp(-decayPerSample * (i - start));
  }
  // Early reflections: 4–10 sparse taps in the first 50 ms.
  const taps = rng.intBetween(4, 10);
  for (let k = 0; k < taps; k++) {
    const at = start + Math.round(rng.uniform(0, 0.05) * sampleRate);
    if (at < n) h[at] = h[at]! + rng.uniform(-1, 1) * Math.exp(-decayPerSample * (at - start)) * 2;
  }
  let energy = 0;
  for (let i = 1; i < n; i++) energy += h[i]! ** 2;
  const scale = energy > 0 ? Math.sqrt(10 ** (-room.drrDb / 10) / energy) : 0;
  for (let i = 1; i < n; i++) h[i] = h[i]! * scale;
  h[0] = 1;
  return h;
}

/** FFT plans by size, kept: building one (twiddle tables) cost more than the transforms. */
const ffts = new Map<number, RealFft>();
function fftOfSize(size: number): RealFft {
  let fft = ffts.get(size);
  if (fft === undefined) {
    fft = new RealFft(size);
    ffts.set(size, fft);
  }
  return fft;
}

/** Convolves `x` in place with the room's response (FFT), keeping its length (the tail is cut). */
export function applyRoom(x: Float32Array, sampleRate: number, room: RoomParams | undefined): void {
  if (room === undefined) return;
  const h = roomImpulseResponse(room, sampleRate);
  let size = 2;
  while (size < x.length + h.length) size *= 2;
  const fft = fftOfSize(size);
  const a = new Float64Array(size);
  const b = new Float64Array(size);
  a.set(x);
  b.set(h);
  const bins = fft.nBins;
  const [ar, ai, br, bi] = [0, 0, 0, 0].map(() => new Float64Array(bins)) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  fft.forward(a, ar, ai);
  fft.forward(b, br, bi);
  for (let k = 0; k < bins; k++) {
    const re = ar[k]! * br[k]! - ai[k]! * bi[k]!;
    ai[k] = ar[k]! * bi[k]! + ai[k]! * br[k]!;
    ar[k] = re;
  }
  const out = new Float64Array(size);
  fft.inverse(ar, ai, out);
  for (let i = 0; i < x.length; i++) x[i] = out[i]!;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
