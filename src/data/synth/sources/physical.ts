/**
 * Instruments we synthesise ourselves (group `physical`): digital-waveguide physical models after the
 * Synthesis ToolKit (Cook & Scavone, STK 4.x: Bowed, Clarinet, Flute, Saxofony, Brass; the plucked
 * string is the extended Karplus–Strong of Jaffe & Smith 1983) and an additive organ. Every clip draws
 * its own instrument (body resonances, bow pressure and position, reed stiffness, jet ratio, lip
 * tension, pluck position and brightness, drawbars …), so the models give a continuum of timbres, not
 * a few recordings.
 *
 * Pitch: every loop is tuned by phase delay at the note's fundamental — integer delay, plus a
 * linear-interpolated fraction solved so that the loop's total phase delay (delay line, loss filters,
 * DC blockers) equals one period (half a period for the clarinet's inverting bore; the brass bore
 * sounds its second mode). test/synth-models.test.ts measures the fundamentals.
 *
 * Everything is float64 arithmetic driven by a seeded stream: the same plan renders the same samples.
 */
import type { ModelKind } from "../instruments.js";
import type { Random } from "../../../util/random.js";

/** A note to play: MIDI note, start and length in seconds (the note-off time is start + duration). */
export interface ModelNote {
  note: number;
  start: number;
  duration: number;
}

/** What a model renders: notes, velocity, the pitch contour and the drawn instrument. */
export interface ModelPlan {
  model: ModelKind;
  notes: readonly ModelNote[];
  /** 1–127. */
  velocity: number;
  /** Pitch offset in semitones at time t (seconds): vibrato, bends. */
  pitchAt: (t: number) => number;
  /** The drawn instrument's parameters (drawModelParams). */
  params: Readonly<Record<string, number>>;
}

const TWO_PI = 2 * Math.PI;
const midiHz = (note: number): number => 440 * 2 ** ((note - 69) / 12);
/** Samples between pitch updates of a voice. */
const CONTROL = 32;

/** Phase delay in samples of the filter B(z)/A(z) (coefficients of z^0, z^-1, …) at ω rad/sample. */
export function phaseDelay(b: readonly number[], a: readonly number[], w: number): number {
  const arg = (c: readonly number[]): number => {
    let re = 0;
    let im = 0;
    c.forEach((ck, k) => {
      re += ck * Math.cos(w * k);
      im -= ck * Math.sin(w * k);
    });
    return Math.atan2(im, re);
  };
  return -(arg(b) - arg(a)) / w;
}

/**
 * The delay D = i + f (samples) of a linear-interpolated read whose phase delay at ω is `target`.
 * Linear interpolation (1 − f) + f·z⁻¹ has phase delay atan2(f sin ω, 1 − f + f cos ω)/ω (f only near
 * DC; at high notes the difference is cents), so f = T / (sin ω + T(1 − cos ω)) with T = tan(ω·φ),
 * φ the wanted fractional part.
 */
export function tunedDelay(target: number, w: number): number {
  const i = Math.floor(target);
  const t = Math.tan(w * (target - i));
  const f = t / (Math.sin(w) + t * (1 - Math.cos(w)));
  return i + Math.min(1, Math.max(0, f));
}

/** A delay line read before it is written each sample: read(D) at time n returns x[n − D], D ≥ 1. */
class DelayLine {
  readonly #buf: Float64Array;
  readonly #mask: number;
  #w = 0;
  constructor(maxDelay: number) {
    let size = 2;
    while (size < maxDelay + 4) size *= 2;
    this.#buf = new Float64Array(size);
    this.#mask = size - 1;
  }
  read(delay: number): number {
    const i = Math.floor(delay);
    const f = delay - i;
    const a = this.#buf[(this.#w - i) & this.#mask]!;
    const b = this.#buf[(this.#w - i - 1) & this.#mask]!;
    return a + f * (b - a);
  }
  write(x: number): void {
    this.#buf[this.#w & this.#mask] = x;
    this.#w++;
  }
}

