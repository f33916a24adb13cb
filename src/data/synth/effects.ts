/**
 * The chorus and reverb of `stemscope synth`, applied by us to the dry mono clip at the output rate
 * instead of by spessasynth (whose stereo effects at the 32 kHz render rate took ~25 ms of a clip's
 * ~30 ms). Plain float64 arithmetic with fixed parameters and no randomness, so the result is a
 * deterministic function of the input and the two amounts.
 *
 * - Chorus: three modulated delay taps (12 ms ± 2.5 ms, sine LFOs at 0.40 / 0.55 / 0.70 Hz, phases
 *   0, 1/3, 2/3 of a cycle, linear interpolation), mixed in at `amount / 127` of their mean.
 * - Reverb: Freeverb (Jezar at Dreampoint, public domain; the tuning of its `tuning.h`): 8 parallel
 *   low-pass-feedback combs and 4 series all-passes, delays scaled from 44.1 kHz to the clip's rate,
 *   room size 0.84 (feedback 0.7 + 0.28 · 0.5), damping 0.2 (0.4 · 0.5), input gain 0.015, wet
 *   level amount / 127 (at 127: Freeverb's default, wet 1/3 × scalewet 3). The dry signal stays 1.
 *
 * Both are mono (the clip is mono); the `amount`s are the plan's CC91 (reverb) and CC93 (chorus)
 * sends, 0–127, 0 = off.
 */

const COMBS_44K = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617];
const ALLPASSES_44K = [556, 441, 341, 225];
const ROOM_FEEDBACK = 0.7 + 0.28 * 0.5;
const DAMP = 0.4 * 0.5;
const INPUT_GAIN = 0.015;
const ALLPASS_FEEDBACK = 0.5;

const CHORUS_BASE_S = 0.012;
const CHORUS_DEPTH_S = 0.0025;
const CHORUS_RATES_HZ = [0.4, 0.55, 0.7];

/**
 * Adds a chorus to `x` (mono, `sampleRate` Hz) in place: y[i] = x[i] + (amount/127) · mean over the
 * three taps of x(i − d_k(i)), with d_k(i) = (12 ms + 2.5 ms · sin(2π f_k i / rate + 2πk/3)) · rate.
 * @param x mono signal, length n; modified
 * @param amount CC93 send 0–127 (0: unchanged)
 */
export function applyChorus(x: Float32Array, sampleRate: number, amount: number): void {
  if (amount <= 0) return;
  const mix = Math.min(amount, 127) / 127 / CHORUS_RATES_HZ.length;
  const n = x.length;
  const src = Float64Array.from(x);
  const base = CHORUS_BASE_S * sampleRate;
  const depth = CHORUS_DEPTH_S * sampleRate;
  for (let k = 0; k < CHORUS_RATES_HZ.length; k++) {
    const w = (2 * Math.PI * CHORUS_RATES_HZ[k]!) / sampleRate;
    const phase = (2 * Math.PI * k) / CHORUS_RATES_HZ.length;
    // The LFO by rotation (cos/sin recurrence), renormalised every block against drift.
    const cw = Math.cos(w);
    const sw = Math.sin(w);
    let s = Math.sin(phase);
    let c = Math.cos(phase);
    for (let i = 0; i < n; i++) {
      const pos = i - (base + depth * s);
      if (pos >= 0) {
        const j = Math.floor(pos);
        const f = pos - j;
        const a = src[j]!;
        const b = j + 1 < n ? src[j + 1]! : 0;
        x[i] = x[i]! + mix * (a + f * (b - a));
      }
      const s2 = s * cw + c * sw;
      c = c * cw - s * sw;
      s = s2;
      if ((i & 1023) === 1023) {
        const r = 1 / Math.sqrt(s * s + c * c);
        s *= r;
        c *= r;
      }
    }
  }
}

/**
 * Adds Freeverb's mono reverb to `x` (mono, `sampleRate` Hz) in place: y = x + (amount/127) · wet,
 * where wet is the comb/all-pass network's output for input 0.015 · x (see the module comment).
 * @param x mono signal; modified
 * @param amount CC91 send 0–127 (0: unchanged)
 */
export function applyReverb(x: Float32Array, sampleRate: number, amount: number): void {
  if (amount <= 0) return;
  const wet = Math.min(amount, 127) / 127;
  const scale = sampleRate / 44100;
  const n = x.length;
  const acc = new Float64Array(n);
  for (const len44 of COMBS_44K) {
    const len = Math.max(1, Math.round(len44 * scale));
    const buf = new Float64Array(len);
    let idx = 0;
    let store = 0;
    for (let i = 0; i < n; i++) {
      const out = buf[idx]!;
      store = out * (1 - DAMP) + store * DAMP;
      buf[idx] = INPUT_GAIN * x[i]! + store * ROOM_FEEDBACK;
      if (++idx === len) idx = 0;
      acc[i] = acc[i]! + out;
    }
  }
  for (const len44 of ALLPASSES_44K) {
    const len = Math.max(1, Math.round(len44 * scale));
    const buf = new Float64Array(len);
    let idx = 0;
    for (let i = 0; i < n; i++) {
      const input = acc[i]!;
      const delayed = buf[idx]!;
      buf[idx] = input + delayed * ALLPASS_FEEDBACK;
      if (++idx === len) idx = 0;
      acc[i] = delayed - input;
    }
  }
  for (let i = 0; i < n; i++) x[i] = x[i]! + wet * acc[i]!;
}