/** A biquad (direct form I) with RBJ band-pass (constant peak gain) design. */
class Biquad {
  b0 = 1;
  b1 = 0;
  b2 = 0;
  a1 = 0;
  a2 = 0;
  #x1 = 0;
  #x2 = 0;
  #y1 = 0;
  #y2 = 0;
  static bandpass(freq: number, q: number, rate: number): Biquad {
    const f = new Biquad();
    const w = (TWO_PI * Math.min(freq, rate * 0.45)) / rate;
    const alpha = Math.sin(w) / (2 * q);
    const a0 = 1 + alpha;
    f.b0 = alpha / a0;
    f.b1 = 0;
    f.b2 = -alpha / a0;
    f.a1 = (-2 * Math.cos(w)) / a0;
    f.a2 = (1 - alpha) / a0;
    return f;
  }
  /** STK's BiQuad::setResonance without normalisation: 1 / (1 − 2r cos ω z⁻¹ + r² z⁻²). */
  static resonance(freq: number, radius: number, rate: number, gain = 1): Biquad {
    const f = new Biquad();
    f.b0 = gain;
    f.a1 = -2 * radius * Math.cos((TWO_PI * freq) / rate);
    f.a2 = radius * radius;
    return f;
  }
  tick(x: number): number {
    const y = this.b0 * x + this.b1 * this.#x1 + this.b2 * this.#x2 - this.a1 * this.#y1 - this.a2 * this.#y2;
    this.#x2 = this.#x1;
    this.#x1 = x;
    this.#y2 = this.#y1;
    this.#y1 = y;
    return y;
  }
}

/** One-pole low-pass y = (1 − p)·g·x + p·y[−1]. */
class OnePole {
  #y = 0;
  constructor(
    readonly pole: number,
    readonly gain = 1,
  ) {}
  tick(x: number): number {
    this.#y = (1 - this.pole) * this.gain * x + this.pole * this.#y;
    return this.#y;
  }
  delayAt(w: number): number {
    return phaseDelay([1 - this.pole], [1, -this.pole], w);
  }
}

/** DC blocker y = x − x[−1] + R·y[−1]. */
class DcBlock {
  #x = 0;
  #y = 0;
  constructor(readonly r = 0.995) {}
  tick(x: number): number {
    this.#y = x - this.#x + this.r * this.#y;
    this.#x = x;
    return this.#y;
  }
  delayAt(w: number): number {
    return phaseDelay([1, -1], [1, -this.r], w);
  }
}

/** Linear attack / release envelope: rises over `attack` s, falls over `release` s from note-off. */
function envelope(t: number, off: number, attack: number, release: number): number {
  const rise = attack <= 0 ? 1 : Math.min(1, t / attack);
  if (t < off) return rise;
  return Math.max(0, rise * (1 - (t - off) / release));
}

/**
 * Draws an instrument for `model`: the parameters a clip's voices share. `size` (about 0.8–1.25)
 * scales body resonances like a smaller or larger instrument. Returns plain numbers (the manifest
 * records them).
 */
export function drawModelParams(rng: Random, model: ModelKind, className: string): Record<string, number> {
  const size = Math.exp(rng.uniform(Math.log(0.8), Math.log(1.25)));
  const vibratoHz = rng.uniform(4.5, 6.5);
  const base = { size: round3(size), vibratoHz: round3(vibratoHz) };
  switch (model) {
    case "plucked": {
      const bass = className === "bass";
      return {
        ...base,
        brightness: round3(rng.uniform(0.05, 0.5)),
        pluckPosition: round3(rng.uniform(0.08, 0.3)),
        decay: round3(bass ? rng.uniform(1.5, 5) : rng.uniform(0.8, 4)),
        damping: round3(rng.uniform(0.03, 0.2)),
        body: round3(bass ? rng.uniform(0, 0.5) : rng.uniform(0.2, 1)),
        pickTone: round3(rng.uniform(0.2, 0.95)),
      };
    }
    case "bowed":
      return {
        ...base,
        // Pressures and bow positions where the model keeps Helmholtz motion (measured over 80 notes
        // G3–F#6 and C2–B4: 5 % still sound the octave; at position 0.2, 38 %; below 0.12, 15–30 %).
        pressure: round3(rng.uniform(0.7, 0.95)),
        position: round3(rng.uniform(0.13, 0.16)),
        attack: round3(rng.uniform(0.02, 0.15)),
        release: round3(rng.uniform(0.05, 0.25)),
        stringPole: round3(rng.uniform(0.45, 0.7)),
        body: round3(rng.uniform(0.4, 1)),
        // Cello-sized or violin-sized body (modes scale down ~2.3× for the cello).
        bodyScale: round3((className === "cello" ? 0.44 : 1) * size),
        noise: round3(rng.uniform(0, 0.04)),
      };
    case "clarinet":
      return {
        ...base,
        reedOffset: round3(rng.uniform(0.62, 0.78)),
        reedSlope: round3(-rng.uniform(0.22, 0.42)),
        ...blowing(rng, [0.9, 1.15], 0.3, 0.01, 0.08),
        loss: round3(rng.uniform(0.93, 0.97)),
      };
    case "saxophone":
      return {
        ...base,
        reedOffset: round3(rng.uniform(0.6, 0.75)),
        // Reed slope and reed position where it speaks the fundamental (measured over 45 notes
        // G#2–C6: 2–4 % overblow to the octave; at position 0.25 or slope 0.4, 30–60 %).
        reedSlope: round3(rng.uniform(0.18, 0.26)),
        position: round3(rng.uniform(0.33, 0.4)),
        ...blowing(rng, [0.9, 1.15], 0.3, 0.01, 0.08),
      };
    case "flute":
      return {
        ...base,
        jetRatio: round3(rng.uniform(0.44, 0.465)),
        ...blowing(rng, [0.9, 1.3], 0.25, 0.02, 0.12),
        pole: round3(rng.uniform(0.35, 0.6)),
      };
    case "brass":
      return {
        ...base,
        lipDetune: round3(rng.uniform(-0.6, 0.6)),
        lipRadius: round3(rng.uniform(0.994, 0.998)),
        pressure: round3(rng.uniform(0.55, 1)),
        attack: round3(rng.uniform(0.01, 0.06)),
        release: round3(rng.uniform(0.02, 0.1)),
        mute: round3(rng.bool(0.25) ? rng.uniform(0.3, 1) : 0),
      };
    case "organ": {
      // Drawbars 16', 8', 5 1/3', 4', 2 2/3', 2', 1 3/5', 1 1/3', 1' (harmonics ½ … 8), or a pipe
      // rank: a random spectral slope and odd/even balance.
      const out: Record<string, number> = { ...base, kind: rng.bool(0.5) ? 1 : 0 };
      for (let k = 0; k < 9; k++) out[`bar${k}`] = rng.bool(k === 1 ? 0.95 : 0.45) ? rng.intBetween(1, 8) : 0;
      out.slope = round3(rng.uniform(-12, -3));
      out.oddEven = round3(rng.uniform(-6, 6));
      out.chiff = round3(rng.uniform(0, 0.3));
      out.tremulant = round3(rng.bool(0.3) ? rng.uniform(0.05, 0.3) : 0);
      out.attack = round3(rng.uniform(0.01, 0.08));
      return out;
    }
  }
}

/** A wind player's parameters, drawn in this order: breath, noise (from 0.05), attack, release. */
function blowing(
  rng: Random,
  breath: [number, number],
  noiseMax: number,
  attackMin: number,
  attackMax: number,
): Record<string, number> {
  return {
    breath: round3(rng.uniform(breath[0], breath[1])),
    noise: round3(rng.uniform(0.05, noiseMax)),
    attack: round3(rng.uniform(attackMin, attackMax)),
    release: round3(rng.uniform(0.02, 0.12)),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Renders `plan` at `rate` Hz for `seconds`: mono, unnormalised. */
export function renderModel(plan: ModelPlan, seconds: number, rate: number, rng: Random): Float32Array {
  const n = Math.round(seconds * rate);
  const out = new Float64Array(n);
  plan.notes.forEach((note, k) => {
    const voiceRng = rng.fork(`voice:${k}`);
    renderVoice(plan, note, out, rate, voiceRng);
  });
  const result = new Float32Array(n);
  for (let i = 0; i < n; i++) result[i] = Number.isFinite(out[i]!) ? out[i]! : 0;
  return result;
}

function renderVoice(plan: ModelPlan, note: ModelNote, out: Float64Array, rate: number, rng: Random): void {
  const p = plan.params;
  const amp = plan.velocity / 127;
  const start = Math.round(note.start * rate);
  const off = note.duration;
  const tail = plan.model === "plucked" ? 0.3 : plan.model === "organ" ? 0.15 : (p.release ?? 0.1) + 0.1;
  const end = Math.min(out.length, start + Math.round((off + tail) * rate));
  const voice = makeVoice(plan.model, p, note.note, amp, rate, rng, off);
  let pitch = Number.NaN;
  // A voice that stops inside the clip fades out over its last 20 ms (a string may still ring: cut
  // off, it clicked).
  const fade = Math.round(0.02 * rate);
  const fadeFrom = end < out.length ? end - start - fade : Number.POSITIVE_INFINITY;
  for (let i = 0; start + i < end; i++) {
    const t = i / rate;
    if (i % CONTROL === 0) {
      const next = note.note + plan.pitchAt((start + i) / rate);
      if (next !== pitch) voice.setPitch(next); // retuning costs a few trigonometric calls
      pitch = next;
    }
    const y = voice.tick(t);
    out[start + i] = out[start + i]! + (i < fadeFrom ? y : (y * (end - start - i)) / fade);
  }
}

interface Voice {
  /** Sets the sounding pitch (MIDI note, fractional). */
  setPitch(note: number): void;
  /** The next sample; `t` seconds since the note-on. */
  tick(t: number): number;
}

function makeVoice(
  model: ModelKind,
  p: Readonly<Record<string, number>>,
  note: number,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  switch (model) {
    case "plucked":
      return pluckedVoice(p, note, amp, rate, rng, off);
    case "bowed":
      return bowedVoice(p, amp, rate, rng, off);
    case "clarinet":
      return clarinetVoice(p, amp, rate, rng, off);
    case "saxophone":
      return saxophoneVoice(p, amp, rate, rng, off);
    case "flute":
      return fluteVoice(p, amp, rate, rng, off);
    case "brass":
      return brassVoice(p, amp, rate, off);
    case "organ":
      return organVoice(p, note, amp, rate, rng, off);
  }
}

/** Extended Karplus–Strong: pick-position comb on a noise burst, two-tap loss filter, body modes. */
function pluckedVoice(
  p: Readonly<Record<string, number>>,
  note: number,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const f0 = midiHz(note);
  const period = rate / f0;
  const line = new DelayLine(period * 2.2);
  const s = p.brightness!; // loss filter (1 − s) + s·z⁻¹: s = 0.5 darkest, smaller brighter
  // Per-period loss for a 60 dB decay over `decay` s (shorter for high notes).
  const decay = p.decay! * Math.min(1, (110 / f0) ** 0.5);
  const lossAt = (t60: number): number => 10 ** (-3 / (t60 * f0));
  let loss = lossAt(decay);
  const dampLoss = lossAt(p.damping!);
  // Excitation: one period of noise, low-passed by the pick's tone, then the pick-position comb.
  const len = Math.max(2, Math.round(period));
  const burst = new Float64Array(len);
  const tone = new OnePole(1 - p.pickTone! * (0.4 + 0.6 * amp));
  for (let i = 0; i < len; i++) burst[i] = tone.tick(rng.uniform(-1, 1));
  const comb = Math.max(1, Math.round(p.pluckPosition! * len));
  const excitation = burst.map((x, i) => x - (i >= comb ? burst[i - comb]! : 0));
  let mean = 0;
  for (const x of excitation) mean += x / len;
  const body = [
    Biquad.bandpass(98 / p.size!, 4, rate),
    Biquad.bandpass(204 / p.size!, 6, rate),
    Biquad.bandpass(390 / p.size!, 5, rate),
  ];
  let delay = period;
  let prev = 0;
  let k = 0;
  return {
    setPitch(n) {
      const w = (TWO_PI * midiHz(n)) / rate;
      delay = tunedDelay(rate / midiHz(n) - phaseDelay([1 - s, s], [1], w), w);
    },
    tick(t) {
      if (t >= off && loss !== dampLoss) loss = dampLoss;
      const x = line.read(delay);
      const y = loss * ((1 - s) * x + s * prev);
      prev = x;
      const input = k < len ? amp * (excitation[k]! - mean) : 0;
      k++;
      line.write(y + input);
      let b = 0;
      for (const f of body) b += f.tick(y);
      return y + p.body! * b;
    },
  };
}

/** STK Bowed: neck and bridge delay lines, bow friction table, string loss, violin/cello body modes. */
function bowedVoice(
  p: Readonly<Record<string, number>>,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const neck = new DelayLine(rate / 20);
  const bridge = new DelayLine(rate / 20);
  const stringFilter = new OnePole(p.stringPole!, 0.95);
  const slope = 5 - 4 * p.pressure!;
  const maxVelocity = 0.03 + 0.2 * amp;
  // Violin body modes (A0, CBR, B1−, B1+, and the bridge hill), scaled for size and cello.
  const modes: [number, number, number][] = [
    [275, 8, 1],
    [405, 10, 0.6],
    [460, 12, 1],
    [530, 12, 0.9],
    [700, 6, 0.4],
    [2600, 1.5, 0.5],
  ];
  const body = modes.map(([f, q, g]) => ({
    filter: Biquad.bandpass(f * p.bodyScale! * rng.uniform(0.9, 1.1), q, rate),
    gain: g * rng.uniform(0.5, 1.5),
  }));
  let neckDelay = 100;
  let bridgeDelay = 20;
  return {
    setPitch(n) {
      // The friction junction shortens the period by ~0.17 samples whatever the note (measured G3–G6:
      // +1 cent at G3, +10 at G6 without this): the loop is that much longer.
      const f = midiHz(n);
      const w = (TWO_PI * f) / rate;
      const total = rate / f - stringFilter.delayAt(w) + 0.17;
      bridgeDelay = Math.max(1, Math.round(total * p.position!));
      neckDelay = tunedDelay(total - bridgeDelay, w);
    },
    tick(t) {
      const bow = maxVelocity * envelope(t, off, p.attack!, p.release!) * (1 + p.noise! * rng.uniform(-1, 1));
      const bridgeRefl = -stringFilter.tick(bridge.read(bridgeDelay));
      const nutRefl = -neck.read(neckDelay);
      const stringVel = bridgeRefl + nutRefl;
      const dv = bow - stringVel;
      const base = Math.abs(dv * slope) + 0.75;
      const sq = base * base;
      const friction = Math.min(1, 1 / (sq * sq)); // STK BowTable: (|x·slope| + 0.75)^-4, at most 1
      const newVel = bow > 0 ? dv * friction : 0;
      neck.write(bridgeRefl + newVel);
      bridge.write(nutRefl + newVel);
      const x = bridgeRefl;
      let y = 0;
      for (const b of body) y += b.gain * b.filter.tick(x);
      return (1 - p.body!) * x + p.body! * y * 4;
    },
  };
}

/** Blowing pressure at t: the envelope times `pressure`, with breath noise of relative size p.noise. */
function breathAt(
  p: Readonly<Record<string, number>>,
  pressure: number,
  t: number,
  off: number,
  rng: Random,
): number {
  const breath = pressure * envelope(t, off, p.attack!, p.release!);
  return breath + breath * p.noise! * rng.uniform(-1, 1);
}

/** STK ReedTable: offset + slope · pressure difference, clipped to [−1, 1]. */
function reedTable(p: Readonly<Record<string, number>>, diff: number): number {
  return Math.max(-1, Math.min(1, p.reedOffset! + p.reedSlope! * diff));
}

/** STK Clarinet: inverting lossy bore (half-period delay), reed table, breath noise. */
function clarinetVoice(
  p: Readonly<Record<string, number>>,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const bore = new DelayLine(rate / 20);
  const pressure = p.breath! * (0.55 + 0.3 * amp);
  let prev = 0;
  let delay = 50;
  return {
    setPitch(n) {
      const f = midiHz(n);
      const w = (TWO_PI * f) / rate;
      delay = tunedDelay(rate / f / 2 - 0.5, w);
    },
    tick(t) {
      const breath = breathAt(p, pressure, t, off, rng);
      const x = bore.read(delay);
      const reflected = -p.loss! * 0.5 * (x + prev);
      prev = x;
      const diff = reflected - breath;
      const reed = reedTable(p, diff);
      bore.write(breath + diff * reed);
      return x;
    },
  };
}

/** STK Saxofony: a string-like conical bore with the reed at `position`, reed table, breath noise. */
function saxophoneVoice(
  p: Readonly<Record<string, number>>,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const d0 = new DelayLine(rate / 20);
  const d1 = new DelayLine(rate / 20);
  const pressure = p.breath! * (0.55 + 0.3 * amp);
  let prev = 0;
  let delay0 = 40;
  let delay1 = 10;
  return {
    setPitch(n) {
      const f = midiHz(n);
      const w = (TWO_PI * f) / rate;
      // The loop runs through both lines and the two-tap loss filter (0.5 samples).
      const total = rate / f - 0.5;
      delay1 = Math.max(1, Math.round(total * p.position!));
      delay0 = tunedDelay(total - delay1, w);
    },
    tick(t) {
      const breath = breathAt(p, pressure, t, off, rng);
      const x0 = d0.read(delay0);
      const temp = -0.95 * 0.5 * (x0 + prev);
      prev = x0;
      const out = temp - d1.read(delay1);
      const diff = breath - out;
      const reed = reedTable(p, diff);
      d1.write(temp);
      d0.write(breath - diff * reed - temp);
      return out;
    },
  };
}

/** STK Flute: jet delay and jet table exciting an open bore with loss filter and DC blocker. */
function fluteVoice(
  p: Readonly<Record<string, number>>,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const bore = new DelayLine(rate / 20);
  const jet = new DelayLine(rate / 20);
  const filter = new OnePole(p.pole!);
  const dc = new DcBlock(0.995);
  const pressure = p.breath! * (0.85 + 0.3 * amp);
  let boreDelay = 50;
  let jetDelay = 15;
  return {
    setPitch(n) {
      const f = midiHz(n);
      const w = (TWO_PI * f) / rate;
      // The jet pulls the pitch sharp, more for high notes (measured at jet ratios 0.42–0.5:
      // +22 cents at C4, +50 at C6): the bore is tuned that much flat.
      const fb = f * 2 ** (-(20 + 1.2 * (n - 60)) / 1200);
      const wb = (TWO_PI * fb) / rate;
      boreDelay = tunedDelay(rate / fb - filter.delayAt(wb) - dc.delayAt(wb), wb);
      jetDelay = Math.max(1, boreDelay * p.jetRatio!);
    },
    tick(t) {
      const breath = breathAt(p, pressure, t, off, rng);
      const temp = dc.tick(filter.tick(bore.read(boreDelay)));
      const jetIn = breath - 0.5 * temp;
      const j = jet.read(jetDelay);
      jet.write(jetIn);
      let jt = j * (j * j - 1);
      if (jt > 1) jt = 1;
      else if (jt < -1) jt = -1;
      const x = jt + 0.5 * temp;
      bore.write(x);
      return 0.3 * temp;
    },
  };
}

/** STK Brass: lip resonator driven by mouth minus bore pressure; the bore sounds its second mode. */
function brassVoice(p: Readonly<Record<string, number>>, amp: number, rate: number, off: number): Voice {
  const bore = new DelayLine(rate / 10);
  const dc = new DcBlock(0.995);
  let lip = Biquad.resonance(440, p.lipRadius!, rate, 0.03);
  const maxPressure = p.pressure! * (0.6 + 0.4 * amp);
  const mute = p.mute! > 0 ? Biquad.bandpass(1500, 0.7, rate) : undefined;
  let delay = 100;
  let lastNote = -1;
  return {
    setPitch(n) {
      // The lips pull the bore's second mode ~50 cents sharp (measured E4–A#5): tuned that flat.
      const f = midiHz(n - 0.5);
      const w = (TWO_PI * f) / rate;
      delay = tunedDelay((2 * rate) / f - dc.delayAt(w), w);
      if (Math.abs(n - lastNote) > 0.02) {
        lip = Biquad.resonance(f * 2 ** (p.lipDetune! / 12), p.lipRadius!, rate, 0.03);
        lastNote = n;
      }
    },
    tick(t) {
      const breath = maxPressure * envelope(t, off, p.attack!, p.release!);
      const mouth = 0.3 * breath;
      const borePressure = 0.85 * bore.read(delay);
      let d = lip.tick(mouth - borePressure);
      d *= d;
      if (d > 1) d = 1;
      const y = d * mouth + (1 - d) * borePressure;
      bore.write(dc.tick(y));
      return mute === undefined
        ? borePressure
        : (1 - p.mute!) * borePressure + p.mute! * 3 * mute.tick(borePressure);
    },
  };
}

const DRAWBAR_HARMONICS = [0.5, 1, 1.5, 2, 3, 4, 5, 6, 8];

/** Samples in one period of an organ voice's wavetable. */
const ORGAN_TABLE = 2048;

/**
 * Additive organ: drawbar registrations or a pipe rank's spectrum, summed once into a one-period
 * wavetable (of f0/2, so the 16' drawbar's half-harmonic is harmonic 1), band-limited to the note's
 * pitch; attack chiff, tremulant.
 */
function organVoice(
  p: Readonly<Record<string, number>>,
  note: number,
  amp: number,
  rate: number,
  rng: Random,
  off: number,
): Voice {
  const partials: { harmonic: number; gain: number; phase: number }[] = [];
  if (p.kind === 1) {
    DRAWBAR_HARMONICS.forEach((h, k) => {
      const level = p[`bar${k}`] ?? 0;
      if (level > 0)
        partials.push({ harmonic: 2 * h, gain: 10 ** ((3 * (level - 8)) / 20), phase: rng.uniform(0, 1) });
    });
  } else {
    for (let h = 1; h <= 24; h++) {
      const db = p.slope! * Math.log2(h) + (h % 2 === 1 ? 0 : p.oddEven!) + rng.uniform(-3, 3);
      partials.push({ harmonic: 2 * h, gain: 10 ** (db / 20), phase: rng.uniform(0, 1) });
    }
  }
  if (partials.length === 0) partials.push({ harmonic: 2, gain: 1, phase: 0 });
  const half = midiHz(note) / 2;
  const table = new Float64Array(ORGAN_TABLE + 1);
  for (const part of partials) {
    if (part.harmonic * half >= rate * 0.45) continue; // band-limited at the note's pitch
    for (let i = 0; i <= ORGAN_TABLE; i++) {
      table[i] =
        table[i]! + part.gain * Math.sin(2 * Math.PI * ((part.harmonic * i) / ORGAN_TABLE + part.phase));
    }
  }
  const chiff = Biquad.bandpass(midiHz(note) * 3, 2, rate);
  let step = (half / rate) * ORGAN_TABLE;
  let phase = 0;
  return {
    setPitch(n) {
      step = (midiHz(n) / 2 / rate) * ORGAN_TABLE;
    },
    tick(t) {
      phase += step;
      if (phase >= ORGAN_TABLE) phase -= ORGAN_TABLE;
      const i = Math.floor(phase);
      const y = table[i]! + (phase - i) * (table[i + 1]! - table[i]!);
      const env = envelope(t, off, p.attack!, 0.06);
      const trem = p.tremulant! > 0 ? 1 + p.tremulant! * Math.sin(TWO_PI * p.vibratoHz! * t) : 1;
      const noise = t < 0.08 ? p.chiff! * chiff.tick(rng.uniform(-1, 1)) * (1 - t / 0.08) * 8 : 0;
      return (0.25 + 0.75 * amp) * env * trem * (0.2 * y + noise);
    },
  };
}
